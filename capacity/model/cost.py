"""Nodes and money for a target load: the one cost model `capacity model`, the report and
`capacity whatif` all use.

pods = ceil(target / (capacity per pod x (1 - headroom))): headroom is the share of each pod's
measured capacity held back for spikes. The pods (and the cluster's add-ons) are spread over
the zones and packed first-fit decreasing (capacity.model.placement); spare nodes are added so
the cluster survives losing that many nodes. The month (730 hours, the providers' calculators'
figure) is the sum of its terms, each a derivation in results.json:

  workload_nodes_usd_month + addons_usd_month + spare_nodes_usd_month
  + burst_usd_month + control_plane_usd_month

Burst: on a burstable node (T3/T4g Unlimited) the CPU its pods use above the node's baseline
is billed per vCPU-hour, node by node as the pods landed: spread by kube-scheduler's default
scoring over every node (spare ones included) unless `placement` says first-fit; the other
placement is priced too, as the alternative month. A pod uses idle + CPU-seconds per
request x its share of the load when that was measured, else its CPU request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from capacity.catalog import Addon, NodeType, Provider
from capacity.errors import ConfigError
from capacity.model.allocatable import NodeAllocatable
from capacity.model.derivation import Figure, derive
from capacity.model.fit import NodeFit, PodShape
from capacity.model.placement import (
    FIRST_FIT_SOURCE,
    PLACEMENTS,
    SPREAD_SOURCE,
    Packing,
    PodBatch,
    fits_empty,
    place,
    spread,
)

HOURS_PER_MONTH = 730
PURCHASE_OPTIONS = ("on-demand", "spot", "commit-1y")
CONTROL_PLANE_CHOICES = ("default", "standard", "extended", "free", "none")
ADDON_PROFILES = ("system", "monitoring", "loadgen")
CREDIT_MODES = ("default", "standard", "unlimited")
CREDIT_MODE_SOURCE = (
    "AWS: burstable spot instances should use standard credit mode "
    "(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/burstable-performance-instances-"
    "how-to.html, 'Use burstable performance instances as Spot Instances', as of 2026-12-01); "
    "in standard mode a node with no credits left runs at its baseline, nothing above it is "
    "billed. T3/T4g launch in unlimited mode otherwise "
    "(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/burstable-performance-instances-"
    "unlimited-mode.html)"
)
TERMS = (
    "workload_nodes_usd_month",
    "addons_usd_month",
    "spare_nodes_usd_month",
    "burst_usd_month",
    "control_plane_usd_month",
)
MONTHLY_FORMULA = " + ".join(TERMS)


@dataclass(frozen=True)
class BuyingOptions:
    """How the cluster is bought and run; the defaults are what a production cluster needs."""

    spare_nodes: int = 1
    zones: int = 1
    control_plane: str = "default"  # default: the provider's usual tier (catalog)
    purchase: str = "on-demand"
    spot_discount: float | None = None  # overrides the catalog's assumption
    addon_profiles: tuple[str, ...] = ("system", "monitoring")
    # Where pods land for the burst: kube-scheduler's default spread, or first-fit (bin-packing
    # schedulers, Karpenter consolidation). Node counts come from first-fit either way.
    placement: str = "spread"
    # Burstable nodes: default = standard for spot (AWS's advice), unlimited otherwise.
    credit_mode: str = "default"

    def __post_init__(self) -> None:
        if self.spare_nodes < 0:
            raise ConfigError(f"spare nodes {self.spare_nodes!r} must be 0 or more (default 1)")
        if self.zones < 1:
            raise ConfigError(f"zones {self.zones!r} must be 1 or more (e.g. 3)")
        if self.control_plane not in CONTROL_PLANE_CHOICES:
            raise ConfigError(
                f"control plane {self.control_plane!r} is not one of "
                f"{', '.join(CONTROL_PLANE_CHOICES)}"
            )
        if self.purchase not in PURCHASE_OPTIONS:
            raise ConfigError(
                f"purchase option {self.purchase!r} is not one of {', '.join(PURCHASE_OPTIONS)}"
            )
        if self.spot_discount is not None and not 0 <= self.spot_discount < 1:
            raise ConfigError(
                f"spot discount {self.spot_discount!r} must be a fraction in [0, 1), e.g. 0.65"
            )
        if self.credit_mode not in CREDIT_MODES:
            raise ConfigError(
                f"credit mode {self.credit_mode!r} is not one of {', '.join(CREDIT_MODES)}"
            )
        if self.placement not in PLACEMENTS:
            raise ConfigError(f"placement {self.placement!r} is not one of {', '.join(PLACEMENTS)}")
        bad = [p for p in self.addon_profiles if p not in ADDON_PROFILES]
        if bad:
            raise ConfigError(
                f"add-on profile(s) {', '.join(map(repr, bad))} not known; accepted: "
                f"{', '.join(ADDON_PROFILES)} (or none)"
            )

    @property
    def resolved_credit_mode(self) -> str:
        """standard or unlimited: what a burstable node runs in under these options."""
        if self.credit_mode != "default":
            return self.credit_mode
        return "standard" if self.purchase == "spot" else "unlimited"

    def addons(self, provider: Provider) -> tuple[Addon, ...]:
        return tuple(a for a in provider.addons if a.profile in self.addon_profiles)


# Nodes and nothing else: the figure the hand computations call "before fees".
NODES_ONLY = BuyingOptions(spare_nodes=0, zones=1, control_plane="none", addon_profiles=())


@dataclass(frozen=True)
class PodGroup:
    """A workload's pods in one pool, and the CPU one of them uses (a figure)."""

    name: str
    pod: PodShape
    count: int
    cpu_use_cores: Figure


