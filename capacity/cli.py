"""The `capacity` command line: thin wrappers that parse options and print what the model says.

Every command turns the kit's own failures (KitError) into one line on stderr and an exit
code, 2 for bad input and 1 for anything else, without a traceback. New commands register at
the bottom of this file (see "More commands").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from capacity.catalog import STALE_AFTER_DAYS, load_catalog
from capacity.errors import ConfigError, KitError, MeasurementsError
from capacity.model import (
    CostOptions,
    Margins,
    Slo,
    node_allocatable,
    plan_workloads,
    pods_per_node,
)
from capacity.model.allocatable import MAX_PODS_MODES, Networking
from capacity.model.cost import ADDON_PROFILES, CONTROL_PLANE_CHOICES, PURCHASE_OPTIONS, TERMS
from capacity.model.fit import NodeFit, PodShape
from capacity.model.whatif_file import load_whatif
from capacity.quantity import format_cpu, human_bytes, parse_cpu_millicores, parse_memory_bytes

app = typer.Typer(
    name="capacity",
    help="Measure Django and FastAPI pods; turn measurements into pods per node, nodes and cost.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
out = Console()
if not out.is_terminal:
    out.width = 200  # piped output: keep table rows on one line each instead of 80 columns
err = Console(stderr=True)

CatalogOption = Annotated[
    Path | None, typer.Option("--catalog", help="Node catalog YAML (default: the built-in one).")
]


MaxPodsModeOption = Annotated[
    str,
    typer.Option(
        "--max-pods-mode",
        help=f"Pod networking that sets max pods on EKS: {', '.join(MAX_PODS_MODES)} "
        "(prefix-delegation: VPC CNI /28 prefixes, 110 below 30 vCPUs).",
    ),
]
MaxPodsOption = Annotated[
    int | None,
    typer.Option(
        "--max-pods",
        help="Configured max pods per node (GKE 8-256, AKS 10-250); kube-reserved follows.",
    ),
]
SpareNodesOption = Annotated[
    int, typer.Option("--spare-nodes", help="Empty nodes kept for failures (N+1: 1).")
]
ZonesOption = Annotated[
    int, typer.Option("--zones", help="Zones the pods spread over; nodes rounded per zone.")
]
ControlPlaneOption = Annotated[
    str,
    typer.Option(
        "--control-plane",
        help=f"Control-plane tier: {', '.join(CONTROL_PLANE_CHOICES)} (default: the provider's "
        "standard tier from the catalog).",
    ),
]
PurchaseOption = Annotated[
    str, typer.Option("--purchase", help=f"Purchase option: {', '.join(PURCHASE_OPTIONS)}.")
]
SpotDiscountOption = Annotated[
    float | None,
    typer.Option(
        "--spot-discount", help="Spot discount you pay, e.g. 0.65 (overrides the assumption)."
    ),
]
AddonsOption = Annotated[
    str,
    typer.Option(
        "--addons",
        help=f"Add-on profiles packed with the workload: comma list of {', '.join(ADDON_PROFILES)}"
        ", or none.",
    ),
]


def cost_options(
    spare_nodes: int,
    zones: int,
    control_plane: str,
    purchase: str,
    spot_discount: float | None,
    addons: str,
) -> CostOptions:
    profiles = () if addons.strip() in ("", "none") else tuple(a.strip() for a in addons.split(","))
    return CostOptions(
        spare_nodes=spare_nodes,
        zones=zones,
        control_plane=control_plane,
        purchase=purchase,
        spot_discount=spot_discount,
        addon_profiles=profiles,
    )


@contextmanager
def kit_errors() -> Iterator[None]:
    """Wrap a command body: the kit's errors become a message and an exit code."""
    try:
        yield
    except (ConfigError, MeasurementsError) as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except KitError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _fit_json(fit: NodeFit) -> dict[str, Any]:
    from capacity.report.schema import Figure  # a figure's JSON, as results.json writes it

    node = fit.node
    return {
        "node_type": node.node.name,
        "provider": node.node.provider.key,
        "pods_per_node": fit.pods_per_node.value,
        "binding": list(fit.binding),
        "allocatable_cpu_millicores": node.allocatable_cpu_millicores.value,
        "allocatable_memory_bytes": node.allocatable_memory_bytes.value,
        "max_pods": node.max_pods.value,
        "daemonset_pods": node.daemonset_pods.value,
        "daemonset_cpu_millicores": node.daemonset_cpu_millicores.value,
        "daemonset_memory_bytes": node.daemonset_memory_bytes.value,
        "derivations": {
            f.kind: Figure.of(f).model_dump(mode="json")
            for f in (
                node.max_pods,
                node.memory_capacity_bytes,
                node.kube_reserved_cpu_millicores,
                node.kube_reserved_memory_bytes,
                node.eviction_memory_bytes,
                node.allocatable_cpu_millicores,
                node.allocatable_memory_bytes,
                node.daemonset_cpu_millicores,
                node.daemonset_memory_bytes,
                node.daemonset_pods,
                *(x for x in (fit.by_cpu, fit.by_memory) if x is not None),
                fit.by_pod_slots,
                fit.pods_per_node,
            )
        },
    }


