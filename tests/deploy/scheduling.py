"""The scheduler's arithmetic for a whole stack: every pod the program and the chart would create,
its requests (the kube-scheduler NodeResourcesFit rule: the larger of the sum of its containers and
its largest init container), packed first-fit-decreasing onto the stack's documented nodes after
what the cluster itself already runs there. A pod that fits no node would stay Pending.

Cluster sizes:
- kind: one node with Docker's CPUs and memory as docs/deploy.md asks for them, minus kind's own
  pods' requests (kubeadm static pods, CoreDNS, kindnet), minus a margin for memory the Docker VM
  and kernel keep (the kubelet reports less than the VM's nominal size).
- a cloud node type: its allocatable from capacity/model/allocatable.py (the provider's published
  reservation formula), minus the catalog's daemonsets, minus the add-ons the stack relies on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from capacity.catalog import load_catalog
from capacity.model.allocatable import node_allocatable
from capacity.quantity import GIB, MIB, parse_cpu_millicores, parse_memory_bytes
from deploy.settings import StackSettings
from tests.deploy.policy import pod_spec

# docs/deploy.md, "Walk-through: kind": give Docker at least this much.
KIND_DOCKER_CPU_MILLICORES = 4000
KIND_DOCKER_MEMORY_BYTES = 8 * GIB
# kind's own pods on its one node (requests as in kind's node image / kubeadm manifests).
KIND_SYSTEM_PODS: tuple[tuple[str, int, int], ...] = (
    ("kube-apiserver", 250, 0),
    ("kube-controller-manager", 200, 0),
    ("kube-scheduler", 100, 0),
    ("etcd", 100, 100 * MIB),
    ("coredns-1", 100, 70 * MIB),
    ("coredns-2", 100, 70 * MIB),
    ("kindnet", 100, 50 * MIB),
)
# What the kubelet does not see of the VM's memory, plus its 100Mi eviction threshold.
KIND_MEMORY_MARGIN_BYTES = 512 * MIB + 100 * MIB

# The catalog's EKS daemonsets (aws-node, kube-proxy, ebs-csi-node, eks-pod-identity-agent) are
# already out of `free_*`; these are the cluster-wide pods the eks stack relies on: requests from
# each project's default manifests (approximate: versions change them).
EKS_SYSTEM_PODS: tuple[tuple[str, int, int], ...] = (
    ("coredns-1", 100, 70 * MIB),
    ("coredns-2", 100, 70 * MIB),
    ("ebs-csi-controller-1", 60, 240 * MIB),  # 6 containers x 10m / 40Mi
    ("ebs-csi-controller-2", 60, 240 * MIB),
)


@dataclass(frozen=True)
class PodRequest:
    name: str
    cpu_millicores: int
    memory_bytes: int


@dataclass(frozen=True)
class Cluster:
    description: str
    nodes: int
    node_cpu_millicores: int  # free for pods on each node, after daemonsets
    node_memory_bytes: int
    node_pod_slots: int
    system_pods: tuple[PodRequest, ...]  # non-daemonset pods the cluster already runs


@dataclass(frozen=True)
class Packing:
    cluster: Cluster
    placed: dict[int, list[PodRequest]]  # node index -> pods
    unscheduled: list[PodRequest]

    @property
    def requested_cpu_millicores(self) -> int:
        return sum(p.cpu_millicores for pods in self.placed.values() for p in pods)


def _pod_request(name: str, pod: dict[str, Any]) -> PodRequest:
    def total(containers: list[dict[str, Any]], key: str, parse: Any) -> list[int]:
        return [
            parse(str(((c.get("resources") or {}).get("requests") or {}).get(key, "0")))
            for c in containers
        ]

    containers, inits = pod.get("containers") or [], pod.get("initContainers") or []
    cpu = max(
        [
            sum(total(containers, "cpu", parse_cpu_millicores)),
            *total(inits, "cpu", parse_cpu_millicores),
        ]
    )
    memory = max(
        [
            sum(total(containers, "memory", parse_memory_bytes)),
            *total(inits, "memory", parse_memory_bytes),
        ]
    )
    return PodRequest(name, cpu, memory)


def kit_pods(manifests: list[dict[str, Any]]) -> list[PodRequest]:
    """Every pod the manifests make at once: replicas of each workload (an autoscaler's maximum
    where one exists), one pod per Job."""
    hpa_max = {
        m["spec"]["scaleTargetRef"]["name"]: m["spec"]["maxReplicas"]
        for m in manifests
        if m["kind"] == "HorizontalPodAutoscaler"
    }
    pods: list[PodRequest] = []
    for m in manifests:
        spec = pod_spec(m)
        if spec is None:
            continue
        name = f"{m['kind']}/{m['metadata']['name']}"
        if m["kind"] == "Job":
            count = int(m["spec"].get("parallelism", 1))
        else:
            count = hpa_max.get(m["metadata"]["name"], int(m["spec"].get("replicas", 1)))
        pods += [_pod_request(f"{name}#{i}", spec) for i in range(count)]
    return pods


def _surge_pods(manifest: dict[str, Any], replicas: int) -> int:
    """Extra pods a Deployment's rollout adds at once: its maxSurge (Kubernetes' default 25%,
    rounded up, when no strategy is given); none for Recreate or other kinds."""
    if manifest["kind"] != "Deployment":
        return 0
    strategy = manifest["spec"].get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0
    surge = (strategy.get("rollingUpdate") or {}).get("maxSurge", "25%")
    if isinstance(surge, str) and surge.endswith("%"):
        return -(-replicas * int(surge[:-1]) // 100)
    return int(surge)


def update_pods(manifests: list[dict[str, Any]]) -> list[PodRequest]:
    """Every pod during the worst second `pulumi up`: the steady state (every workload at its
    replicas, an autoscaler at its maximum), each Deployment's rollout surge - all of them rolling
    at once, as after a change of every image - and every migration Job again (a new image gets a
    new Job). A Job of the first `pulumi up` has finished by then (a completed pod holds no
    requests), so it is not counted twice."""
    steady = kit_pods(manifests)
    hpa_max = {
        m["spec"]["scaleTargetRef"]["name"]: m["spec"]["maxReplicas"]
        for m in manifests
        if m["kind"] == "HorizontalPodAutoscaler"
    }
    surge: list[PodRequest] = []
    for m in manifests:
        spec = pod_spec(m)
        if spec is None or m["kind"] == "Job":
            continue
        replicas = hpa_max.get(m["metadata"]["name"], int(m["spec"].get("replicas", 1)))
        name = f"{m['kind']}/{m['metadata']['name']}"
        surge += [_pod_request(f"{name}#surge{i}", spec) for i in range(_surge_pods(m, replicas))]
    return steady + surge


def cluster_for(settings: StackSettings) -> Cluster:
    if settings.cluster_node_type == "kind":
        system = tuple(PodRequest(n, c, m) for n, c, m in KIND_SYSTEM_PODS)
        return Cluster(
            f"kind, one node in Docker with {KIND_DOCKER_CPU_MILLICORES}m CPU and "
            f"{KIND_DOCKER_MEMORY_BYTES // GIB} GiB",
            nodes=1,
            node_cpu_millicores=KIND_DOCKER_CPU_MILLICORES,
            node_memory_bytes=KIND_DOCKER_MEMORY_BYTES - KIND_MEMORY_MARGIN_BYTES,
            node_pod_slots=110,  # the kubelet's default maxPods
            system_pods=system,
        )
    node = node_allocatable(load_catalog().node(settings.cluster_node_type))
    aws = node.node.provider.key == "aws"
    return Cluster(
        f"{settings.cluster_nodes} x {settings.cluster_node_type}",
        nodes=settings.cluster_nodes,
        node_cpu_millicores=node.free_cpu_millicores,
        node_memory_bytes=node.free_memory_bytes,
        node_pod_slots=node.free_pod_slots,
        system_pods=tuple(PodRequest(n, c, m) for n, c, m in EKS_SYSTEM_PODS) if aws else (),
    )


def pack(cluster: Cluster, pods: list[PodRequest]) -> Packing:
    """First-fit decreasing by CPU share then memory share (the scheduler may do better or worse
    on a given day; a stack that needs luck to fit does not fit)."""
    free = [
        [cluster.node_cpu_millicores, cluster.node_memory_bytes, cluster.node_pod_slots]
        for _ in range(cluster.nodes)
    ]
    placed: dict[int, list[PodRequest]] = {i: [] for i in range(cluster.nodes)}
    unscheduled: list[PodRequest] = []
    everything = [*cluster.system_pods, *pods]

    def size(p: PodRequest) -> float:
        return max(
            p.cpu_millicores / max(cluster.node_cpu_millicores, 1),
            p.memory_bytes / max(cluster.node_memory_bytes, 1),
        )

    for pod in sorted(everything, key=size, reverse=True):
        for index, room in enumerate(free):
            if pod.cpu_millicores <= room[0] and pod.memory_bytes <= room[1] and room[2] >= 1:
                room[0] -= pod.cpu_millicores
                room[1] -= pod.memory_bytes
                room[2] -= 1
                placed[index].append(pod)
                break
        else:
            unscheduled.append(pod)
    return Packing(cluster, placed, unscheduled)