@dataclass(frozen=True)
class PoolCost:
    node: NodeAllocatable
    groups: tuple[PodGroup, ...]
    addons: tuple[Addon, ...]
    placement: Packing
    workload_nodes: Figure
    addon_nodes: Figure
    spare_nodes: Figure
    nodes_total: Figure
    node_usd_per_hour: Figure
    burst_surplus_vcpu: tuple[Figure, ...]  # one per group of identical nodes
    terms: Mapping[str, Figure]  # every TERMS entry but the control plane
    monthly_usd: Figure  # the pool's nodes and burst
    placement_name: str = "first-fit"  # which placement `placement` and the burst follow
    # The other placement and its burst: first-fit when spread is priced, and the reverse.
    alternative_placement: Packing | None = None
    alternative_burst_usd_month: Figure | None = None
    idle_usd_month: Figure | None = None  # inside the node terms: capacity no pod requests

    @property
    def alternative_placement_name(self) -> str:
        return next(p for p in PLACEMENTS if p != self.placement_name)

    @property
    def unplaceable(self) -> tuple[str, ...]:
        return self.placement.unplaceable


@dataclass(frozen=True)
class ClusterCost:
    pools: tuple[PoolCost, ...]
    terms: Mapping[str, Figure]  # the TERMS, summed over pools
    monthly_usd: Figure
    survives: str
    options: BuyingOptions = field(default_factory=BuyingOptions)
    alternative_monthly_usd: Figure | None = None  # the month on the other placement
    idle_usd_month: Figure | None = None  # summed over pools, part of the node terms

    @property
    def total_nodes(self) -> int:
        return sum(int(p.nodes_total.number()) for p in self.pools)


# ---- ARM nodes: CPU per request measured on another architecture --------------------------


def arch_caveat(node: NodeType, arm_factor: float | None) -> str | None:
    """What an ARM node's figures rest on: the CPU per request measured here (amd64), or the
    measured ARM/amd64 factor given with --arm-factor."""
    if node.arch != "arm64":
        return None
    if arm_factor is None:
        return (
            f"{node.name} is arm64: its pods are assumed to need the CPU per request measured "
            "on this machine's architecture (amd64); pass --arm-factor with a measured ARM/amd64 "
            "CPU-per-request ratio to correct it"
        )
    return (
        f"{node.name} is arm64: CPU per request and idle CPU x {arm_factor:g}, capacity per "
        f"pod / {arm_factor:g} (--arm-factor, measured ARM/amd64 CPU per request, given)"
    )


def check_arm_factor(arm_factor: float | None) -> None:
    if arm_factor is not None and not 0 < arm_factor <= 10:
        raise ConfigError(
            f"ARM factor {arm_factor!r} must be a positive ratio of ARM to amd64 CPU per "
            "request, e.g. 0.85 (ARM needs 15% less CPU per request) or 1.2"
        )


def check_headroom(headroom: float) -> None:
    if not 0 <= headroom < 1:
        raise ConfigError(f"headroom {headroom!r} must be a fraction in [0, 1), e.g. 0.2")


PODS_FOR_LOAD_FORMULA = (
    "max(ceil(target_rps / (capacity_per_pod_rps * (1 - headroom))), target_rps > 0)"
)


def pods_for_load_figure(
    kind: str, target_rps: float, capacity_per_pod_rps: float, headroom: float, source: str
) -> Figure:
    """Pods that serve `target_rps` with `headroom` held back (PODS_FOR_LOAD_FORMULA).

    Any positive load needs a pod, even one so small that the division underflows.
    """
    return derive(
        kind,
        "pods",
        PODS_FOR_LOAD_FORMULA,
        {
            "target_rps": target_rps,
            "capacity_per_pod_rps": capacity_per_pod_rps,
            "headroom": headroom,
        },
        source,
    )


