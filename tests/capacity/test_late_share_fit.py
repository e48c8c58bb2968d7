"""The late-share fit: capacity finer than the grid, its bootstrap interval, and the ratio."""

from __future__ import annotations

import math
import re
import time
from dataclasses import replace

import numpy as np
import pytest

from capacity.model.late_share_fit import (
    StepBatches,
    capacity_estimate,
    capacity_ratio,
    few_clusters_factor,
    isotonic_crossing,
    step_effect_sigma,
)

ALLOWED = 0.05


def true_share(rate: float, capacity: float, slope: float) -> float:
    eta = math.log(ALLOWED / (1 - ALLOWED)) + slope * math.log(rate / capacity)
    return 1 / (1 + math.exp(-eta))


def synthetic(
    capacity: float,
    rng: np.random.Generator,
    *,
    slope: float = 12.0,
    rates: tuple[float, float] = (150.0, 450.0),
    n_steps: int = 40,
    seconds: int = 10,
    rounds: int = 1,
    step_noise: float = 0.0,
    round_drift: tuple[float, ...] = (),
) -> list[StepBatches]:
    """Steps on a geometric grid, Poisson arrivals per second, binomial late counts.

    step_noise is a per-step random effect on the logit (the pod is not the same at every step),
    round_drift a capacity factor per round (the machine drifts between rounds).
    """
    steps = []
    for r in range(rounds):
        cap = capacity * (round_drift[r] if round_drift else 1.0)
        for rate in np.geomspace(*rates, n_steps):
            p = true_share(float(rate), cap, slope)
            if step_noise:
                eta = math.log(p / (1 - p)) + rng.normal(0.0, step_noise)
                p = 1 / (1 + math.exp(-eta))
            requests = rng.poisson(rate, seconds)
            over = rng.binomial(requests, p)
            steps.append(
                StepBatches(
                    float(rate),
                    tuple(int(v) for v in requests),
                    tuple(int(v) for v in over),
                    round_index=r,
                )
            )
    return steps


def flat_step(rate: float, late_share: float, seconds: int = 10) -> StepBatches:
    n = round(rate)
    return StepBatches(rate, (n,) * seconds, (round(n * late_share),) * seconds)


@pytest.mark.parametrize(
    ("capacity", "slope", "rates"),
    [
        (300.0, 12.0, (150.0, 450.0)),
        (300.0, 40.0, (150.0, 450.0)),
        (120.0, 8.0, (40.0, 200.0)),
        (900.0, 20.0, (500.0, 1300.0)),
    ],
)
def test_recovers_a_known_capacity_within_a_few_percent(capacity, slope, rates):
    steps = synthetic(capacity, np.random.default_rng(7), slope=slope, rates=rates)
    est = capacity_estimate(steps, ALLOWED)
    assert est.point_rps == pytest.approx(capacity, rel=0.03)
    assert est.ci95_rps is not None
    # Interpolating linearly between measured rates on a sharp (convex) knee reads slightly
    # low: allow 1% at the interval's ends for that bias.
    assert est.ci95_rps[0] * 0.99 <= capacity <= est.ci95_rps[1] * 1.01
    assert (est.steps_used, est.batches_used, est.resamples) == (40, 400, 1000)
    assert not est.lower_bound_only and est.reason is None


def test_interval_covers_the_truth_in_most_datasets():
    # A per-step random effect makes the steps scatter about the curve as real steps do; with
    # each rate measured twice in the round (the kit repeats its bracket's ends), the
    # random-effect level learns that scatter, and the nominal 95% interval must cover the
    # true 300 req/s in at least 80 of 100 datasets.
    covered = 0
    for i in range(100):
        rng = np.random.default_rng(1000 + i)
        steps = [*synthetic(300.0, rng, step_noise=0.3, n_steps=12),
                 *synthetic(300.0, rng, step_noise=0.3, n_steps=12)]  # fmt: skip
        est = capacity_estimate(steps, ALLOWED, resamples=300, seed=i)
        assert est.ci95_rps is not None
        covered += est.ci95_rps[0] <= 300.0 <= est.ci95_rps[1]
    assert covered >= 80


