"""Capacity per pod at the SLO (a fitted rate with its 95% interval, and the grid bracket the
search found), CPU-seconds per request, raw and normalised by the core-speed probe.

Every step is judged by the one decision module (capacity/slo.py). The search's evidence is the
grid bracket [last pass, first fail): measurements at one grid rate pooled, "confirmed" when one
grid step wide with both ends measured twice. The capacity itself is finer than the grid: the
share of requests over the SLO is fitted (non-decreasing) against log(rate) over every valid step
(per-second batches, capacity/model/late_share_fit.py), and the capacity is the rate where the
fit crosses the allowed share, with a 95% interval from a hierarchical block bootstrap (rounds,
steps, seconds). A step is left out of the fit, with its reason, when the generator was the limit
(saturated or lagging), when it did not start drained, when the pods' core ran something else,
or when the core-speed probe before it was off the run's median by more than
`SPEED_TOLERANCE`. CPU per request is the median over the passing steps of (pod CPU-seconds /
requests served), and also normalised to the run's median core speed.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from capacity.measurements import MeasurementRecord
from capacity.model.derivation import Figure, derive
from capacity.slo import (
    SPEED_TOLERANCE,
    Percentile,
    Slo,
    StepCounts,
    StepJudgement,
    bracket,
    confirmed,
    decide,
    judge,
    step_counts,
)

if TYPE_CHECKING:  # numpy loads only when a capacity is fitted (`capacity fit --help` stays quick)
    from capacity.model.late_share_fit import CapacityEstimate, StepBatches

__all__ = ["JudgedStep", "Percentile", "PodCapacity", "Slo", "capacity_at_slo", "judged"]

# The pods' own core(s) were contended when the pods and whatever else ran there wanted more
# than this share of them: the pods' quota alone cannot take a whole core, so foreign load below
# what the quota leaves free costs them nothing, and above it their latency is the machine's.
CONTENDED_SHARE = 0.9


@dataclass(frozen=True)
class JudgedStep:
    """A measured step with the decision module's judgement and, when left out of the fit, why."""

    record: MeasurementRecord
    judgement: StepJudgement
    excluded: str | None = None

    @property
    def valid(self) -> bool:
        return self.judgement.passed

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.judgement.reasons + ((self.excluded,) if self.excluded else ())

    @property
    def per_pod_rps(self) -> float:
        return self.record.achieved_rps / self.record.pods


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
    steps: tuple[JudgedStep, ...]
    rates: tuple[RatePoint, ...]
    capacity_step: JudgedStep | None  # the last measurement at the interval's low end
    capacity_per_pod_rps: Figure  # the point estimate (fitted; the bracket's midpoint without)
    interval_per_pod_rps: tuple[float | None, float | None]  # [last pass, first fail)
    confirmed: bool
    cpu_seconds_per_request: Figure
    database_bound: str | None  # why the knee is the database's, when it is
    warnings: tuple[str, ...]
    capacity_ci95_per_pod_rps: tuple[float, float] | None = None
    fit: CapacityEstimate | None = None
    batches: tuple[StepBatches, ...] = ()  # the fit's input, for the frameworks' ratio
    cpu_capacity_per_pod_rps: Figure | None = None  # CPU limit / CPU per request
    cpu_seconds_per_request_normalised: Figure | None = None


def run_speed(records: Sequence[MeasurementRecord]) -> float | None:
    """The median core-speed probe over a run's steps (None: not probed)."""
    speeds = [r.cpu_speed for r in records if r.cpu_speed is not None]
    return statistics.median(speeds) if speeds else None


def _exclusion(r: MeasurementRecord, j: StepJudgement, speed: float | None) -> str | None:
    if j.generator_bound:
        return "left out of the fit: the generator was the limit"
    if r.in_flight_at_start:
        return f"left out of the fit: {r.in_flight_at_start} requests in flight when it began"
    cores = math.ceil(r.pods * r.pod_cpu_limit_millicores / 1000 - 1e-9)
    foreign = r.pod_core_foreign_cores
    if foreign is not None and foreign + r.pods * r.pod_cpu_cores > CONTENDED_SHARE * cores:
        return (
            f"left out of the fit: the pods' {cores} core(s) also ran {foreign:.2f} cores of "
            f"other work, {foreign + r.pods * r.pod_cpu_cores:.2f} in all (> "
            f"{CONTENDED_SHARE:.0%}): their latency was the machine's"
        )
    if speed and r.cpu_speed is not None and abs(r.cpu_speed / speed - 1) > SPEED_TOLERANCE:
        return (
            f"left out of the fit: the core-speed probe read {r.cpu_speed / speed - 1:+.0%} off "
            f"the run's median (> {SPEED_TOLERANCE:.0%})"
        )
    return None


