"""The fairness conditions of the comparison, checked against the measurement records.

A reader trusts "FastAPI serves N times Django" only if both ran under the same conditions;
each row of results.json's `fairness` says which condition held, which broke, and which the
records cannot show (the services and the load run guarantee those).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

from capacity.measurements import MeasurementRecord
from capacity.model import Analysis
from capacity.report.schema import FairnessCondition

FairnessStatus = Literal["held", "violated", "not checked by the model"]


def _overlap(a: Sequence[MeasurementRecord], b: Sequence[MeasurementRecord]) -> bool:
    """Whether two series' steps ran over the same time span (most of the shorter one)."""
    a0, a1 = min(r.started_at for r in a), max(r.ended_at for r in a)
    b0, b1 = min(r.started_at for r in b), max(r.ended_at for r in b)
    shared = (min(a1, b1) - max(a0, b0)).total_seconds()
    shorter = min((a1 - a0).total_seconds(), (b1 - b0).total_seconds())
    return shorter <= 0 or shared >= 0.5 * shorter


def fairness(analysis: Analysis) -> list[FairnessCondition]:
    """Each condition of a fair comparison, and whether this run's records show it held."""
    records = [r for s in analysis.series for r in s.records]
    rows: list[FairnessCondition] = []

    def row(condition: str, status: FairnessStatus, detail: str) -> None:
        rows.append(FairnessCondition(condition=condition, status=status, detail=detail))

    unequal: list[str] = []
    not_interleaved: list[str] = []
    for scenario in analysis.scenarios:
        d, f = analysis.get("django", scenario), analysis.get("fastapi", scenario)
        if d is None or f is None:
            continue
        dt, ft = d.tested, f.tested
        if (dt.pod_cpu_limit_millicores, dt.pod_memory_limit_bytes, dt.pods) != (
            ft.pod_cpu_limit_millicores,
            ft.pod_memory_limit_bytes,
            ft.pods,
        ):
            unequal.append(scenario)
        if not _overlap(d.records, f.records):
            not_interleaved.append(scenario)
    # One shared grid: every grid index stands for one rate, whichever framework ran it.
    rates: dict[int, set[float]] = defaultdict(set)
    for r in records:
        rates[r.grid_index].add(round(r.offered_rps, 3))
    off_grid = sorted(k for k, v in rates.items() if len(v) > 1)
    row(
        "Same pod resources for both frameworks (requests = limits)",
        "violated" if unequal else "held",
        f"different CPU/memory/pods in: {', '.join(unequal)}"
        if unequal
        else "equal CPU limit, memory limit and pod count in every scenario both ran",
    )
    bad_workers = sorted(
        {
            f"{r.framework}/{r.scenario}: {r.workers} workers at {r.pod_cpu_limit_millicores}m"
            for r in records
            if r.workers != max(1, math.ceil(r.pod_cpu_limit_millicores / 1000))
        }
    )
    row(
        "Worker count derived from the CPU limit, never from cpu_count()",
        "violated" if bad_workers else "held",
        "; ".join(bad_workers)
        if bad_workers
        else "workers = max(1, ceil(CPU limit / 1000m)) in every record",
    )
    row(
        "Same request mix on one shared rate grid",
        "violated" if off_grid else "held",
        f"grid index(es) {off_grid} carry different rates"
        if off_grid
        else "every step offered a rate of the one grid r_k = base x ratio^k (each framework "
        "searches it on its own)",
    )
    row(
        "Frameworks' steps interleaved in time (A B B A)",
        "violated" if not_interleaved else "held",
        f"one framework's steps ran after the other's in: {', '.join(not_interleaved)}"
        if not_interleaved
        else "in every scenario both frameworks' steps alternate over the same time span",
    )
    undrained = [r for r in records if r.in_flight_at_start]
    row(
        "Every step started drained (nothing in flight from the step before)",
        "violated" if undrained else "held",
        f"{len(undrained)} step(s) began with requests in flight; they are left out of the fit"
        if undrained
        else "arrivals stopped and in-flight requests finished before each step",
    )
    saturated = [r for r in records if r.generator_saturated]
    row(
        "Load generator never CPU-saturated",
        "violated" if saturated else "held",
        f"{len(saturated)} step(s) saturated the generator; they were excluded from capacity"
        if saturated
        else f"peak generator CPU {max(r.generator_cpu_ratio for r in records):.0%}",
    )
    unenforced = [r for r in records if not r.limits_enforced]
    row(
        "CPU and memory limits enforced (cgroups)",
        "violated" if unenforced else "held",
        f"{len(unenforced)} of {len(records)} steps ran without enforced limits"
        if unenforced
        else "every step ran inside cgroups with the pod's CPU quota and memory limit",
    )
    for condition in (
        "Same PostgreSQL server and identical seeded data",
        "Pooled/persistent database connections on both sides",
        "DEBUG off and access logs off on both",
        "Same metrics instrumentation (one histogram, same buckets)",
        "Warm-up before each measured step",
    ):
        row(
            condition,
            "not checked by the model",
            "guaranteed by the services and the load run (services/CONTRACT.md), not visible "
            "in the measurement records",
        )
    return rows