def test_the_spread_of_repeated_steps_is_learnt_and_widens_the_interval():
    rng = np.random.default_rng(5)
    noisy = [*synthetic(300.0, rng, step_noise=0.5, n_steps=12),
             *synthetic(300.0, rng, step_noise=0.5, n_steps=12)]  # fmt: skip
    assert step_effect_sigma(noisy) > 0.2
    rng = np.random.default_rng(5)
    quiet = [*synthetic(300.0, rng, n_steps=12), *synthetic(300.0, rng, n_steps=12)]
    assert step_effect_sigma(quiet) < step_effect_sigma(noisy)
    a = capacity_estimate(noisy, ALLOWED, step_sigma=0.0)
    b = capacity_estimate(noisy, ALLOWED)
    assert a.ci95_rps is not None and b.ci95_rps is not None
    assert b.ci95_rps[1] - b.ci95_rps[0] > a.ci95_rps[1] - a.ci95_rps[0]
    assert "sigma" in b.method


@pytest.mark.parametrize(
    ("rates", "last_pass"),
    [
        ((100, 150, 200, 250, 280, 320, 360, 400), 250),
        ((100, 150, 200, 250, 280, 320, 360, 400), 100),
        ((100, 150, 200, 250, 280, 320, 360, 400), 360),
        ((200, 210), 200),
        ((50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170), 110),
    ],
)
def test_complete_separation_gives_a_finite_point_between_last_pass_and_first_fail(
    rates, last_pass
):
    steps = [flat_step(float(r), 0.0 if r <= last_pass else 1.0) for r in rates]
    first_fail = min(r for r in rates if r > last_pass)
    est = capacity_estimate(steps, ALLOWED, resamples=200)
    assert est.point_rps is not None
    assert last_pass < est.point_rps < first_fail
    assert est.ci95_rps is not None
    assert est.ci95_rps[0] <= est.point_rps <= est.ci95_rps[1]


@pytest.mark.parametrize(
    ("shares", "point", "lower_bound_only", "reason"),
    [
        ((0.0, 0.01, 0.04), 412.0, True, "every rate met the SLO up to 412 req/s"),
        ((0.0, 0.0, 0.0), 412.0, True, "every rate met the SLO up to 412 req/s"),
        ((0.2, 0.5, 1.0), None, False, "no rate met the SLO; lowest tried 20 req/s"),
        ((0.1, 0.1, 0.1), None, False, "no rate met the SLO; lowest tried 20 req/s"),
    ],
)
def test_all_pass_or_all_fail_names_the_rate(shares, point, lower_bound_only, reason):
    steps = [flat_step(r, s) for r, s in zip((20.0, 100.0, 412.0), shares, strict=True)]
    est = capacity_estimate(steps, ALLOWED)
    assert (est.point_rps, est.lower_bound_only, est.reason) == (point, lower_bound_only, reason)
    assert est.ci95_rps is None
    assert est.resamples == 0


def test_no_valid_steps_gives_no_point():
    steps = [StepBatches(100.0, (100,), (0,), valid=False)]
    est = capacity_estimate(steps, ALLOWED)
    assert est.point_rps is None and est.reason == "no valid step with requests"


def bursty_and_shuffled(seed: int) -> tuple[list[StepBatches], list[StepBatches]]:
    """The same per-second counts, late requests in runs of 4 seconds, and in random order."""
    rng = np.random.default_rng(seed)
    bursty, shuffled = [], []
    seconds, run = 12, 4
    for rate in np.geomspace(150, 450, 40):
        requests = [round(rate)] * seconds
        over = [0] * seconds
        late = round(true_share(float(rate), 300.0, 12.0) * sum(requests))
        while late:
            start = int(rng.integers(0, seconds - run + 1))
            for s in range(start, start + run):
                add = min(late, requests[s] - over[s])
                over[s] += add
                late -= add
        order = rng.permutation(seconds)
        bursty.append(StepBatches(float(rate), tuple(requests), tuple(over)))
        shuffled.append(
            StepBatches(
                float(rate),
                tuple(requests[i] for i in order),
                tuple(over[i] for i in order),
            )
        )
    return bursty, shuffled


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bursts_of_late_seconds_widen_the_interval(seed):
    bursty, shuffled = bursty_and_shuffled(seed)
    clustered = capacity_estimate(bursty, ALLOWED)
    independent = capacity_estimate(shuffled, ALLOWED)
    # Same step totals, so the same point; only the blocks of seconds tell them apart.
    assert clustered.point_rps == pytest.approx(independent.point_rps, rel=1e-9)
    assert clustered.ci95_rps is not None and independent.ci95_rps is not None
    width = clustered.ci95_rps[1] - clustered.ci95_rps[0]
    assert width > 1.1 * (independent.ci95_rps[1] - independent.ci95_rps[0])


