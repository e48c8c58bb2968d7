"""A synthetic but realistic measurement run with a clear knee for both frameworks.

Each pod is a queue: latency grows as 1 / (1 - utilisation) while the offered rate is below
what its CPU limit can serve, then achieved throughput flattens, latency explodes and errors
start. The numbers are made up but shaped like the real thing, so the model has to find the
knee, fit CPU per request and size the pod exactly as it would on a real run.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from capacity.load.ladder import RateGrid
from capacity.measurements import SCHEMA_VERSION, MeasurementRecord
from capacity.slo import wilson_interval

MIB = 2**20
GRID = RateGrid(5.0, 1.08, 90)  # the kit's default grid
# Grid indices of the synthetic steps: ~20, 40, 80, 117, 160, 201, 253 and 319 req/s.
INDICES = (18, 27, 36, 41, 45, 48, 51, 54)
STEPS = tuple(GRID.rps(k) for k in INDICES)
SLO_MS = 100.0
SECONDS = 30.0
# framework -> scenario -> (CPU-seconds per request, base latency ms, idle cores, memory MiB)
PROFILE = {
    "django": {
        "db-read": (0.0026, 9.0, 0.004, 118),
        "upstream": (0.0021, 30.0, 0.004, 121),
        "mixed": (0.0030, 14.0, 0.004, 124),
    },
    "fastapi": {
        "db-read": (0.0016, 6.0, 0.003, 92),
        "upstream": (0.0011, 27.0, 0.003, 95),
        "mixed": (0.0019, 9.0, 0.003, 97),
    },
}
# The lean variants (plain Django views; FastAPI on raw asyncpg): cheaper per request, used only
# by the tests that measure a variant beside its framework.
LEAN_PROFILE = {
    "django-lean": {"mixed": (0.0024, 12.0, 0.004, 110)},
    "fastapi-lean": {"mixed": (0.0008, 5.0, 0.003, 80)},
}
# Django's async variant (async views under uvicorn), measured beside django and fastapi.
ASYNC_PROFILE = {"django-async": {"mixed": (0.0026, 11.0, 0.004, 120)}}
CPU_LIMIT_MILLICORES = 500
MEMORY_LIMIT_BYTES = 512 * MIB


def over_share(p95_ms: float, slo_ms: float) -> float:
    """P(latency > slo) for an exponential tail whose 95th percentile is p95_ms."""
    return math.exp(-math.log(20) * slo_ms / p95_ms)


def record(
    framework: str,
    scenario: str,
    step: int,
    offered: float,
    *,
    cpu_millicores: int = CPU_LIMIT_MILLICORES,
    **overrides: object,
) -> MeasurementRecord:
    """One step; the pod serves what `cpu_millicores` of CPU limit can (a pod-shape sweep)."""
    cps, base_ms, idle, memory_mib = {**PROFILE, **LEAN_PROFILE, **ASYNC_PROFILE}[framework][
        scenario
    ]
    limit_cores = cpu_millicores / 1000
    max_rps = (limit_cores - idle) / cps  # what the CPU limit can serve
    rho = offered / max_rps
    if rho < 0.97:
        achieved = offered
        p50 = base_ms / (1 - rho) ** 0.5
        p95 = base_ms * 2.2 / (1 - rho)
        errors = 0.0
    else:
        achieved = max_rps * 0.98
        p50 = base_ms * 25
        p95 = 900.0 + 10 * (offered - max_rps)
        errors = min(0.3, 0.02 * (offered / max_rps))
    cpu = min(limit_cores, idle + cps * achieved)
    start = datetime(2026, 11, 20, 10, 0, tzinfo=UTC) + timedelta(minutes=10 * step)
    requests = round(offered * SECONDS)
    over = min(requests, round((over_share(p95, SLO_MS) + errors) * requests))
    lower, upper = wilson_interval(over, requests)
    fields: dict[str, object] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": "synthetic-1",
        "target": "local",
        "framework": framework,
        "scenario": scenario,
        "step": step,
        "offered_rps": offered,
        "grid_index": GRID.index_at_or_below(offered),
        "attempt": 1,
        "purpose": "climb",
        "seed": 1,
        "requests": requests,
        "dropped": 0,
        "slo_latency_ms": SLO_MS,
        "over_slo_ratio": over / requests,
        "over_slo_lower": lower,
        "over_slo_upper": upper,
        "decision": "pass" if over / requests <= 0.05 and errors <= 0.01 else "fail",
        "extended": False,
        "client_latency_p50_ms": round(p50, 3),
        "client_latency_p95_ms": round(p95, 3),
        "client_latency_p99_ms": round(p95 * 1.6, 3),
        "cpu_seconds_per_request": round(cpu / achieved, 6),
        "host_cpu_ratio": 0.3,
        "postgres_cpu_cores": 0.1,
        "contended": False,
        "achieved_rps": round(achieved, 3),
        # The server's histogram misses the time queued before the app: a little lower.
        "latency_p50_ms": round(p50 * 0.9, 3),
        "latency_p95_ms": round(p95 * 0.9, 3),
        "latency_p99_ms": round(p95 * 1.6 * 0.9, 3),
        "error_ratio": round(errors, 5),
        "pods": 1,
        "pod_cpu_cores": round(cpu, 5),
        "pod_cpu_cores_max": round(min(limit_cores, cpu * 1.15), 5),
        "pod_memory_working_set_bytes": float((memory_mib + 2 * step) * MIB),
        "pod_cpu_throttled_ratio": round(min(1.0, max(0.0, (rho - 0.7) * 1.5)), 4),
        "generator_cpu_ratio": round(0.05 + offered / 2000, 4),
        "generator_saturated": False,
        "pod_cpu_limit_millicores": cpu_millicores,
        "pod_memory_limit_bytes": MEMORY_LIMIT_BYTES,
        "workers": 1,
        "threads": 4 if framework.startswith("django") else None,
        "limits_enforced": True,
        "started_at": start,
        "ended_at": start + timedelta(seconds=30),
        "duration_s": 30.0,
        "note": None,
    }
    fields.update(overrides)
    return MeasurementRecord.model_validate(fields)


def run() -> list[MeasurementRecord]:
    return [
        record(framework, scenario, step, offered)
        for framework, scenarios in PROFILE.items()
        for scenario in scenarios
        for step, offered in enumerate(STEPS)
    ]


def run_at(cpu_millicores: int, workers: int = 1) -> list[MeasurementRecord]:
    """The run at another pod shape (a `--pod-shapes` sweep): each pod serves in proportion to
    its CPU limit, and the steps move along the grid with it, so every knee lies inside them."""
    shift = round(math.log(cpu_millicores / CPU_LIMIT_MILLICORES) / math.log(GRID.ratio))
    return [
        record(
            framework,
            scenario,
            step,
            GRID.rps(k + shift),
            cpu_millicores=cpu_millicores,
            workers=workers,
            run_id=f"synthetic-{cpu_millicores}m",
        )
        for framework, scenarios in PROFILE.items()
        for scenario in scenarios
        for step, k in enumerate(INDICES)
    ]
