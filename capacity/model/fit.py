"""Pods per node: the kube-scheduler's NodeResourcesFit rule, capped by the node's max pods.

A pod fits when, for CPU and for memory, the requests already on the node plus its own stay
within allocatable; daemonset pods are on every node first. Identical pods therefore fit
floor((allocatable - daemonset requests) / pod request) times per resource, and never more
than the pod slots the daemonsets left (max pods - daemonset pods) nor, on EKS's VPC CNI, the
pod IPs they left (pod IPs - daemonset pods on the pod network): a pod the kubelet admits but
the CNI cannot address never starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from capacity.model.allocatable import NodeAllocatable
from capacity.model.derivation import Figure, derive
from capacity.pod_shape import PodShape as PodShape

SCHEDULER_SOURCE = (
    "kube-scheduler NodeResourcesFit filter: sum of requests <= allocatable for each resource "
    "(https://kubernetes.io/docs/concepts/scheduling-eviction/kube-scheduler/)"
)


@dataclass(frozen=True)
class NodeFit:
    node: NodeAllocatable
    pod: PodShape
    by_cpu: Figure | None  # None: the pod requests no CPU, so CPU never binds
    by_memory: Figure | None
    by_pod_slots: Figure
    pods_per_node: Figure
    binding: tuple[str, ...]  # which constraints give the minimum: cpu, memory, max_pods, pod_ips
    by_pod_ips: Figure | None = None  # None: the network gives every slot an IP (GKE, AKS)


def pods_per_node(node: NodeAllocatable, pod: PodShape) -> NodeFit:
    alloc_cpu = int(node.allocatable_cpu_millicores.number())
    ds_cpu = int(node.daemonset_cpu_millicores.number())
    alloc_mem = int(node.allocatable_memory_bytes.number())
    ds_mem = int(node.daemonset_memory_bytes.number())
    by_cpu = by_memory = None
    if pod.cpu_millicores > 0:
        by_cpu = derive(
            "pods_by_cpu",
            "pods",
            "max(0, floor((allocatable_cpu_millicores - daemonset_cpu_millicores)"
            " / pod_cpu_millicores))",
            {
                "allocatable_cpu_millicores": alloc_cpu,
                "daemonset_cpu_millicores": ds_cpu,
                "pod_cpu_millicores": pod.cpu_millicores,
            },
            SCHEDULER_SOURCE,
        )
    if pod.memory_bytes > 0:
        by_memory = derive(
            "pods_by_memory",
            "pods",
            "max(0, floor((allocatable_memory_bytes - daemonset_memory_bytes) / pod_memory_bytes))",
            {
                "allocatable_memory_bytes": alloc_mem,
                "daemonset_memory_bytes": ds_mem,
                "pod_memory_bytes": pod.memory_bytes,
            },
            SCHEDULER_SOURCE,
        )
    max_pods = int(node.max_pods.number())
    ds_pods = int(node.daemonset_pods.number())
    by_slots = derive(
        "pods_by_slots",
        "pods",
        "max(0, max_pods - daemonset_pods)",
        {"max_pods": max_pods, "daemonset_pods": ds_pods},
        "kubelet maxPods counts every pod on the node, daemonset pods included",
    )
    by_ips = None
    if node.pod_ips is not None and node.daemonset_pod_ips is not None:
        by_ips = derive(
            "pods_by_pod_ips",
            "pods",
            "max(0, pod_ips - daemonset_pod_ips)",
            {
                "pod_ips": int(node.pod_ips.number()),
                "daemonset_pod_ips": int(node.daemonset_pod_ips.number()),
            },
            node.pod_ips.source,
            "every pod off the host network needs a pod IP; the daemonsets' come first",
        )
    limits = {"max_pods": by_slots}
    if by_cpu is not None:
        limits["cpu"] = by_cpu
    if by_memory is not None:
        limits["memory"] = by_memory
    if by_ips is not None:
        limits["pod_ips"] = by_ips
    values = {name: int(figure.number()) for name, figure in limits.items()}
    names = {"max_pods": "pods_by_slots", "pod_ips": "pods_by_pod_ips"}
    inputs = {names.get(k, f"pods_by_{k}"): v for k, v in values.items()}
    formula = f"min({', '.join(inputs)})" if len(inputs) > 1 else next(iter(inputs))
    total = derive(
        "pods_per_node",
        "pods",
        formula,
        inputs,
        SCHEDULER_SOURCE,
        f"{pod} on {node.node.name}",
    )
    fewest = int(total.number())
    binding = tuple(
        name for name in ("cpu", "memory", "max_pods", "pod_ips") if values.get(name) == fewest
    )
    return NodeFit(node, pod, by_cpu, by_memory, by_slots, total, binding, by_ips)