def pods_for_load(target_rps: float, capacity_per_pod_rps: float, headroom: float) -> int:
    return int(
        pods_for_load_figure("pods_needed", target_rps, capacity_per_pod_rps, headroom, "").number()
    )


# ---- CPU a pod uses -----------------------------------------------------------------------


def idle_cpu_cores(cpu_seconds_per_request: Figure) -> Figure:
    """The idle use (intercept) of the fitted CPU line, recomputable from the fit's inputs."""
    inputs = cpu_seconds_per_request.inputs
    raw_x, raw_y = inputs.get("per_pod_rps"), inputs.get("pod_cpu_cores")
    if (
        cpu_seconds_per_request.defined
        and cpu_seconds_per_request.formula.startswith("lstsq_slope")
        and isinstance(raw_x, list)
        and isinstance(raw_y, list)
        and raw_x
    ):
        return derive(
            "pod_idle_cpu_cores",
            "cores",
            "max(0, sum(pod_cpu_cores) / len(pod_cpu_cores)"
            " - lstsq_slope(per_pod_rps, pod_cpu_cores) * sum(per_pod_rps) / len(per_pod_rps))",
            {
                "per_pod_rps": [float(x) for x in raw_x],
                "pod_cpu_cores": [float(y) for y in raw_y],
            },
            cpu_seconds_per_request.source,
            "the intercept of cores = idle + slope x req/s: what a pod uses with no traffic",
        )
    return derive(
        "pod_idle_cpu_cores",
        "cores",
        "0",
        {},
        cpu_seconds_per_request.source,
        "CPU per request is a median of per-step ratios (pod CPU / requests served), which "
        "already include the idle use at the measured rates",
    )


def pod_cpu_use(
    pod: PodShape,
    rps_per_pod: float | None,
    cpu_seconds_per_request: float | None,
    idle_cores: float = 0.0,
) -> Figure:
    """Cores one pod uses: idle + CPU-seconds per request x its req/s, else its CPU request."""
    if cpu_seconds_per_request is not None and rps_per_pod is not None:
        return derive(
            "pod_cpu_use_cores",
            "cores",
            "idle_cpu_cores + cpu_seconds_per_request * rps_per_pod",
            {
                "idle_cpu_cores": idle_cores,
                "cpu_seconds_per_request": cpu_seconds_per_request,
                "rps_per_pod": rps_per_pod,
            },
            "measured CPU line of the pod (capacity at SLO)",
            "the load spreads evenly over the pods (a Service balances requests)",
        )
    return derive(
        "pod_cpu_use_cores",
        "cores",
        "pod_cpu_millicores / 1000",
        {"pod_cpu_millicores": pod.cpu_millicores},
        "the pod's CPU request",
        "no measured CPU per request: assumes the pod uses its CPU request",
    )


# ---- prices ---------------------------------------------------------------------------------


def node_usd_per_hour(node: NodeAllocatable, options: BuyingOptions) -> Figure:
    t = node.node
    price = t.usd_per_hour
    kind, unit = "node_usd_per_hour", "USD/hour"
    if options.purchase == "on-demand":
        if t.sustained_use_discount > 0:
            return derive(
                kind,
                unit,
                "usd_per_hour * (1 - sustained_use_discount)",
                {"usd_per_hour": price, "sustained_use_discount": t.sustained_use_discount},
                f"{t.price_source}; {t.sustained_use_source}",
                "on-demand, running all month",
            )
        return derive(kind, unit, "usd_per_hour", {"usd_per_hour": price}, t.price_source)
    terms = t.provider.purchase
    if terms is None:
        raise ConfigError(
            f"the catalog gives no spot or commitment terms for provider {t.provider.key!r} "
            f"(node type {t.name}); use --purchase on-demand or add purchase: to a catalog copy"
        )
    if options.purchase == "spot":
        discount = terms.spot_discount if options.spot_discount is None else options.spot_discount
        source = (
            terms.spot_source
            if options.spot_discount is None
            else f"--spot-discount {options.spot_discount} (given)"
        )
        name = "spot_discount"
    else:
        discount, source, name = terms.commit_1y_discount, terms.commit_1y_source, "commit_discount"
    return derive(
        kind,
        unit,
        f"usd_per_hour * (1 - {name})",
        {"usd_per_hour": price, name: discount},
        f"{t.price_source}; {source}",
        f"purchase option {options.purchase}",
    )