def judged(records: Sequence[MeasurementRecord], slo: Slo, speed: float | None) -> tuple[
    JudgedStep, ...
]:  # fmt: skip
    out = []
    for r in sorted(records, key=lambda r: (r.round_index, r.step)):
        j = judge(r, slo)
        out.append(JudgedStep(r, j, _exclusion(r, j, speed)))
    return tuple(out)


def run_step_sigma(
    groups: Sequence[Sequence[MeasurementRecord]], slo: Slo, speed: float | None
) -> float:
    """The step-to-step spread of the share over the SLO, pooled over every series of a run
    (capacity/model/late_share_fit.py `step_effect_sigma`): one series repeats few rates."""
    from capacity.model.late_share_fit import step_effect_sigma

    return step_effect_sigma(
        *([step_batches(s) for s in judged(group, slo, speed)] for group in groups)
    )


def pool_rates(steps: Sequence[JudgedStep], slo: Slo) -> tuple[RatePoint, ...]:
    by_index: dict[int, list[MeasurementRecord]] = defaultdict(list)
    for s in steps:
        by_index[s.record.grid_index].append(s.record)
    points = []
    for index, members in sorted(by_index.items()):
        counts = StepCounts(0, 0)
        for r in members:
            counts = counts + step_counts(r, slo)
        verdict = decide(counts, slo.allowed_over_ratio, final=True)
        points.append(RatePoint(index, members[0].offered_rps, counts, len(members),
                                verdict.passed))  # fmt: skip
    return tuple(points)


def step_batches(s: JudgedStep) -> StepBatches:
    """A step's per-second batches for the fit; a record without them is one batch."""
    from capacity.model.late_share_fit import StepBatches

    r = s.record
    if r.batch_requests:
        requests, over = tuple(r.batch_requests), tuple(r.batch_over_slo)
    else:
        requests = (r.requests,)
        over = (min(r.requests, round(r.over_slo_ratio * r.requests)),)
    if s.judgement.latency.passed and not s.judgement.passed:
        over = requests  # errors or the generator: it cannot vouch for its rate
    return StepBatches(
        rate_rps=r.offered_rps,
        requests=requests,
        over_slo=over,
        round_index=r.round_index,
        valid=s.excluded is None,
    )


def _cpu_per_request(used: Sequence[JudgedStep], series: str) -> Figure:
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


def _cpu_per_request_normalised(
    used: Sequence[JudgedStep], speed: float | None, series: str
) -> Figure | None:
    """CPU per request as if every step ran at the run's median core speed."""
    values = [
        v.record.cpu_seconds_per_request * v.record.cpu_speed / speed
        for v in used
        if speed and v.record.cpu_speed and v.record.cpu_seconds_per_request
    ]
    if not values:
        return None
    return derive(
        "cpu_seconds_per_request_normalised",
        "CPU-seconds/request",
        "median(per_step)",
        {"per_step": values},
        f"passing steps of {series}: CPU per request x (the step's core-speed probe / the "
        f"run's median probe {speed:.1f} k-rounds/CPU-s)",
        "a faster core spends fewer CPU-seconds on the same request: scaled to the median speed",
    )


def _database_bound(hi: RatePoint | None, steps: Sequence[JudgedStep]) -> str | None:
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


