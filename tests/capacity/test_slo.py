"""The one decision module: each step's verdict with its reasons, the counts a step adds to its
rate, and the interval rule, table-driven (the search, the run and the model all use these)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from capacity.slo import MAX_SEND_LAG_MS, Slo, StepCounts, bracket, confirmed, judge, step_counts

SLO = Slo(latency_ms=100, percentile="p95", max_error_ratio=0.01)


@dataclass(frozen=True)
class Step:
    requests: int = 1000
    over_slo_ratio: float = 0.01
    error_ratio: float = 0.0
    generator_saturated: bool = False
    generator_cpu_ratio: float = 0.2
    send_lag_p99_ms: float | None = 1.0


@pytest.mark.parametrize(
    ("step", "decision", "reason", "generator_bound"),
    [
        (Step(), "pass", None, False),
        (Step(over_slo_ratio=0.2), "fail", "20.0% of requests over 100 ms", False),
        # 5.5% of 200 is inside the Wilson bound of 5%: the pooled point estimate decides.
        (Step(requests=200, over_slo_ratio=0.055), "fail", "5.5% of requests", False),
        (Step(requests=200, over_slo_ratio=0.045), "pass", None, False),
        (Step(error_ratio=0.02), "fail", "errors 2.00% > budget 1.00%", False),
        (Step(generator_saturated=True, generator_cpu_ratio=0.95), "fail", "saturated", True),
        (Step(send_lag_p99_ms=MAX_SEND_LAG_MS + 5), "fail", "generator-bound", True),
        (Step(send_lag_p99_ms=None), "pass", None, False),  # a kit that did not measure it
        (Step(requests=0, over_slo_ratio=1.0), "fail", "no request was scheduled", False),
    ],
)
def test_a_step_is_judged_once_with_every_reason(
    step: Step, decision: str, reason: str | None, generator_bound: bool
) -> None:
    j = judge(step, SLO)
    assert j.decision == decision
    assert j.generator_bound is generator_bound
    if reason is None:
        assert j.reasons == ()
    else:
        assert any(reason in r for r in j.reasons), j.reasons


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (Step(over_slo_ratio=0.02), StepCounts(1000, 20)),
        (Step(over_slo_ratio=0.20), StepCounts(1000, 200)),
        # Failed for another reason with few late requests: it cannot vouch for its rate, so it
        # counts as wholly over the SLO.
        (Step(error_ratio=0.05), StepCounts(1000, 1000)),
        (Step(send_lag_p99_ms=50.0), StepCounts(1000, 1000)),
        # Nothing scheduled is no evidence: it adds nothing (alone, no requests is a fail).
        (Step(requests=0, over_slo_ratio=1.0), StepCounts(0, 0)),
    ],
)
def test_a_step_adds_its_counts_or_a_whole_fail(step: Step, expected: StepCounts) -> None:
    assert step_counts(step, SLO) == expected


@pytest.mark.parametrize(
    ("passed", "runs", "expected", "is_confirmed"),
    [
        ({10: True, 11: False}, {10: 2, 11: 2}, (10, 11), True),
        ({10: True, 11: False}, {10: 2, 11: 1}, (10, 11), False),
        ({10: True, 12: False}, {10: 2, 12: 2}, (10, 12), False),  # two grid steps wide
        # A failed confirmation below a pass moves the bracket down, never kept silently.
        ({8: True, 9: False, 10: True, 11: False}, {}, (8, 9), False),
        ({10: True, 11: True}, {}, (11, None), False),
        ({10: False}, {}, (None, 10), False),
    ],
)
def test_the_interval_rule(
    passed: dict[int, bool],
    runs: dict[int, int],
    expected: tuple[int | None, int | None],
    is_confirmed: bool,
) -> None:
    assert bracket(passed) == expected
    assert confirmed(*expected, runs) is is_confirmed
