"""The capacity search as pure values: the grid, the Wilson decision and the Ladder's probes."""

from __future__ import annotations

import pytest

from capacity.load.client_stats import ClientStep, parse_client_step, percentile_ms
from capacity.load.ladder import Ladder, RateGrid
from capacity.slo import StepCounts, decide, wilson_interval

GRID = RateGrid(base_rps=10.0, ratio=1.08, top_index=60)


def test_the_grid_is_absolute_and_geometric() -> None:
    assert GRID.rps(0) == 10.0
    assert GRID.rps(1) == 10.8
    assert GRID.rps(10) == pytest.approx(10 * 1.08**10, abs=1e-3)
    # Any rate maps to the grid rate at or below it, so two runs land on the same rates.
    for k in (0, 1, 7, 33, 60):
        assert GRID.index_at_or_below(GRID.rps(k)) == k
        assert GRID.index_at_or_below(GRID.rps(k) * 1.07) == k
    assert GRID.index_at_or_below(3.0) == 0
    assert GRID.index_at_or_below(1e9) == 60
    with pytest.raises(ValueError, match=r"outside 0\.\.60"):
        GRID.rps(61)
    with pytest.raises(ValueError, match="ratio > 1"):
        RateGrid(10.0, 1.0)


@pytest.mark.parametrize(
    ("successes", "trials", "lower", "upper"),
    [
        # Reference values: Brown, Cai & DasGupta (2001), and R's prop.test(correct=FALSE).
        (0, 100, 0.0, 0.0370),
        (5, 100, 0.0215, 0.1118),
        (10, 1000, 0.0054, 0.0183),
        (50, 50, 0.9287, 1.0),
    ],
)
def test_wilson_interval_matches_reference_values(
    successes: int, trials: int, lower: float, upper: float
) -> None:
    lo, hi = wilson_interval(successes, trials)
    assert (lo, hi) == (pytest.approx(lower, abs=5e-4), pytest.approx(upper, abs=5e-4))


@pytest.mark.parametrize(
    ("requests", "over", "final", "decision"),
    [
        (400, 2, False, "pass"),  # 0.5%, upper bound ~1.8%
        (400, 60, False, "fail"),  # 15%, lower bound ~11.8%
        (400, 20, False, "undecided"),  # 5%: the bound straddles 5%
        (100, 4, False, "undecided"),  # 4% of 100 cannot rule out 5%
        (100, 4, True, "pass"),  # ... but the final say goes to the estimate
        (100, 6, True, "fail"),
        (0, 0, False, "fail"),  # nothing served: nothing met the SLO
    ],
)
def test_each_step_decision_rests_on_its_confidence_bound(
    requests: int, over: int, final: bool, decision: str
) -> None:
    assert decide(StepCounts(requests, over), 0.05, final=final).decision == decision


def _run(ladder: Ladder, truth: dict[int, float], n: int = 1000) -> list[tuple[int, str]]:
    """Drive the ladder with steps whose over-SLO share is `truth(index)` exactly."""
    seen = []
    while (probe := ladder.next_probe()) is not None:
        share = truth.get(probe.index, 0.0 if probe.index < min(truth) else 1.0)
        ladder.record(probe.index, StepCounts(n, round(share * n)))
        seen.append((probe.index, probe.purpose))
    return seen


def _knee_at(k: int) -> dict[int, float]:
    """Steps at or below k pass clearly (1%), above fail clearly (20%)."""
    return {i: (0.01 if i <= k else 0.20) for i in range(0, 61)}


@pytest.mark.parametrize(
    ("start", "knee", "expected"),
    [
        # Climb in strides of 4 from 20, bisect 24..28, confirm 25 then 26.
        (20, 25, [(20, "climb"), (24, "climb"), (28, "climb"), (26, "bisect"),
                  (25, "bisect"), (25, "confirm-pass"), (26, "confirm-fail")]),
        # The hint was too high: descend, then bisect.
        (30, 23, [(30, "climb"), (26, "descend"), (22, "descend"), (24, "bisect"),
                  (23, "bisect"), (23, "confirm-pass"), (24, "confirm-fail")]),
        # The knee sits on a stride: the bracket is one step after one bisection.
        (10, 13, [(10, "climb"), (14, "climb"), (12, "bisect"), (13, "bisect"),
                  (13, "confirm-pass"), (14, "confirm-fail")]),
    ],
)  # fmt: skip
def test_the_ladder_climbs_bisects_to_one_grid_step_then_confirms(
    start: int, knee: int, expected: list[tuple[int, str]]
) -> None:
    ladder = Ladder(GRID, start_index=start)
    assert _run(ladder, _knee_at(knee)) == expected
    assert ladder.bracket() == (knee, knee + 1)
    assert ladder.confirmed
    assert ladder.interval_rps() == (GRID.rps(knee), GRID.rps(knee + 1))


