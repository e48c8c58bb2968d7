"""Rows for the report templates, read from the results document only (no second source of
truth)."""

from __future__ import annotations

import math
from typing import Any

from capacity.frameworks import present
from capacity.model.derivation import Figure
from capacity.quantity import format_cpu, human_bytes
from capacity.report.platform import PGO_LTO_SAVING
from capacity.report.schema import Cost, Fit, Results, Series


def frameworks_of(results: Results) -> tuple[str, ...]:
    """The frameworks results.json holds, references first (the lean variants when measured)."""
    return present({s.framework for s in results.series})


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


def _value(figure: Figure | None) -> float | None:
    return None if figure is None else figure.value


def interval_text(s: Series) -> str:
    """[last pass, first fail) per pod, with whether it was confirmed and what the knee was."""
    lo, hi = s.capacity_interval_rps
    if lo is None:
        return "no rate met the SLO"
    text = f"[{lo:,.1f}, {'not reached' if hi is None else f'{hi:,.1f}'})"
    if not s.capacity_confirmed:
        text += " not confirmed"
    if s.knee == "database":
        text += ", database-bound (not the pod's limit)"
    return text


def swept(results: Results) -> bool:
    """More than one pod shape measured (`capacity report --pod-shapes`)."""
    return len(results.shapes) > 1


def series_label(results: Results, framework: str, shape: str | None) -> str:
    """A framework, and in a sweep the shape its figures are for: `fastapi at 500m:1`."""
    return f"{framework} at {shape}" if swept(results) and shape else framework


def _chosen(results: Results, scenario: str) -> dict[str, str | None]:
    """Per framework, the shape of its series the per-framework tables show: the only one, or
    in a sweep its cheapest (the sweep table shows the others)."""
    chosen = {}
    for framework in frameworks_of(results):
        s = results.get(framework, scenario)
        if s is not None:
            chosen[framework] = s.shape
    return chosen


def summary_rows(
    results: Results, scenario: str, every_shape: bool = False
) -> list[dict[str, str]]:
    rows = []
    for framework in frameworks_of(results):
        found = [s for s in results.series if s.framework == framework and s.scenario == scenario]
        chosen = results.get(framework, scenario)
        for s in found if every_shape else [chosen] if chosen else []:
            rows.append(_summary_row(results, s))
    return rows


def _summary_row(results: Results, s: Series) -> dict[str, str]:
    framework, scenario = s.framework, s.scenario
    capacity = s.capacity_per_pod_rps.value
    cpu = s.cpu_seconds_per_request.value
    rec, shape = s.recommended, s.tested_shape
    cheap = results.cheapest_for(framework, scenario, s.shape)
    return {
        "framework": series_label(results, framework, s.shape),
        "scenario": scenario,
        "tested": f"{shape.cpu} CPU / {shape.memory}, {shape.workers} worker(s)",
        "capacity": "none within SLO"
        if capacity is None
        else f"{capacity:,.1f} req/s"
        + (
            f" [{s.capacity_ci95_rps[0]:,.1f}, {s.capacity_ci95_rps[1]:,.1f}]"
            if s.capacity_ci95_rps
            else ""
        ),
        "interval": interval_text(s),
        "cpu_ms": "n/a" if cpu is None else f"{cpu * 1000:.2f} ms",
        "recommended": "n/a"
        if rec is None
        else f"CPU {rec.cpu} request / {rec.cpu_limit} limit, {rec.memory} memory",
        "cheapest": "n/a" if cheap is None else cheap.node_type,
        "nodes": "n/a" if cheap is None else str(cheap.nodes_needed),
        "monthly": "n/a" if cheap is None else usd(cheap.monthly_usd),
        "per_million": "n/a" if cheap is None else usd_3sig(cheap.usd_per_million_requests),
        "control_plane": "n/a" if cheap is None else usd(cheap.control_plane_usd_month),
        "burst": "n/a" if cheap is None else usd(cheap.burst_usd_month),
        "survives": "" if cheap is None else (cheap.survives or ""),
    }


