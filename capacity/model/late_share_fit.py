"""Capacity at the SLO finer than the rate grid, with a 95% interval and a framework ratio: an
isotonic (non-decreasing) fit of the share of requests over the SLO against ln(offered rate),
interpolated where it crosses the allowed share, and a hierarchical percentile bootstrap after
Kalibera & Jones, "Rigorous Benchmarking in Reasonable Time" (ISMM 2013): with several rounds
(each on fresh pod processes) a cluster bootstrap that draws rounds, then the repeats of each
rate within a round, then circular blocks of seconds (Künsch 1989; Politis & Romano 1992,
1994); with one round, the repeats and blocks with a step-level random effect learnt from the
repeats.

Several rounds: with three or more, the point is the median of the rounds' own crossings (a
round without one counts as the rate it stopped at, a bound), the interval the spread of that
median over draws of rounds; with two, the one fit over both rounds' steps. Why, with the
estimators tried on 15 full runs: docs/late-share-fit.md.

A global logistic curve was tried first: with a floor of late requests at low rates (an
outbound call's own tail) and a sharp knee it crossed 5% below the last passing rate (django
mixed 203 req/s against a bracket [217, 235), 2026-12-07); the isotonic fit only assumes that
the share does not fall as the load rises.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

# Never report a crossing further than this factor outside the rates tried: nothing was
# measured out there.
EXTRAPOLATION_FACTOR = 1.5
# More replicates than this without a crossing on one side put that end of the 95% interval on
# the clamp: the run's steps do not bound it there, and the reason says so.
NO_CROSSING_REPORT_SHARE = 0.025


@dataclass(frozen=True)
class StepBatches:
    """One measured step: its offered rate and its per-second (requests, over_slo) batches.

    Batches are in time order, one per second of the measuring window.
    """

    rate_rps: float  # offered rate of the step (total, all pods)
    requests: tuple[int, ...]  # per second
    over_slo: tuple[int, ...]  # per second, each <= requests
    round_index: int = 0  # which round of the search (a later one re-measures the bracket)
    valid: bool = (
        True  # False: excluded (generator-bound, probe off, contended); ignored by the fit
    )

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate_rps) and self.rate_rps > 0):
            raise ValueError(f"rate_rps must be a positive finite number, got {self.rate_rps!r}")
        if len(self.requests) != len(self.over_slo):
            raise ValueError(
                f"step at {self.rate_rps:g} req/s: {len(self.requests)} requests batches but "
                f"{len(self.over_slo)} over_slo batches"
            )
        if self.valid and not self.requests:
            raise ValueError(f"step at {self.rate_rps:g} req/s has no batches")
        for second, (n, k) in enumerate(zip(self.requests, self.over_slo, strict=True)):
            if n < 0 or k < 0:
                raise ValueError(
                    f"step at {self.rate_rps:g} req/s, second {second}: negative count "
                    f"(requests={n}, over_slo={k})"
                )
            if k > n:
                raise ValueError(
                    f"step at {self.rate_rps:g} req/s, second {second}: over_slo={k} "
                    f"exceeds requests={n}"
                )


@dataclass(frozen=True)
class CapacityEstimate:
    """Capacity at the SLO: a point finer than the grid, its 95% interval, and why when missing."""

    point_rps: float | None
    ci95_rps: tuple[float, float] | None
    reason: str | None
    lower_bound_only: bool  # capacity is at least point_rps (every rate tried passed)
    steps_used: int
    batches_used: int
    resamples: int
    method: str
    # Replicates whose fit never crossed the allowed share, by the side they imply.
    no_crossing_low: int = 0  # share above allowed everywhere: capacity below the rates tried
    no_crossing_high: int = 0  # share below allowed everywhere: capacity above the rates tried
    clamp_rps: tuple[float, float] | None = None  # the range the point and interval may reach


@dataclass(frozen=True)
class RatioEstimate:
    """Numerator capacity / denominator capacity, with its 95% bootstrap interval."""

    point: float | None
    ci95: tuple[float, float] | None
    reason: str | None
    method: str


MEDIAN_FROM_ROUNDS = 3  # fewer rounds: the pooled fit (a median of two is only their mean)

METHOD = (
    "Isotonic (non-decreasing) regression of the share of requests over the SLO on ln(offered "
    "rate), steps at one rate pooled; the capacity is where the fitted share crosses the allowed "
    "share, interpolated between the highest rate within it and the next rate above, and its 95% "
    "interval is a percentile bootstrap that resamples the repeated steps of each rate, then "
    "{block}-second blocks of consecutive seconds within each step (so bursts of late requests "
    "count as bursts), refitting each of {resamples} replicates."
)
ROUNDS_METHOD = (
    "Isotonic (non-decreasing) regression of the share of requests over the SLO on ln(offered "
    "rate) over every round's steps, steps at one rate pooled; the capacity is where the fitted "
    "share crosses the allowed share, interpolated between the highest rate within it and the "
    "next rate above. Its 95% interval is a cluster percentile bootstrap over the {rounds} "
    "rounds (each on fresh pod processes): rounds drawn with replacement, then within each drawn "
    "round the repeated steps of each rate and {block}-second blocks of consecutive seconds, the "
    "drawn steps pooled and refitted, {resamples} replicates; each end's distance from the point "
    "widened on the log scale by {factor:.2f} for drawing only {rounds} rounds (Student's t with "
    "{df} degrees of freedom and the G/(G-1) variance factor, Cameron & Miller 2015)."
)
MEDIAN_METHOD = (
    "Isotonic (non-decreasing) regression of the share of requests over the SLO on ln(offered "
    "rate), fitted to each round's steps on its own (steps at one rate pooled); a round's "
    "capacity is where its fit crosses the allowed share, interpolated between the highest rate "
    "within it and the next rate above (a round without a crossing counts as the rate it "
    "stopped at: its highest when every step met the SLO, its lowest when none did), and the "
    "capacity is the median of the {rounds} rounds' (each on fresh pod processes). Its 95% "
    "interval comes from a cluster bootstrap: rounds drawn with replacement, within each "
    "drawn round the repeated steps of each rate and {block}-second blocks of consecutive "
    "seconds, each drawn round refitted and the median taken, {resamples} replicates; the "
    "interval is the point x exp(+-1.96 x {factor:.2f} x s), s the replicates' standard "
    "deviation on the log scale, {factor:.2f} for drawing only {rounds} rounds (Student's t "
    "with {df} degrees of freedom and the G/(G-1) variance factor, Cameron & Miller 2015)."
)
SIGMA_NOTE = (
    " Each drawn step's logit share is shifted by a normal random effect, sigma {sigma:.2f}: the "
    "spread beyond binomial noise of the steps the run repeated at one rate within a round."
)
RATIO_METHOD = (
    "Ratio of the two capacity point estimates; its 95% interval is a percentile bootstrap of the "
    "ratio in which both frameworks draw their rounds, steps and {block}-second blocks "
    "independently, "
    "{resamples} replicates (Kalibera & Jones 2013); their steps alternated in time (A B B A), "
    "so drift over the run lands on both alike. With several rounds, the interval is formed "
    "from the replicate ratios as each capacity's is, for the fewer rounds."
)


def _valid(steps: Sequence[StepBatches]) -> list[StepBatches]:
    return [s for s in steps if s.valid]


@dataclass(frozen=True)
class _Data:
    """Valid steps as arrays (ln rate centred on the steps' mean)."""

    steps: list[StepBatches]
    x: FloatArray  # ln rate - centre
    centre: float
    n: FloatArray
    k: FloatArray


def _by_round(steps: Sequence[StepBatches]) -> list[list[StepBatches]]:
    """The valid steps of each round that has any, in round order."""
    rounds: dict[int, list[StepBatches]] = {}
    for s in _valid(steps):
        rounds.setdefault(s.round_index, []).append(s)
    return [rounds[r] for r in sorted(rounds)]


def _data(steps: Sequence[StepBatches]) -> _Data:
    """The valid steps of one resampling group (a round, or every step when pooled)."""
    valid = _valid(steps)
    ln_rate = np.array([math.log(s.rate_rps) for s in valid], dtype=np.float64)
    centre = float(ln_rate.mean()) if valid else 0.0
    return _Data(
        steps=valid,
        x=ln_rate - centre,
        centre=centre,
        n=np.array([sum(s.requests) for s in valid], dtype=np.float64),
        k=np.array([sum(s.over_slo) for s in valid], dtype=np.float64),
    )


def _block_totals(
    step: StepBatches, count: int, block_s: int, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """count circular block bootstrap replicates (Politis & Romano 1992) of one step's totals."""
    seconds = len(step.requests)
    length = min(block_s, seconds)
    blocks = -(-seconds // length)
    last = seconds - (blocks - 1) * length
    totals = []
    for series in (step.requests, step.over_slo):
        values = np.asarray(series, dtype=np.float64)
        wrapped = np.concatenate([values, values[:length]])
        cum = np.concatenate([[0.0], np.cumsum(wrapped)])
        starts = rng.integers(0, seconds, size=(count, blocks))
        sums = cum[starts + length] - cum[starts]
        # The last block is cut to what the window has left, so every replicate has as many
        # seconds as the step measured.
        sums[:, -1] = cum[starts[:, -1] + last] - cum[starts[:, -1]]
        totals.append(sums.sum(axis=1))
    return totals[0], totals[1]


def _replicate_fits(
    data: _Data,
    resamples: int,
    block_s: int,
    allowed: float,
    rng: np.random.Generator,
    sigma: float,
) -> _Replicates:
    """Every replicate's data: each rate's repeats resampled, blocks of seconds within each
    step, and the step-level random effect `sigma`."""
    slot = np.empty((resamples, len(data.steps)), dtype=np.int64)
    # Steps are resampled among those at the same rate (the design is kept: a replicate never
    # loses the rates that bracket the knee, only draws their repeats again).
    for rate in np.unique(data.x):
        where = np.flatnonzero(data.x == rate)
        slot[:, where] = where[rng.integers(0, where.size, size=(resamples, where.size))]
    n = np.zeros(slot.shape)
    k = np.zeros(slot.shape)
    for s, step in enumerate(data.steps):
        where = slot == s
        count = int(where.sum())
        if count:
            n[where], k[where] = _block_totals(step, count, block_s, rng)
    if sigma > 0:
        # Steps at one rate scatter more than their requests' binomial noise (the machine is
        # not the same at every step): each drawn step gets a random shift of its logit share
        # of the size its repeats show (a random-effects level, Kalibera & Jones 2013).
        eps = rng.normal(0.0, sigma, size=n.shape)
        k = np.clip(k, 0.0, n)
        logit = np.log((k + 0.5) / (n - k + 0.5)) + eps
        k = np.where(n > 0, n / (1.0 + np.exp(-logit)), 0.0)
    return _Replicates(data.x[slot], n, k)


def _excess_variance(data: _Data) -> tuple[float, int]:
    """(sum of excess squares, degrees of freedom) of the logit share of steps repeated at one
    rate, beyond their binomial noise (Cox's empirical logit of
    (k + 1/2) / (n - k + 1/2))."""
    groups: dict[float, list[int]] = {}
    for i, xi in enumerate(data.x):
        groups.setdefault(float(xi), []).append(i)
    excess, dof = 0.0, 0
    for all_members in groups.values():
        # Only steps whose share is informative on the logit scale: a share of 0 or 1 says
        # nothing about its spread (and the knee is where the others are).
        members = [i for i in all_members if data.k[i] >= 5 and data.n[i] - data.k[i] >= 5]
        if len(members) < 2:
            continue
        n = data.n[members]
        k = data.k[members]
        ell = np.log((k + 0.5) / (n - k + 0.5))
        binomial = float(np.mean(1.0 / (k + 0.5) + 1.0 / (n - k + 0.5)))
        excess += (float(np.var(ell, ddof=1)) - binomial) * (len(members) - 1)
        dof += len(members) - 1
    return excess, dof


def step_effect_sigma(*series: Sequence[StepBatches]) -> float:
    """The step-to-step spread of the logit share beyond binomial noise, pooled over the given
    series' steps repeated at one rate within one round (0 when none was repeated
    informatively). Differences between rounds are the bootstrap's top level, not this one."""
    total, dof = 0.0, 0
    for steps in series:
        for round_steps in _by_round(steps):
            excess, d = _excess_variance(_data(round_steps))
            total, dof = total + excess, dof + d
    return math.sqrt(max(0.0, total / dof)) if dof else 0.0


@dataclass(frozen=True)
class _Replicates:
    """Each replicate's resampled steps: centred ln rate, requests and requests over the SLO."""

    x: FloatArray
    n: FloatArray
    k: FloatArray


def _crossings(
    fits: _Replicates,
    centre: float,
    allowed: float,
    clamp: tuple[float, float],
    stops: tuple[float, float] | None = None,
) -> tuple[FloatArray, int, int]:
    """Replicate capacities in req/s, clamped; no crossing counts as the clamp limit on its side
    (or, given `stops`, as the lowest or highest rate a round tried).

    A replicate has no crossing when every step it drew passed (capacity above the rates tried)
    or every one failed (below). Pooled, it counts as the clamp limit on that side, so once more
    than 2.5% fall on one side that end of the interval is the limit, and the reason says so.
    One round's replicate counts as the rate the round stopped at, as the round does itself.
    """
    ln_lo, ln_hi = math.log(clamp[0]) - centre, math.log(clamp[1]) - centre
    ln_stop_lo, ln_stop_hi = (
        (ln_lo, ln_hi)
        if stops is None
        else (math.log(stops[0]) - centre, math.log(stops[1]) - centre)
    )
    values = np.empty(fits.x.shape[0])
    low = high = 0
    for r in range(fits.x.shape[0]):
        ln_cross, side = isotonic_crossing(fits.x[r], fits.n[r], fits.k[r], allowed)
        if ln_cross is None:
            low += side == "low"
            high += side == "high"
            ln_cross = ln_stop_lo if side == "low" else ln_stop_hi
        values[r] = min(max(ln_cross, ln_lo), ln_hi)
    return np.exp(values + centre), low, high


def _check_options(allowed_share: float, resamples: int, block_s: int) -> None:
    if not 0.0 < allowed_share < 1.0:
        raise ValueError(f"allowed_share must be strictly between 0 and 1, got {allowed_share!r}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples!r}")
    if block_s < 1:
        raise ValueError(f"block_s must be at least 1 second, got {block_s!r}")


def _pool_adjacent_violators(share: list[float], weight: list[float]) -> list[float]:
    """The weighted least-squares non-decreasing fit of `share` (Ayer et al. 1955)."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for p, w in zip(share, weight, strict=True):
        blocks.append([p, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            total = w1 + w2
            blocks.append([(m1 * w1 + m2 * w2) / total if total else m1, total, c1 + c2])
    fitted: list[float] = []
    for mean, _w, count in blocks:
        fitted.extend([mean] * int(count))
    return fitted


def isotonic_crossing(
    x: Iterable[float], n: Iterable[float], k: Iterable[float], allowed: float
) -> tuple[float | None, str]:
    """Where the share over the SLO, fitted non-decreasing in x = ln(rate), crosses `allowed`.

    Steps at one rate are pooled; the pooled shares get their isotonic fit (weights: requests);
    the crossing is interpolated linearly in the fitted share between the highest rate still
    within `allowed` and the next one above it. Returns (x at the crossing, "") or (None, side)
    with side "high" (every rate within the share) or "low" (none).
    """
    pooled: dict[float, list[float]] = {}
    for xi, ni, ki in zip(x, n, k, strict=True):
        if ni > 0:
            entry = pooled.setdefault(float(xi), [0.0, 0.0])
            entry[0] += float(ni)
            entry[1] += float(ki)
    if not pooled:
        return None, "low"
    xs = sorted(pooled)
    fitted = _pool_adjacent_violators(
        [pooled[v][1] / pooled[v][0] for v in xs], [pooled[v][0] for v in xs]
    )
    within = [i for i, p in enumerate(fitted) if p <= allowed]
    if not within:
        return None, "low"
    i = within[-1]
    if i == len(xs) - 1:
        return None, "high"
    p_lo, p_hi = fitted[i], fitted[i + 1]
    return xs[i] + (allowed - p_lo) / (p_hi - p_lo) * (xs[i + 1] - xs[i]), ""


@dataclass(frozen=True)
class _Point:
    estimate: CapacityEstimate
    data: _Data  # every valid step, pooled
    crossed: bool  # False: no crossing to bootstrap
    rounds: tuple[_Data, ...] = ()  # each round's steps, when there are two or more rounds
    median_of_rounds: bool = False  # the point is the median of the rounds' own crossings


def _point(steps: Sequence[StepBatches], allowed: float) -> _Point:
    data = _data(steps)
    used, batches = len(data.steps), sum(len(s.requests) for s in data.steps)

    def undefined(point: float | None, reason: str, lower: bool = False) -> _Point:
        estimate = CapacityEstimate(
            point_rps=point,
            ci95_rps=None,
            reason=reason,
            lower_bound_only=lower,
            steps_used=used,
            batches_used=batches,
            resamples=0,
            method="",
        )
        return _Point(estimate, data, False)

    if not data.steps or data.n.sum() == 0:
        return undefined(None, "no valid step with requests")
    rates = [s.rate_rps for s in data.steps]
    # The same pooled-share rule the search uses, so "all passed" here means what it means there.
    passed = [k <= allowed * n for n, k in zip(data.n, data.k, strict=True)]
    if all(passed):
        top = max(rates)
        return undefined(top, f"every rate met the SLO up to {top:g} req/s", lower=True)
    if not any(passed):
        return undefined(None, f"no rate met the SLO; lowest tried {min(rates):g} req/s")
    clamp = (min(rates) / EXTRAPOLATION_FACTOR, max(rates) * EXTRAPOLATION_FACTOR)
    rounds = tuple(_data(r) for r in _by_round(data.steps))
    ln_cross, _side = isotonic_crossing(data.x, data.n, data.k, allowed)
    if ln_cross is None:
        return undefined(None, "the share over the SLO never crosses the allowed share")
    cross = math.exp(ln_cross + data.centre)
    by_median = False
    reason = None
    if len(rounds) >= MEDIAN_FROM_ROUNDS:
        # Each round fitted on its own, and the median of their crossings: one round whose
        # process or moment was off (a step 35% late at a rate the other rounds pass with 3%)
        # moves the pooled share at its rates, but not the median. A round without a crossing
        # counts as the rate it stopped at (a bound, one grid step or so from its crossing),
        # not as the clamp, and not by falling back to the pooled fit: on 15 runs (2026-12-07,
        # docs/late-share-fit.md) either fallback let one slow round move the run's answer.
        own = [_round_crossing(r, allowed, clamp) for r in rounds]
        cross, by_median = _log_median([v for v, _side in own]), True
        bounds = sum(1 for _v, side in own if side)
        if bounds:
            reason = (
                f"{bounds} of {len(own)} rounds had no crossing of their own; each counts as the "
                "rate it stopped at (its highest if every step met the SLO, its lowest if none "
                "did): a bound, not a crossing"
            )
    if not clamp[0] <= cross <= clamp[1]:
        side = "below the lowest" if cross < clamp[0] else "above the highest"
        reason = _join(
            reason,
            f"the fit crosses {allowed:g} at {cross:.4g} req/s, more than "
            f"{EXTRAPOLATION_FACTOR:g}x {side} rate tried; clamped",
        )
        cross = min(max(cross, clamp[0]), clamp[1])
    estimate = CapacityEstimate(
        point_rps=cross,
        ci95_rps=None,
        reason=reason,
        lower_bound_only=False,
        steps_used=used,
        batches_used=batches,
        resamples=0,
        method="",
        clamp_rps=clamp,
    )
    return _Point(estimate, data, True, rounds if len(rounds) > 1 else (), by_median)


def _round_crossing(data: _Data, allowed: float, clamp: tuple[float, float]) -> tuple[float, str]:
    """One round's own crossing in req/s, and "" or the side it lacks one on: a round whose
    every step met the share counts as its highest rate ("high": capacity at least that), one
    whose every step missed it as its lowest ("low": at most that)."""
    ln_cross, side = isotonic_crossing(data.x, data.n, data.k, allowed)
    if ln_cross is None:
        lowest, highest = _stops(data)
        value = highest if side == "high" else lowest
    else:
        value = math.exp(ln_cross + data.centre)
    return min(max(value, clamp[0]), clamp[1]), side


def _stops(data: _Data) -> tuple[float, float]:
    """The lowest and highest rate a round tried, in req/s."""
    return float(np.exp(data.x.min() + data.centre)), float(np.exp(data.x.max() + data.centre))


def _log_median(values: Sequence[float]) -> float:
    """The median on the log scale (an even count: the geometric mean of the middle two)."""
    return float(np.exp(np.median(np.log(np.asarray(values, dtype=np.float64)))))


def _replicates(
    point: _Point,
    resamples: int,
    block_s: int,
    allowed: float,
    rng: np.random.Generator,
    sigma: float,
) -> tuple[FloatArray, int, int]:
    """The bootstrap's capacities in req/s, and how many replicates had no crossing (low, high).

    One round: each replicate resamples the repeats of each rate and blocks of seconds, with the
    step effect `sigma`, and refits. Several rounds: each replicate draws as many rounds as were
    run, with replacement, resamples within each drawn round (a round drawn twice takes two
    different draws of its own), pools the drawn rounds' steps and refits - a cluster bootstrap
    of the same pooled fit as the point. The step effect is left out there: the draw of rounds
    carries the step-to-step spread, and a within-round sigma learnt from round 1's repeats
    counted it twice (4.3 on the logit in one 2026-12-07 run, where a rate that passed on the
    way up failed after the climb's overloaded steps).
    """
    clamp = point.estimate.clamp_rps
    assert clamp is not None
    centre = point.data.centre
    if not point.rounds:
        fits = _replicate_fits(point.data, resamples, block_s, allowed, rng, sigma)
        return _crossings(fits, centre, allowed, clamp)
    per_round = [_replicate_fits(d, resamples, block_s, allowed, rng, 0.0) for d in point.rounds]
    shifts = [d.centre - centre for d in point.rounds]  # each round's x onto the pooled centre
    count = len(point.rounds)
    drawn = rng.integers(0, count, size=(resamples, count))
    # The m-th draw of replicate r takes replicate (r + m x offset) of its round: distinct for
    # every draw of one replicate, and each round's replicates are exchangeable.
    offset = max(1, resamples // count)
    if point.median_of_rounds:
        # The same statistic as the point: each drawn round's own crossing, then their median.
        own = np.stack(
            [
                _crossings(f, d.centre, allowed, clamp, _stops(d))[0]
                for f, d in zip(per_round, point.rounds, strict=True)
            ]
        )
        columns = (np.arange(resamples)[:, None] + offset * np.arange(count)[None, :]) % resamples
        values = np.exp(np.median(np.log(own[drawn, columns]), axis=1))
        return values, int(np.sum(values <= clamp[0])), int(np.sum(values >= clamp[1]))
    x = np.empty((resamples, len(point.data.steps) * count))
    n, k = np.zeros_like(x), np.zeros_like(x)
    for r in range(resamples):
        at = 0
        for m in range(count):
            j, column = int(drawn[r, m]), (r + offset * m) % resamples
            fits = per_round[j]
            width = fits.x.shape[1]
            x[r, at : at + width] = fits.x[column] + shifts[j]
            n[r, at : at + width] = fits.n[column]
            k[r, at : at + width] = fits.k[column]
            at += width
        x[r, at:] = x[r, 0]  # unused slots: no requests, so the fit ignores them
    return _crossings(_Replicates(x, n, k), centre, allowed, clamp)


def _no_crossing_note(low: int, high: int, resamples: int) -> str | None:
    if max(low, high) <= NO_CROSSING_REPORT_SHARE * resamples:
        return None
    return (
        f"{low + high} of {resamples} bootstrap replicates had no crossing ({high} above, "
        f"{low} below the rates tried); the interval runs to the clamp limit on that side: the "
        "run's steps do not bound it there (more rounds would)"
    )


def _join(*reasons: str | None) -> str | None:
    parts = [r for r in reasons if r]
    return "; ".join(parts) if parts else None


def _streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    # One stream per series, so capacity_estimate(num, seed) draws the same replicates as the
    # numerator of capacity_ratio(num, den, seed) does.
    first, second = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(first), np.random.default_rng(second)


def _method(point: _Point, block_s: int, resamples: int) -> str:
    if point.rounds:
        count = len(point.rounds)
        return (MEDIAN_METHOD if point.median_of_rounds else ROUNDS_METHOD).format(
            rounds=count, block=block_s, resamples=resamples,
            factor=few_clusters_factor(count), df=count - 1,
        )  # fmt: skip
    return METHOD.format(block=block_s, resamples=resamples)


# Two-sided 95% quantiles of Student's t with 1..19 degrees of freedom (a run has at most 20
# rounds), and the normal's.
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093)  # fmt: skip
Z_975 = 1.960


def few_clusters_factor(clusters: int) -> float:
    """How much wider (on the log scale) a cluster bootstrap's 95% interval must be when it
    draws only `clusters` rounds: its variance is short by (G-1)/G and its reference
    distribution is Student's t with G-1 degrees of freedom, not the normal (Cameron & Miller,
    "A Practitioner's Guide to Cluster-Robust Inference", 2015). 1 for one round (no clusters)."""
    if clusters < 2:
        return 1.0
    t = T_975[min(clusters - 1, len(T_975)) - 1]
    return t / Z_975 * math.sqrt(clusters / (clusters - 1))


def _percentiles(
    values: FloatArray, point: float | None = None, clusters: int = 1
) -> tuple[float, float]:
    """The 95% interval from the replicates. One round: their 2.5 and 97.5 percentiles. Two
    rounds (the pooled fit): each percentile's distance from the point widened on the log scale
    by few_clusters_factor (Student's t with G-1 degrees of freedom and the G/(G-1) factor,
    Cameron & Miller 2015). Three or more (the median of the rounds): point x exp(+-t x s), s
    the replicates' standard deviation on the log scale, with the same factor. The percentiles
    of a median of four or five rounds are lumpy (each end sits on one round's value) and left
    each run's ratio outside another run's interval in 3 of 5 series of 3 runs; the t interval
    on the bootstrap's s.d. covered them in all 5 (2026-12-07, docs/late-share-fit.md)."""
    lo, hi = (float(v) for v in np.percentile(values, [2.5, 97.5]))
    factor = few_clusters_factor(clusters)
    if point is None or factor == 1.0 or point <= 0 or lo <= 0:
        return lo, hi
    if clusters >= MEDIAN_FROM_ROUNDS:
        half = Z_975 * factor * float(np.std(np.log(values), ddof=1))
        return point * math.exp(-half), point * math.exp(half)
    return point * (min(lo, point) / point) ** factor, point * (max(hi, point) / point) ** factor


def _clamped(ci: tuple[float, float], clamp: tuple[float, float]) -> tuple[float, float]:
    return max(ci[0], clamp[0]), min(ci[1], clamp[1])


def capacity_estimate(
    steps: Sequence[StepBatches],
    allowed_share: float,
    *,
    resamples: int = 1000,
    block_s: int = 3,
    seed: int = 0,
    step_sigma: float | None = None,
) -> CapacityEstimate:
    """Capacity where the fitted share over the SLO crosses allowed_share, with its 95% interval."""
    _check_options(allowed_share, resamples, block_s)
    point = _point(steps, allowed_share)
    est = point.estimate
    if not point.crossed or est.clamp_rps is None:
        return replace(est, method=_method(point, block_s, resamples))
    step_rng, _ = _streams(seed)
    sigma = step_effect_sigma(steps) if step_sigma is None else step_sigma
    values, low, high = _replicates(point, resamples, block_s, allowed_share, step_rng, sigma)
    return replace(
        est,
        method=_method(point, block_s, resamples)
        + ("" if point.rounds else SIGMA_NOTE.format(sigma=sigma)),
        ci95_rps=_clamped(_percentiles(values, est.point_rps, len(point.rounds)), est.clamp_rps),
        reason=_join(est.reason, _no_crossing_note(low, high, resamples)),
        resamples=resamples,
        no_crossing_low=low,
        no_crossing_high=high,
    )


def capacity_ratio(
    numerator: Sequence[StepBatches],
    denominator: Sequence[StepBatches],
    allowed_share: float,
    *,
    resamples: int = 1000,
    block_s: int = 3,
    seed: int = 0,
    step_sigma: float | None = None,
) -> RatioEstimate:
    """Numerator capacity over denominator capacity (e.g. FastAPI / Django), with a 95% interval."""
    _check_options(allowed_share, resamples, block_s)
    method = RATIO_METHOD.format(block=block_s, resamples=resamples)
    num = _point(numerator, allowed_share)
    den = _point(denominator, allowed_share)
    for name, side in (("numerator", num), ("denominator", den)):
        if not side.crossed or side.estimate.point_rps is None:
            why = f"{name} capacity undefined: {side.estimate.reason}"
            return RatioEstimate(point=None, ci95=None, reason=why, method=method)
    assert num.estimate.point_rps is not None and den.estimate.point_rps is not None
    assert num.estimate.clamp_rps is not None and den.estimate.clamp_rps is not None
    num_rng, den_rng = _streams(seed)
    sigma = step_effect_sigma(numerator, denominator) if step_sigma is None else step_sigma
    top, low_n, high_n = _replicates(num, resamples, block_s, allowed_share, num_rng, sigma)
    bottom, low_d, high_d = _replicates(den, resamples, block_s, allowed_share, den_rng, sigma)
    reason = _join(
        *(
            f"{name}: {text}"
            for name, text in (
                ("numerator", num.estimate.reason),
                ("denominator", den.estimate.reason),
                ("numerator", _no_crossing_note(low_n, high_n, resamples)),
                ("denominator", _no_crossing_note(low_d, high_d, resamples)),
            )
            if text
        )
    )
    return RatioEstimate(
        point=num.estimate.point_rps / den.estimate.point_rps,
        ci95=_percentiles(
            top / bottom,
            num.estimate.point_rps / den.estimate.point_rps,
            min(len(num.rounds), len(den.rounds)),
        ),
        reason=reason,
        method=method + ("" if num.rounds else SIGMA_NOTE.format(sigma=sigma)),
    )
