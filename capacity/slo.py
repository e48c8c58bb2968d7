"""The service level and every decision made against it, defined once: what a step must meet,
its verdict with the reasons, how measurements at one rate pool, and the interval rule.

The search (capacity/load/ladder.py), the run (capacity/run.py), the model
(capacity/model/capacity_at_slo.py) and the report all decide with these functions, so a step
cannot pass in one place and fail in another.

- The SLO: a client-side latency percentile (p95 <= 100 ms by default: at most 5% of requests
  late), an error budget, and two generator checks (its CPU below the saturation share, its
  send lag p99 below `MAX_SEND_LAG_MS`): a step that measured the generator decides nothing
  about the service.
- A step's share over the SLO (late, failed or dropped) carries a Wilson score interval (Wilson
  1927; Brown, Cai & DasGupta 2001): pass when its upper bound is under the allowed share, fail
  when its lower bound is over it, otherwise undecided (the run measures once more and then the
  pooled point estimate decides). Requests are not independent under queueing, so this bound is
  the search's stopping rule only; the capacity's interval comes from the block bootstrap in
  capacity/model/late_share_fit.py.
- The interval rule: [last pass, first fail) on the rate grid, "confirmed" when it is one grid
  step wide and both ends were measured at least twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from capacity.errors import ConfigError

Percentile = Literal["p50", "p95", "p99"]
ALLOWED_OVER = {"p50": 0.5, "p95": 0.05, "p99": 0.01}
Decision = Literal["pass", "fail", "undecided"]
Z_95 = 1.959963984540054  # two-sided 95%
# A step whose requests left the generator this much later than scheduled (p99) measured the
# generator's own queue: a tenth of the default 100 ms SLO.
MAX_SEND_LAG_MS = 10.0
# A step whose core-speed probe differs from the run's median by more than this share ran on a
# different machine, in effect: the run probes again before measuring it (`PROBE_RETRIES`), and
# the model leaves it out of the fit when the last reading is still that far off.
SPEED_TOLERANCE = 0.15
# How often the run re-reads a probe that came out further off than `SPEED_TOLERANCE`, and the
# pause before each re-read: one 0.1 s reading 20-85% low came before 20 of 666 steps across
# 18 runs (2026-12-07), and the passing ones among them used the CPU per request of their
# series (+0.1% off its median): a dip of the host, not of the step.
PROBE_RETRIES = 2
PROBE_RETRY_PAUSE_S = 0.5


@dataclass(frozen=True)
class Slo:
    """The service level a step must meet to count as capacity."""

    latency_ms: float = 100.0
    percentile: Percentile = "p95"
    max_error_ratio: float = 0.01

    def __post_init__(self) -> None:
        if self.percentile not in ("p50", "p95", "p99"):
            raise ConfigError(f"SLO percentile {self.percentile!r} is not one of p50, p95, p99")
        if not self.latency_ms > 0:
            raise ConfigError(f"SLO latency {self.latency_ms!r} ms must be a positive number")
        if not 0 <= self.max_error_ratio < 1:
            raise ConfigError(
                f"error budget {self.max_error_ratio!r} must be a ratio in [0, 1), e.g. 0.01"
            )

    @property
    def allowed_over_ratio(self) -> float:
        """The share of requests the percentile lets exceed the latency (0.05 for p95)."""
        return ALLOWED_OVER[self.percentile]

    def __str__(self) -> str:
        return (
            f"client-side {self.percentile} <= {self.latency_ms:g} ms (at most "
            f"{self.allowed_over_ratio:.0%} of requests late, failed or dropped), errors <= "
            f"{self.max_error_ratio:.2%}, generator neither saturated nor lagging (send lag p99 "
            f"<= {MAX_SEND_LAG_MS:g} ms)"
        )


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion; (0, 1) when there are no trials."""
    if trials <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= trials:
        raise ValueError(f"successes {successes} must be within 0..{trials}")
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    # Exact ends at 0 and n (the formula leaves rounding dust there), and the bounds always
    # contain the estimate.
    lower = 0.0 if successes == 0 else max(0.0, min(p, centre - half))
    upper = 1.0 if successes == trials else min(1.0, max(p, centre + half))
    return lower, upper


@dataclass(frozen=True)
class StepCounts:
    """What the decision needs from one measured step: requests and how many missed the SLO."""

    requests: int  # scheduled in the measuring window (completed, failed, dropped)
    over_slo: int  # late (latency > SLO), failed or dropped

    def __post_init__(self) -> None:
        if not 0 <= self.over_slo <= self.requests:
            raise ValueError(f"over_slo {self.over_slo} must be within 0..{self.requests}")

    def __add__(self, other: StepCounts) -> StepCounts:
        return StepCounts(self.requests + other.requests, self.over_slo + other.over_slo)

    @property
    def ratio(self) -> float:
        return self.over_slo / self.requests if self.requests else 1.0


