"""results.json: the machine-readable truth of a report, assembled from the model's analysis.

Everything the Markdown and HTML reports show is read from this dictionary, so the three files
cannot disagree. Each number is a Figure (value, unit, formula, inputs, source).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import jsonschema

from capacity.errors import ReportError
from capacity.measurements import MeasurementRecord
from capacity.model import Analysis, ClaimCheck, CostEstimate, Figure, NodeAllocatable, Series
from capacity.model.cost import TERMS
from capacity.quantity import format_cpu, format_memory

RESULTS_SCHEMA_VERSION = 1
# Package data (capacity/schemas/), so an installed kit validates with the same schema.
SCHEMA_PATH = resources.files("capacity") / "schemas" / "results.schema.json"


@cache
def results_schema() -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ReportError(f"cannot read the results schema {SCHEMA_PATH}: {exc}") from exc
    return loaded


def validate_results(results: Mapping[str, Any]) -> None:
    """Raise ReportError naming the first place results.json departs from its schema."""
    validator = jsonschema.Draft202012Validator(results_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(results))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ReportError(
            f"results.json does not match {SCHEMA_PATH.name} at {where}: {error.message}"
        )


def _kit_version() -> str:
    try:
        return metadata.version("fwcap")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def _step(verdict_record: MeasurementRecord, valid: bool, reasons: Sequence[str]) -> dict[str, Any]:
    r = verdict_record
    return {
        "step": r.step,
        "grid_index": r.grid_index,
        "attempt": r.attempt,
        "purpose": r.purpose,
        "seed": r.seed,
        "offered_rps": r.offered_rps,
        "achieved_rps": r.achieved_rps,
        "per_pod_rps": r.achieved_rps / r.pods,
        "requests": r.requests,
        "dropped": r.dropped,
        "slo_latency_ms": r.slo_latency_ms,
        "over_slo_ratio": r.over_slo_ratio,
        "over_slo_lower": r.over_slo_lower,
        "over_slo_upper": r.over_slo_upper,
        "decision": r.decision,
        "extended": r.extended,
        "client_latency_p50_ms": r.client_latency_p50_ms,
        "client_latency_p95_ms": r.client_latency_p95_ms,
        "client_latency_p99_ms": r.client_latency_p99_ms,
        "latency_p50_ms": r.latency_p50_ms,
        "latency_p95_ms": r.latency_p95_ms,
        "latency_p99_ms": r.latency_p99_ms,
        "error_ratio": r.error_ratio,
        "cpu_seconds_per_request": r.cpu_seconds_per_request,
        "host_cpu_ratio": r.host_cpu_ratio,
        "postgres_cpu_cores": r.postgres_cpu_cores,
        "contended": r.contended,
        "pod_cpu_cores": r.pod_cpu_cores,
        "pod_cpu_cores_max": r.pod_cpu_cores_max,
        "pod_memory_working_set_bytes": r.pod_memory_working_set_bytes,
        "pod_cpu_throttled_ratio": r.pod_cpu_throttled_ratio,
        "generator_cpu_ratio": r.generator_cpu_ratio,
        "generator_saturated": r.generator_saturated,
        "duration_s": r.duration_s,
        "valid": valid,
        "reasons": list(reasons),
    }


def _series(s: Series) -> dict[str, Any]:
    t = s.tested
    out: dict[str, Any] = {
        "framework": s.framework,
        "scenario": s.scenario,
        "tested_shape": {
            "pods": t.pods,
            "cpu_millicores": t.pod_cpu_limit_millicores,
            "memory_bytes": t.pod_memory_limit_bytes,
            "cpu": format_cpu(t.pod_cpu_limit_millicores),
            "memory": format_memory(t.pod_memory_limit_bytes),
            "workers": t.workers,
            "threads": t.threads,
            "limits_enforced": all(r.limits_enforced for r in s.records),
        },
        "steps": [_step(v.record, v.valid, v.reasons) for v in s.capacity.steps],
        "capacity_step": s.capacity.capacity_step.record.step if s.capacity.capacity_step else None,
        "capacity_interval_rps": list(s.capacity.interval_per_pod_rps),
        "capacity_point_rps": s.capacity.capacity_per_pod_rps.value,
        "capacity_confirmed": s.capacity.confirmed,
        "knee": (
            "database"
            if s.capacity.database_bound
            else ("none" if s.capacity.interval_per_pod_rps[1] is None else "pod")
        ),
        "capacity_per_pod_rps": s.capacity.capacity_per_pod_rps.to_json(),
        "cpu_seconds_per_request": s.capacity.cpu_seconds_per_request.to_json(),
        "recommended": None,
        "warnings": list(s.capacity.warnings),
    }
    if s.sizing is not None:
        shape = s.sizing.shape
        out["recommended"] = {
            "cpu": format_cpu(shape.cpu_millicores),
            "cpu_limit": format_cpu(int(s.sizing.cpu_limit_millicores.number())),
            "memory": format_memory(shape.memory_bytes),
            "cpu_millicores": s.sizing.cpu_millicores.to_json(),
            "cpu_limit_millicores": s.sizing.cpu_limit_millicores.to_json(),
            "memory_bytes": s.sizing.memory_bytes.to_json(),
            "reasoning": list(s.sizing.reasoning),
        }
    return out


def _node(n: NodeAllocatable) -> dict[str, Any]:
    node = n.node
    return {
        "name": node.name,
        "provider": node.provider.key,
        "service": node.provider.service,
        "region": node.provider.region,
        "vcpu": node.vcpu,
        "memory_bytes": node.memory_bytes,
        "memory": format_memory(node.memory_bytes),
        "price_url": node.price_url,
        "price_as_of": node.price_as_of.isoformat(),
        "note": node.note,
        "arch": node.arch,
        "burstable": None
        if node.burstable is None
        else {
            "baseline_per_vcpu": node.burstable.baseline_per_vcpu,
            "surplus_usd_per_vcpu_hour": node.burstable.surplus_usd_per_vcpu_hour,
            "source": node.burstable.source,
        },
        "daemonsets": [
            {
                "name": d.name,
                "cpu_millicores": d.cpu_millicores,
                "memory_bytes": d.memory_bytes,
                "source": d.source,
            }
            for d in node.provider.daemonsets
        ],
        "figures": {
            f.kind: f.to_json()
            for f in (
                n.usd_per_hour,
                n.max_pods,
                n.memory_capacity_bytes,
                n.kube_reserved_cpu_millicores,
                n.kube_reserved_memory_bytes,
                n.eviction_memory_bytes,
                n.allocatable_cpu_millicores,
                n.allocatable_memory_bytes,
                n.daemonset_cpu_millicores,
                n.daemonset_memory_bytes,
                n.daemonset_pods,
            )
        },
    }


def _maybe(figure: Figure | None) -> dict[str, Any] | None:
    return None if figure is None else figure.to_json()


def cost_row(framework: str, scenario: str, c: CostEstimate) -> dict[str, Any]:
    """One framework x scenario x node type: the month as the sum of its terms, each derived."""
    cluster = c.cluster
    pool = cluster.pools[0] if cluster is not None else None
    terms = {k: _maybe(c.term(k)) for k in TERMS}
    return {
        "framework": framework,
        "scenario": scenario,
        "node_type": c.node_type,
        "target_rps": c.target_rps,
        "pods_needed": c.pods_needed.to_json(),
        "nodes_needed": c.nodes_needed.to_json(),
        "monthly_usd": c.monthly_usd.to_json(),
        "usd_per_million_requests": c.usd_per_million_requests.to_json(),
        **terms,
        "control_plane_usd_per_million_requests": _maybe(c.control_plane_usd_per_million_requests),
        "workload_nodes": _maybe(pool.workload_nodes if pool else None),
        "spare_nodes": _maybe(pool.spare_nodes if pool else None),
        "node_usd_per_hour": _maybe(pool.node_usd_per_hour if pool else None),
        "pod_cpu_use_cores": _maybe(c.pod_cpu_use_cores),
        "pod_idle_cpu_cores": _maybe(c.pod_idle_cpu_cores),
        "burst_surplus_vcpu": [f.to_json() for f in pool.burst_surplus_vcpu] if pool else [],
        "addons": {
            "pods": [
                {
                    "name": a.name,
                    "profile": a.profile,
                    "replicas": a.replicas,
                    "cpu_millicores": a.cpu_millicores,
                    "memory_bytes": a.memory_bytes,
                    "source": a.source,
                }
                for a in (pool.addons if pool else ())
            ],
            "nodes": _maybe(pool.addon_nodes if pool else None),
            "usd_month": terms["addons_usd_month"],
        },
        "placement": [
            {
                "nodes": content.nodes,
                "pods": dict(content.pods),
                "cpu_use_cores": content.cpu_use_cores,
            }
            for content in (pool.placement.contents if pool else ())
        ],
        "survives": cluster.survives if cluster is not None else None,
    }


def _term_value(c: CostEstimate, kind: str) -> float | None:
    figure = c.term(kind)
    return None if figure is None else figure.value


def _fits_and_costs(s: Series) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    fits = [
        {
            "framework": s.framework,
            "scenario": s.scenario,
            "node_type": f.node.node.name,
            "pod_cpu_millicores": f.pod.cpu_millicores,
            "pod_memory_bytes": f.pod.memory_bytes,
            "pods_by_cpu": f.by_cpu.to_json() if f.by_cpu else None,
            "pods_by_memory": f.by_memory.to_json() if f.by_memory else None,
            "pods_by_slots": f.by_pod_slots.to_json(),
            "pods_per_node": f.pods_per_node.to_json(),
            "binding": list(f.binding),
        }
        for f in s.fits
    ]
    costs = [cost_row(s.framework, s.scenario, c) for c in s.costs]
    return fits, costs


def _fairness(analysis: Analysis) -> list[dict[str, str]]:
    records = [r for s in analysis.series for r in s.records]
    rows: list[dict[str, str]] = []

    def row(condition: str, status: str, detail: str) -> None:
        rows.append({"condition": condition, "status": status, "detail": detail})

    unequal, steps_differ = [], []
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
        if [round(r.offered_rps, 3) for r in d.records] != [
            round(r.offered_rps, 3) for r in f.records
        ]:
            steps_differ.append(scenario)
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
        "Same request mix and load steps",
        "violated" if steps_differ else "held",
        f"offered rates differ in: {', '.join(steps_differ)}"
        if steps_differ
        else "identical offered rates per step for both frameworks",
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


def build_results(
    analysis: Analysis,
    claims: Sequence[ClaimCheck],
    *,
    measurements_path: Path,
    measurements_sha256: str,
    records: Sequence[MeasurementRecord],
    headline_scenario: str,
    catalog_path: Path,
    platform: Mapping[str, Any],
    plots: Sequence[Mapping[str, str]],
) -> dict[str, Any]:
    settings = analysis.settings
    fits: list[dict[str, Any]] = []
    costs: list[dict[str, Any]] = []
    for s in analysis.series:
        f, c = _fits_and_costs(s)
        fits.extend(f)
        costs.extend(c)
    enforced = [r.limits_enforced for r in records]
    results: dict[str, Any] = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "kit_version": _kit_version(),
        "inputs": {
            "measurements_file": str(measurements_path),
            "measurements_sha256": measurements_sha256,
            "records": len(records),
            "run_ids": sorted({r.run_id for r in records}),
            "targets": sorted({r.target for r in records}),
            "first_step_started_at": min(r.started_at for r in records).isoformat(),
            "last_step_ended_at": max(r.ended_at for r in records).isoformat(),
            "slo": {
                "percentile": settings.slo.percentile,
                "latency_ms": settings.slo.latency_ms,
                "max_error_ratio": settings.slo.max_error_ratio,
                "allowed_over_slo_ratio": settings.slo.allowed_over_ratio,
                "text": str(settings.slo),
            },
            "target_rps": settings.target_rps,
            "headroom": settings.headroom,
            "cost_options": {
                "spare_nodes": settings.cost.spare_nodes,
                "zones": settings.cost.zones,
                "control_plane": settings.cost.control_plane,
                "purchase": settings.cost.purchase,
                "spot_discount": settings.cost.spot_discount,
                "addon_profiles": list(settings.cost.addon_profiles),
                "max_pods_mode": settings.networking.max_pods_mode,
                "max_pods": settings.networking.max_pods,
            },
            "cpu_headroom": settings.margins.cpu_headroom,
            "memory_buffer": settings.margins.memory_buffer,
            "headline_scenario": headline_scenario,
            "catalog": str(catalog_path),
            "node_types": [n.node.name for n in analysis.nodes],
        },
        "platform": dict(platform),
        "limits_enforced": {
            "all": all(enforced),
            "any": any(enforced),
            "detail": (
                "every step ran with its CPU quota and memory limit enforced by cgroups"
                if all(enforced)
                else f"{enforced.count(False)} of {len(enforced)} steps ran without enforced "
                "limits (no writable cgroups): pods could use more than their limits"
            ),
        },
        "fairness": _fairness(analysis),
        "series": [_series(s) for s in analysis.series],
        "nodes": [_node(n) for n in analysis.nodes],
        "fits": fits,
        "costs": costs,
        "cheapest": [
            {
                "framework": s.framework,
                "scenario": s.scenario,
                "node_type": s.cheapest.node_type,
                "nodes_needed": s.cheapest.nodes_needed.value,
                "monthly_usd": s.cheapest.monthly_usd.value,
                "usd_per_million_requests": s.cheapest.usd_per_million_requests.value,
                "burst_usd_month": _term_value(s.cheapest, "burst_usd_month"),
                "control_plane_usd_month": _term_value(s.cheapest, "control_plane_usd_month"),
                "survives": s.cheapest.cluster.survives if s.cheapest.cluster else None,
            }
            for s in analysis.series
            if s.cheapest is not None
        ],
        "claims": [
            {
                "id": c.id,
                "claim": c.claim,
                "quote": c.quote,
                "conditions": c.conditions,
                "measured": c.measured,
                "rule": c.rule,
                "verdict": c.verdict,
            }
            for c in claims
        ],
        "cost_curves": [
            {
                "framework": s.framework,
                "scenario": s.scenario,
                "points": [
                    {
                        "target_rps": c.target_rps,
                        "node_type": c.node_type,
                        "nodes_needed": c.nodes_needed.value,
                        "monthly_usd": c.monthly_usd.value,
                    }
                    for c in analysis.cost_curve(
                        s, [settings.target_rps * 3 * i / 60 for i in range(1, 61)]
                    )
                ],
            }
            for s in analysis.series
            if s.scenario == headline_scenario
        ],
        "plots": [dict(p) for p in plots],
        "warnings": list(analysis.warnings),
    }
    return results
