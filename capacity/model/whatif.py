"""What-if planning: several workloads packed onto a node type, or a mix of node pools.

Each workload is a pod shape and either a replica count or a target load with a measured
capacity per pod. Workloads pinned to a node type get their own pool (that is the "mix");
the rest share the candidate node type, and every candidate is tried so the cheapest plan can
be named. Pods are placed first-fit decreasing under the NodeResourcesFit rule, the way a
scheduler filling one node before opening the next would; the lower bound (total requests /
allocatable) is reported beside it so the packing's waste is visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from capacity.errors import ConfigError
from capacity.model import rounding
from capacity.model.allocatable import NodeAllocatable
from capacity.model.cost import (
    HOURS_PER_MONTH,
    PODS_FOR_LOAD_FORMULA,
    check_headroom,
    pods_for_load,
)
from capacity.model.derivation import Figure
from capacity.model.fit import PodShape


@dataclass(frozen=True)
class Workload:
    name: str
    pod: PodShape
    replicas: int | None = None
    target_rps: float | None = None
    capacity_per_pod_rps: float | None = None
    headroom: float = 0.0
    node_type: str | None = None  # pin to its own pool of this node type

    def pods(self) -> Figure:
        if self.replicas is not None:
            if self.target_rps is not None:
                raise ConfigError(f"workload {self.name!r}: give replicas or target_rps, not both")
            if self.replicas < 0:
                raise ConfigError(f"workload {self.name!r}: replicas {self.replicas} < 0")
            return Figure(
                "replicas", self.replicas, "pods", "replicas", {"replicas": self.replicas}, "given"
            )
        if self.target_rps is None or not self.capacity_per_pod_rps:
            raise ConfigError(
                f"workload {self.name!r}: needs replicas, or target_rps with capacity_per_pod_rps"
            )
        check_headroom(self.headroom)
        value = pods_for_load(self.target_rps, self.capacity_per_pod_rps, self.headroom)
        return Figure(
            "replicas",
            value,
            "pods",
            PODS_FOR_LOAD_FORMULA,
            {
                "target_rps": self.target_rps,
                "capacity_per_pod_rps": self.capacity_per_pod_rps,
                "headroom": self.headroom,
            },
            "given target load and measured capacity per pod",
        )


@dataclass(frozen=True)
class Pool:
    node: NodeAllocatable
    nodes: int
    pods: tuple[tuple[str, int], ...]  # workload name -> pods placed in this pool
    lower_bound_nodes: int
    monthly_usd: Figure


@dataclass(frozen=True)
class PlanOption:
    candidate: str  # the node type the unpinned workloads use
    pools: tuple[Pool, ...]
    unplaceable: tuple[str, ...]  # workloads whose pod fits no empty node of its pool

    @property
    def total_nodes(self) -> int:
        return sum(p.nodes for p in self.pools)

    @property
    def monthly_usd(self) -> float:
        return sum(p.monthly_usd.number() for p in self.pools)

    @property
    def feasible(self) -> bool:
        return not self.unplaceable


@dataclass(frozen=True)
class WhatIfPlan:
    replicas: tuple[tuple[Workload, Figure], ...]
    options: tuple[PlanOption, ...]  # cheapest feasible first

    @property
    def cheapest(self) -> PlanOption | None:
        feasible = [o for o in self.options if o.feasible]
        return feasible[0] if feasible else None


def _fits_empty(node: NodeAllocatable, pod: PodShape) -> bool:
    return (
        pod.cpu_millicores <= node.free_cpu_millicores
        and pod.memory_bytes <= node.free_memory_bytes
        and node.free_pod_slots >= 1
    )


def pack(node: NodeAllocatable, pods: Sequence[tuple[str, PodShape]]) -> tuple[int, int]:
    """First-fit decreasing; returns (nodes used, lower bound). Pods must each fit one node."""
    cpu_free, mem_free, slots = (
        node.free_cpu_millicores,
        node.free_memory_bytes,
        node.free_pod_slots,
    )
    if not pods:
        return 0, 0

    def share(pod: PodShape) -> float:
        return max(pod.cpu_millicores / max(cpu_free, 1), pod.memory_bytes / max(mem_free, 1))

    bins: list[list[int]] = []  # [cpu used, memory used, pods]
    for _, pod in sorted(pods, key=lambda item: share(item[1]), reverse=True):
        for used in bins:
            if (
                used[0] + pod.cpu_millicores <= cpu_free
                and used[1] + pod.memory_bytes <= mem_free
                and used[2] + 1 <= slots
            ):
                used[0] += pod.cpu_millicores
                used[1] += pod.memory_bytes
                used[2] += 1
                break
        else:
            bins.append([pod.cpu_millicores, pod.memory_bytes, 1])
    total_cpu = sum(p.cpu_millicores for _, p in pods)
    total_mem = sum(p.memory_bytes for _, p in pods)
    bound = max(
        rounding.ceil(total_cpu / cpu_free) if cpu_free > 0 else 0,
        rounding.ceil(total_mem / mem_free) if mem_free > 0 else 0,
        rounding.ceil(len(pods) / slots),
    )
    return len(bins), bound


def _pool(node: NodeAllocatable, members: Sequence[tuple[Workload, int]]) -> Pool:
    pods = [(w.name, w.pod) for w, count in members for _ in range(count)]
    used, bound = pack(node, pods)
    monthly = Figure(
        "monthly_usd",
        used * node.node.usd_per_hour * HOURS_PER_MONTH,
        "USD/month",
        "nodes_needed * usd_per_hour * hours_per_month",
        {
            "nodes_needed": used,
            "usd_per_hour": node.node.usd_per_hour,
            "hours_per_month": HOURS_PER_MONTH,
        },
        node.node.price_source,
        f"{len(pods)} pods first-fit decreasing onto {node.node.name}; lower bound {bound} nodes",
    )
    return Pool(node, used, tuple((w.name, c) for w, c in members), bound, monthly)


def plan_workloads(
    workloads: Sequence[Workload],
    candidates: Sequence[NodeAllocatable],
    pinned: Sequence[NodeAllocatable] = (),
) -> WhatIfPlan:
    """Try every candidate node type for the unpinned workloads; pinned ones keep their pool."""
    if not workloads:
        raise ConfigError("a what-if plan needs at least one workload")
    names = [w.name for w in workloads]
    if len(set(names)) != len(names):
        raise ConfigError(f"workload names must be unique, got {names}")
    by_name = {n.node.name: n for n in [*candidates, *pinned]}
    counted = tuple((w, w.pods()) for w in workloads)
    for w, _ in counted:
        if w.node_type is not None and w.node_type not in by_name:
            raise ConfigError(f"workload {w.name!r} is pinned to {w.node_type!r}, not given")
    if not candidates and any(w.node_type is None for w in workloads):
        raise ConfigError("no candidate node type for the workloads without a node_type")
    options = []
    choices: list[NodeAllocatable | None] = [*candidates] or [None]  # None: pinned pools only
    for candidate in choices:
        groups: dict[str, list[tuple[Workload, int]]] = {}
        for w, count in counted:
            key = w.node_type or (candidate.node.name if candidate else "")
            groups.setdefault(key, []).append((w, int(count.number())))
        unplaceable = tuple(
            w.name
            for key, members in groups.items()
            for w, _ in members
            if not _fits_empty(by_name[key], w.pod)
        )
        pools = tuple(
            _pool(by_name[key], [(w, c) for w, c in members if w.name not in unplaceable])
            for key, members in groups.items()
        )
        options.append(PlanOption(candidate.node.name if candidate else "", pools, unplaceable))
    options.sort(key=lambda o: (not o.feasible, o.monthly_usd, o.candidate))
    return WhatIfPlan(counted, tuple(options))