@dataclass(frozen=True)
class Verdict:
    """The latency decision on some counts, with the share's 95% Wilson bounds."""

    decision: Decision
    ratio: float
    lower: float
    upper: float

    @property
    def passed(self) -> bool:
        return self.decision == "pass"


def decide(counts: StepCounts, allowed_ratio: float, *, final: bool = False) -> Verdict:
    """Pass/fail/undecided from the Wilson bounds; `final` settles "undecided" by the estimate.

    A step with no requests fails: nothing was served, so nothing met the SLO.
    """
    if not 0 < allowed_ratio < 1:
        raise ValueError(f"allowed share over the SLO {allowed_ratio!r} must be in (0, 1)")
    lower, upper = wilson_interval(counts.over_slo, counts.requests)
    ratio = counts.ratio
    if counts.requests == 0 or lower > allowed_ratio:
        decision: Decision = "fail"
    elif upper < allowed_ratio:
        decision = "pass"
    elif final:
        decision = "pass" if ratio <= allowed_ratio else "fail"
    else:
        decision = "undecided"
    return Verdict(decision, ratio, lower, upper)


class Observed(Protocol):
    """What a step's judgement reads (a MeasurementRecord, or the run's figures before one)."""

    @property
    def requests(self) -> int: ...
    @property
    def over_slo_ratio(self) -> float: ...
    @property
    def error_ratio(self) -> float: ...
    @property
    def generator_saturated(self) -> bool: ...
    @property
    def generator_cpu_ratio(self) -> float: ...
    @property
    def send_lag_p99_ms(self) -> float | None: ...


@dataclass(frozen=True)
class StepJudgement:
    """One step's verdict at the SLO: pass or fail, the latency verdict, and every reason."""

    decision: Literal["pass", "fail"]
    latency: Verdict
    reasons: tuple[str, ...]  # why it failed; empty when it passed
    generator_bound: bool  # failed because the generator, not the service, was the limit

    @property
    def passed(self) -> bool:
        return self.decision == "pass"


def judge(step: Observed, slo: Slo) -> StepJudgement:
    """The one step verdict: the latency share, the error budget and the generator checks."""
    allowed = slo.allowed_over_ratio
    n = step.requests
    latency = decide(StepCounts(n, min(n, round(step.over_slo_ratio * n))), allowed, final=True)
    reasons = []
    if n == 0:
        reasons.append("no request was scheduled in the measuring window")
    elif not latency.passed:
        reasons.append(
            f"{latency.ratio:.1%} of requests over {slo.latency_ms:g} ms, failed or dropped "
            f"(95% bound [{latency.lower:.1%}, {latency.upper:.1%}]) > {allowed:.0%}"
        )
    if step.error_ratio > slo.max_error_ratio:
        reasons.append(f"errors {step.error_ratio:.2%} > budget {slo.max_error_ratio:.2%}")
    generator_bound = False
    if step.generator_saturated:
        generator_bound = True
        reasons.append(
            f"load generator saturated (CPU {step.generator_cpu_ratio:.0%}): measures the "
            "generator, not the service"
        )
    lag = step.send_lag_p99_ms
    if lag is not None and lag > MAX_SEND_LAG_MS:
        generator_bound = True
        reasons.append(
            f"generator-bound: requests left {lag:.0f} ms after their scheduled time (p99 send "
            f"lag > {MAX_SEND_LAG_MS:g} ms)"
        )
    return StepJudgement("fail" if reasons else "pass", latency, tuple(reasons), generator_bound)


def step_counts(step: Observed, slo: Slo) -> StepCounts:
    """The counts a measured step adds to its grid rate, for the search and the model alike.

    A step that failed for a reason other than latency (errors over budget, a generator that
    was the limit) counts as wholly over the SLO: it cannot vouch for its rate.
    """
    n = step.requests
    over = min(n, round(step.over_slo_ratio * n))
    judged = judge(step, slo)
    if not judged.passed and judged.latency.passed:
        return StepCounts(max(1, n), max(1, n))
    return StepCounts(n, over)


def bracket(passed: Mapping[int, bool]) -> tuple[int | None, int | None]:
    """(last pass, first fail) of grid indices: the lowest failing index and the highest pass
    below it, from each measured index's pooled verdict."""
    fails = [i for i, ok in passed.items() if not ok]
    hi = min(fails) if fails else None
    passes = [i for i, ok in passed.items() if ok and (hi is None or i < hi)]
    return (max(passes) if passes else None), hi


def confirmed(lo: int | None, hi: int | None, runs: Mapping[int, int]) -> bool:
    """The interval is one grid step wide and both ends were measured at least twice."""
    return (
        lo is not None
        and hi is not None
        and hi - lo == 1
        and runs.get(lo, 0) >= 2
        and runs.get(hi, 0) >= 2
    )
