"""What-if planning: several workloads packed onto a node type, or a mix of node pools.

Each workload is a pod shape and either a replica count or a target load with a measured
capacity per pod (and, when measured, its CPU line: idle + CPU-seconds per request). Workloads
pinned to a node type get their own pool (that is the "mix"); the rest share the candidate node
type, and every candidate is tried so the cheapest plan can be named. Pricing is the report's
own cost model (capacity.model.cost.price_cluster): the same placement, spare nodes, add-ons,
burst and control-plane terms, so the two agree to the cent on the same input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from capacity.errors import ConfigError
from capacity.model.allocatable import NodeAllocatable
from capacity.model.cost import (
    BuyingOptions,
    ClusterCost,
    PodGroup,
    arch_caveat,
    check_arm_factor,
    check_headroom,
    pod_cpu_use,
    pods_for_load_figure,
    price_cluster,
)
from capacity.model.derivation import Figure, derive
from capacity.model.fit import PodShape
from capacity.model.placement import fits_empty


@dataclass(frozen=True)
class Workload:
    name: str
    pod: PodShape
    replicas: int | None = None
    target_rps: float | None = None
    capacity_per_pod_rps: float | None = None
    headroom: float = 0.0
    node_type: str | None = None  # pin to its own pool of this node type
    cpu_seconds_per_request: float | None = None  # measured CPU line; else pods use requests
    idle_cpu_cores: float = 0.0

    def on_arm(self, arm_factor: float | None) -> Workload:
        """The workload on an ARM node: its measured CPU line scaled by the ARM/amd64 factor
        (capacity per pod inversely); unchanged without a factor."""
        if arm_factor is None or arm_factor == 1:
            return self
        return replace(
            self,
            capacity_per_pod_rps=None
            if self.capacity_per_pod_rps is None
            else self.capacity_per_pod_rps / arm_factor,
            cpu_seconds_per_request=None
            if self.cpu_seconds_per_request is None
            else self.cpu_seconds_per_request * arm_factor,
            idle_cpu_cores=self.idle_cpu_cores * arm_factor,
        )

    def cpu_use(self, pods: int) -> Figure:
        """Cores one pod uses when `pods` pods share the workload's target load."""
        rps = self.target_rps / pods if self.target_rps is not None and pods else None
        return pod_cpu_use(self.pod, rps, self.cpu_seconds_per_request, self.idle_cpu_cores)

    def pods(self) -> Figure:
        if self.replicas is not None:
            if self.target_rps is not None:
                raise ConfigError(f"workload {self.name!r}: give replicas or target_rps, not both")
            if self.replicas < 0:
                raise ConfigError(f"workload {self.name!r}: replicas {self.replicas} < 0")
            return derive("replicas", "pods", "replicas", {"replicas": self.replicas}, "given")
        if self.target_rps is None or not self.capacity_per_pod_rps:
            raise ConfigError(
                f"workload {self.name!r}: needs replicas, or target_rps with capacity_per_pod_rps"
            )
        check_headroom(self.headroom)
        return pods_for_load_figure(
            "replicas",
            self.target_rps,
            self.capacity_per_pod_rps,
            self.headroom,
            "given target load and measured capacity per pod",
        )


@dataclass(frozen=True)
class PlanOption:
    candidate: str  # the node type the unpinned workloads use
    cost: ClusterCost
    unplaceable: tuple[str, ...]  # workloads whose pod fits no empty node of its pool
    caveats: tuple[str, ...] = ()  # ARM pools: what their CPU per request rests on

    @property
    def pools(self) -> tuple[object, ...]:
        return self.cost.pools

    @property
    def total_nodes(self) -> int:
        return self.cost.total_nodes

    @property
    def monthly_usd(self) -> float:
        return self.cost.monthly_usd.number()

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


def plan_workloads(
    workloads: Sequence[Workload],
    candidates: Sequence[NodeAllocatable],
    pinned: Sequence[NodeAllocatable] = (),
    options: BuyingOptions | None = None,
    arm_factor: float | None = None,
) -> WhatIfPlan:
    """Try every candidate node type for the unpinned workloads; pinned ones keep their pool.
    `arm_factor`: a measured ARM/amd64 CPU-per-request ratio applied on arm64 pools."""
    opts = options or BuyingOptions()
    check_arm_factor(arm_factor)
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
    plans = []
    choices: list[NodeAllocatable | None] = [*candidates] or [None]  # None: pinned pools only
    for candidate in choices:
        groups: dict[str, list[tuple[Workload, int]]] = {}
        if candidate is not None:
            groups[candidate.node.name] = []  # the candidate's pool first: it hosts the add-ons
        for w, count in counted:
            key = w.node_type or (candidate.node.name if candidate else "")
            if by_name[key].node.arch == "arm64" and arm_factor not in (None, 1):
                w = w.on_arm(arm_factor)  # the workload as it runs there
                count = w.pods()
            groups.setdefault(key, []).append((w, int(count.number())))
        unplaceable = tuple(
            w.name
            for key, members in groups.items()
            for w, _ in members
            if not fits_empty(by_name[key], w.pod)
        )
        pools = [
            (
                by_name[key],
                [
                    PodGroup(w.name, w.pod, c, w.cpu_use(c))
                    for w, c in members
                    if w.name not in unplaceable
                ],
            )
            for key, members in groups.items()
            if members or key == (candidate.node.name if candidate else None)
        ]
        cost = price_cluster(pools, opts)
        caveats = tuple(
            c for key in groups if (c := arch_caveat(by_name[key].node, arm_factor)) is not None
        )
        plans.append(
            PlanOption(candidate.node.name if candidate else "", cost, unplaceable, caveats)
        )
    plans.sort(key=lambda o: (not o.feasible, o.monthly_usd, o.candidate))
    return WhatIfPlan(counted, tuple(plans))