def node_rows(results: Results, scenario: str) -> list[dict[str, Any]]:
    chosen = _chosen(results, scenario)
    fits: dict[tuple[str, str], Fit] = {
        (f.framework, f.node_type): f
        for f in results.fits
        if f.scenario == scenario and f.shape == chosen.get(f.framework)
    }
    costs: dict[tuple[str, str], Cost] = {
        (c.framework, c.node_type): c
        for c in results.costs
        if c.scenario == scenario and c.shape == chosen.get(c.framework)
    }
    rows = []
    for n in results.nodes:
        figures = n.figures
        row = {
            "name": n.name + (" (burstable)" if n.burstable else ""),
            "provider": n.provider,
            "size": f"{n.vcpu} vCPU / {human_bytes(n.memory_bytes)}",
            "usd_per_hour": f"${figures.usd_per_hour.number():.4f}",
            "price_as_of": n.price_as_of.isoformat(),
            "allocatable": (
                f"{format_cpu(int(figures.allocatable_cpu_millicores.number()))} CPU / "
                f"{human_bytes(figures.allocatable_memory_bytes.number())}"
            ),
            "daemonsets": (
                f"{figures.daemonset_pods.value} pods, "
                f"{format_cpu(int(figures.daemonset_cpu_millicores.number()))} / "
                f"{human_bytes(figures.daemonset_memory_bytes.number())}"
            ),
            "max_pods": str(figures.max_pods.value),
        }
        per_framework = []
        for framework in frameworks_of(results):
            fit = fits.get((framework, n.name))
            cost = costs.get((framework, n.name))
            nodes = None if cost is None else cost.nodes_needed.value
            per_framework.append(
                {
                    "framework": framework,
                    "pods": "n/a" if fit is None else str(fit.pods_per_node.value),
                    "binding": "" if fit is None else ", ".join(fit.binding),
                    "nodes": "n/a" if nodes is None else str(nodes),
                    "monthly": "n/a" if cost is None else usd(cost.monthly_usd.value),
                }
            )
        rows.append({**row, "frameworks": per_framework})
    return rows


def cost_rows(results: Results, scenario: str) -> list[dict[str, str]]:
    """The month of each framework x node type as the sum of its terms (cheapest first); in
    a sweep, at each framework's cheapest shape."""
    chosen = _chosen(results, scenario)
    priced = [
        (c.framework, monthly, c)
        for c in results.costs
        if c.scenario == scenario
        and c.shape == chosen.get(c.framework)
        and (monthly := c.monthly_usd.value) is not None
    ]
    rows = []
    for _, monthly, c in sorted(priced, key=lambda row: row[:2]):
        rows.append(
            {
                "framework": series_label(results, c.framework, c.shape),
                "node_type": c.node_type + (f" ({c.arch_caveat})" if c.arch_caveat else ""),
                "nodes": (
                    f"{_value(c.workload_nodes)} + {_value(c.addons.nodes)} add-on + "
                    f"{_value(c.spare_nodes)} spare = {c.nodes_needed.value}"
                ),
                "placement": (f"{c.placement_name}: " if c.placement_name else "")
                + "; ".join(
                    f"{p.nodes} x ({', '.join(f'{n} {k}' for k, n in p.pods.items())})"
                    for p in c.placement
                ),
                "alternative": ""
                if c.alternative_monthly_usd is None or c.placement_name is None
                else f"{'first-fit' if c.placement_name == 'spread' else 'spread'}: "
                f"{usd(_value(c.alternative_monthly_usd))}",
                "workload": usd(_value(c.workload_nodes_usd_month)),
                "addons": usd(_value(c.addons_usd_month)),
                "spare": usd(_value(c.spare_nodes_usd_month)),
                "burst": usd(_value(c.burst_usd_month))
                + (f" ({c.credit_mode} credits" if c.credit_mode else "")
                + (
                    f"; {_value(c.baseline_sustainable_rps) or 0:,.0f} req/s at baseline"
                    if c.baseline_sustainable_rps is not None
                    and c.baseline_sustainable_rps.value is not None
                    else ""
                )
                + (")" if c.credit_mode else ""),
                "idle": usd(_value(c.idle_usd_month)),
                "per_vcpu_hour": usd_3sig(_value(c.usd_per_requested_vcpu_hour)),
                "control_plane": usd(_value(c.control_plane_usd_month)),
                "monthly": usd(monthly),
                "per_million": usd_3sig(c.usd_per_million_requests.value),
                "control_plane_per_million": usd_3sig(
                    _value(c.control_plane_usd_per_million_requests)
                ),
            }
        )
    return rows


def worked_example(results: Results) -> dict[str, Any] | None:
    """One node's allocatable memory, to show how any figure can be checked by hand."""
    nodes = {n.name: n for n in results.nodes}
    node = nodes.get("t3.medium") or next(iter(nodes.values()), None)
    if node is None:
        return None
    f = node.figures
    steps = (
        f.max_pods,
        f.memory_capacity_bytes,
        f.kube_reserved_memory_bytes,
        f.eviction_memory_bytes,
        f.allocatable_memory_bytes,
    )
    return {"node": node.name, "figures": steps}