def test_invalid_steps_are_ignored():
    steps = synthetic(300.0, np.random.default_rng(11))
    junk = [
        StepBatches(50.0, (50,) * 10, (50,) * 10, valid=False),  # all late far below capacity
        StepBatches(2000.0, (2000,) * 10, (0,) * 10, valid=False),  # none late far above
        StepBatches(3000.0, (), (), valid=False),
    ]
    assert capacity_estimate([*junk, *steps], ALLOWED) == capacity_estimate(steps, ALLOWED)


def test_replicates_without_a_crossing_widen_the_interval_to_the_clamp():
    # The only failing step had its late requests in 2 of its 10 seconds: block resampling
    # often draws neither, every rate then passes, and that replicate has no crossing.
    late = StepBatches(400.0, (400,) * 10, (400, 400, 0, 0, 0, 0, 0, 0, 0, 0))
    steps = [flat_step(r, 0.0) for r in (100.0, 200.0, 300.0)] + [late]
    est = capacity_estimate(steps, ALLOWED, step_sigma=0.0)
    assert est.point_rps is not None and 300.0 < est.point_rps < 400.0
    assert est.ci95_rps is not None and est.ci95_rps[1] == pytest.approx(600.0)
    assert est.clamp_rps == pytest.approx((100.0 / 1.5, 600.0))
    low, high = est.no_crossing_low, est.no_crossing_high
    assert high > 100 and low == 0
    assert est.reason == (
        f"{low + high} of 1000 bootstrap replicates had no crossing ({high} above, {low} below "
        "the rates tried); the interval runs to the clamp limit on that side: the run's steps "
        "do not bound it there (more rounds would)"
    )


@pytest.mark.parametrize(
    ("rounds", "drift"),
    [(1, ()), (3, (0.95, 1.0, 1.05)), (4, (1.0, 0.9, 1.08, 1.0))],
)
def test_ratio_recovers_1_3_and_covers_it(rounds, drift):
    rng = np.random.default_rng(21)
    fastapi = synthetic(390.0, rng, rates=(200, 600), rounds=rounds, round_drift=drift)
    django = synthetic(300.0, rng, rates=(150, 450), rounds=rounds, round_drift=drift)
    ratio = capacity_ratio(fastapi, django, ALLOWED)
    assert ratio.point == pytest.approx(1.3, rel=0.03)
    assert ratio.ci95 is not None and ratio.ci95[0] <= 1.3 <= ratio.ci95[1]
    assert ratio.reason is None


def later_round(
    capacity: float, rates: tuple[float, ...], round_index: int, rng, slope: float = 12.0
) -> list[StepBatches]:
    """A later round's short search: one step at each of `rates`, late shares from the curve."""
    steps = []
    for rate in rates:
        requests = rng.poisson(rate, 10)
        over = rng.binomial(requests, true_share(rate, capacity, slope))
        steps.append(
            StepBatches(
                rate, tuple(map(int, requests)), tuple(map(int, over)), round_index=round_index
            )
        )
    return steps


