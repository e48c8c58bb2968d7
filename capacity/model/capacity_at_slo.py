"""Capacity per pod at the SLO, as an interval and a point estimate, and CPU-seconds per request.

The run measures a framework x scenario on one absolute rate grid (capacity/load/ladder.py).
Every measurement at a grid rate is pooled (requests and requests over the SLO), and the pooled
share over the SLO decides the rate: pass when it is within the allowed share (5% for a p95
SLO), with the same rule and the same counts the run's search used. The capacity interval is
[last pass, first fail): the lowest failing rate and the highest passing rate below it; it is
"confirmed" when it is one grid step wide and both ends were measured at least twice. The point
estimate is the geometric midpoint of the interval. CPU per request is the median over the
passing steps of (pod CPU-seconds / requests served), both counters taken over the same window.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from capacity.errors import ConfigError
from capacity.load.ladder import StepCounts, decide
from capacity.load.steps import step_counts
from capacity.measurements import MeasurementRecord
from capacity.model.derivation import Figure, derive

Percentile = Literal["p50", "p95", "p99"]
ALLOWED_OVER = {"p50": 0.5, "p95": 0.05, "p99": 0.01}


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
            f"{self.allowed_over_ratio:.0%} of requests late, failed or dropped, 95% Wilson "
            f"bound), errors <= {self.max_error_ratio:.2%}, generator not saturated"
        )


@dataclass(frozen=True)
class StepVerdict:
    record: MeasurementRecord
    valid: bool
    reasons: tuple[str, ...]  # why the step did not pass; empty when it did

    @property
    def per_pod_rps(self) -> float:
        return self.record.achieved_rps / self.record.pods


def latency_at(record: MeasurementRecord, percentile: Percentile) -> float | None:
    """The client-side latency percentile (from the intended send time)."""
    return {
        "p50": record.client_latency_p50_ms,
        "p95": record.client_latency_p95_ms,
        "p99": record.client_latency_p99_ms,
    }[percentile]


def judge_step(record: MeasurementRecord, slo: Slo) -> StepVerdict:
    """One step on its own (the capacity pools every step at the same grid rate)."""
    reasons = []
    if record.requests == 0:
        reasons.append("no request was scheduled in the measuring window")
    elif record.over_slo_ratio > slo.allowed_over_ratio or record.decision == "fail":
        reasons.append(
            f"{record.over_slo_ratio:.1%} of requests over {slo.latency_ms:g} ms, failed or "
            f"dropped (95% bound [{record.over_slo_lower:.1%}, {record.over_slo_upper:.1%}])"
        )
    if record.error_ratio > slo.max_error_ratio:
        reasons.append(f"errors {record.error_ratio:.2%} > budget {slo.max_error_ratio:.2%}")
    if record.generator_saturated:
        reasons.append(
            f"load generator saturated (CPU {record.generator_cpu_ratio:.0%}): "
            "measures the generator, not the service"
        )
    return StepVerdict(record, not reasons, tuple(reasons))


@dataclass(frozen=True)
class RatePoint:
    """Every measurement at one grid rate, pooled."""

    grid_index: int
    offered_rps: float
    counts: StepCounts
    runs: int
    passed: bool


@dataclass(frozen=True)
class PodCapacity:
    steps: tuple[StepVerdict, ...]
    rates: tuple[RatePoint, ...]
    capacity_step: StepVerdict | None  # the last measurement at the interval's low end
    capacity_per_pod_rps: Figure  # the point estimate
    interval_per_pod_rps: tuple[float | None, float | None]  # [last pass, first fail)
    confirmed: bool
    cpu_seconds_per_request: Figure
    database_bound: str | None  # why the knee is the database's, when it is
    warnings: tuple[str, ...]


def pool_rates(records: Sequence[MeasurementRecord], slo: Slo) -> tuple[RatePoint, ...]:
    by_index: dict[int, list[MeasurementRecord]] = defaultdict(list)
    for r in records:
        by_index[r.grid_index].append(r)
    points = []
    for index, members in sorted(by_index.items()):
        counts = StepCounts(0, 0)
        for r in members:
            counts = counts + step_counts(r, slo.allowed_over_ratio)
        verdict = decide(counts, slo.allowed_over_ratio, final=True)
        points.append(RatePoint(index, members[0].offered_rps, counts, len(members),
                                verdict.passed))  # fmt: skip
    return tuple(points)


def bracket(rates: Sequence[RatePoint]) -> tuple[RatePoint | None, RatePoint | None]:
    """(last pass, first fail): the lowest failing rate and the highest pass below it."""
    fails = [p for p in rates if not p.passed]
    hi = min(fails, key=lambda p: p.grid_index) if fails else None
    passes = [p for p in rates if p.passed and (hi is None or p.grid_index < hi.grid_index)]
    lo = max(passes, key=lambda p: p.grid_index) if passes else None
    return lo, hi


def _cpu_per_request(used: Sequence[StepVerdict], series: str) -> Figure:
    kind, unit = "cpu_seconds_per_request", "CPU-seconds/request"
    values = [
        v.record.cpu_seconds_per_request
        for v in used
        if v.record.cpu_seconds_per_request is not None and v.record.cpu_seconds_per_request > 0
    ]
    if not values:
        return Figure.undefined(kind, unit, f"{series} has no passing step with traffic")
    spread = f"{min(values):.6f} .. {max(values):.6f}" if len(values) > 1 else "one step"
    return derive(
        kind,
        unit,
        "median(per_step)",
        {"per_step": values},
        f"passing steps of {series}: pod cgroup CPU-seconds / requests served, both counters "
        "as increases over the same measuring window (the same estimator for every framework)",
        f"median of {len(values)} step(s), spread {spread} CPU-seconds/request",
    )


def _database_bound(hi: RatePoint | None, steps: Sequence[StepVerdict]) -> str | None:
    """The knee is the database's when the pod had CPU to spare and PostgreSQL did not."""
    if hi is None:
        return None
    at_fail = [v.record for v in steps if v.record.grid_index == hi.grid_index]
    if not at_fail:
        return None
    r = at_fail[-1]
    limit = r.pod_cpu_limit_millicores / 1000
    pg = r.postgres_cpu_cores
    if (
        r.pod_cpu_cores < 0.6 * limit
        and r.pod_cpu_throttled_ratio < 0.05
        and pg is not None
        and pg > 0.8
    ):
        return (
            f"at the first failing rate {hi.offered_rps:g} req/s the pod used "
            f"{r.pod_cpu_cores:.2f} of {limit:g} cores (throttled {r.pod_cpu_throttled_ratio:.0%})"
            f" while PostgreSQL used {pg:.2f} cores: the knee is the database's, not the pod's"
        )
    return None