def interpreter_note(results: Results) -> str | None:
    """The interpreter caveat for every CPU and capacity figure, when the pods ran on a build
    without PGO/LTO (unlike the images'): the platform section's measured factor, in one line."""
    build = results.platform.details.get("pod_python_pgo_lto")
    if not isinstance(build, str) or build.startswith("yes"):
        return None
    return (
        "measured on an interpreter built without PGO/LTO, unlike the images' "
        f"python:3.12-slim; such a build used {PGO_LTO_SAVING['healthz']} less CPU per request "
        f"on /healthz and {PGO_LTO_SAVING['db_read']} less on /api/items/42 (docs/benchmarks.md): "
        "CPU per request here overstates the image's, and capacity per pod understates it, by "
        "about that much"
    )


def djangos_of(results: Results) -> tuple[str, ...]:
    """The Django services measured (django, django-lean, django-async), in the kit's order."""
    return tuple(fw for fw in frameworks_of(results) if fw.startswith("django"))


def versus(results: Results) -> str:
    """The report's title pair; it names each Django when more than one was measured, so no
    figure reads as "FastAPI vs Django" without saying which Django."""
    djangos = djangos_of(results)
    return f"Django ({', '.join(djangos)}) vs FastAPI" if len(djangos) > 1 else "Django vs FastAPI"


def ratio_heading(results: Results) -> str:
    """The ratio table's heading: with more than one Django compared, each pair named."""
    pairs = list(dict.fromkeys(f"{c.numerator} vs {c.denominator}" for c in results.comparisons))
    if len({c.denominator for c in results.comparisons}) > 1:
        return (
            "The ratios: how much more one FastAPI pod serves than one pod of the Django it is "
            f"paired with ({', '.join(pairs)}), at the SLO"
        )
    return "The ratio: how much more one FastAPI pod serves than one Django pod, at the SLO"


def ratio_rows(results: Results) -> list[dict[str, str]]:
    """The answer's lead: per scenario and pair (which FastAPI / which Django), the capacity per
    pod ratio with its 95% interval."""
    rows = []
    for c in results.comparisons:
        if c.capacity_ratio is None:
            text, ci = "not measured", c.reason or ""
        else:
            text = f"{c.capacity_ratio:.2f}x"
            ci = (
                f"[{c.capacity_ratio_ci95[0]:.2f}, {c.capacity_ratio_ci95[1]:.2f}]"
                if c.capacity_ratio_ci95
                else "no interval"
            )
        pair = f"{c.numerator} / {c.denominator}" + (f" at {c.shape}" if c.shape else "")
        rows.append({"scenario": c.scenario, "pair": pair, "ratio": text, "ci": ci})
    return rows


def sweep_rows(results: Results, scenario: str) -> list[dict[str, str]]:
    """The pod-shape sweep (`--pod-shapes`): per framework x node type, each shape's pods per
    node, nodes and month, the cheapest marked; empty when one shape was measured."""
    return [
        {
            "framework": o.framework,
            "node_type": o.node_type,
            "shape": o.shape,
            "pods_per_node": "n/a" if o.pods_per_node is None else str(o.pods_per_node),
            "pods": "n/a" if o.pods_needed is None else str(o.pods_needed),
            "nodes": "n/a" if o.nodes_needed is None else str(o.nodes_needed),
            "monthly": usd(o.monthly_usd),
            "cheapest": "cheapest" if o.cheapest else "",
        }
        for o in results.shape_sweep
        if o.scenario == scenario
    ]


def template_context(results: Results) -> dict[str, Any]:
    scenario = results.inputs.headline_scenario
    scenarios = sorted({s.scenario for s in results.series})
    return {
        "r": results,
        "headline": scenario,
        "summary": summary_rows(results, scenario),
        "ratios": ratio_rows(results),
        "ratio_heading": ratio_heading(results),
        "versus": versus(results),
        "smoke": results.platform.details.get("quick") is True,
        "all_summaries": [
            row for sc in scenarios for row in summary_rows(results, sc, every_shape=True)
        ],
        "sweep": sweep_rows(results, scenario),
        "swept": swept(results),
        "nodes": node_rows(results, scenario),
        "costs": cost_rows(results, scenario),
        "cost_options": results.inputs.cost_options,
        "example": worked_example(results),
        "scenarios": scenarios,
        "frameworks": frameworks_of(results),
        "interpreter_note": interpreter_note(results),
        # The mark beside every CPU and capacity column when the note applies.
        "m": "†" if interpreter_note(results) else "",
    }
