"""Nodes and money for a target load: pods needed, nodes needed, monthly cost, cost per 1M.

pods = ceil(target / (capacity per pod x (1 - headroom))): headroom is the share of each pod's
measured capacity held back for spikes and lost pods. nodes = ceil(pods / pods per node).
A month is 730 hours, the figure the providers' calculators use. On a burstable node (T3)
the CPU the pods use above the node's baseline is billed as surplus vCPU-hours (Unlimited
mode, the default): the load's CPU is target x CPU-seconds per request when measured, else
the pods' CPU requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from capacity.errors import ConfigError
from capacity.model import rounding
from capacity.model.derivation import Figure
from capacity.model.fit import NodeFit

HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class CostEstimate:
    fit: NodeFit
    target_rps: float
    pods_needed: Figure
    nodes_needed: Figure
    monthly_usd: Figure  # includes burst surplus on burstable nodes
    usd_per_million_requests: Figure
    burst_surplus_vcpu_per_node: Figure | None = None

    @property
    def node_type(self) -> str:
        return self.fit.node.node.name


def check_headroom(headroom: float) -> None:
    if not 0 <= headroom < 1:
        raise ConfigError(f"headroom {headroom!r} must be a fraction in [0, 1), e.g. 0.2")


def _burst_surplus(
    fit: NodeFit, target_rps: float, pods: int, nodes: int, cpu_seconds_per_request: float | None
) -> Figure | None:
    node = fit.node.node
    burst = node.burstable
    if burst is None or nodes == 0:
        return None
    baseline = burst.baseline_per_vcpu * node.vcpu
    if cpu_seconds_per_request is not None:
        load = target_rps * cpu_seconds_per_request
        return Figure(
            "burst_surplus_vcpu_per_node",
            max(0.0, load / nodes - baseline),
            "vCPU",
            "max(0, target_rps * cpu_seconds_per_request / nodes_needed"
            " - baseline_per_vcpu * vcpu)",
            {
                "target_rps": target_rps,
                "cpu_seconds_per_request": cpu_seconds_per_request,
                "nodes_needed": nodes,
                "baseline_per_vcpu": burst.baseline_per_vcpu,
                "vcpu": node.vcpu,
            },
            burst.source,
            "average CPU the load puts on each node above the burstable baseline",
        )
    return Figure(
        "burst_surplus_vcpu_per_node",
        max(0.0, pods * fit.pod.cpu_millicores / 1000 / nodes - baseline),
        "vCPU",
        "max(0, pods_needed * pod_cpu_millicores / 1000 / nodes_needed - baseline_per_vcpu * vcpu)",
        {
            "pods_needed": pods,
            "pod_cpu_millicores": fit.pod.cpu_millicores,
            "nodes_needed": nodes,
            "baseline_per_vcpu": burst.baseline_per_vcpu,
            "vcpu": node.vcpu,
        },
        burst.source,
        "no measured CPU per request: assumes the pods use their CPU requests",
    )


PODS_FOR_LOAD_FORMULA = (
    "max(ceil(target_rps / (capacity_per_pod_rps * (1 - headroom))), target_rps > 0)"
)


def pods_for_load(target_rps: float, capacity_per_pod_rps: float, headroom: float) -> int:
    """Pods that serve `target_rps` with `headroom` held back (PODS_FOR_LOAD_FORMULA)."""
    # Any positive load needs a pod, even one so small that the division underflows.
    pods = rounding.ceil(target_rps / (capacity_per_pod_rps * (1 - headroom)))
    return max(pods, int(target_rps > 0))


def estimate_cost(
    capacity_per_pod_rps: float,
    fit: NodeFit,
    target_rps: float,
    headroom: float,
    cpu_seconds_per_request: float | None = None,
) -> CostEstimate:
    check_headroom(headroom)
    if target_rps < 0:
        raise ConfigError(f"target load {target_rps!r} req/s must not be negative")
    if capacity_per_pod_rps <= 0:
        raise ConfigError(f"capacity per pod {capacity_per_pod_rps!r} req/s must be positive")
    node = fit.node.node
    per_pod = fit.pods_per_node.number()
    pods_value = pods_for_load(target_rps, capacity_per_pod_rps, headroom)
    pods = Figure(
        "pods_needed",
        pods_value,
        "pods",
        PODS_FOR_LOAD_FORMULA,
        {
            "target_rps": target_rps,
            "capacity_per_pod_rps": capacity_per_pod_rps,
            "headroom": headroom,
        },
        "capacity at SLO (measured) with the stated headroom",
    )
    if per_pod <= 0:
        reason = f"no pod of {fit.pod} fits on {node.name} (binding: {', '.join(fit.binding)})"
        nodes = Figure.undefined("nodes_needed", "nodes", reason)
        monthly = Figure.undefined("monthly_usd", "USD/month", reason)
        per_million = Figure.undefined("usd_per_million_requests", "USD", reason)
        return CostEstimate(fit, target_rps, pods, nodes, monthly, per_million)
    nodes_value = rounding.ceil(pods_value / per_pod)
    nodes = Figure(
        "nodes_needed",
        nodes_value,
        "nodes",
        "ceil(pods_needed / pods_per_node)",
        {"pods_needed": pods_value, "pods_per_node": int(per_pod)},
        "identical pods spread over identical nodes",
    )
    surplus = _burst_surplus(fit, target_rps, pods_value, nodes_value, cpu_seconds_per_request)
    if surplus is None or node.burstable is None:
        monthly_value = nodes_value * node.usd_per_hour * HOURS_PER_MONTH
        monthly = Figure(
            "monthly_usd",
            monthly_value,
            "USD/month",
            "nodes_needed * usd_per_hour * hours_per_month",
            {
                "nodes_needed": nodes_value,
                "usd_per_hour": node.usd_per_hour,
                "hours_per_month": HOURS_PER_MONTH,
            },
            node.price_source,
        )
    else:
        rate = node.burstable.surplus_usd_per_vcpu_hour
        monthly_value = (
            nodes_value * (node.usd_per_hour + surplus.number() * rate) * HOURS_PER_MONTH
        )
        monthly = Figure(
            "monthly_usd",
            monthly_value,
            "USD/month",
            "nodes_needed * (usd_per_hour + burst_surplus_vcpu_per_node"
            " * surplus_usd_per_vcpu_hour) * hours_per_month",
            {
                "nodes_needed": nodes_value,
                "usd_per_hour": node.usd_per_hour,
                "burst_surplus_vcpu_per_node": surplus.number(),
                "surplus_usd_per_vcpu_hour": rate,
                "hours_per_month": HOURS_PER_MONTH,
            },
            f"{node.price_source}; {node.burstable.source}",
            "a burstable node: sustained CPU above its baseline is billed as surplus",
        )
    if target_rps > 0:
        per_million = Figure(
            "usd_per_million_requests",
            monthly_value / (target_rps * 3600 * HOURS_PER_MONTH / 1e6),
            "USD",
            "monthly_usd / (target_rps * 3600 * hours_per_month / 1000000)",
            {
                "monthly_usd": monthly_value,
                "target_rps": target_rps,
                "hours_per_month": HOURS_PER_MONTH,
            },
            "the month's cost spread over the requests served at the target rate",
        )
    else:
        per_million = Figure.undefined(
            "usd_per_million_requests", "USD", "a target of 0 req/s serves no requests"
        )
    return CostEstimate(fit, target_rps, pods, nodes, monthly, per_million, surplus)


def cheapest(estimates: Sequence[CostEstimate]) -> CostEstimate | None:
    """Lowest monthly cost; ties go to the cheaper node per hour, then to the name."""
    priced = [e for e in estimates if e.monthly_usd.defined]
    if not priced:
        return None
    return min(
        priced,
        key=lambda e: (e.monthly_usd.number(), e.fit.node.node.usd_per_hour, e.node_type),
    )
