"""Where pods land: first-fit decreasing (how many nodes), and kube-scheduler's spread (where
the pods then run, for burst credits).

The scheduler's NodeResourcesFit rule decides what fits. First-fit decreasing (largest share of
the node first) gives the node count a cluster needs and is how a bin-packing scheduler or
Karpenter's consolidation ends up (pods land 3/3/3/1, spare nodes empty). The default
kube-scheduler instead scores every feasible node (LeastAllocated + BalancedAllocation) and
spreads the pods over all of them, spare nodes included (3/3/2/2): `spread` reproduces that.
Pods are dealt to zones round-robin in the order given (a topology spread with max skew 1);
every zone gets as many nodes as the fullest one needs, the way per-zone node groups are
balanced.
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
class Packing:
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


def place(node: NodeAllocatable, batches: Sequence[PodBatch], zones: int = 1) -> Packing:
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
    return Packing(zones * fullest, contents, bound, unplaceable)


# ---- kube-scheduler's default scoring ------------------------------------------------------

PLACEMENTS = ("spread", "first-fit")
SPREAD_SOURCE = (
    "kube-scheduler default profile, scoring plugins NodeResourcesFit (strategy LeastAllocated, "
    "cpu and memory weight 1) and NodeResourcesBalancedAllocation, each plugin weight 1 "
    "(https://kubernetes.io/docs/reference/scheduling/config/#scheduling-plugins, "
    "pkg/scheduler/framework/plugins/noderesources/least_allocated.go and "
    "balanced_allocation.go): each pod goes to the feasible node with the highest score; ties "
    "go to the first node here (the scheduler picks one at random, which gives the same counts)"
)
FIRST_FIT_SOURCE = (
    "first-fit decreasing: what a bin-packing scheduler (NodeResourcesFit MostAllocated) or "
    "Karpenter's consolidation converges to; spare nodes stay empty"
)
MAX_NODE_SCORE = 100


# One node's state: requests on it (daemonsets included), pods placed, and which batches.
_State = tuple[int, int, int, tuple[int, ...]]  # cpu, memory, slots, batch index per pod


def _score(node: NodeAllocatable, state: _State, pod: PodShape) -> int:
    """LeastAllocated + BalancedAllocation for `pod` on a node in `state`, in the scheduler's
    integers (both scores count the incoming pod's requests)."""
    cap_cpu = int(node.allocatable_cpu_millicores.number())
    cap_mem = int(node.allocatable_memory_bytes.number())
    req_cpu, req_mem = state[0] + pod.cpu_millicores, state[1] + pod.memory_bytes

    def least(requested: int, capacity: int) -> int:
        if capacity <= 0 or requested > capacity:
            return 0
        return (capacity - requested) * MAX_NODE_SCORE // capacity

    least_allocated = (least(req_cpu, cap_cpu) + least(req_mem, cap_mem)) // 2
    fractions = [min(1.0, req_cpu / cap_cpu), min(1.0, req_mem / cap_mem)]
    std = abs(fractions[0] - fractions[1]) / 2  # the population std of two fractions
    balanced = int((1 - std) * MAX_NODE_SCORE)
    return least_allocated + balanced


def _spread_zone(
    node: NodeAllocatable, batches: Sequence[tuple[int, PodBatch]], nodes: int
) -> Counter[_State]:
    """Pods one at a time, in order, each onto the best-scoring node with room; a pod with no
    room opens a node (the cluster autoscaler's answer to a pending pod). Equal nodes in equal
    states score alike, so nodes are kept as counts per state: a pod costs one score per
    distinct state, not per node."""
    cpu_cap = int(node.allocatable_cpu_millicores.number())
    mem_cap = int(node.allocatable_memory_bytes.number())
    empty: _State = (
        int(node.daemonset_cpu_millicores.number()),
        int(node.daemonset_memory_bytes.number()),
        0,
        (),
    )
    states: Counter[_State] = Counter({empty: nodes} if nodes else {})

    def fits(state: _State, pod: PodShape) -> bool:
        return (
            state[0] + pod.cpu_millicores <= cpu_cap
            and state[1] + pod.memory_bytes <= mem_cap
            and state[2] + 1 <= node.free_pod_slots
        )

    def plus(state: _State, pod: PodShape, index: int) -> _State:
        return (
            state[0] + pod.cpu_millicores,
            state[1] + pod.memory_bytes,
            state[2] + 1,
            tuple(sorted((*state[3], index))),
        )

    for index, batch in batches:
        pod = batch.pod
        remaining = batch.count
        while remaining:
            best: _State | None = None
            best_score = -1
            for state in states:  # insertion order: ties go to the state seen first
                if fits(state, pod):
                    score = _score(node, state, pod)
                    if score > best_score:
                        best, best_score = state, score
            if best is None:
                best = empty
                states[empty] += 1
            moved = plus(best, pod, index)
            # While the nodes left in `best` score at least as well as the ones that just took a
            # pod, the next pods go one to each of them: place that round at once (identical
            # pods, equal nodes), as placing them one by one does (a tie, which the scheduler
            # breaks at random, goes to the rest of the round).
            worse = not fits(moved, pod) or _score(node, moved, pod) <= best_score
            step = min(remaining, states[best]) if worse else 1
            states[best] -= step
            if states[best] == 0:
                del states[best]
            states[moved] += step
            remaining -= step
    return states


def spread(
    node: NodeAllocatable,
    batches: Sequence[PodBatch],
    nodes_per_zone: Sequence[int],
) -> Packing:
    """Pods placed as kube-scheduler's default scoring places them over `nodes_per_zone` equal
    nodes (spare nodes included: the scheduler does not hold a node empty). Pods are dealt to
    zones round-robin as in `place`, then queued in the order given (add-ons first: they are
    in the cluster before the workload)."""
    zones = len(nodes_per_zone)
    fitting = [(i, b) for i, b in enumerate(batches) if b.count > 0 and fits_empty(node, b.pod)]
    unplaceable = tuple(
        dict.fromkeys(b.name for b in batches if b.count > 0 and not fits_empty(node, b.pod))
    )
    per_zone: list[list[tuple[int, PodBatch]]] = [[] for _ in range(zones)]
    offset = 0
    for index, batch in fitting:
        base, extra = divmod(batch.count, zones)
        for z in range(zones):
            count = base + (1 if (z - offset) % zones < extra else 0)
            if count:
                per_zone[z].append((index, replace(batch, count=count)))
        offset = (offset + extra) % zones
    groups: Counter[tuple[tuple[tuple[str, int], ...], tuple[float, ...]]] = Counter()
    total = 0
    for z, count in enumerate(nodes_per_zone):
        placed = _spread_zone(node, per_zone[z], count)
        total += sum(placed.values())
        for state, n in placed.items():
            if not state[3]:
                continue
            names: Counter[str] = Counter(batches[i].name for i in state[3])
            cpu = tuple(sorted((batches[i].cpu_use_cores for i in state[3]), reverse=True))
            groups[(tuple(sorted(names.items())), cpu)] += n
    contents = tuple(
        NodeContent(count, names, cpu) for (names, cpu), count in sorted(groups.items())
    )
    return Packing(total, contents, total, unplaceable)