def control_plane_usd_month(provider: Provider, options: BuyingOptions) -> Figure:
    kind, unit = "control_plane_usd_month", "USD/month"
    if options.control_plane == "none":
        return derive(kind, unit, "0", {}, "--control-plane none", "no control-plane fee")
    cp = provider.control_plane
    if cp is None:
        return derive(
            kind, unit, "0", {}, f"catalog: no control_plane for provider {provider.key}",
            "the catalog gives no fee for this provider",
        )  # fmt: skip
    tier = cp.default_tier if options.control_plane == "default" else options.control_plane
    if tier not in cp.usd_per_hour:
        raise ConfigError(
            f"--control-plane {tier}: {provider.service} has no such tier; accepted for "
            f"{provider.key}: {', '.join(cp.usd_per_hour)}, none"
        )
    rate = cp.usd_per_hour[tier]
    if tier == "free" and cp.free_credit_usd_month > 0:
        return derive(
            kind,
            unit,
            "max(0, control_plane_usd_per_hour * hours_per_month - free_credit_usd_month)",
            {
                "control_plane_usd_per_hour": rate,
                "hours_per_month": HOURS_PER_MONTH,
                "free_credit_usd_month": cp.free_credit_usd_month,
            },
            cp.source,
            f"{provider.key} tier {tier}: the monthly credit covers one cluster",
        )
    return derive(
        kind,
        unit,
        "control_plane_usd_per_hour * hours_per_month",
        {"control_plane_usd_per_hour": rate, "hours_per_month": HOURS_PER_MONTH},
        cp.source,
        f"{provider.key} tier {tier}, one cluster",
    )


# ---- one pool, one cluster -------------------------------------------------------------------


def _workload_nodes(
    groups: Sequence[PodGroup], fit: NodeFit | None, options: BuyingOptions, placement: Packing
) -> Figure:
    if fit is not None and len(groups) == 1:
        pods, per_node = groups[0].count, int(fit.pods_per_node.number())
        if options.zones == 1:
            figure = derive(
                "workload_nodes",
                "nodes",
                "ceil(pods_needed / pods_per_node)",
                {"pods_needed": pods, "pods_per_node": per_node},
                "identical pods fill each node up to pods per node",
            )
        else:
            figure = derive(
                "workload_nodes",
                "nodes",
                "zones * ceil(ceil(pods_needed / zones) / pods_per_node)",
                {"pods_needed": pods, "pods_per_node": per_node, "zones": options.zones},
                "pods spread evenly over the zones; every zone gets the fullest zone's nodes",
            )
        # The closed form and the packing are two statements of one rule.
        assert figure.value == placement.nodes, (figure, placement)
        return figure
    # Not a formula: the count comes from the packing algorithm, recorded as an input.
    return Figure(
        "workload_nodes",
        placement.nodes,
        "nodes",
        "nodes_packed",
        {"nodes_packed": placement.nodes, "lower_bound_nodes": placement.lower_bound_nodes},
        "first-fit decreasing under NodeResourcesFit (capacity.model.placement)",
        f"{sum(g.count for g in groups)} pods over {options.zones} zone(s); lower bound "
        f"{placement.lower_bound_nodes} nodes",
    )


def _burst(
    node: NodeAllocatable,
    placement: Packing,
    placement_name: str = "first-fit",
    credit_mode: str = "unlimited",
) -> tuple[tuple[Figure, ...], Figure]:
    t = node.node
    burst = t.burstable
    if burst is None:
        zero = derive(
            "burst_usd_month", "USD/month", "0", {}, t.price_source,
            f"{t.name} is not burstable: its price covers full use of every vCPU",
        )  # fmt: skip
        return (), zero
    if credit_mode == "standard":
        zero = derive(
            "burst_usd_month", "USD/month", "0", {}, f"{burst.source}; {CREDIT_MODE_SOURCE}",
            "standard credit mode: nothing above the baseline is billed; a node whose pods "
            "use more than its baseline is held at the baseline once its credits are spent "
            "(see baseline_sustainable_rps)",
        )  # fmt: skip
        return (), zero
    surplus = tuple(
        derive(
            "burst_surplus_vcpu",
            "vCPU",
            "nodes * max(0, sum(pod_cpu_cores) - baseline_per_vcpu * vcpu)",
            {
                "nodes": c.nodes,
                "pod_cpu_cores": list(c.pod_cpu_use_cores),
                "baseline_per_vcpu": burst.baseline_per_vcpu,
                "vcpu": t.vcpu,
            },
            burst.source,
            "nodes holding " + ", ".join(f"{n} x {name}" for name, n in c.pods),
        )
        for c in placement.contents
    )
    values = [s.number() for s in surplus]
    usd = derive(
        "burst_usd_month",
        "USD/month",
        "sum(burst_surplus_vcpu) * surplus_usd_per_vcpu_hour * hours_per_month",
        {
            "burst_surplus_vcpu": values,
            "surplus_usd_per_vcpu_hour": burst.surplus_usd_per_vcpu_hour,
            "hours_per_month": HOURS_PER_MONTH,
        },
        f"{burst.source}; placement: "
        f"{SPREAD_SOURCE if placement_name == 'spread' else FIRST_FIT_SOURCE}",
        "CPU the placed pods use above each node's baseline, billed per vCPU-hour (Unlimited); "
        f"pods placed {placement_name}",
    )
    return surplus, usd


