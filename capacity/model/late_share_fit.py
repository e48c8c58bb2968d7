"""Capacity at the SLO finer than the rate grid, with a 95% interval and a framework ratio: a
logistic fit of the share of requests over the SLO against ln(offered rate), and a hierarchical
percentile bootstrap (rounds, then steps, then circular blocks of seconds) after Kalibera & Jones,
"Rigorous Benchmarking in Reasonable Time" (ISMM 2013), and Künsch (1989) / Politis & Romano
(1992, 1994) for the block bootstrap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

# Ridge on (intercept at the mean ln rate, slope): weak enough to move a real fit by far less
# than its standard error (a sharp knee has slope ~50 per ln-rate and information ~10 nats per
# unit slope^2), strong enough that complete separation still has a finite optimum, which
# then sits inside the gap between the last passing and the first failing rate.
RIDGE = 1e-3
# Never report a crossing further than this factor outside the rates tried: the logistic shape
# is an assumption, and nothing was measured out there.
EXTRAPOLATION_FACTOR = 1.5
NO_CROSSING_REPORT_SHARE = 0.10
FULL_FIT_ITERATIONS = 200
REPLICATE_ITERATIONS = 60
# Step multipliers tried at every Newton iteration; plain Newton overshoots on logistic losses
# far from the optimum (near separation), so each replicate keeps the best of these.
LINE_SEARCH = np.array([1.0, 0.5, 0.25, 0.125, 0.0625, 0.015625, 0.0])


@dataclass(frozen=True)
class StepBatches:
    """One measured step: its offered rate and its per-second (requests, over_slo) batches.

    Batches are in time order, one per second of the measuring window.
    """

    rate_rps: float  # offered rate of the step (total, all pods)
    requests: tuple[int, ...]  # per second
    over_slo: tuple[int, ...]  # per second, each <= requests
    round_index: int = 0  # which round of the search (rounds repeat the whole search)
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
class LogisticFit:
    """logit(share over SLO) = intercept + slope * ln(rate in req/s)."""

    intercept: float
    slope: float  # per unit of ln(rate)

    def share_at(self, rate_rps: float) -> float:
        return _sigmoid(self.intercept + self.slope * math.log(rate_rps))

    def rate_at(self, share: float) -> float | None:
        """The rate where the fitted share equals share; None when the share never rises."""
        if not 0.0 < share < 1.0:
            raise ValueError(f"share must be strictly between 0 and 1, got {share!r}")
        if self.slope <= 0:
            return None
        ln_rate = (math.log(share / (1.0 - share)) - self.intercept) / self.slope
        return math.exp(ln_rate) if ln_rate < 700 else math.inf


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
    fit: LogisticFit | None = None


@dataclass(frozen=True)
class RatioEstimate:
    """Numerator capacity / denominator capacity, with its 95% bootstrap interval."""

    point: float | None
    ci95: tuple[float, float] | None
    reason: str | None
    method: str


METHOD = (
    "Logistic regression of the share of requests over the SLO on ln(offered rate) over every "
    "second of every valid step; the capacity is the rate where the fitted share crosses the "
    "allowed share, and its 95% interval is a percentile bootstrap that resamples rounds, then "
    "steps within each round, then {block}-second blocks of consecutive seconds within each step "
    "(so bursts of late requests count as bursts), refitting each of {resamples} replicates."
)
RATIO_METHOD = (
    "Ratio of the two capacity point estimates; its 95% interval is a percentile bootstrap of the "
    "ratio in which both frameworks draw the same rounds in each replicate (rounds interleave "
    "them in time, so drift within a round cancels) and their steps and {block}-second blocks "
    "independently, {resamples} replicates (Kalibera & Jones 2013)."
)


def _sigmoid(eta: float) -> float:
    if eta >= 0:
        return 1.0 / (1.0 + math.exp(-eta))
    e = math.exp(eta)
    return e / (1.0 + e)


def _valid(steps: Sequence[StepBatches]) -> list[StepBatches]:
    return [s for s in steps if s.valid]


def _newton(
    x: FloatArray,
    n: FloatArray,
    k: FloatArray,
    alpha: FloatArray,
    beta: FloatArray,
    iterations: int,
) -> tuple[FloatArray, FloatArray]:
    """Ridge-penalised binomial logistic fits, one per row of (x, n, k), by damped Newton.

    Rows are bootstrap replicates, columns steps (padding has n = 0); a step's seconds share
    one x, so the fit on per-second batches equals the fit on the step totals.
    """

    def objective(a: FloatArray, b: FloatArray) -> FloatArray:
        eta = a[..., None] + b[..., None] * x
        loss: FloatArray = (n * np.logaddexp(0.0, eta) - k * eta).sum(axis=-1)
        return loss + 0.5 * RIDGE * (a * a + b * b)

    for _ in range(iterations):
        eta = alpha[:, None] + beta[:, None] * x
        with np.errstate(over="ignore"):
            p = 1.0 / (1.0 + np.exp(-eta))
        resid = n * p - k
        w = n * p * (1.0 - p)
        g_a = resid.sum(axis=1) + RIDGE * alpha
        g_b = (resid * x).sum(axis=1) + RIDGE * beta
        h_aa = w.sum(axis=1) + RIDGE
        h_ab = (w * x).sum(axis=1)
        h_bb = (w * x * x).sum(axis=1) + RIDGE
        det = h_aa * h_bb - h_ab * h_ab
        d_a = -(h_bb * g_a - h_ab * g_b) / det
        d_b = -(h_aa * g_b - h_ab * g_a) / det
        trial_a = alpha[None, :] + LINE_SEARCH[:, None] * d_a[None, :]
        trial_b = beta[None, :] + LINE_SEARCH[:, None] * d_b[None, :]
        best = np.argmin(objective(trial_a, trial_b), axis=0)
        cols = np.arange(alpha.shape[0])
        new_a, new_b = trial_a[best, cols], trial_b[best, cols]
        moved = float(np.max(np.abs(new_a - alpha) + np.abs(new_b - beta), initial=0.0))
        alpha, beta = new_a, new_b
        if moved < 1e-9:
            break
    return alpha, beta


@dataclass(frozen=True)
class _Data:
    """Valid steps as arrays, ln rate centred so the intercept and slope are nearly uncorrelated."""

    steps: list[StepBatches]
    x: FloatArray  # ln rate - centre
    centre: float
    n: FloatArray
    k: FloatArray
    round_of: IntArray  # position of each step's round in `rounds`
    rounds: list[int]


def _data(steps: Sequence[StepBatches], rounds: list[int] | None = None) -> _Data:
    valid = _valid(steps)
    ln_rate = np.array([math.log(s.rate_rps) for s in valid], dtype=np.float64)
    centre = float(ln_rate.mean()) if valid else 0.0
    rounds = rounds if rounds is not None else sorted({s.round_index for s in valid})
    return _Data(
        steps=valid,
        x=ln_rate - centre,
        centre=centre,
        n=np.array([sum(s.requests) for s in valid], dtype=np.float64),
        k=np.array([sum(s.over_slo) for s in valid], dtype=np.float64),
        round_of=np.array([rounds.index(s.round_index) for s in valid], dtype=np.int64),
        rounds=rounds,
    )


def _fit_centred(data: _Data) -> tuple[float, float]:
    a, b = _newton(
        data.x[None, :],
        data.n[None, :],
        data.k[None, :],
        np.zeros(1),
        np.zeros(1),
        FULL_FIT_ITERATIONS,
    )
    return float(a[0]), float(b[0])


def fit_late_share(steps: Sequence[StepBatches]) -> LogisticFit | None:
    """The ridge-penalised logistic fit over every batch of the valid steps; None without data."""
    data = _data(steps)
    if not data.steps or data.n.sum() == 0:
        return None
    a, b = _fit_centred(data)
    return LogisticFit(intercept=a - b * data.centre, slope=b)


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


def _round_picks(rounds: int, resamples: int, rng: np.random.Generator) -> IntArray:
    if rounds <= 1:
        return np.zeros((resamples, max(rounds, 1)), dtype=np.int64)
    return rng.integers(0, rounds, size=(resamples, rounds))


def _replicate_fits(
    data: _Data,
    picks: IntArray,
    warm: tuple[float, float],
    block_s: int,
    allowed: float,
    rng: np.random.Generator,
) -> _Replicates:
    """Refit every replicate: rounds as picked, steps resampled within each, blocks within steps."""
    resamples, positions = picks.shape
    members = [np.flatnonzero(data.round_of == g) for g in range(len(data.rounds))]
    width = max((len(m) for m in members), default=0)
    slot = np.full((resamples, positions * width), -1, dtype=np.int64)
    for i in range(positions):
        for g, member in enumerate(members):
            rows = np.flatnonzero(picks[:, i] == g)
            if rows.size == 0 or member.size == 0:
                continue
            chosen = member[rng.integers(0, member.size, size=(rows.size, member.size))]
            slot[rows[:, None], i * width + np.arange(member.size)[None, :]] = chosen
    n = np.zeros(slot.shape)
    k = np.zeros(slot.shape)
    for s, step in enumerate(data.steps):
        where = slot == s
        count = int(where.sum())
        if count:
            n[where], k[where] = _block_totals(step, count, block_s, rng)
    x = np.where(slot >= 0, data.x[np.maximum(slot, 0)], 0.0)
    alpha, beta = _newton(
        x, n, k, np.full(resamples, warm[0]), np.full(resamples, warm[1]), REPLICATE_ITERATIONS
    )
    passed = (n > 0) & (k <= allowed * n)
    failed = (n > 0) & (k > allowed * n)
    return _Replicates(alpha, beta, passed.any(axis=1), failed.any(axis=1))


@dataclass(frozen=True)
class _Replicates:
    alpha: FloatArray  # centred intercepts
    beta: FloatArray
    any_pass: BoolArray  # some resampled step within the allowed share
    any_fail: BoolArray


def _crossings(
    fits: _Replicates, centre: float, allowed: float, clamp: tuple[float, float]
) -> tuple[FloatArray, int, int]:
    """Replicate capacities in req/s, clamped; no crossing counts as the clamp limit on its side.

    A replicate has no crossing when, by the same pooled-share rule as the point, every step it
    drew passed (capacity above the rates tried) or every one failed (below), or when its fitted
    share never rises (the side is where its share at the centre falls). It counts as the clamp
    limit on that side, so once more than 2.5% fall on one side that end of the interval is the
    limit; the reason says so when more than 10% of all replicates have no crossing.
    """
    alpha, beta = fits.alpha, fits.beta
    logit = math.log(allowed / (1.0 - allowed))
    flat = beta <= 0
    high = (fits.any_pass & ~fits.any_fail) | (flat & (alpha <= logit))
    low = ~high & ((fits.any_fail & ~fits.any_pass) | (flat & (alpha > logit)))
    rising = ~(high | low)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ln_cross = centre + (logit - alpha) / np.where(rising, beta, 1.0)
    ln_lo, ln_hi = math.log(clamp[0]), math.log(clamp[1])
    ln_cross = np.where(high, ln_hi, np.where(low, ln_lo, np.clip(ln_cross, ln_lo, ln_hi)))
    return np.exp(ln_cross), int(low.sum()), int(high.sum())


def _check_options(allowed_share: float, resamples: int, block_s: int) -> None:
    if not 0.0 < allowed_share < 1.0:
        raise ValueError(f"allowed_share must be strictly between 0 and 1, got {allowed_share!r}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples!r}")
    if block_s < 1:
        raise ValueError(f"block_s must be at least 1 second, got {block_s!r}")


@dataclass(frozen=True)
class _Point:
    estimate: CapacityEstimate
    data: _Data
    warm: tuple[float, float] | None  # None: no crossing to bootstrap


def _point(steps: Sequence[StepBatches], allowed: float, rounds: list[int] | None) -> _Point:
    data = _data(steps, rounds)
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
        return _Point(estimate, data, None)

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
    a, b = _fit_centred(data)
    fit = LogisticFit(intercept=a - b * data.centre, slope=b)
    cross = fit.rate_at(allowed)
    if cross is None:
        return undefined(None, "the fitted share over the SLO does not rise with the rate")
    clamp = (min(rates) / EXTRAPOLATION_FACTOR, max(rates) * EXTRAPOLATION_FACTOR)
    reason = None
    if not clamp[0] <= cross <= clamp[1]:
        side = "below the lowest" if cross < clamp[0] else "above the highest"
        reason = (
            f"the fit crosses {allowed:g} at {cross:.4g} req/s, more than "
            f"{EXTRAPOLATION_FACTOR:g}x {side} rate tried; clamped"
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
        fit=fit,
    )
    return _Point(estimate, data, (a, b))


def _no_crossing_note(low: int, high: int, resamples: int) -> str | None:
    if low + high <= NO_CROSSING_REPORT_SHARE * resamples:
        return None
    return (
        f"{low + high} of {resamples} bootstrap replicates had no crossing ({high} above, "
        f"{low} below the rates tried); the interval runs to the clamp limit on that side"
    )


def _join(*reasons: str | None) -> str | None:
    parts = [r for r in reasons if r]
    return "; ".join(parts) if parts else None


def _streams(seed: int) -> tuple[np.random.Generator, np.random.Generator, np.random.Generator]:
    # Separate streams for rounds and for each series, so capacity_estimate(num, seed) draws the
    # same replicates as the numerator of capacity_ratio(num, den, seed) does.
    rounds, first, second = np.random.SeedSequence(seed).spawn(3)
    return (
        np.random.default_rng(rounds),
        np.random.default_rng(first),
        np.random.default_rng(second),
    )


def _percentiles(values: FloatArray) -> tuple[float, float]:
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def capacity_estimate(
    steps: Sequence[StepBatches],
    allowed_share: float,
    *,
    resamples: int = 1000,
    block_s: int = 3,
    seed: int = 0,
) -> CapacityEstimate:
    """Capacity where the fitted share over the SLO crosses allowed_share, with its 95% interval."""
    _check_options(allowed_share, resamples, block_s)
    point = _point(steps, allowed_share, None)
    method = METHOD.format(block=block_s, resamples=resamples)
    est = point.estimate
    if point.warm is None or est.clamp_rps is None:
        return replace(est, method=method)
    round_rng, step_rng, _ = _streams(seed)
    picks = _round_picks(len(point.data.rounds), resamples, round_rng)
    fits = _replicate_fits(point.data, picks, point.warm, block_s, allowed_share, step_rng)
    values, low, high = _crossings(fits, point.data.centre, allowed_share, est.clamp_rps)
    return replace(
        est,
        ci95_rps=_percentiles(values),
        reason=_join(est.reason, _no_crossing_note(low, high, resamples)),
        resamples=resamples,
        method=method,
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
) -> RatioEstimate:
    """Numerator capacity over denominator capacity (e.g. FastAPI / Django), with a 95% interval."""
    _check_options(allowed_share, resamples, block_s)
    method = RATIO_METHOD.format(block=block_s, resamples=resamples)
    rounds = sorted({s.round_index for s in [*_valid(numerator), *_valid(denominator)]})
    num = _point(numerator, allowed_share, rounds)
    den = _point(denominator, allowed_share, rounds)
    for name, side in (("numerator", num), ("denominator", den)):
        if side.warm is None or side.estimate.point_rps is None:
            why = f"{name} capacity undefined: {side.estimate.reason}"
            return RatioEstimate(point=None, ci95=None, reason=why, method=method)
    assert num.estimate.point_rps is not None and den.estimate.point_rps is not None
    assert num.warm is not None and den.warm is not None
    assert num.estimate.clamp_rps is not None and den.estimate.clamp_rps is not None
    round_rng, num_rng, den_rng = _streams(seed)
    picks = _round_picks(len(rounds), resamples, round_rng)
    fits_n = _replicate_fits(num.data, picks, num.warm, block_s, allowed_share, num_rng)
    fits_d = _replicate_fits(den.data, picks, den.warm, block_s, allowed_share, den_rng)
    top, low_n, high_n = _crossings(fits_n, num.data.centre, allowed_share, num.estimate.clamp_rps)
    bottom, low_d, high_d = _crossings(
        fits_d, den.data.centre, allowed_share, den.estimate.clamp_rps
    )
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
        ci95=_percentiles(top / bottom),
        reason=reason,
        method=method,
    )