@app.command()
def fit(
    cpu: Annotated[str, typer.Option(help="CPU request = limit per pod: 500m, 0.5, 1, 2.")],
    memory: Annotated[str, typer.Option(help="Memory request = limit per pod: 512Mi, 1Gi, 1G.")],
    node: Annotated[
        list[str] | None,
        typer.Option("--node", help="Node type (repeatable); default: every catalog node type."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON with derivations.")] = False,
    catalog: CatalogOption = None,
    max_pods_mode: MaxPodsModeOption = "default",
    max_pods: MaxPodsOption = None,
) -> None:
    """How many pods of one shape fit on a node: allocatable, max pods, the binding constraint."""
    with kit_errors():
        pod = PodShape(parse_cpu_millicores(cpu), parse_memory_bytes(memory))
        nodes = load_catalog(catalog)
        chosen = [nodes.node(n) for n in node] if node else list(nodes.node_types)
        net = Networking(max_pods_mode, max_pods)  # type: ignore[arg-type]  # checked inside
        fits = [pods_per_node(node_allocatable(n, net), pod) for n in chosen]
        if as_json:
            payload = {
                "pod": {"cpu_millicores": pod.cpu_millicores, "memory_bytes": pod.memory_bytes},
                "nodes": [_fit_json(f) for f in fits],
            }
            typer.echo(json.dumps(payload, indent=2))
            return
        table = Table(title=f"Pods of {pod} per node")
        for column in (
            "node type",
            "provider",
            "allocatable CPU",
            "allocatable memory",
            "max pods",
            "daemonsets",
            "pods/node",
            "binding",
        ):
            table.add_column(
                column, justify="right" if column.startswith(("max", "pods")) else "left"
            )
        for f in fits:
            n = f.node
            table.add_row(
                n.node.name,
                n.node.provider.key,
                format_cpu(int(n.allocatable_cpu_millicores.number())),
                human_bytes(n.allocatable_memory_bytes.number()),
                str(n.max_pods.value),
                f"{n.daemonset_pods.value} pods, "
                f"{format_cpu(int(n.daemonset_cpu_millicores.number()))}"
                f" / {human_bytes(n.daemonset_memory_bytes.number())}",
                str(f.pods_per_node.value),
                ", ".join(f.binding),
            )
        out.print(table)


@app.command()
def model(
    measurements: Annotated[Path, typer.Argument(help="Measurements JSONL written by a load run.")],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Report directory (default: beside the measurements file)."),
    ] = None,
    slo_p50_ms: Annotated[float | None, typer.Option(help="SLO on p50 latency, ms.")] = None,
    slo_p95_ms: Annotated[
        float | None, typer.Option(help="SLO on p95 latency, ms [default 100].")
    ] = None,
    slo_p99_ms: Annotated[float | None, typer.Option(help="SLO on p99 latency, ms.")] = None,
    max_error_ratio: Annotated[float, typer.Option(help="Error budget as a ratio.")] = 0.01,
    target_rps: Annotated[
        float, typer.Option(help="Load to size the cluster for, req/s.")
    ] = 1000.0,
    headroom: Annotated[float, typer.Option(help="Share of pod capacity held back.")] = 0.2,
    cpu_headroom: Annotated[float, typer.Option(help="CPU added to measured use.")] = 0.25,
    memory_buffer: Annotated[float, typer.Option(help="Memory added to peak working set.")] = 0.25,
    node: Annotated[
        list[str] | None,
        typer.Option(
            "--node",
            help="Node type to model (repeatable) [every amd64 catalog type; ARM when named].",
        ),
    ] = None,
    scenario: Annotated[str | None, typer.Option(help="Scenario the summary leads with.")] = None,
    catalog: CatalogOption = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing report.")] = False,
    spare_nodes: SpareNodesOption = 1,
    zones: ZonesOption = 1,
    control_plane: ControlPlaneOption = "default",
    purchase: PurchaseOption = "on-demand",
    spot_discount: SpotDiscountOption = None,
    addons: AddonsOption = "system,monitoring",
    max_pods_mode: MaxPodsModeOption = "default",
    max_pods: MaxPodsOption = None,
) -> None:
    """Turn measurements into results.json, report.md and report.html with plots."""
    from capacity.report import build_report  # matplotlib loads only for this command

    with kit_errors():
        given = {"p50": slo_p50_ms, "p95": slo_p95_ms, "p99": slo_p99_ms}
        chosen = {k: v for k, v in given.items() if v is not None}
        if len(chosen) > 1:
            raise ConfigError(
                f"give one SLO percentile, got {', '.join(f'--slo-{k}-ms' for k in chosen)}"
            )
        percentile, latency = next(iter(chosen.items()), ("p95", 100.0))
        slo = Slo(latency_ms=latency, percentile=percentile, max_error_ratio=max_error_ratio)  # type: ignore[arg-type]
        target = out_dir if out_dir is not None else measurements.parent
        path = build_report(
            measurements,
            target,
            slo=slo,
            target_rps=target_rps,
            headroom=headroom,
            margins=Margins(cpu_headroom=cpu_headroom, memory_buffer=memory_buffer),
            catalog_path=catalog,
            node_types=node,
            scenario=scenario,
            overwrite=overwrite,
            cost=cost_options(spare_nodes, zones, control_plane, purchase, spot_discount, addons),
            networking=Networking(max_pods_mode, max_pods),  # type: ignore[arg-type]
        )
        out.print(
            f"Report written to {path}/ (report.html, report.md, results.json, plots/)",
            markup=False,
            highlight=False,
        )


@app.command()
def whatif(
    plan_file: Annotated[Path, typer.Argument(help="What-if YAML: node_types and workloads.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    catalog: CatalogOption = None,
    spare_nodes: SpareNodesOption = 1,
    zones: ZonesOption = 1,
    control_plane: ControlPlaneOption = "default",
    purchase: PurchaseOption = "on-demand",
    spot_discount: SpotDiscountOption = None,
    addons: AddonsOption = "system,monitoring",
    max_pods_mode: MaxPodsModeOption = "default",
    max_pods: MaxPodsOption = None,
) -> None:
    """Pack several workloads onto each candidate node type (or pinned pools): nodes and cost,
    priced by the report's own cost model."""
    with kit_errors():
        options = cost_options(spare_nodes, zones, control_plane, purchase, spot_discount, addons)
        net = Networking(max_pods_mode, max_pods)  # type: ignore[arg-type]  # checked inside
        workloads, names = load_whatif(plan_file)
        nodes = load_catalog(catalog)
        candidates = [
            node_allocatable(nodes.node(n), net) for n in (names or nodes.default_candidates)
        ]
        pinned = [
            node_allocatable(nodes.node(w.node_type), net)
            for w in workloads
            if w.node_type is not None
        ]
        plan = plan_workloads(workloads, candidates, pinned, options)
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
                                "replicas": r.to_json(),
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
                                "monthly": o.cost.monthly_usd.to_json(),
                                **{k: o.cost.terms[k].to_json() for k in TERMS},
                                "survives": o.cost.survives,
                                "pools": [
                                    {
                                        "node_type": p.node.node.name,
                                        "nodes": p.nodes_total.to_json(),
                                        "workload_nodes": p.workload_nodes.to_json(),
                                        "addon_nodes": p.addon_nodes.to_json(),
                                        "spare_nodes": p.spare_nodes.to_json(),
                                        "lower_bound_nodes": p.placement.lower_bound_nodes,
                                        "pods": {g.name: g.count for g in p.groups},
                                        "addons": [a.name for a in p.addons],
                                        "placement": [
                                            {"nodes": c.nodes, "pods": dict(c.pods)}
                                            for c in p.placement.contents
                                        ],
                                        "node_usd_per_hour": p.node_usd_per_hour.to_json(),
                                        "burst_surplus_vcpu": [
                                            f.to_json() for f in p.burst_surplus_vcpu
                                        ],
                                        "usd_month": p.monthly_usd.to_json(),
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
        table = Table(title="What-if: nodes and monthly cost per candidate node type")
        for column in (
            "candidate",
            "pools (node type: workload + add-on + spare nodes)",
            "nodes",
            "burst",
            "control plane",
            "USD/month",
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
            table.add_row(
                o.candidate or "(pinned only)",
                pools,
                str(o.total_nodes),
                f"{o.cost.terms['burst_usd_month'].number():,.2f}",
                f"{o.cost.terms['control_plane_usd_month'].number():,.2f}",
                f"{o.monthly_usd:,.2f}",
                note,
            )
        out.print(table)
        if best is not None:
            out.print(f"Sizing: {best.cost.survives}.", markup=False, highlight=False)


catalog_app = typer.Typer(help="The node catalog: prices, dates and sources.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")


@catalog_app.command("check")
def catalog_check(
    catalog: CatalogOption = None,
    max_age_days: Annotated[
        int, typer.Option(help="A price older than this many days is stale.")
    ] = STALE_AFTER_DAYS,
    today: Annotated[
        str | None, typer.Option(help="Check as of this date (YYYY-MM-DD) [today, UTC].")
    ] = None,
) -> None:
    """List every catalog price older than --max-age-days; exit 1 when there is one."""
    with kit_errors():
        if today is None:
            on = datetime.now(UTC).date()
        else:
            try:
                on = date.fromisoformat(today)
            except ValueError:
                raise ConfigError(
                    f"--today {today!r} is not a date; give YYYY-MM-DD, e.g. 2026-12-01"
                ) from None
        if max_age_days < 0:
            raise ConfigError(f"--max-age-days {max_age_days} must be 0 or more (default 180)")
        nodes = load_catalog(catalog)
        stale = nodes.stale_prices(on, max_age_days)
        for line in stale:
            out.print(line, markup=False, highlight=False, soft_wrap=True)
        out.print(
            f"{len(stale)} price(s) in {nodes.path} older than {max_age_days} days on "
            f"{on.isoformat()}" + ("; re-check them before budgeting" if stale else ""),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        if stale:
            raise typer.Exit(1)


# ---- More commands -------------------------------------------------------------------------
# Register further commands here, wrapping their bodies in `with kit_errors():`, e.g.
#     from capacity.load.cli import report
#     app.command("report")(report)
from capacity.commands.report import report  # noqa: E402 - registered after the app exists

app.command("report")(report)