def test_a_confirmation_that_flips_moves_the_bracket_down() -> None:
    ladder = Ladder(GRID, start_index=20)
    # 20 passes, 24 fails, 22 passes, 23 fails; the re-run of 22 fails badly, so the pooled
    # verdict of 22 is a fail and the search goes on below it.
    script = [(20, 10), (24, 200), (22, 10), (23, 200), (22, 300), (21, 10), (21, 10)]
    for index, over in script:
        probe = ladder.next_probe()
        assert probe is not None and probe.index == index, (probe, index)
        ladder.record(index, StepCounts(1000, over))
    assert ladder.bracket() == (21, 22)
    assert ladder.confirmed and ladder.done


@pytest.mark.parametrize(
    ("start", "knee", "expected"),
    [
        # The earlier bracket's pass still passes: one step up fails, done (no confirmation).
        (25, 25, [(25, "climb"), (26, "climb")]),
        # This round's process is faster: it climbs in single steps until its own fail.
        (25, 27, [(25, "climb"), (26, "climb"), (27, "climb"), (28, "climb")]),
        # Slower: the earlier pass fails, one step down passes.
        (25, 24, [(25, "climb"), (24, "descend")]),
    ],
)  # fmt: skip
def test_a_later_rounds_search_stops_at_its_own_one_step_bracket(
    start: int, knee: int, expected: list[tuple[int, str]]
) -> None:
    ladder = Ladder(GRID, start_index=start, stride=1, max_probes=4, confirm=False)
    assert _run(ladder, _knee_at(knee)) == expected
    assert ladder.bracket() == (knee, knee + 1) and ladder.done and not ladder.confirmed


def test_the_ladder_stops_at_the_ends_of_the_grid_and_after_max_probes() -> None:
    top = Ladder(RateGrid(10.0, 1.08, top_index=8), start_index=4)
    _run(top, {i: 0.0 for i in range(9)})
    assert top.bracket() == (8, None) and not top.confirmed
    bottom = Ladder(GRID, start_index=2)
    _run(bottom, {i: 0.5 for i in range(61)})
    assert bottom.bracket() == (None, 0)
    short = Ladder(GRID, start_index=20, max_probes=3)
    assert len(_run(short, _knee_at(25))) == 3 and short.done
    with pytest.raises(ValueError, match="expected a measurement at grid index 20"):
        Ladder(GRID, start_index=20).record(21, StepCounts(10, 0))


def test_client_step_counts_late_failed_dropped_and_unfinished_requests_as_over_the_slo() -> None:
    step = parse_client_step(
        "k",
        {
            "scheduled": 110, "ok": 100, "failed": 3, "dropped": 5, "in_flight": 2,
            "first_intended_s": 100.0, "last_intended_s": 109.0,
            "latency_ms": {"5": 90, "100": 5, "101": 4, "2000": 1},
        },
    )  # fmt: skip
    assert step.counts(100.0) == StepCounts(110, 5 + 3 + 5 + 2)
    assert step.percentile_ms(0.5) == 5.0
    assert step.percentile_ms(0.95) == 100.0
    assert step.percentile_ms(0.99) == 101.0
    assert step.window_s == pytest.approx(9.0 * 110 / 109)
    assert step.achieved_rps == pytest.approx(100 / step.window_s)
    assert step.error_ratio == pytest.approx(8 / 110)
    pooled = step + step
    assert isinstance(pooled, ClientStep) and pooled.counts(100.0) == StepCounts(220, 30)
    # Two windows of the same rate: the same rates, over twice the time (not the span).
    assert pooled.window_s == pytest.approx(2 * step.window_s)
    assert pooled.achieved_rps == pytest.approx(step.achieved_rps)
    assert percentile_ms({}, 0.95) is None
