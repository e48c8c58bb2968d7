"""Node allocatable from each provider's published reservation rule, and daemonset overhead.

allocatable = capacity - kube-reserved - system-reserved - eviction threshold, as the kubelet
computes it (kubernetes.io/docs/tasks/administer-cluster/reserve-compute-resources). What
differs per provider is how each term is chosen; each rule below names where it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from capacity.catalog import NodeType
from capacity.errors import ConfigError
from capacity.model import rounding
from capacity.model.derivation import Figure
from capacity.quantity import GIB, MIB

EKS_SOURCE = (
    "amazon-eks-ami nodeadm on AL2023 (nodeadm/internal/kubelet/config.go, "
    "https://github.com/awslabs/amazon-eks-ami, as of 2026-12-01; the same rule as AL2's "
    "bootstrap.sh, removed upstream with AL2's end of support 2025-11-26): kube-reserved "
    "memory = 11 MiB x maxPods + 255 MiB, CPU 6% of the first core, 1% of the second, 0.5% of "
    "cores 3-4, 0.25% above; no system-reserved"
)
EKS_PREFIX_SOURCE = (
    "VPC CNI prefix delegation: each secondary IPv4 slot holds a /28 prefix (16 addresses); EKS "
    "recommends max pods 110 below 30 vCPUs and 250 above "
    "(https://docs.aws.amazon.com/eks/latest/userguide/cni-increase-ip-addresses.html, "
    "max-pods-calculator.sh --cni-prefix-delegation-enabled, as of 2026-12-01)"
)
EKS_CUSTOM_NETWORKING_SOURCE = (
    "VPC CNI custom networking: the primary ENI is not used for pods "
    "(https://docs.aws.amazon.com/eks/latest/userguide/cni-custom-network.html, "
    "max-pods-calculator.sh --cni-custom-networking-enabled, as of 2026-12-01)"
)
MAX_PODS_RANGES = {
    "gke": (
        8,
        256,
        "GKE Standard: maximum pods per node is configurable from 8 to 256 "
        "(https://cloud.google.com/kubernetes-engine/docs/how-to/flexible-pod-cidr)",
    ),
    "aks": (
        10,
        250,
        "AKS: --max-pods is configurable from 10 to 250 "
        "(https://learn.microsoft.com/azure/aks/azure-cni-overlay#maximum-pods-per-node)",
    ),
    "eks": (
        1,
        250,
        "EKS: nodeadm's kubelet maxPods can be set explicitly (NodeConfig "
        "spec.kubelet.config.maxPods); above the network mode's IP limit pods cannot get addresses",
    ),
}
MaxPodsMode = Literal["default", "prefix-delegation", "custom-networking"]
MAX_PODS_MODES: tuple[MaxPodsMode, ...] = ("default", "prefix-delegation", "custom-networking")


@dataclass(frozen=True)
class Networking:
    """The cluster's pod networking: which rule sets max pods (and so kube-reserved memory).

    max_pods_mode applies to EKS's VPC CNI (GKE and AKS keep their rule); max_pods sets the
    configurable maximum on any provider, within the provider's accepted range.
    """

    max_pods_mode: MaxPodsMode = "default"
    max_pods: int | None = None

    def __post_init__(self) -> None:
        if self.max_pods_mode not in MAX_PODS_MODES:
            raise ConfigError(
                f"max pods mode {self.max_pods_mode!r} is not one of {', '.join(MAX_PODS_MODES)}"
            )
        if self.max_pods is not None and self.max_pods < 1:
            raise ConfigError(f"max pods {self.max_pods!r} must be a positive integer")


EKS_EVICTION_SOURCE = "amazon-eks-ami kubelet-config.json: evictionHard memory.available < 100Mi"
GKE_SOURCE = (
    "GKE node sizing, https://cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes"
    "#resource_reservations: memory 25% of the first 4 GB, 20% of the next 4, 10% of the next "
    "8, 6% of the next 112, 2% above 128 GB (255 MiB under 1 GB); CPU 6%/1%/0.5%/0.25% tiers. "
    "GB brackets are 1000 MiB as GKE computes them (kubernetes/autoscaler "
    "cluster-autoscaler/cloudprovider/gce/reserved.go, memoryReservedMiB)"
)
GKE_EVICTION_SOURCE = (
    "GKE eviction threshold memory.available < 100Mi (plan-node-sizes; "
    "KubeletEvictionHardMemory in cluster-autoscaler gce/reserved.go)"
)
AKS_SOURCE = (
    "AKS node resource reservations, https://learn.microsoft.com/azure/aks/"
    "node-resource-reservations (AKS >= 1.29): kube-reserved memory = min(20 MB x max pods + "
    "50 MB, 25% of the VM's memory), MB read as MiB; CPU table 1/2/4/8/16/32/64 cores -> "
    "60/100/140/180/260/420/740m, reproduced exactly at those sizes by the formula"
)
AKS_EVICTION_SOURCE = "AKS >= 1.29: kubelet eviction rule memory.available < 100Mi"

EVICTION_BYTES = 100 * MIB


@dataclass(frozen=True)
class NodeAllocatable:
    """What the scheduler can place on one node, before and after its daemonsets."""

    node: NodeType
    max_pods: Figure
    memory_capacity_bytes: Figure
    kube_reserved_cpu_millicores: Figure
    kube_reserved_memory_bytes: Figure
    eviction_memory_bytes: Figure
    allocatable_cpu_millicores: Figure
    allocatable_memory_bytes: Figure
    daemonset_cpu_millicores: Figure
    daemonset_memory_bytes: Figure
    daemonset_pods: Figure
    usd_per_hour: Figure

    @property
    def free_cpu_millicores(self) -> int:
        return int(
            self.allocatable_cpu_millicores.number() - self.daemonset_cpu_millicores.number()
        )

    @property
    def free_memory_bytes(self) -> int:
        return int(self.allocatable_memory_bytes.number() - self.daemonset_memory_bytes.number())

    @property
    def free_pod_slots(self) -> int:
        return int(self.max_pods.number() - self.daemonset_pods.number())


def max_pods(node: NodeType, networking: Networking | None = None) -> Figure:
    net = networking or Networking()
    if net.max_pods is not None:
        low, high, source = MAX_PODS_RANGES[node.provider.reservation]
        if not low <= net.max_pods <= high:
            raise ConfigError(
                f"max pods {net.max_pods} is outside {node.provider.key}'s accepted range "
                f"{low}-{high} (node type {node.name}); {source}"
            )
        return Figure(
            "max_pods",
            net.max_pods,
            "pods",
            "max_pods",
            {"max_pods": net.max_pods},
            source,
            "set with --max-pods",
        )
    if node.max_pods_override is not None:
        return Figure(
            "max_pods",
            node.max_pods_override,
            "pods",
            "max_pods",
            {"max_pods": node.max_pods_override},
            f"catalog entry for {node.name}",
        )
    if node.provider.max_pods is not None:
        return Figure(
            "max_pods",
            node.provider.max_pods,
            "pods",
            "max_pods",
            {"max_pods": node.provider.max_pods},
            node.provider.max_pods_source,
        )
    enis, ips = node.enis, node.ipv4_per_eni
    assert enis is not None and ips is not None  # the catalog loader guarantees this
    if net.max_pods_mode == "prefix-delegation":
        return Figure(
            "max_pods",
            min(enis * (ips - 1) * 16 + 2, 110 if node.vcpu < 30 else 250),
            "pods",
            "min(enis * (ipv4_per_eni - 1) * 16 + 2, (vcpu < 30) * 110 + (vcpu >= 30) * 250)",
            {"enis": enis, "ipv4_per_eni": ips, "vcpu": node.vcpu},
            EKS_PREFIX_SOURCE,
            "prefix delegation: 16 addresses per slot, capped at EKS's recommended maximum",
        )
    if net.max_pods_mode == "custom-networking":
        return Figure(
            "max_pods",
            (enis - 1) * (ips - 1) + 2,
            "pods",
            "(enis - 1) * (ipv4_per_eni - 1) + 2",
            {"enis": enis, "ipv4_per_eni": ips},
            EKS_CUSTOM_NETWORKING_SOURCE,
            "custom networking: pods use the secondary ENIs only",
        )
    return Figure(
        "max_pods",
        enis * (ips - 1) + 2,
        "pods",
        "enis * (ipv4_per_eni - 1) + 2",
        {"enis": enis, "ipv4_per_eni": ips},
        node.provider.max_pods_source,
        "one IPv4 per pod from each ENI's secondary addresses; +2 for the host-network pods "
        "aws-node and kube-proxy",
    )


def memory_capacity_bytes(node: NodeType) -> Figure:
    """The memory the kubelet reports as capacity: the nominal size less what Linux keeps."""
    rule = node.provider.memory_capacity
    if rule.rule == "gce_kernel":
        inputs = {
            "nominal_bytes": node.memory_bytes,
            "mib": MIB,
            "swiotlb_threshold_bytes": 3 * GIB,
        }
        kernel = (
            node.memory_bytes // 64 + 16 * MIB + (64 * MIB if node.memory_bytes > 3 * GIB else 0)
        )
        return Figure(
            "memory_capacity_bytes",
            node.memory_bytes - kernel,
            "bytes",
            "nominal_bytes - (nominal_bytes // 64 + 16 * mib"
            " + (nominal_bytes > swiotlb_threshold_bytes) * 64 * mib)",
            inputs,
            rule.source,
        )
    value = rounding.floor(node.memory_bytes * (1 - rule.overhead_fraction))
    return Figure(
        "memory_capacity_bytes",
        value,
        "bytes",
        "floor(nominal_bytes * (1 - overhead_fraction))",
        {"nominal_bytes": node.memory_bytes, "overhead_fraction": rule.overhead_fraction},
        rule.source,
    )


def _tiered_cpu(kind: str, cpu_millicores: int, source: str, *, per_tier_floor: bool) -> Figure:
    tiers = [
        (0.06, min(cpu_millicores, 1000)),
        (0.01, max(0, min(cpu_millicores, 2000) - 1000)),
        (0.005, max(0, min(cpu_millicores, 4000) - 2000)),
        (0.0025, max(0, cpu_millicores - 4000)),
    ]
    terms = [
        "0.06 * min(cpu_millicores, 1000)",
        "0.01 * max(0, min(cpu_millicores, 2000) - 1000)",
        "0.005 * max(0, min(cpu_millicores, 4000) - 2000)",
        "0.0025 * max(0, cpu_millicores - 4000)",
    ]
    if per_tier_floor:  # EKS's bash arithmetic truncates each tier
        value = sum(rounding.floor(rate * span) for rate, span in tiers)
        formula = " + ".join(f"floor({t})" for t in terms)
    else:  # GKE sums the tiers as floats and truncates once
        value = rounding.floor(sum(rate * span for rate, span in tiers))
        formula = "floor(" + " + ".join(terms) + ")"
    return Figure(kind, value, "millicores", formula, {"cpu_millicores": cpu_millicores}, source)


def _eks(node: NodeType, pods: Figure) -> tuple[Figure, Figure, Figure]:
    cpu = _tiered_cpu(
        "kube_reserved_cpu_millicores", node.vcpu * 1000, EKS_SOURCE, per_tier_floor=True
    )
    max_pods_value = int(pods.number())
    memory = Figure(
        "kube_reserved_memory_bytes",
        (11 * max_pods_value + 255) * MIB,
        "bytes",
        "(11 * max_pods + 255) * mib",
        {"max_pods": max_pods_value, "mib": MIB},
        EKS_SOURCE,
    )
    eviction = Figure(
        "eviction_memory_bytes",
        EVICTION_BYTES,
        "bytes",
        "100 * mib",
        {"mib": MIB},
        EKS_EVICTION_SOURCE,
    )
    return cpu, memory, eviction


def _gke(node: NodeType) -> tuple[Figure, Figure, Figure]:
    cpu = _tiered_cpu(
        "kube_reserved_cpu_millicores", node.vcpu * 1000, GKE_SOURCE, per_tier_floor=False
    )
    nominal_mib = node.memory_bytes // MIB
    if nominal_mib <= 1000:
        memory = Figure(
            "kube_reserved_memory_bytes",
            255 * MIB,
            "bytes",
            "255 * mib",
            {"nominal_mib": nominal_mib, "mib": MIB},
            GKE_SOURCE,
            "machines with at most 1 GB get the 255 MiB minimum",
        )
    else:
        brackets = [
            (0.25, min(nominal_mib, 4000)),
            (0.2, max(0, min(nominal_mib, 8000) - 4000)),
            (0.1, max(0, min(nominal_mib, 16000) - 8000)),
            (0.06, max(0, min(nominal_mib, 128000) - 16000)),
            (0.02, max(0, nominal_mib - 128000)),
        ]
        reserved_mib = rounding.floor(sum(rate * span for rate, span in brackets))
        memory = Figure(
            "kube_reserved_memory_bytes",
            reserved_mib * MIB,
            "bytes",
            "floor(0.25 * min(nominal_mib, 4000) + 0.2 * max(0, min(nominal_mib, 8000) - 4000)"
            " + 0.1 * max(0, min(nominal_mib, 16000) - 8000)"
            " + 0.06 * max(0, min(nominal_mib, 128000) - 16000)"
            " + 0.02 * max(0, nominal_mib - 128000)) * mib",
            {"nominal_mib": nominal_mib, "mib": MIB},
            GKE_SOURCE,
        )
    eviction = Figure(
        "eviction_memory_bytes",
        EVICTION_BYTES,
        "bytes",
        "100 * mib",
        {"mib": MIB},
        GKE_EVICTION_SOURCE,
    )
    return cpu, memory, eviction


def _aks(node: NodeType, pods: Figure) -> tuple[Figure, Figure, Figure]:
    cores = node.vcpu
    cpu_value = (
        60
        + 40 * min(1, max(0, cores - 1))
        + 20 * min(2, max(0, cores - 2))
        + 10 * max(0, cores - 4)
    )
    cpu = Figure(
        "kube_reserved_cpu_millicores",
        cpu_value,
        "millicores",
        "60 + 40 * min(1, max(0, cores - 1)) + 20 * min(2, max(0, cores - 2))"
        " + 10 * max(0, cores - 4)",
        {"cores": cores},
        AKS_SOURCE,
    )
    max_pods_value = int(pods.number())
    nominal_mib = node.memory_bytes // MIB
    reserved_mib = min(20 * max_pods_value + 50, 0.25 * nominal_mib)
    memory = Figure(
        "kube_reserved_memory_bytes",
        rounding.floor(reserved_mib * MIB),
        "bytes",
        "floor(min(20 * max_pods + 50, 0.25 * nominal_mib) * mib)",
        {"max_pods": max_pods_value, "nominal_mib": nominal_mib, "mib": MIB},
        AKS_SOURCE,
    )
    eviction = Figure(
        "eviction_memory_bytes",
        EVICTION_BYTES,
        "bytes",
        "100 * mib",
        {"mib": MIB},
        AKS_EVICTION_SOURCE,
    )
    return cpu, memory, eviction


def node_allocatable(node: NodeType, networking: Networking | None = None) -> NodeAllocatable:
    pods = max_pods(node, networking)
    capacity = memory_capacity_bytes(node)
    rule = node.provider.reservation
    if rule == "eks":
        cpu_reserved, memory_reserved, eviction = _eks(node, pods)
    elif rule == "gke":
        cpu_reserved, memory_reserved, eviction = _gke(node)
    else:
        cpu_reserved, memory_reserved, eviction = _aks(node, pods)
    cpu_capacity = node.vcpu * 1000
    allocatable_cpu = Figure(
        "allocatable_cpu_millicores",
        cpu_capacity - int(cpu_reserved.number()),
        "millicores",
        "vcpu * 1000 - kube_reserved_cpu_millicores",
        {"vcpu": node.vcpu, "kube_reserved_cpu_millicores": cpu_reserved.value},
        "kubelet: allocatable = capacity - kube-reserved - system-reserved (none here)",
    )
    allocatable_memory = Figure(
        "allocatable_memory_bytes",
        int(capacity.number() - memory_reserved.number() - eviction.number()),
        "bytes",
        "memory_capacity_bytes - kube_reserved_memory_bytes - eviction_memory_bytes",
        {
            "memory_capacity_bytes": capacity.value,
            "kube_reserved_memory_bytes": memory_reserved.value,
            "eviction_memory_bytes": eviction.value,
        },
        "kubelet: allocatable = capacity - kube-reserved - system-reserved - eviction threshold",
    )
    daemonsets = node.provider.daemonsets
    names = ", ".join(d.name for d in daemonsets) or "none"
    ds_source = "; ".join(f"{d.name}: {d.source}" for d in daemonsets) or "no daemonsets listed"
    ds_cpu = Figure(
        "daemonset_cpu_millicores",
        sum(d.cpu_millicores for d in daemonsets),
        "millicores",
        "sum(daemonset_cpu_millicores)",
        {"daemonset_cpu_millicores": [float(d.cpu_millicores) for d in daemonsets]},
        ds_source,
        f"requests of {names}",
    )
    ds_memory = Figure(
        "daemonset_memory_bytes",
        sum(d.memory_bytes for d in daemonsets),
        "bytes",
        "sum(daemonset_memory_bytes)",
        {"daemonset_memory_bytes": [float(d.memory_bytes) for d in daemonsets]},
        ds_source,
        f"requests of {names}",
    )
    ds_pods = Figure(
        "daemonset_pods",
        len(daemonsets),
        "pods",
        "len(daemonset_names)",
        {"daemonset_names": [d.name for d in daemonsets]},
        ds_source,
        "each daemonset runs one pod per node, which takes one of the max-pods slots",
    )
    price = Figure(
        "usd_per_hour",
        node.usd_per_hour,
        "USD/hour",
        "usd_per_hour",
        {"usd_per_hour": node.usd_per_hour},
        node.price_source,
    )
    return NodeAllocatable(
        node=node,
        max_pods=pods,
        memory_capacity_bytes=capacity,
        kube_reserved_cpu_millicores=cpu_reserved,
        kube_reserved_memory_bytes=memory_reserved,
        eviction_memory_bytes=eviction,
        allocatable_cpu_millicores=allocatable_cpu,
        allocatable_memory_bytes=allocatable_memory,
        daemonset_cpu_millicores=ds_cpu,
        daemonset_memory_bytes=ds_memory,
        daemonset_pods=ds_pods,
        usd_per_hour=price,
    )
