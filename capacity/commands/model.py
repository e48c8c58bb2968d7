"""`capacity model`: turn a measurements file into the report (results.json, Markdown, HTML)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
from capacity.errors import ConfigError
from capacity.model import AnalysisSettings, Margins, Slo

# The model's own defaults (capacity/model/analysis.py) are the options'.
DEFAULTS = AnalysisSettings()


def model(
    measurements: Annotated[Path, typer.Argument(help="Measurements JSONL written by a load run.")],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Report directory (default: beside the measurements file)."),
    ] = None,
    slo_p50_ms: Annotated[float | None, typer.Option(help="SLO on p50 latency, ms.")] = None,
    slo_p95_ms: Annotated[
        float | None,
        typer.Option(help=f"SLO on p95 latency, ms [default {DEFAULTS.slo.latency_ms:g}]."),
    ] = None,
    slo_p99_ms: Annotated[float | None, typer.Option(help="SLO on p99 latency, ms.")] = None,
    max_error_ratio: Annotated[
        float, typer.Option(help="Error budget as a ratio.")
    ] = DEFAULTS.slo.max_error_ratio,
    target_rps: Annotated[
        float, typer.Option(help="Load to size the cluster for, req/s.")
    ] = DEFAULTS.target_rps,
    headroom: Annotated[
        float, typer.Option(help="Share of pod capacity held back.")
    ] = DEFAULTS.headroom,
    cpu_headroom: Annotated[
        float, typer.Option(help="CPU added to measured use.")
    ] = DEFAULTS.margins.cpu_headroom,
    memory_buffer: Annotated[
        float, typer.Option(help="Memory added to peak working set.")
    ] = DEFAULTS.margins.memory_buffer,
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
    """Turn measurements into results.json, report.md and report.html with plots."""
    from capacity.report import build_report  # matplotlib loads only for this command

    given = {"p50": slo_p50_ms, "p95": slo_p95_ms, "p99": slo_p99_ms}
    chosen = {k: v for k, v in given.items() if v is not None}
    if len(chosen) > 1:
        raise ConfigError(
            f"give one SLO percentile, got {', '.join(f'--slo-{k}-ms' for k in chosen)}"
        )
    percentile, latency = next(
        iter(chosen.items()), (DEFAULTS.slo.percentile, DEFAULTS.slo.latency_ms)
    )
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
        cost=cost_options(
            spare_nodes,
            zones,
            control_plane,
            purchase,
            spot_discount,
            addons,
            placement,
            credit_mode,
        ),
        networking=networking(max_pods_mode, max_pods),
        arm_factor=arm_factor,
    )
    out.print(
        f"Report written to {path}/ (report.html, report.md, results.json, plots/)",
        markup=False,
        highlight=False,
    )