IDLE_SOURCE = (
    "OpenCost allocation spec (https://github.com/opencost/opencost/blob/develop/spec/"
    "opencost-specv01.md): idle = asset cost - allocated cost, a pod allocated its request. "
    "ASSUMPTION: a node's price is split half to CPU, half to memory (OpenCost splits it by "
    "its CPU and RAM rates); kube-reserved and eviction headroom are never requested, so idle"
)


def _idle(
    node: NodeAllocatable, nodes: int, nodes_usd: float, batches: Sequence[PodBatch]
) -> Figure:
    """What the pool's nodes cost for capacity no pod requested (OpenCost's idle)."""
    t = node.node
    requested_cpu = nodes * int(node.daemonset_cpu_millicores.number()) + sum(
        b.count * b.pod.cpu_millicores for b in batches
    )
    requested_memory = nodes * int(node.daemonset_memory_bytes.number()) + sum(
        b.count * b.pod.memory_bytes for b in batches
    )
    return derive(
        "idle_usd_month",
        "USD/month",
        "nodes_usd_month * (0.5 * max(0, 1 - requested_cpu_millicores / (nodes * vcpu * 1000))"
        " + 0.5 * max(0, 1 - requested_memory_bytes / (nodes * memory_bytes)))",
        {
            "nodes_usd_month": nodes_usd,
            "requested_cpu_millicores": requested_cpu,
            "requested_memory_bytes": requested_memory,
            "nodes": nodes,
            "vcpu": t.vcpu,
            "memory_bytes": t.memory_bytes,
        },
        IDLE_SOURCE,
        "part of the node terms, not added to the month: the capacity paid for that no pod "
        "(daemonsets, add-ons, workload) requests",
    )


def _nodes_usd(kind: str, nodes: Figure, price: Figure, why: str) -> Figure:
    return derive(
        kind,
        "USD/month",
        f"{nodes.kind} * node_usd_per_hour * hours_per_month",
        {
            nodes.kind: nodes.value,
            "node_usd_per_hour": price.value,
            "hours_per_month": HOURS_PER_MONTH,
        },
        price.source,
        why,
    )