def test_a_short_later_round_is_a_round_of_its_own_not_a_blow_up():
    # A later round re-measures next to the bracket in single grid steps. Drawn as a unit of
    # pooled steps, a replicate that drew it twice had only those two steps (a 2026-12-07 run:
    # intervals of 2-3x the point); as a round with its own crossing it is one more estimate.
    rng = np.random.default_rng(8)
    first = synthetic(300.0, rng, rates=(200.0, 400.0), n_steps=6, step_noise=0.5)
    later = later_round(300.0, (284.0, 317.0), 1, rng)  # the grid rates either side of 300
    one = capacity_estimate(first, ALLOWED)
    two = capacity_estimate([*first, *later], ALLOWED)
    assert one.ci95_rps is not None and two.ci95_rps is not None and two.point_rps is not None
    assert two.point_rps == pytest.approx(300.0, rel=0.05)
    assert "cluster percentile bootstrap over the 2 rounds" in two.method
    width = lambda ci: ci[1] - ci[0]  # noqa: E731
    # Two rounds are two clusters: the interval is widened for that (x9.2: Student's t with one
    # degree of freedom), and beyond that no wider than half as much again as one round's.
    assert width(two.ci95_rps) <= width(one.ci95_rps) * 1.5 * few_clusters_factor(2)
    assert two.reason is None


def five_rounds(capacities: tuple[float, ...], seed: int) -> list[StepBatches]:
    """A first round over a wide grid, then four short searches next to its bracket, each round
    with its own (fresh process's) capacity, and a knee as sharp as the services' (a step
    either keeps up or builds a queue)."""
    rng = np.random.default_rng(seed)
    grid = [200.0 * 1.04**i for i in range(0, 18, 2)]  # 200 .. 370 req/s
    steps = synthetic(capacities[0], rng, rates=(200.0, 400.0), n_steps=8, slope=40.0)
    for index, capacity in enumerate(capacities[1:], start=1):
        near = [r for r in grid if 0.9 * capacity <= r <= 1.1 * capacity]
        steps += later_round(capacity, tuple(near), index, rng, slope=40.0)
    return steps


def pooled(steps: list[StepBatches]) -> list[StepBatches]:
    return [replace(s, round_index=0) for s in steps]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_slow_round_of_five_widens_the_interval_down_to_it(seed):
    # One fresh process 15% slower than the other four: the pooled point moves a little, and
    # drawing rounds puts the slow one's weight into the interval's lower end.
    steps = five_rounds((300.0, 300.0, 255.0, 300.0, 300.0), seed)
    rounds = capacity_estimate(steps, ALLOWED, resamples=400)
    even = capacity_estimate(five_rounds((300.0,) * 5, seed), ALLOWED, resamples=400)
    assert rounds.point_rps is not None and 255.0 < rounds.point_rps <= 300.0 * 1.01
    assert rounds.ci95_rps is not None and even.ci95_rps is not None
    assert rounds.ci95_rps[0] < even.ci95_rps[0] - 10.0
    assert rounds.ci95_rps[0] <= 270.0


def test_drawing_rounds_replaces_the_step_effect_learnt_within_them():
    # A rate that passed on the way up and failed after an overload in the same round gives a
    # huge within-round sigma; with rounds drawn as units it is not applied on top.
    steps = five_rounds((300.0,) * 5, 5)
    jumpy = [*steps, replace(flat_step(260.0, 0.4), round_index=0),
             replace(flat_step(260.0, 0.02), round_index=0)]  # fmt: skip
    assert step_effect_sigma(jumpy) > 1.0
    est = capacity_estimate(jumpy, ALLOWED, resamples=300)
    assert "sigma" not in est.method
    assert est.no_crossing_low + est.no_crossing_high <= 0.05 * est.resamples


def test_rounds_that_disagree_give_an_interval_that_spans_them():
    steps = five_rounds((270.0, 285.0, 300.0, 315.0, 330.0), 4)
    est = capacity_estimate(steps, ALLOWED, resamples=400)
    assert est.point_rps is not None and 270.0 <= est.point_rps <= 330.0
    assert est.ci95_rps is not None
    assert est.ci95_rps[0] < 290.0 and est.ci95_rps[1] > 300.0
    # A t interval on the log scale about the median (not the lumpy percentiles of a median of
    # five, whose ends sit on single rounds): symmetric in ln, so lo x hi = point^2.
    assert est.ci95_rps[0] * est.ci95_rps[1] == pytest.approx(est.point_rps**2, rel=1e-9)


