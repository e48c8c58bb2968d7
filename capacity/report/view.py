"""Rows for the report templates, read from results.json only (no second source of truth)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from capacity.frameworks import present
from capacity.quantity import format_cpu, human_bytes
from capacity.report.platform import PGO_LTO_SAVING

Results = Mapping[str, Any]


def frameworks_of(results: Results) -> tuple[str, ...]:
    """The frameworks results.json holds, references first (the lean variants when measured)."""
    return present({s["framework"] for s in results["series"]})


def usd(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.2f}"


def usd_3sig(value: float | None) -> str:
    """Dollars to 3 significant figures (never fewer than cents): $0.0605 vs $0.0745 must
    not both print as $0.06."""
    if value is None:
        return "n/a"
    if value == 0:
        return "$0.00"
    decimals = max(2, 2 - math.floor(math.log10(abs(value))))
    return f"${value:,.{decimals}f}"


def _value(figure: Mapping[str, Any] | None) -> Any:
    return None if figure is None else figure["value"]


def _series(results: Results, framework: str, scenario: str) -> Mapping[str, Any] | None:
    found: Mapping[str, Any] | None = next(
        (s for s in results["series"] if s["framework"] == framework and s["scenario"] == scenario),
        None,
    )
    return found


def _cheapest(results: Results, framework: str, scenario: str) -> Mapping[str, Any] | None:
    found: Mapping[str, Any] | None = next(
        (
            c
            for c in results["cheapest"]
            if c["framework"] == framework and c["scenario"] == scenario
        ),
        None,
    )
    return found


def interval_text(s: Mapping[str, Any]) -> str:
    """[last pass, first fail) per pod, with whether it was confirmed and what the knee was."""
    lo, hi = s["capacity_interval_rps"]
    if lo is None:
        return "no rate met the SLO"
    text = f"[{lo:,.1f}, {'not reached' if hi is None else f'{hi:,.1f}'})"
    if not s["capacity_confirmed"]:
        text += " not confirmed"
    if s["knee"] == "database":
        text += ", database-bound (not the pod's limit)"
    return text


def summary_rows(results: Results, scenario: str) -> list[dict[str, str]]:
    rows = []
    for framework in frameworks_of(results):
        s = _series(results, framework, scenario)
        if s is None:
            continue
        capacity = _value(s["capacity_per_pod_rps"])
        cpu = _value(s["cpu_seconds_per_request"])
        rec = s["recommended"]
        cheap = _cheapest(results, framework, scenario)
        rows.append(
            {
                "framework": framework,
                "scenario": scenario,
                "tested": f"{s['tested_shape']['cpu']} CPU / {s['tested_shape']['memory']}, "
                f"{s['tested_shape']['workers']} worker(s)",
                "capacity": "none within SLO" if capacity is None else f"{capacity:,.1f} req/s",
                "interval": interval_text(s),
                "cpu_ms": "n/a" if cpu is None else f"{cpu * 1000:.2f} ms",
                "recommended": "n/a"
                if rec is None
                else (
                    f"CPU {rec['cpu']} request / {rec['cpu_limit']} limit, {rec['memory']} memory"
                ),
                "cheapest": "n/a" if cheap is None else cheap["node_type"],
                "nodes": "n/a" if cheap is None else str(cheap["nodes_needed"]),
                "monthly": "n/a" if cheap is None else usd(cheap["monthly_usd"]),
                "per_million": "n/a"
                if cheap is None
                else usd_3sig(cheap["usd_per_million_requests"]),
                "control_plane": "n/a" if cheap is None else usd(cheap["control_plane_usd_month"]),
                "burst": "n/a" if cheap is None else usd(cheap["burst_usd_month"]),
                "survives": "" if cheap is None else (cheap["survives"] or ""),
            }
        )
    return rows


def node_rows(results: Results, scenario: str) -> list[dict[str, Any]]:
    fits = {
        (f["framework"], f["node_type"]): f for f in results["fits"] if f["scenario"] == scenario
    }
    costs = {
        (c["framework"], c["node_type"]): c for c in results["costs"] if c["scenario"] == scenario
    }
    rows = []
    for n in results["nodes"]:
        figures = n["figures"]
        row = {
            "name": n["name"] + (" (burstable)" if n["burstable"] else ""),
            "provider": n["provider"],
            "size": f"{n['vcpu']} vCPU / {human_bytes(n['memory_bytes'])}",
            "usd_per_hour": f"${figures['usd_per_hour']['value']:.4f}",
            "price_as_of": n["price_as_of"],
            "allocatable": (
                f"{format_cpu(figures['allocatable_cpu_millicores']['value'])} CPU / "
                f"{human_bytes(figures['allocatable_memory_bytes']['value'])}"
            ),
            "daemonsets": (
                f"{figures['daemonset_pods']['value']} pods, "
                f"{format_cpu(figures['daemonset_cpu_millicores']['value'])} / "
                f"{human_bytes(figures['daemonset_memory_bytes']['value'])}"
            ),
            "max_pods": str(figures["max_pods"]["value"]),
        }
        per_framework = []
        for framework in frameworks_of(results):
            fit = fits.get((framework, n["name"]))
            cost = costs.get((framework, n["name"]))
            nodes = None if cost is None else _value(cost["nodes_needed"])
            per_framework.append(
                {
                    "framework": framework,
                    "pods": "n/a" if fit is None else str(fit["pods_per_node"]["value"]),
                    "binding": "" if fit is None else ", ".join(fit["binding"]),
                    "nodes": "n/a" if nodes is None else str(nodes),
                    "monthly": "n/a" if cost is None else usd(_value(cost["monthly_usd"])),
                }
            )
        rows.append({**row, "frameworks": per_framework})
    return rows


def cost_rows(results: Results, scenario: str) -> list[dict[str, str]]:
    """The month of each framework x node type as the sum of its terms (cheapest first)."""
    rows = []
    costs = [
        c
        for c in results["costs"]
        if c["scenario"] == scenario and _value(c["monthly_usd"]) is not None
    ]
    for c in sorted(costs, key=lambda c: (c["framework"], _value(c["monthly_usd"]))):
        addons = c["addons"]
        rows.append(
            {
                "framework": c["framework"],
                "node_type": c["node_type"],
                "nodes": (
                    f"{_value(c['workload_nodes'])} + {_value(addons['nodes'])} add-on + "
                    f"{_value(c['spare_nodes'])} spare = {_value(c['nodes_needed'])}"
                ),
                "placement": "; ".join(
                    f"{p['nodes']} x ({', '.join(f'{n} {k}' for k, n in p['pods'].items())})"
                    for p in c["placement"]
                ),
                "workload": usd(_value(c["workload_nodes_usd_month"])),
                "addons": usd(_value(c["addons_usd_month"])),
                "spare": usd(_value(c["spare_nodes_usd_month"])),
                "burst": usd(_value(c["burst_usd_month"])),
                "control_plane": usd(_value(c["control_plane_usd_month"])),
                "monthly": usd(_value(c["monthly_usd"])),
                "per_million": usd_3sig(_value(c["usd_per_million_requests"])),
                "control_plane_per_million": usd_3sig(
                    _value(c["control_plane_usd_per_million_requests"])
                ),
            }
        )
    return rows


def worked_example(results: Results) -> dict[str, Any] | None:
    """One node's allocatable memory, to show how any figure can be checked by hand."""
    nodes = {n["name"]: n for n in results["nodes"]}
    node = nodes.get("t3.medium") or next(iter(nodes.values()), None)
    if node is None:
        return None
    return {"node": node["name"], "figures": node["figures"]}