def price_pool(
    node: NodeAllocatable,
    groups: Sequence[PodGroup],
    options: BuyingOptions,
    addons: Sequence[Addon] = (),
    fit: NodeFit | None = None,
) -> PoolCost:
    """A pool of one node type: its pods and add-ons placed, its spare nodes, its terms."""
    workload = [PodBatch(g.name, g.pod, g.cpu_use_cores.number(), g.count) for g in groups]
    # Add-ons are assumed to use their CPU requests: conservative, none of them is measured.
    extra = [
        PodBatch(
            a.name, PodShape(a.cpu_millicores, a.memory_bytes), a.cpu_millicores / 1000, a.replicas
        )
        for a in addons
    ]
    alone = place(node, workload, options.zones)
    placement = place(node, workload + extra, options.zones)
    workload_nodes = _workload_nodes(groups, fit, options, alone)
    addon_nodes = derive(
        "addon_nodes",
        "nodes",
        "nodes_with_addons - workload_nodes",
        {"nodes_with_addons": placement.nodes, "workload_nodes": alone.nodes},
        "; ".join(f"{a.name}: {a.source}" for a in addons) or "no add-ons",
        "add-on pods packed first-fit decreasing with the workload's; 0 when they fit in the "
        "room the workload left"
        + (f"; fit no node: {', '.join(placement.unplaceable)}" if placement.unplaceable else ""),
    )
    spare_value = options.spare_nodes if placement.nodes > 0 else 0
    spare = derive(
        "spare_nodes",
        "nodes",
        "spare_nodes",
        {"spare_nodes": spare_value},
        "--spare-nodes (N+1 by default): empty nodes that take the pods of failed ones",
    )
    total = derive(
        "nodes_needed",
        "nodes",
        "workload_nodes + addon_nodes + spare_nodes",
        {
            "workload_nodes": workload_nodes.value,
            "addon_nodes": addon_nodes.value,
            "spare_nodes": spare_value,
        },
        "the pool's nodes",
    )
    price = node_usd_per_hour(node, options)
    zones = options.zones
    per_zone = [
        placement.nodes // zones + spare_value // zones + (1 if z < spare_value % zones else 0)
        for z in range(zones)
    ]
    spread_placement = replace(
        spread(node, extra + workload, per_zone), lower_bound_nodes=placement.lower_bound_nodes
    )
    placements = {"first-fit": placement, "spread": spread_placement}
    chosen, other = options.placement, next(p for p in PLACEMENTS if p != options.placement)
    mode = options.resolved_credit_mode
    surplus, burst_usd = _burst(node, placements[chosen], chosen, mode)
    _, other_burst = _burst(node, placements[other], other, mode)
    other_burst = replace(other_burst, kind=f"{other.replace('-', '_')}_burst_usd_month")
    terms = {
        "workload_nodes_usd_month": _nodes_usd(
            "workload_nodes_usd_month", workload_nodes, price, "nodes the workload's pods need"
        ),
        "addons_usd_month": _nodes_usd(
            "addons_usd_month", addon_nodes, price, "nodes added for the cluster's add-ons"
        ),
        "spare_nodes_usd_month": _nodes_usd(
            "spare_nodes_usd_month", spare, price, "nodes held for failures"
        ),
        "burst_usd_month": burst_usd,
    }
    pool_terms = TERMS[:-1]
    node_terms = ("workload_nodes_usd_month", "addons_usd_month", "spare_nodes_usd_month")
    idle = (
        _idle(
            node,
            int(total.number()),
            sum(terms[k].number() for k in node_terms),
            [b for b in workload + extra if fits_empty(node, b.pod)],
        )
        if total.number() > 0
        else derive("idle_usd_month", "USD/month", "0", {}, IDLE_SOURCE, "no nodes")
    )
    monthly = derive(
        "pool_usd_month",
        "USD/month",
        " + ".join(pool_terms),
        {k: terms[k].value for k in pool_terms},
        f"{node.node.name} pool",
    )
    return PoolCost(
        node, tuple(groups), tuple(addons), placements[chosen], workload_nodes, addon_nodes,
        spare, total, price, surplus, terms, monthly, chosen, placements[other], other_burst,
        idle,
    )  # fmt: skip


def _summed(kind: str, figures: Sequence[Figure]) -> Figure:
    if len(figures) == 1:
        return figures[0]
    return derive(
        kind,
        "USD/month",
        "sum(per_pool)",
        {"per_pool": [f.number() for f in figures]},
        "the pools' terms",
    )


