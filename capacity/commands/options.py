"""The node and cost options that `fit`, `model` and `whatif` share, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from capacity.model import BuyingOptions
from capacity.model.allocatable import MAX_PODS_MODES, Networking
from capacity.model.cost import ADDON_PROFILES, CONTROL_PLANE_CHOICES, PURCHASE_OPTIONS
from capacity.model.placement import PLACEMENTS

# The defaults the options show and use: the model's own (capacity/model/cost.py, allocatable.py).
COST = BuyingOptions()
NETWORKING = Networking()
ADDONS = ",".join(COST.addon_profiles)

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

PlacementOption = Annotated[
    str,
    typer.Option(
        "--placement",
        help=f"Where pods land for burst credits: {', '.join(PLACEMENTS)} (spread: "
        "kube-scheduler's default scoring; first-fit: bin-packing schedulers, Karpenter "
        "consolidation). The other is shown as the alternative.",
    ),
]
CreditModeOption = Annotated[
    str,
    typer.Option(
        "--credit-mode",
        help="Burstable nodes (T3/T4g): default (standard for spot, as AWS advises; "
        "unlimited otherwise), standard or unlimited.",
    ),
]
ArmFactorOption = Annotated[
    float | None,
    typer.Option(
        "--arm-factor",
        help="Measured ARM/amd64 CPU-per-request ratio for arm64 node types (e.g. 0.85); "
        "without it ARM nodes are priced with the amd64 CPU per request, and say so.",
    ),
]


def networking(max_pods_mode: str, max_pods: int | None) -> Networking:
    return Networking(max_pods_mode, max_pods)  # type: ignore[arg-type]  # checked inside


def cost_options(
    spare_nodes: int,
    zones: int,
    control_plane: str,
    purchase: str,
    spot_discount: float | None,
    addons: str,
    placement: str = COST.placement,
    credit_mode: str = COST.credit_mode,
) -> BuyingOptions:
    profiles = () if addons.strip() in ("", "none") else tuple(a.strip() for a in addons.split(","))
    return BuyingOptions(
        spare_nodes=spare_nodes,
        zones=zones,
        control_plane=control_plane,
        purchase=purchase,
        spot_discount=spot_discount,
        addon_profiles=profiles,
        placement=placement,
        credit_mode=credit_mode,
    )