def interpreter_note(results: Results) -> str | None:
    """The interpreter caveat for every CPU and capacity figure, when the pods ran on a build
    without PGO/LTO (unlike the images'): the platform section's measured factor, in one line."""
    build = results["platform"]["details"].get("pod_python_pgo_lto")
    if not isinstance(build, str) or build.startswith("yes"):
        return None
    return (
        "measured on an interpreter built without PGO/LTO, unlike the images' "
        f"python:3.12-slim; such a build used {PGO_LTO_SAVING['healthz']} less CPU per request "
        f"on /healthz and {PGO_LTO_SAVING['db_read']} less on /api/items/42 (docs/benchmarks.md): "
        "CPU per request here overstates the image's, and capacity per pod understates it, by "
        "about that much"
    )


def template_context(results: Results) -> dict[str, Any]:
    scenario = results["inputs"]["headline_scenario"]
    scenarios = sorted({s["scenario"] for s in results["series"]})
    return {
        "r": results,
        "headline": scenario,
        "summary": summary_rows(results, scenario),
        "all_summaries": [row for sc in scenarios for row in summary_rows(results, sc)],
        "nodes": node_rows(results, scenario),
        "costs": cost_rows(results, scenario),
        "cost_options": results["inputs"]["cost_options"],
        "example": worked_example(results),
        "scenarios": scenarios,
        "frameworks": frameworks_of(results),
        "interpreter_note": interpreter_note(results),
        # The mark beside every CPU and capacity column when the note applies.
        "m": "†" if interpreter_note(results) else "",
    }