def capacity_at_slo(records: Sequence[MeasurementRecord], slo: Slo, series: str) -> PodCapacity:
    """`records`: one framework x scenario, any order. `series` names it in derivations."""
    ordered = sorted(records, key=lambda r: r.step)
    verdicts = tuple(judge_step(r, slo) for r in ordered)
    rates = pool_rates(ordered, slo)
    lo, hi = bracket(rates)
    pods = ordered[0].pods if ordered else 1
    warnings: list[str] = []
    lo_rps = lo.offered_rps if lo else None
    hi_rps = hi.offered_rps if hi else None
    confirmed = bool(
        lo and hi and hi.grid_index - lo.grid_index == 1 and lo.runs >= 2 and hi.runs >= 2
    )
    contended = [v.record.step for v in verdicts if v.record.contended]
    if contended:
        warnings.append(
            f"{series}: step(s) {', '.join(map(str, contended))} ran while the cores outside the "
            "pods were saturated (contended); their latency may be the machine's, not the pod's"
        )
    db = _database_bound(hi, verdicts)
    if lo is None:
        figure = Figure.undefined(
            "capacity_per_pod_rps",
            "req/s per pod",
            f"no grid rate of {series} met the SLO ({slo}); the lowest rate tried was "
            f"{min((p.offered_rps for p in rates), default=0):g} req/s",
        )
        capacity_step = None
    else:
        assert lo_rps is not None
        at_lo = [v for v in verdicts if v.record.grid_index == lo.grid_index]
        capacity_step = at_lo[-1]
        if hi_rps is None:
            formula, inputs = "lo_rps / pods", {"lo_rps": lo_rps, "pods": pods}
        else:
            formula = "sqrt(lo_rps * hi_rps) / pods"
            inputs = {"lo_rps": lo_rps, "hi_rps": hi_rps, "pods": pods}
        figure = derive(
            "capacity_per_pod_rps",
            "req/s per pod",
            formula,
            inputs,
            f"measurements: {series} (run {ordered[0].run_id}); interval [last pass, first fail) "
            f"on the rate grid, each rate decided on its pooled requests: {slo}",
            "the geometric midpoint of the interval [lo_rps, hi_rps) of total offered req/s, "
            "per pod" + ("" if confirmed else "; NOT confirmed: see the warnings"),
        )
        if hi_rps is None:
            warnings.append(
                f"{series}: every rate tried met the SLO, so capacity is at least "
                f"{lo_rps / pods:.1f} req/s per pod; raise the grid or the step budget"
            )
        elif not confirmed:
            warnings.append(
                f"{series}: the interval [{lo_rps:g}, {hi_rps:g}) req/s is not confirmed (one "
                "grid step wide with both ends measured twice); the search ran out of steps"
            )
        below = [p for p in rates if not p.passed and p.grid_index < lo.grid_index]
        if below:
            warnings.append(f"{series}: rate(s) failed below the interval; the knee is noisy")
    used = [v for v in verdicts if v.valid and (lo is None or v.record.grid_index <= lo.grid_index)]
    if db:
        warnings.append(f"{series}: {db}")
    return PodCapacity(
        verdicts,
        rates,
        capacity_step,
        figure,
        (None if lo_rps is None else lo_rps / pods, None if hi_rps is None else hi_rps / pods),
        confirmed,
        _cpu_per_request(used, series),
        db,
        tuple(warnings),
    )
