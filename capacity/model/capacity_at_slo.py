"""Capacity per pod at the SLO, and CPU-seconds per request, from one series of load steps.

A step is valid when the chosen latency percentile is within the SLO, errors are within
budget, the pods completed at least 95% of what was offered, and the load generator was not
saturated (a saturated generator measures itself, not the service). Capacity is the valid step
with the highest offered rate; per pod it is that step's achieved rate / pods.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from capacity.errors import ConfigError
from capacity.measurements import MeasurementRecord
from capacity.model.derivation import Figure

Percentile = Literal["p50", "p95", "p99"]


@dataclass(frozen=True)
class Slo:
    """The service level a step must meet to count as capacity."""

    latency_ms: float = 100.0
    percentile: Percentile = "p95"
    max_error_ratio: float = 0.01
    min_achieved_ratio: float = 0.95

    def __post_init__(self) -> None:
        if self.percentile not in ("p50", "p95", "p99"):
            raise ConfigError(f"SLO percentile {self.percentile!r} is not one of p50, p95, p99")
        if not self.latency_ms > 0:
            raise ConfigError(f"SLO latency {self.latency_ms!r} ms must be a positive number")
        if not 0 <= self.max_error_ratio < 1:
            raise ConfigError(
                f"error budget {self.max_error_ratio!r} must be a ratio in [0, 1), e.g. 0.01"
            )
        if not 0 < self.min_achieved_ratio <= 1:
            raise ConfigError(
                f"minimum achieved/offered {self.min_achieved_ratio!r} must be in (0, 1]"
            )

    def __str__(self) -> str:
        return (
            f"{self.percentile} <= {self.latency_ms:g} ms, errors <= {self.max_error_ratio:.2%}, "
            f"achieved >= {self.min_achieved_ratio:.0%} of offered, generator not saturated"
        )


@dataclass(frozen=True)
class StepVerdict:
    record: MeasurementRecord
    valid: bool
    reasons: tuple[str, ...]  # why the step is not valid; empty when valid

    @property
    def per_pod_rps(self) -> float:
        return self.record.achieved_rps / self.record.pods


def latency_at(record: MeasurementRecord, percentile: Percentile) -> float | None:
    return {
        "p50": record.latency_p50_ms,
        "p95": record.latency_p95_ms,
        "p99": record.latency_p99_ms,
    }[percentile]


def judge_step(record: MeasurementRecord, slo: Slo) -> StepVerdict:
    reasons = []
    latency = latency_at(record, slo.percentile)
    if latency is None:
        reasons.append("no request completed")
    elif latency > slo.latency_ms:
        reasons.append(f"{slo.percentile} {latency:.1f} ms > SLO {slo.latency_ms:g} ms")
    if record.error_ratio > slo.max_error_ratio:
        reasons.append(f"errors {record.error_ratio:.2%} > budget {slo.max_error_ratio:.2%}")
    if record.offered_rps > 0 and record.achieved_rps < slo.min_achieved_ratio * record.offered_rps:
        reasons.append(
            f"achieved {record.achieved_rps:.1f} < {slo.min_achieved_ratio:.0%} of offered "
            f"{record.offered_rps:.1f} req/s"
        )
    if record.generator_saturated:
        reasons.append(
            f"load generator saturated (CPU {record.generator_cpu_ratio:.0%}): "
            "measures the generator, not the service"
        )
    return StepVerdict(record, not reasons, tuple(reasons))


@dataclass(frozen=True)
class PodCapacity:
    steps: tuple[StepVerdict, ...]
    capacity_step: StepVerdict | None
    capacity_per_pod_rps: Figure
    cpu_seconds_per_request: Figure
    warnings: tuple[str, ...]


def _lstsq(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    return slope, mean_y - slope * mean_x


def lstsq_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    return _lstsq(xs, ys)[0]


def _cpu_per_request(valid: Sequence[StepVerdict], top: StepVerdict | None, series: str) -> Figure:
    kind, unit = "cpu_seconds_per_request", "CPU-seconds/request"
    xs = [v.per_pod_rps for v in valid]
    ys = [v.record.pod_cpu_cores for v in valid]
    source = (
        f"least-squares fit of pod CPU cores against per-pod req/s over the valid steps of {series}"
    )
    if len(set(xs)) >= 2:
        slope, intercept = _lstsq(xs, ys)
        if slope > 0:
            return Figure(
                kind,
                slope,
                unit,
                "lstsq_slope(per_pod_rps, pod_cpu_cores)",
                {"per_pod_rps": xs, "pod_cpu_cores": ys},
                source,
                f"cores = {intercept:.4f} + {slope:.6f} x req/s; the intercept is the idle use",
            )
    if top is None or top.per_pod_rps <= 0:
        return Figure.undefined(kind, unit, f"{series} has no valid step with traffic")
    return Figure(
        kind,
        top.record.pod_cpu_cores / top.per_pod_rps,
        unit,
        "pod_cpu_cores / per_pod_rps",
        {"pod_cpu_cores": top.record.pod_cpu_cores, "per_pod_rps": top.per_pod_rps},
        f"step {top.record.step} of {series}",
        "fewer than two valid steps with distinct rates (or a non-positive slope): the ratio at "
        "the capacity step, which includes the idle use",
    )


def capacity_at_slo(records: Sequence[MeasurementRecord], slo: Slo, series: str) -> PodCapacity:
    """`records`: one framework x scenario, any order. `series` names it in derivations."""
    ordered = sorted(records, key=lambda r: (r.offered_rps, r.step))
    verdicts = tuple(judge_step(r, slo) for r in ordered)
    valid = [v for v in verdicts if v.valid]
    top = valid[-1] if valid else None
    warnings = []
    if top is None:
        figure = Figure.undefined(
            "capacity_per_pod_rps",
            "req/s per pod",
            f"no step of {series} met the SLO ({slo}); lower the first load step",
        )
    else:
        record = top.record
        latency = latency_at(record, slo.percentile)
        figure = Figure(
            "capacity_per_pod_rps",
            record.achieved_rps / record.pods,
            "req/s per pod",
            "achieved_rps / pods",
            {
                "achieved_rps": record.achieved_rps,
                "pods": record.pods,
                "step": record.step,
                "offered_rps": record.offered_rps,
                f"latency_{slo.percentile}_ms": latency,
                "error_ratio": record.error_ratio,
            },
            f"measurements: {series}, step {record.step} (run {record.run_id}), the highest "
            f"offered rate meeting the SLO: {slo}",
        )
        failed_below = [
            v for v in verdicts if not v.valid and v.record.offered_rps < record.offered_rps
        ]
        if failed_below:
            warnings.append(
                f"{series}: step(s) {', '.join(str(v.record.step) for v in failed_below)} failed "
                f"below the capacity step {record.step}; the knee is noisy, consider re-running"
            )
        if top is verdicts[-1]:
            warnings.append(
                f"{series}: the highest step offered still met the SLO, so capacity is at least "
                f"{figure.number():.1f} req/s per pod; extend the load steps to find the knee"
            )
    return PodCapacity(verdicts, top, figure, _cpu_per_request(valid, top, series), tuple(warnings))