def capacity_at_slo(
    records: Sequence[MeasurementRecord],
    slo: Slo,
    series: str,
    *,
    speed: float | None = None,
    resamples: int = 1000,
    step_sigma: float | None = None,
) -> PodCapacity:
    """`records`: one framework x scenario, any order. `series` names it in derivations;
    `speed` is the run's median core-speed probe (`run_speed` over all of the run's records),
    `step_sigma` the run's step-to-step spread (`run_step_sigma`; None: this series' own)."""
    speed = speed if speed is not None else run_speed(records)
    steps = judged(records, slo, speed)
    rates = pool_rates(steps, slo)
    lo_i, hi_i = bracket({p.grid_index: p.passed for p in rates})
    lo = next((p for p in rates if p.grid_index == lo_i), None)
    hi = next((p for p in rates if p.grid_index == hi_i), None)
    pods = steps[0].record.pods if steps else 1
    run_id = steps[0].record.run_id if steps else "?"
    warnings: list[str] = []
    lo_rps = lo.offered_rps if lo else None
    hi_rps = hi.offered_rps if hi else None
    is_confirmed = confirmed(lo_i, hi_i, {p.grid_index: p.runs for p in rates})
    contended = [v.record.step for v in steps if v.record.contended]
    if contended:
        warnings.append(
            f"{series}: step(s) {', '.join(map(str, contended))} ran while the cores outside the "
            "pods were saturated (contended); their latency may be the machine's, not the pod's"
        )
    left_out = [v for v in steps if v.excluded]
    if left_out:
        warnings.append(
            f"{series}: {len(left_out)} of {len(steps)} step(s) left out of the fit: "
            + "; ".join(f"step {v.record.step}: {v.excluded}" for v in left_out[:4])
            + (" ..." if len(left_out) > 4 else "")
        )
    db = _database_bound(hi, steps)
    from capacity.model.late_share_fit import capacity_estimate

    batches = tuple(step_batches(v) for v in steps)
    fit = (
        capacity_estimate(
            batches, slo.allowed_over_ratio, resamples=resamples, step_sigma=step_sigma
        )
        if steps
        else None
    )
    ci95: tuple[float, float] | None = None
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
        capacity_step = [v for v in steps if v.record.grid_index == lo.grid_index][-1]
        source = (
            f"measurements: {series} (run {run_id}); every valid step's per-second share over "
            f"the SLO fitted non-decreasing against log(rate); {slo}"
        )
        if fit is not None and fit.point_rps is not None and not fit.lower_bound_only:
            inputs: dict[str, float] = {"fitted_rps": fit.point_rps, "pods": pods}
            figure = derive(
                "capacity_per_pod_rps", "req/s per pod", "fitted_rps / pods", inputs, source,
                f"{fit.method}; grid bracket [{lo_rps:g}, {hi_rps if hi_rps else '-'}) req/s"
                + ("" if is_confirmed else "; bracket NOT confirmed")
                + (f"; {fit.reason}" if fit.reason else ""),
            )  # fmt: skip
            if fit.ci95_rps is not None:
                ci95 = (fit.ci95_rps[0] / pods, fit.ci95_rps[1] / pods)
        elif hi_rps is None:
            figure = derive(
                "capacity_per_pod_rps", "req/s per pod", "lo_rps / pods",
                {"lo_rps": lo_rps, "pods": pods}, source,
                "every rate tried met the SLO: the highest one, a lower bound",
            )  # fmt: skip
        else:
            figure = derive(
                "capacity_per_pod_rps", "req/s per pod", "sqrt(lo_rps * hi_rps) / pods",
                {"lo_rps": lo_rps, "hi_rps": hi_rps, "pods": pods}, source,
                "the geometric midpoint of the grid bracket: the fit had no crossing ("
                + (fit.reason if fit is not None and fit.reason else "no valid step")
                + ")",
            )  # fmt: skip
        if hi_rps is None:
            warnings.append(
                f"{series}: every rate tried met the SLO, so capacity is at least "
                f"{lo_rps / pods:.1f} req/s per pod; raise the grid or the step budget"
            )
        elif not is_confirmed:
            warnings.append(
                f"{series}: the bracket [{lo_rps:g}, {hi_rps:g}) req/s is not confirmed (one grid "
                "step wide with both ends measured twice); the search ran out of steps"
            )
        below = [p for p in rates if not p.passed and p.grid_index < lo.grid_index]
        if below:
            warnings.append(
                f"{series}: rate(s) {', '.join(f'{p.offered_rps:g}' for p in below)} failed "
                "below the bracket: the series is inconsistent (a failed confirmation, or drift)"
            )
    used = [v for v in steps if v.valid and (lo is None or v.record.grid_index <= lo.grid_index)]
    if db:
        warnings.append(f"{series}: {db}")
    cps = _cpu_per_request(used, series)
    cpu_capacity = None
    if cps.defined and steps:
        limit_cores = steps[0].record.pod_cpu_limit_millicores / 1000
        cpu_capacity = derive(
            "cpu_capacity_per_pod_rps", "req/s per pod", "limit_cores / cpu_s_per_request",
            {"limit_cores": limit_cores, "cpu_s_per_request": cps.number()},
            f"{series}: the pod's CPU limit over its CPU per request",
            "what the CPU limit could serve if CPU were the only limit (beside the latency-based "
            "capacity: the gap is queueing, the SLO and what the pod spends off-request)",
        )  # fmt: skip
    return PodCapacity(
        steps,
        rates,
        capacity_step,
        figure,
        (None if lo_rps is None else lo_rps / pods, None if hi_rps is None else hi_rps / pods),
        is_confirmed,
        cps,
        db,
        tuple(warnings),
        ci95,
        fit,
        batches,
        cpu_capacity,
        _cpu_per_request_normalised(used, speed, series),
    )
