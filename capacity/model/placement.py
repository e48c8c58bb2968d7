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
from dataclasses import dataclass, replace

from capacity.model import rounding
from capacity.model.allocatable import NodeAllocatable
from capacity.model.fit import PodShape


@dataclass(frozen=True)
class PodBatch:
    """`count` identical pods: workload (or add-on) name, requests, the CPU each one uses."""

    name: str
    pod: PodShape
    cpu_use_cores: float
    count: int


@dataclass(frozen=True)
class NodeContent:
    """`nodes` identical nodes, each holding `pods` (name -> count)."""

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


@dataclass
class _Bins:
    """`n` identical open nodes: what is used on each, and which batches hold how many pods."""

    n: int
    cpu: int
    memory: int
    slots: int
    held: tuple[tuple[int, int], ...]  # (batch index, pods) on each node

    def plus(self, n: int, index: int, batch: PodBatch, pods: int) -> _Bins:
        return _Bins(
            n,
            self.cpu + pods * batch.pod.cpu_millicores,
            self.memory + pods * batch.pod.memory_bytes,
            self.slots + pods,
            (*self.held, (index, pods)),
        )


def _room(node: NodeAllocatable, bins: _Bins, pod: PodShape) -> int:
    """How many more of `pod` fit on one of these nodes (NodeResourcesFit and max pods)."""
    room = node.free_pod_slots - bins.slots
    if pod.cpu_millicores > 0:
        room = min(room, (node.free_cpu_millicores - bins.cpu) // pod.cpu_millicores)
    if pod.memory_bytes > 0:
        room = min(room, (node.free_memory_bytes - bins.memory) // pod.memory_bytes)
    return max(0, room)


def _pack_zone(node: NodeAllocatable, batches: Sequence[tuple[int, PodBatch]]) -> list[_Bins]:
    """First-fit decreasing, a batch of identical pods at a time: the same result as placing
    them one by one, since identical pods fill the first node with room before the next."""
    cpu_free, mem_free = node.free_cpu_millicores, node.free_memory_bytes

    def share(item: tuple[int, PodBatch]) -> float:
        pod = item[1].pod
        return max(pod.cpu_millicores / max(cpu_free, 1), pod.memory_bytes / max(mem_free, 1))

    bins: list[_Bins] = []
    for index, batch in sorted(batches, key=share, reverse=True):  # stable for equal shares
        remaining = batch.count
        i = 0
        while remaining and i < len(bins):
            group = bins[i]
            room = _room(node, group, batch.pod)
            if room == 0:
                i += 1
                continue
            if remaining >= room * group.n:
                bins[i] = group.plus(group.n, index, batch, room)
                remaining -= room * group.n
                i += 1
                continue
            full, rest = divmod(remaining, room)
            split = []
            if full:
                split.append(group.plus(full, index, batch, room))
            if rest:
                split.append(group.plus(1, index, batch, rest))
            untouched = group.n - full - (1 if rest else 0)
            if untouched:
                split.append(_Bins(untouched, group.cpu, group.memory, group.slots, group.held))
            bins[i : i + 1] = split
            remaining = 0
        if remaining:
            empty = _Bins(0, 0, 0, 0, ())
            room = _room(node, empty, batch.pod)  # >= 1: callers pass only pods that fit
            full, rest = divmod(remaining, room)
            if full:
                bins.append(empty.plus(full, index, batch, room))
            if rest:
                bins.append(empty.plus(1, index, batch, rest))
    return bins


def place(node: NodeAllocatable, batches: Sequence[PodBatch], zones: int = 1) -> Placement:
    """Pods that fit no empty node are left out and named in `unplaceable`."""
    fitting = [(i, b) for i, b in enumerate(batches) if b.count > 0 and fits_empty(node, b.pod)]
    unplaceable = tuple(
        dict.fromkeys(b.name for b in batches if b.count > 0 and not fits_empty(node, b.pod))
    )
    # Deal the pods to zones round-robin in order (a topology spread with max skew 1).
    per_zone: list[list[tuple[int, PodBatch]]] = [[] for _ in range(zones)]
    offset = 0
    for index, batch in fitting:
        base, extra = divmod(batch.count, zones)
        for z in range(zones):
            count = base + (1 if (z - offset) % zones < extra else 0)
            if count:
                per_zone[z].append((index, replace(batch, count=count)))
        offset = (offset + extra) % zones
    zone_bins = [_pack_zone(node, z) for z in per_zone]
    fullest = max((sum(b.n for b in bins) for bins in zone_bins), default=0)
    groups: Counter[tuple[tuple[tuple[str, int], ...], tuple[float, ...]]] = Counter()
    for bins in zone_bins:
        for b in bins:
            names: Counter[str] = Counter()
            cpu: list[float] = []
            for index, pods in b.held:
                names[batches[index].name] += pods
                cpu.extend([batches[index].cpu_use_cores] * pods)
            groups[(tuple(sorted(names.items())), tuple(cpu))] += b.n
    contents = tuple(
        NodeContent(count, names, cpu) for (names, cpu), count in sorted(groups.items())
    )
    total_cpu = sum(b.pod.cpu_millicores * b.count for _, b in fitting)
    total_mem = sum(b.pod.memory_bytes * b.count for _, b in fitting)
    total_pods = sum(b.count for _, b in fitting)
    cpu_free, mem_free, slots = (
        node.free_cpu_millicores,
        node.free_memory_bytes,
        node.free_pod_slots,
    )
    bound = max(
        rounding.ceil(total_cpu / cpu_free) if cpu_free > 0 else 0,
        rounding.ceil(total_mem / mem_free) if mem_free > 0 else 0,
        rounding.ceil(total_pods / slots) if slots > 0 else 0,
    )
    return Placement(zones * fullest, contents, bound, unplaceable)
