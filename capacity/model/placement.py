"""Where pods land: spread across zones, then first-fit decreasing onto nodes in each zone.

The scheduler's NodeResourcesFit rule decides what fits; first-fit decreasing (largest share of
the node first) is how a cluster filling one node before opening the next ends up, which is
what a cost model must assume for burstable nodes (pods land 3/3/3/1, not 2.5 per node). Pods
are dealt to zones round-robin in the order given (a topology spread with max skew 1); every
zone gets as many nodes as the fullest one needs, the way per-zone node groups are balanced.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from capacity.model import rounding
from capacity.model.allocatable import NodeAllocatable
from capacity.model.fit import PodShape


@dataclass(frozen=True)
class PlacedPod:
    """One pod to place: its workload (or add-on) name, requests, and the CPU it uses."""

    name: str
    pod: PodShape
    cpu_use_cores: float


@dataclass(frozen=True)
class NodeContent:
    """`nodes` identical nodes, each holding `pods` (name -> count) that use `cpu_use_cores`."""

    nodes: int
    pods: tuple[tuple[str, int], ...]
    pod_cpu_use_cores: tuple[float, ...]  # one entry per pod on one such node

    @property
    def cpu_use_cores(self) -> float:
        return sum(self.pod_cpu_use_cores)


@dataclass(frozen=True)
class Placement:
    nodes: int  # zones x the fullest zone's nodes
    contents: tuple[NodeContent, ...]  # the nodes with pods, grouped; the rest hold none
    lower_bound_nodes: int
    unplaceable: tuple[str, ...]  # pods that fit no empty node

    @property
    def empty_nodes(self) -> int:
        return self.nodes - sum(c.nodes for c in self.contents)


def fits_empty(node: NodeAllocatable, pod: PodShape) -> bool:
    return (
        pod.cpu_millicores <= node.free_cpu_millicores
        and pod.memory_bytes <= node.free_memory_bytes
        and node.free_pod_slots >= 1
    )


def _pack_zone(node: NodeAllocatable, pods: Sequence[PlacedPod]) -> list[list[PlacedPod]]:
    cpu_free, mem_free, slots = (
        node.free_cpu_millicores,
        node.free_memory_bytes,
        node.free_pod_slots,
    )

    def share(p: PlacedPod) -> float:
        return max(p.pod.cpu_millicores / max(cpu_free, 1), p.pod.memory_bytes / max(mem_free, 1))

    bins: list[list[PlacedPod]] = []
    used: list[list[int]] = []  # [cpu, memory, pods] per bin
    for p in sorted(pods, key=share, reverse=True):  # stable: equal shares keep their order
        for i, u in enumerate(used):
            if (
                u[0] + p.pod.cpu_millicores <= cpu_free
                and u[1] + p.pod.memory_bytes <= mem_free
                and u[2] + 1 <= slots
            ):
                u[0] += p.pod.cpu_millicores
                u[1] += p.pod.memory_bytes
                u[2] += 1
                bins[i].append(p)
                break
        else:
            bins.append([p])
            used.append([p.pod.cpu_millicores, p.pod.memory_bytes, 1])
    return bins


def place(node: NodeAllocatable, pods: Sequence[PlacedPod], zones: int = 1) -> Placement:
    """Pods that fit no empty node are left out and named in `unplaceable`."""
    fitting = [p for p in pods if fits_empty(node, p.pod)]
    unplaceable = tuple(dict.fromkeys(p.name for p in pods if not fits_empty(node, p.pod)))
    per_zone: list[list[PlacedPod]] = [[] for _ in range(zones)]
    for i, p in enumerate(fitting):
        per_zone[i % zones].append(p)
    zone_bins = [_pack_zone(node, z) for z in per_zone]
    fullest = max((len(b) for b in zone_bins), default=0)
    groups: Counter[tuple[tuple[tuple[str, int], ...], tuple[float, ...]]] = Counter()
    for bins in zone_bins:
        for b in bins:
            names = tuple(sorted(Counter(p.name for p in b).items()))
            groups[(names, tuple(p.cpu_use_cores for p in b))] += 1
    contents = tuple(
        NodeContent(count, names, cpu) for (names, cpu), count in sorted(groups.items())
    )
    cpu_free, mem_free, slots = (
        node.free_cpu_millicores,
        node.free_memory_bytes,
        node.free_pod_slots,
    )
    bound = (
        max(
            rounding.ceil(sum(p.pod.cpu_millicores for p in fitting) / cpu_free)
            if cpu_free > 0
            else 0,
            rounding.ceil(sum(p.pod.memory_bytes for p in fitting) / mem_free)
            if mem_free > 0
            else 0,
            rounding.ceil(len(fitting) / slots) if slots > 0 else 0,
        )
        if fitting
        else 0
    )
    return Placement(zones * fullest, contents, bound, unplaceable)
