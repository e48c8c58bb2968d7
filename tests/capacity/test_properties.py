"""Properties of the node arithmetic and the cost model, for any pod and node size.

Node sizes are whole vCPUs and whole GiB, as every real node type is: GKE's formula has a
64 MiB step at 3 GiB (the software IO TLB) that no whole-GiB pair of sizes straddles
downwards. Networking (ENIs, max pods) stays fixed while the size grows: on EKS more ENIs
raise max pods *and* kube-reserved memory, which can legitimately lower pods per node.
"""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from capacity.catalog import load_catalog
from capacity.model import PodShape, estimate_cost, node_allocatable, pods_per_node

GIB = 2**30
MIB = 2**20
CATALOG = load_catalog()
BASES = [CATALOG.node(n) for n in ("t3.medium", "e2-standard-2", "Standard_D2s_v5")]

bases = st.sampled_from(BASES)
vcpus = st.integers(min_value=1, max_value=64)
gibs = st.integers(min_value=1, max_value=256)
cpus = st.integers(min_value=0, max_value=8000)
memories = st.integers(min_value=0, max_value=32 * GIB)


def _node(base, vcpu: int, gib: int):  # type: ignore[no-untyped-def]
    return node_allocatable(dataclasses.replace(base, vcpu=vcpu, memory_bytes=gib * GIB))


@settings(max_examples=300, deadline=None)
@given(bases, vcpus, gibs, cpus, memories)
def test_pods_per_node_never_exceeds_any_single_constraint(base, vcpu, gib, cpu, memory) -> None:  # type: ignore[no-untyped-def]
    node = _node(base, vcpu, gib)
    fit = pods_per_node(node, PodShape(cpu, memory))
    pods = fit.pods_per_node.number()
    assert pods <= node.free_pod_slots
    if cpu > 0:
        assert pods * cpu <= node.free_cpu_millicores or pods == 0
        assert fit.by_cpu is not None and pods <= fit.by_cpu.number()
    if memory > 0:
        assert pods * memory <= node.free_memory_bytes or pods == 0
        assert fit.by_memory is not None and pods <= fit.by_memory.number()
    # and it is the largest count that satisfies all of them
    if pods < node.free_pod_slots:
        over_cpu = cpu > 0 and (pods + 1) * cpu > node.free_cpu_millicores
        over_memory = memory > 0 and (pods + 1) * memory > node.free_memory_bytes
        assert over_cpu or over_memory


@settings(max_examples=300, deadline=None)
@given(bases, vcpus, gibs, cpus, memories, cpus, memories)
def test_pods_per_node_does_not_grow_with_pod_size(
    base, vcpu, gib, cpu, memory, more_cpu, more_memory
) -> None:  # type: ignore[no-untyped-def]
    node = _node(base, vcpu, gib)
    small = pods_per_node(node, PodShape(cpu, memory)).pods_per_node.number()
    large = pods_per_node(
        node, PodShape(cpu + more_cpu, memory + more_memory)
    ).pods_per_node.number()
    assert large <= small


@settings(max_examples=300, deadline=None)
@given(bases, vcpus, gibs, st.integers(0, 32), st.integers(0, 128), cpus, memories)
def test_pods_per_node_does_not_shrink_with_node_size(
    base, vcpu, gib, more_vcpu, more_gib, cpu, memory
) -> None:  # type: ignore[no-untyped-def]
    pod = PodShape(cpu, memory)
    small = pods_per_node(_node(base, vcpu, gib), pod).pods_per_node.number()
    large = pods_per_node(_node(base, vcpu + more_vcpu, gib + more_gib), pod).pods_per_node.number()
    assert large >= small


def _burst(cost: object) -> float:
    term = cost.term("burst_usd_month")  # type: ignore[attr-defined]
    return 0.0 if term is None else term.number()


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(CATALOG.node_types),
    st.integers(50, 4000),
    st.integers(64 * MIB, 8 * GIB),
    st.floats(0.5, 5000),
    st.floats(0, 0.9),
    st.floats(0, 100_000),
    st.floats(0, 100_000),
)
def test_cost_never_decreases_as_target_load_grows(
    node_type, cpu, memory, capacity, headroom, a, b
) -> None:  # type: ignore[no-untyped-def]
    fit = pods_per_node(node_allocatable(node_type), PodShape(cpu, memory))
    low, high = sorted((a, b))
    cheap = estimate_cost(capacity, fit, low, headroom)
    dear = estimate_cost(capacity, fit, high, headroom)
    assert dear.pods_needed.number() >= cheap.pods_needed.number()
    if fit.pods_per_node.number() > 0:
        assert dear.nodes_needed.number() >= cheap.nodes_needed.number()
        # Every term but burst is monotone. Burst credits depend on how the pods land: one more
        # pod can spread the zones' load more evenly and cut a node's surplus over its baseline
        # (seen: t3.large, 9 -> 10 pods of 71m, burst $41.94 -> $40.88), so the month may
        # fall by at most that change (docs/capacity-model.md, Burstable nodes).
        burst_fell = _burst(cheap) - _burst(dear)
        assert dear.monthly_usd.number() + max(0.0, burst_fell) >= cheap.monthly_usd.number() - 1e-6
        # enough pods for the load, with the headroom held back, and no more nodes than needed
        assert dear.pods_needed.number() * capacity * (1 - headroom) >= high * (1 - 1e-9)
        assert dear.nodes_needed.number() * fit.pods_per_node.number() >= dear.pods_needed.number()
    else:
        assert not dear.monthly_usd.defined and dear.monthly_usd.reason