@pytest.mark.parametrize("slow", [0, 1])
def test_one_round_a_sixth_slower_does_not_move_the_median_of_the_rounds(slow):
    # One fresh process (or a few minutes of the machine) 17% slower than the other four: its
    # late steps raise the pooled share at the rates the others pass, and the pooled fit moved
    # to about 260 (the first round, over the wide grid) or 270 req/s; the median of the
    # rounds' own crossings stays within 1.5% of the others' 300.
    capacities = [300.0] * 5
    capacities[slow] = 250.0
    steps = five_rounds(tuple(capacities), 1)
    median = capacity_estimate(steps, ALLOWED, resamples=200).point_rps
    together = capacity_estimate(pooled(steps), ALLOWED, resamples=200).point_rps
    assert median is not None and together is not None
    assert median == pytest.approx(300.0, rel=0.015)
    assert together < 0.92 * 300.0


def test_a_round_without_a_crossing_counts_as_the_rate_it_stopped_at():
    # Four rounds, two of which passed every rate they tried, up to 312 req/s (their process
    # could do 400). Each counts as 312, a bound, not as the clamp (1.5x the top rate) and not by
    # falling back to the pooled fit: the median of four is the geometric mean of a crossing
    # near 300 and 312, and the interval stays near the rates tried.
    rng = np.random.default_rng(4)
    near = (288.0, 300.0, 312.0)
    four = [s for s in five_rounds((300.0,) * 5, 2) if s.round_index < 2]
    four += later_round(400.0, near, 2, rng, slope=40.0) + later_round(400.0, near, 3, rng, 40.0)
    est = capacity_estimate(four, ALLOWED, resamples=200)
    first_two = [capacity_estimate([s for s in four if s.round_index == r], ALLOWED, resamples=1)
                 for r in (0, 1)]  # fmt: skip
    lower = max(e.point_rps for e in first_two if e.point_rps is not None)
    assert est.point_rps == pytest.approx(math.sqrt(lower * 312.0), rel=1e-9)
    assert est.reason is not None and "2 of 4 rounds had no crossing" in est.reason
    assert est.ci95_rps is not None and est.ci95_rps[1] < 340.0


def test_two_rounds_keep_the_pooled_fit():
    # A median of two rounds is only their mean: below three rounds the point is the pooled fit.
    steps = [s for s in five_rounds((290.0, 310.0, 300.0, 300.0, 300.0), 6) if s.round_index < 2]
    assert capacity_estimate(steps, ALLOWED).point_rps == pytest.approx(
        capacity_estimate(pooled(steps), ALLOWED).point_rps, rel=1e-12
    )


def test_ratio_undefined_when_one_side_never_crosses():
    django = synthetic(300.0, np.random.default_rng(3))
    all_pass = [flat_step(r, 0.0) for r in (100.0, 200.0, 412.0)]
    ratio = capacity_ratio(all_pass, django, ALLOWED)
    assert ratio.point is None and ratio.ci95 is None
    assert ratio.reason == ("numerator capacity undefined: every rate met the SLO up to 412 req/s")


def test_same_seed_same_answer_other_seed_other_interval():
    steps = synthetic(300.0, np.random.default_rng(4), rounds=2)
    first = capacity_estimate(steps, ALLOWED, seed=3)
    assert capacity_estimate(steps, ALLOWED, seed=3) == first
    other = capacity_estimate(steps, ALLOWED, seed=4)
    assert other.point_rps == first.point_rps and other.ci95_rps != first.ci95_rps
    other_steps = synthetic(390.0, np.random.default_rng(5), rates=(200, 600), rounds=2)
    ratio = capacity_ratio(other_steps, steps, ALLOWED, seed=9)
    assert capacity_ratio(other_steps, steps, ALLOWED, seed=9) == ratio