def _survives(pools: Sequence[PoolCost], options: BuyingOptions) -> str:
    if options.spare_nodes == 0:
        return "no spare node: losing any node leaves its pods pending (below the target load)"
    text = (
        f"survives the loss of any {options.spare_nodes} node(s) per pool: the spare nodes "
        "take their pods"
    )
    if options.zones > 1:
        per_zone = max(int(p.nodes_total.number()) // options.zones for p in pools)
        covered = options.spare_nodes >= per_zone
        text += f"; {options.zones} zones, a zone outage ({per_zone} node(s)) is " + (
            "covered" if covered else "not covered (raise --spare-nodes to cover it)"
        )
    return text


def price_cluster(
    pools: Sequence[tuple[NodeAllocatable, Sequence[PodGroup]]],
    options: BuyingOptions,
    fit: NodeFit | None = None,
) -> ClusterCost:
    """The month of a cluster: pools of node types, add-ons in the first, one control plane
    per provider. `fit` lets a one-workload pool state its nodes in closed form."""
    if not pools:
        raise ConfigError("a cluster needs at least one node pool")
    priced = []
    for i, (node, groups) in enumerate(pools):
        addons = options.addons(node.node.provider) if i == 0 else ()
        priced.append(price_pool(node, groups, options, addons, fit if i == 0 else None))
    providers = {p.node.node.provider.key: p.node.node.provider for p in priced}
    terms = {k: _summed(k, [p.terms[k] for p in priced]) for k in TERMS[:-1]}
    terms["control_plane_usd_month"] = _summed(
        "control_plane_usd_month", [control_plane_usd_month(p, options) for p in providers.values()]
    )
    monthly = derive(
        "monthly_usd",
        "USD/month",
        MONTHLY_FORMULA,
        {k: terms[k].value for k in TERMS},
        "the sum of the month's terms",
    )
    other = priced[0].alternative_placement_name
    other_kind = f"{other.replace('-', '_')}_burst_usd_month"
    other_burst = [p.alternative_burst_usd_month for p in priced]
    alternative = derive(
        "alternative_monthly_usd",
        "USD/month",
        f"monthly_usd - burst_usd_month + {other_kind}",
        {
            "monthly_usd": monthly.value,
            "burst_usd_month": terms["burst_usd_month"].value,
            other_kind: sum(f.number() for f in other_burst if f is not None),
        },
        SPREAD_SOURCE if other == "spread" else FIRST_FIT_SOURCE,
        f"the same nodes with the pods placed {other} (burst is the only term that moves)",
    )
    idle = _summed("idle_usd_month", [p.idle_usd_month for p in priced if p.idle_usd_month])
    return ClusterCost(
        tuple(priced), terms, monthly, _survives(priced, options), options, alternative, idle
    )


# ---- the report's question: one workload at a target load ----------------------------------


@dataclass(frozen=True)
class CostEstimate:
    fit: NodeFit
    target_rps: float
    pods_needed: Figure
    nodes_needed: Figure
    monthly_usd: Figure  # the sum of the TERMS
    usd_per_million_requests: Figure
    cluster: ClusterCost | None = None
    pod_cpu_use_cores: Figure | None = None
    control_plane_usd_per_million_requests: Figure | None = None
    pod_idle_cpu_cores: Figure | None = None
    usd_per_requested_vcpu_hour: Figure | None = None
    credit_mode: str | None = None  # burstable nodes only: standard or unlimited
    baseline_sustainable_rps: Figure | None = None  # standard mode: the load at baseline
    arch_caveat: str | None = None  # ARM nodes: what their CPU per request rests on

    @property
    def node_type(self) -> str:
        return self.fit.node.node.name

    def term(self, kind: str) -> Figure | None:
        return None if self.cluster is None else self.cluster.terms[kind]


def _per_million(kind: str, monthly: Figure, target_rps: float) -> Figure:
    if target_rps <= 0:
        return Figure.undefined(kind, "USD", "a target of 0 req/s serves no requests")
    return derive(
        kind,
        "USD",
        f"{monthly.kind} / (target_rps * 3600 * hours_per_month / 1000000)",
        {monthly.kind: monthly.value, "target_rps": target_rps, "hours_per_month": HOURS_PER_MONTH},
        "the month's cost spread over the requests served at the target rate",
    )


def estimate_cost(
    capacity_per_pod_rps: float,
    fit: NodeFit,
    target_rps: float,
    headroom: float,
    cpu_seconds_per_request: float | None = None,
    *,
    idle_cpu_cores: float | Figure = 0.0,
    options: BuyingOptions | None = None,
    arm_factor: float | None = None,
) -> CostEstimate:
    """`idle_cpu_cores`: a pod's CPU with no traffic; pass the figure (idle_cpu_cores()) to
    have its derivation published with the estimate."""
    idle = idle_cpu_cores.number() if isinstance(idle_cpu_cores, Figure) else idle_cpu_cores
    opts = options or BuyingOptions()
    check_headroom(headroom)
    if target_rps < 0:
        raise ConfigError(f"target load {target_rps!r} req/s must not be negative")
    if capacity_per_pod_rps <= 0:
        raise ConfigError(f"capacity per pod {capacity_per_pod_rps!r} req/s must be positive")
    node = fit.node.node
    check_arm_factor(arm_factor)
    caveat = arch_caveat(node, arm_factor)
    if node.arch == "arm64" and arm_factor is not None:
        # The CPU a request costs scales by the factor; for the CPU-bound pod the capacity at
        # the SLO scales inversely (the pod's CPU limit is what runs out).
        capacity_per_pod_rps /= arm_factor
        idle *= arm_factor
        if cpu_seconds_per_request is not None:
            cpu_seconds_per_request *= arm_factor
    pods = pods_for_load_figure(
        "pods_needed",
        target_rps,
        capacity_per_pod_rps,
        headroom,
        "capacity at SLO (measured) with the stated headroom"
        + (f"; {caveat}" if caveat and arm_factor is not None else ""),
    )
    pods_value = int(pods.number())
    if fit.pods_per_node.number() <= 0:
        reason = f"no pod of {fit.pod} fits on {node.name} (binding: {', '.join(fit.binding)})"
        return CostEstimate(
            fit, target_rps, pods,
            Figure.undefined("nodes_needed", "nodes", reason),
            Figure.undefined("monthly_usd", "USD/month", reason),
            Figure.undefined("usd_per_million_requests", "USD", reason),
        )  # fmt: skip
    use = pod_cpu_use(
        fit.pod,
        target_rps / pods_value if pods_value else None,
        cpu_seconds_per_request,
        idle,
    )
    cluster = price_cluster(
        [(fit.node, [PodGroup("workload", fit.pod, pods_value, use)])], opts, fit
    )
    pool = cluster.pools[0]
    mode = opts.resolved_credit_mode if node.burstable is not None else None
    return CostEstimate(
        fit,
        target_rps,
        pods,
        pool.nodes_total,
        cluster.monthly_usd,
        _per_million("usd_per_million_requests", cluster.monthly_usd, target_rps),
        cluster,
        use,
        _per_million(
            "control_plane_usd_per_million_requests",
            cluster.terms["control_plane_usd_month"],
            target_rps,
        ),
        idle_cpu_cores if isinstance(idle_cpu_cores, Figure) else None,
        derive(
            "usd_per_requested_vcpu_hour",
            "USD/vCPU-hour",
            "monthly_usd / (pods_needed * pod_cpu_millicores / 1000 * hours_per_month)",
            {
                "monthly_usd": cluster.monthly_usd.value,
                "pods_needed": pods_value,
                "pod_cpu_millicores": fit.pod.cpu_millicores,
                "hours_per_month": HOURS_PER_MONTH,
            },
            "the month over the vCPU-hours the workload requests (OpenCost's cost per "
            "requested CPU, the whole month charged to the workload)",
        )
        if pods_value > 0 and fit.pod.cpu_millicores > 0
        else None,
        mode,
        None
        if mode != "standard"
        else baseline_sustainable_rps(
            pool, target_rps, use.number(), idle, cpu_seconds_per_request
        ),
        caveat,
    )


def baseline_sustainable_rps(
    pool: PoolCost,
    target_rps: float,
    use_cores: float,
    idle_cores: float,
    cpu_seconds_per_request: float | None,
) -> Figure:
    """The load the pods sustain when every node runs at its baseline (standard credit mode,
    credits spent), each pod serving what its node's baseline leaves it."""
    kind, unit = "baseline_sustainable_rps", "req/s"
    burst = pool.node.node.burstable
    assert burst is not None
    if not cpu_seconds_per_request:
        return Figure.undefined(
            kind, unit, "no measured CPU per request: the pods' rate at baseline is unknown"
        )
    baseline = burst.baseline_per_vcpu * pool.node.node.vcpu
    per_node = []
    for c in pool.placement.contents:
        n = sum(count for name, count in c.pods if name == "workload")
        if n == 0:
            continue
        addon_cores = max(0.0, c.cpu_use_cores - n * use_cores)
        per_node.append(
            derive(
                "baseline_rps_per_node_group",
                unit,
                "nodes * node_pods * max(0, (baseline_per_vcpu * vcpu - addon_cpu_cores"
                " - node_pods * idle_cpu_cores) / (node_pods * cpu_seconds_per_request))",
                {
                    "nodes": c.nodes,
                    "node_pods": n,
                    "baseline_per_vcpu": burst.baseline_per_vcpu,
                    "vcpu": pool.node.node.vcpu,
                    "addon_cpu_cores": addon_cores,
                    "idle_cpu_cores": idle_cores,
                    "cpu_seconds_per_request": cpu_seconds_per_request,
                },
                burst.source,
                "nodes holding " + ", ".join(f"{k} x {name}" for name, k in c.pods),
            )
        )
    if not per_node:
        return Figure.undefined(kind, unit, "no workload pod was placed")
    return derive(
        kind,
        unit,
        "min(target_rps, sum(baseline_rps_per_node_group))",
        {
            "target_rps": target_rps,
            "baseline_rps_per_node_group": [f.number() for f in per_node],
        },
        f"{burst.source}; {CREDIT_MODE_SOURCE}",
        f"each node at its baseline ({baseline:g} vCPU): the add-ons' share first (at their "
        "requests: conservative, they are not measured), then the workload pods' idle use; "
        "the rest serves requests at the measured CPU per request. A balancer that sends "
        f"each pod the same load does worse. Pods placed {pool.placement_name}",
    )


def cheapest(estimates: Sequence[CostEstimate]) -> CostEstimate | None:
    """Lowest monthly cost; ties go to the cheaper node per hour, then to the name."""
    priced = [e for e in estimates if e.monthly_usd.defined]
    if not priced:
        return None
    return min(
        priced,
        key=lambda e: (e.monthly_usd.number(), e.fit.node.node.usd_per_hour, e.node_type),
    )
