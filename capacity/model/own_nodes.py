"""Sizing with the user's own nodes: pods per node, nodes needed and cost for "this cluster".

The catalog's rows derive allocatable from each provider's reservation formula; here the kubelet
has already done that, so allocatable, max pods and the daemonsets' requests are the values read
from the API (capacity/target/k8s/nodes.py). Nodes are grouped by instance type and shape,
then the catalog's own fit (capacity/model/fit.py) and pods-for-load (cost.py) functions apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from capacity.catalog import Catalog, MemoryCapacityRule, NodeType, Provider
from capacity.errors import ConfigError
from capacity.model import rounding
from capacity.model.allocatable import NodeAllocatable
from capacity.model.cost import HOURS_PER_MONTH, pods_for_load
from capacity.model.derivation import Figure, derive
from capacity.model.fit import NodeFit, PodShape, pods_per_node

API_SOURCE = "read from the Kubernetes API (node status, daemonset pods' requests)"


# Where a cluster run writes the nodes it read (a list of ClusterNode as JSON), beside its report.
CLUSTER_NODES_FILE = "cluster-nodes.json"


@dataclass(frozen=True)
class ClusterNode:
    """One node as the API reports it."""

    name: str
    instance_type: str | None
    zone: str | None
    capacity_cpu_millicores: int
    capacity_memory_bytes: int
    allocatable_cpu_millicores: int
    allocatable_memory_bytes: int
    max_pods: int
    daemonset_pods: int
    daemonset_cpu_millicores: int
    daemonset_memory_bytes: int
    schedulable: bool = True


@dataclass(frozen=True)
class ClusterRow:
    """One group of alike nodes in "this cluster"."""

    instance_type: str  # "(unlabelled)" when the node has no instance-type label
    nodes: int  # how many such nodes the cluster has now (schedulable ones)
    zones: tuple[str, ...]
    fit: NodeFit  # pods per node, binding constraint (scheduler arithmetic)
    pods_needed: int
    nodes_needed: int | None  # None: not even one pod fits on this node shape
    usd_per_hour: float | None  # None: the instance type is not in the catalog
    monthly_usd: float | None  # nodes_needed x price x hours per month


def _cluster_provider() -> Provider:
    # NodeAllocatable needs a NodeType; the reservation fields are unused for measured nodes.
    return Provider(
        key="cluster",
        service="this cluster",
        region="",
        reservation="eks",
        max_pods=None,
        max_pods_source=API_SOURCE,
        memory_capacity=MemoryCapacityRule("fraction", 0.0, API_SOURCE),
        daemonsets=(),
    )


def _figure(kind: str, value: int, unit: str) -> Figure:
    """A value the API reports, as a figure: its own input."""
    return derive(kind, unit, kind, {kind: value}, API_SOURCE)


def _reserved(resource: str, unit: str, capacity: int, allocatable: int) -> Figure:
    """What the kubelet holds back: kube- and system-reserved and eviction, together."""
    return derive(
        f"kube_reserved_{resource}",
        unit,
        f"capacity_{resource} - allocatable_{resource}",
        {f"capacity_{resource}": capacity, f"allocatable_{resource}": allocatable},
        API_SOURCE,
        "the node's capacity less its allocatable (all the kubelet holds back)",
    )


def measured_allocatable(node: ClusterNode, node_type: NodeType | None) -> NodeAllocatable:
    """A NodeAllocatable whose figures are the API's values (so fit.py's rule applies as is)."""
    nt = node_type or NodeType(
        name=node.instance_type or "(unlabelled)",
        provider=_cluster_provider(),
        vcpu=rounding.ceil(node.capacity_cpu_millicores / 1000),
        memory_bytes=node.capacity_memory_bytes,
        usd_per_hour=0.0,
        price_url="",
        price_as_of=date(1970, 1, 1),
    )
    return NodeAllocatable(
        node=nt,
        max_pods=_figure("max_pods", node.max_pods, "pods"),
        memory_capacity_bytes=_figure("memory_capacity_bytes", node.capacity_memory_bytes, "bytes"),
        kube_reserved_cpu_millicores=_reserved(
            "cpu_millicores",
            "millicores",
            node.capacity_cpu_millicores,
            node.allocatable_cpu_millicores,
        ),
        kube_reserved_memory_bytes=_reserved(
            "memory_bytes",
            "bytes",
            node.capacity_memory_bytes,
            node.allocatable_memory_bytes,
        ),
        eviction_memory_bytes=derive(
            "eviction_memory_bytes",
            "bytes",
            "0",
            {},
            API_SOURCE,
            "counted in kube_reserved_memory_bytes: the API reports allocatable net of it",
        ),
        allocatable_cpu_millicores=_figure(
            "allocatable_cpu_millicores", node.allocatable_cpu_millicores, "millicores"
        ),
        allocatable_memory_bytes=_figure(
            "allocatable_memory_bytes", node.allocatable_memory_bytes, "bytes"
        ),
        daemonset_cpu_millicores=_figure(
            "daemonset_cpu_millicores", node.daemonset_cpu_millicores, "millicores"
        ),
        daemonset_memory_bytes=_figure(
            "daemonset_memory_bytes", node.daemonset_memory_bytes, "bytes"
        ),
        daemonset_pods=_figure("daemonset_pods", node.daemonset_pods, "pods"),
        usd_per_hour=derive(
            "usd_per_hour",
            "USD/h",
            "usd_per_hour",
            {"usd_per_hour": nt.usd_per_hour},
            nt.price_source if node_type else "not in the catalog: no price known (0)",
        ),
    )


def _shape_key(n: ClusterNode) -> tuple[object, ...]:
    return (
        n.instance_type,
        n.allocatable_cpu_millicores,
        n.allocatable_memory_bytes,
        n.max_pods,
        n.daemonset_pods,
        n.daemonset_cpu_millicores,
        n.daemonset_memory_bytes,
    )


def size_cluster(
    nodes: Sequence[ClusterNode],
    pod: PodShape,
    *,
    capacity_per_pod_rps: float,
    target_rps: float,
    headroom: float,
    catalog: Catalog | None = None,
) -> list[ClusterRow]:
    """One row per group of alike schedulable nodes: pods per node, nodes needed, cost.

    Nodes whose daemonsets differ are separate rows, since their free room differs.
    """
    if capacity_per_pod_rps <= 0:
        raise ConfigError(
            f"capacity_per_pod_rps must be positive to size a cluster, got {capacity_per_pod_rps}"
        )
    pods_needed = pods_for_load(target_rps, capacity_per_pod_rps, headroom)
    groups: dict[tuple[object, ...], list[ClusterNode]] = {}
    for n in nodes:
        if n.schedulable:
            groups.setdefault(_shape_key(n), []).append(n)
    known = {nt.name: nt for nt in catalog.node_types} if catalog else {}
    rows = []
    for members in groups.values():
        first = members[0]
        node_type = known.get(first.instance_type or "")
        fit = pods_per_node(measured_allocatable(first, node_type), pod)
        per_node = int(fit.pods_per_node.number())
        needed = rounding.ceil(pods_needed / per_node) if per_node > 0 else None
        price = node_type.usd_per_hour if node_type else None
        rows.append(
            ClusterRow(
                instance_type=first.instance_type or "(unlabelled)",
                nodes=len(members),
                zones=tuple(sorted({m.zone for m in members if m.zone})),
                fit=fit,
                pods_needed=pods_needed,
                nodes_needed=needed,
                usd_per_hour=price,
                monthly_usd=(
                    round(needed * price * HOURS_PER_MONTH, 2)
                    if needed is not None and price is not None
                    else None
                ),
            )
        )
    return rows
