"""`capacity whatif`: several workloads packed onto candidate node types, nodes and cost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from capacity.catalog import load_catalog
from capacity.commands.common import out
from capacity.commands.options import (
    ADDONS,
    COST,
    NETWORKING,
    AddonsOption,
    ArmFactorOption,
    CatalogOption,
    ControlPlaneOption,
    CreditModeOption,
    MaxPodsModeOption,
    MaxPodsOption,
    PlacementOption,
    PurchaseOption,
    SpareNodesOption,
    SpotDiscountOption,
    ZonesOption,
    cost_options,
    networking,
)
from capacity.model import node_allocatable, plan_workloads
from capacity.model.cost import TERMS
from capacity.model.derivation import Figure
from capacity.model.placement import PLACEMENTS
from capacity.model.whatif_file import load_whatif


def _figure(figure: Figure) -> dict[str, Any]:
    """A figure's JSON, as results.json writes it."""
    from capacity.report.schema import figure_json

    return figure_json(figure)


def whatif(
    plan_file: Annotated[Path, typer.Argument(help="What-if YAML: node_types and workloads.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    catalog: CatalogOption = None,
    spare_nodes: SpareNodesOption = COST.spare_nodes,
    zones: ZonesOption = COST.zones,
    control_plane: ControlPlaneOption = COST.control_plane,
    purchase: PurchaseOption = COST.purchase,
    spot_discount: SpotDiscountOption = COST.spot_discount,
    addons: AddonsOption = ADDONS,
    max_pods_mode: MaxPodsModeOption = NETWORKING.max_pods_mode,
    max_pods: MaxPodsOption = NETWORKING.max_pods,
    placement: PlacementOption = COST.placement,
    credit_mode: CreditModeOption = COST.credit_mode,
    arm_factor: ArmFactorOption = None,
) -> None:
    """Pack several workloads onto each candidate node type (or pinned pools): nodes and cost,
    priced by the report's own cost model."""
    options = cost_options(
        spare_nodes, zones, control_plane, purchase, spot_discount, addons, placement, credit_mode
    )
    net = networking(max_pods_mode, max_pods)
    workloads, names = load_whatif(plan_file)
    nodes = load_catalog(catalog)
    candidates = [node_allocatable(nodes.node(n), net) for n in (names or nodes.default_candidates)]
    pinned = [
        node_allocatable(nodes.node(w.node_type), net) for w in workloads if w.node_type is not None
    ]
    plan = plan_workloads(workloads, candidates, pinned, options, arm_factor)
    best = plan.cheapest
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "workloads": [
                        {
                            "name": w.name,
                            "cpu_millicores": w.pod.cpu_millicores,
                            "memory_bytes": w.pod.memory_bytes,
                            "node_type": w.node_type,
                            "replicas": _figure(r),
                        }
                        for w, r in plan.replicas
                    ],
                    "options": [
                        {
                            "candidate": o.candidate,
                            "feasible": o.feasible,
                            "unplaceable": list(o.unplaceable),
                            "total_nodes": o.total_nodes,
                            "monthly_usd": o.monthly_usd,
                            "monthly": _figure(o.cost.monthly_usd),
                            "placement": o.cost.options.placement,
                            "credit_mode": o.cost.options.resolved_credit_mode
                            if any(p.node.node.burstable for p in o.cost.pools)
                            else None,
                            "idle_usd_month": None
                            if o.cost.idle_usd_month is None
                            else _figure(o.cost.idle_usd_month),
                            "alternative_monthly": None
                            if o.cost.alternative_monthly_usd is None
                            else _figure(o.cost.alternative_monthly_usd),
                            **{k: _figure(o.cost.terms[k]) for k in TERMS},
                            "survives": o.cost.survives,
                            "caveats": list(o.caveats),
                            "pools": [
                                {
                                    "node_type": p.node.node.name,
                                    "nodes": _figure(p.nodes_total),
                                    "workload_nodes": _figure(p.workload_nodes),
                                    "addon_nodes": _figure(p.addon_nodes),
                                    "spare_nodes": _figure(p.spare_nodes),
                                    "lower_bound_nodes": p.placement.lower_bound_nodes,
                                    "pods": {g.name: g.count for g in p.groups},
                                    "addons": [a.name for a in p.addons],
                                    "placement": [
                                        {"nodes": c.nodes, "pods": dict(c.pods)}
                                        for c in p.placement.contents
                                    ],
                                    "node_usd_per_hour": _figure(p.node_usd_per_hour),
                                    "burst_surplus_vcpu": [
                                        _figure(f) for f in p.burst_surplus_vcpu
                                    ],
                                    "alternative_burst_usd_month": None
                                    if p.alternative_burst_usd_month is None
                                    else _figure(p.alternative_burst_usd_month),
                                    "usd_month": _figure(p.monthly_usd),
                                }
                                for p in o.cost.pools
                            ],
                        }
                        for o in plan.options
                    ],
                    "cheapest": best.candidate if best else None,
                },
                indent=2,
            )
        )
        return
    table = Table(
        title=f"What-if: nodes and monthly cost per candidate node type (pods placed {placement})"
    )
    for column in (
        "candidate",
        "pools (node type: workload + add-on + spare nodes)",
        "nodes",
        "burst",
        "control plane",
        "USD/month",
        f"USD/month {next(p for p in PLACEMENTS if p != placement)}",
        "note",
    ):
        table.add_column(column)
    for o in plan.options:
        pools = "; ".join(
            f"{p.node.node.name}: {p.workload_nodes.value} + {p.addon_nodes.value} + "
            f"{p.spare_nodes.value}"
            for p in o.cost.pools
        )
        note = (
            "cheapest"
            if o is best
            else ("" if o.feasible else f"does not fit: {', '.join(o.unplaceable)}")
        )
        if o.caveats:
            note = "; ".join(x for x in (note, *o.caveats) if x)
        table.add_row(
            o.candidate or "(pinned only)",
            pools,
            str(o.total_nodes),
            f"{o.cost.terms['burst_usd_month'].number():,.2f}"
            + (
                f" ({options.resolved_credit_mode} credits)"
                if any(p.node.node.burstable for p in o.cost.pools)
                else ""
            ),
            f"{o.cost.terms['control_plane_usd_month'].number():,.2f}",
            f"{o.monthly_usd:,.2f}",
            ""
            if o.cost.alternative_monthly_usd is None
            else f"{o.cost.alternative_monthly_usd.number():,.2f}",
            note,
        )
    out.print(table)
    if best is not None:
        out.print(f"Sizing: {best.cost.survives}.", markup=False, highlight=False)