def test_1000_resamples_over_40_steps_of_10_seconds_is_fast():
    steps = synthetic(300.0, np.random.default_rng(8), step_noise=0.3)
    capacity_estimate(steps, ALLOWED, resamples=50)
    start = time.perf_counter()
    capacity_estimate(steps, ALLOWED, resamples=1000)
    # Well under 1 s alone (0.2-0.4 s measured); the margin is for a machine shared with other runs.
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"requests": (10, 10), "over_slo": (3, 11)}, "over_slo=11 exceeds requests=10"),
        ({"requests": (10, 10, 10), "over_slo": (0, 0)}, "3 requests batches but 2 over_slo"),
        ({"requests": (10, -1), "over_slo": (0, 0)}, "negative count (requests=-1"),
        ({"requests": (), "over_slo": ()}, "has no batches"),
        ({"rate_rps": 0.0}, "rate_rps must be a positive finite number, got 0.0"),
        ({"rate_rps": math.nan}, "got nan"),
    ],
)
def test_bad_batches_raise_naming_the_value(kwargs, message):
    fields = {"rate_rps": 100.0, "requests": (10,), "over_slo": (0,), **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        StepBatches(**fields)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: capacity_estimate(s, 0.0), "allowed_share must be strictly between 0 and 1"),
        (lambda s: capacity_estimate(s, 1.5), "got 1.5"),
        (lambda s: capacity_estimate(s, ALLOWED, resamples=0), "resamples must be at least 1"),
        (lambda s: capacity_estimate(s, ALLOWED, block_s=0), "block_s must be at least 1"),
        (lambda s: capacity_ratio(s, s, ALLOWED, block_s=-2), "got -2"),
    ],
)
def test_bad_options_raise_naming_the_value(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call([flat_step(100.0, 0.0)])


@pytest.mark.parametrize(
    ("shares", "expected_share_at_cross"),
    [
        # A dip above a higher rate's share is pooled away (the share cannot fall with load).
        ((0.0, 0.08, 0.02, 0.5), 0.05),
        ((0.0, 0.01, 0.03, 0.2), 0.05),
    ],
)
def test_the_isotonic_crossing_interpolates_between_the_bracketing_rates(
    shares, expected_share_at_cross
):
    rates = [100.0, 200.0, 300.0, 400.0]
    x = [math.log(r) for r in rates]
    n = [1000.0] * 4
    k = [s * 1000 for s in shares]
    ln_cross, side = isotonic_crossing(x, n, k, ALLOWED)
    assert side == "" and ln_cross is not None
    # The fitted shares are non-decreasing and the crossing lies between two measured rates.
    assert x[0] <= ln_cross <= x[-1]
    assert isotonic_crossing(x, n, [0.0] * 4, ALLOWED) == (None, "high")
    assert isotonic_crossing(x, n, [1000.0] * 4, ALLOWED) == (None, "low")


def test_five_rounds_that_differ_as_runs_do_cover_the_truth_in_most_datasets():
    # Each round's fresh processes (and minutes of the machine) give it its own capacity, 6% s.d.
    # about the true 300 req/s, as runs of `make report` differ here. A percentile bootstrap
    # over only five rounds is too narrow for that (its variance short by 4/5, its reference
    # the normal, not t with 4 degrees of freedom): it covered 300 in 31 of these 40 datasets
    # (21 of 40 with seeds from 5000); widened for the few rounds, 38 and 38; with the median of
    # the rounds as the point (and the statistic bootstrapped), 40 and 39: at least 34 here.
    covered = 0
    for i in range(40):
        rng = np.random.default_rng(2000 + i)
        capacities = tuple(float(c) for c in 300.0 * np.exp(rng.normal(0.0, 0.06, 5)))
        est = capacity_estimate(five_rounds(capacities, 3000 + i), ALLOWED, resamples=200, seed=i)
        assert est.ci95_rps is not None
        covered += est.ci95_rps[0] <= 300.0 <= est.ci95_rps[1]
    assert covered >= 34


def test_the_few_rounds_factor_is_one_for_one_round_and_shrinks_with_more():
    assert few_clusters_factor(1) == 1.0
    assert few_clusters_factor(5) == pytest.approx(2.776 / 1.96 * (5 / 4) ** 0.5, rel=1e-3)
    factors = [few_clusters_factor(g) for g in range(2, 21)]
    assert factors == sorted(factors, reverse=True) and factors[-1] > 1.0
