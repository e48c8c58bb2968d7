"""Node allocatable from each provider's published reservation rule, and daemonset overhead.

allocatable = capacity - kube-reserved - system-reserved - eviction threshold, as the kubelet
computes it (kubernetes.io/docs/tasks/administer-cluster/reserve-compute-resources). What
differs per provider is how each term is chosen; each rule below names where it comes from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from capacity.catalog import NodeType, ReservationRule
from capacity.errors import ConfigError
from capacity.model.derivation import Figure, InputValue, derive
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
EKS_POD_IPS_SOURCE = (
    "amazon-eks-ami max-pods-calculator.sh (https://github.com/awslabs/amazon-eks-ami, "
    "files/max-pods-calculator.sh, calculate_max_ip_addresses_secondary_ips): max pods = ENIs x "
    "(IPv4 per ENI - 1) + 2, where ENIs x (IPv4 per ENI - 1) are the VPC CNI's pod IPs (each ENI's "
    "primary address is the ENI's own) and the +2 are the host-network aws-node and kube-proxy, "
    "which take no pod IP. A maxPods set above the IPs admits pods the CNI cannot address: they "
    'stay ContainerCreating ("failed to assign an IP address to container")'
)
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
GKE_DEFAULT_MAX_PODS = 110
GKE_ABOVE_110_PODS_SOURCE = (
    "GKE plan-node-sizes (https://cloud.google.com/kubernetes-engine/docs/concepts/"
    "plan-node-sizes): nodes configured for more than 110 pods "
    "get an extra CPU reservation. UNVERIFIED: the amount was not checked against the page or "
    "the cluster-autoscaler's gce/reserved.go (whose CPU rule, read 2026-12-07, has no max-pods "
    "term), so it is not applied"
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
    # The pod IPs the network gives one node (EKS VPC CNI), None where IPs never bind, and the
    # daemonset pods that take one (host-network pods do not).
    pod_ips: Figure | None = None
    daemonset_pod_ips: Figure | None = None

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
        """Pods the daemonsets leave room for: max-pods slots, and pod IPs where they bind."""
        slots = int(self.max_pods.number() - self.daemonset_pods.number())
        ips = self.free_pod_ips
        return slots if ips is None else min(slots, ips)

    @property
    def free_pod_ips(self) -> int | None:
        if self.pod_ips is None or self.daemonset_pod_ips is None:
            return None
        return int(self.pod_ips.number() - self.daemonset_pod_ips.number())


def pod_ips(node: NodeType, networking: Networking | None = None) -> Figure | None:
    """The pod IPs one node gets from the VPC CNI (EKS), whatever --max-pods says.

    None where the provider sets max pods without ENIs (GKE, AKS: each node's pod range is
    sized for its max pods, so addresses never bind before max pods does).
    """
    if node.provider.max_pods is not None or node.enis is None or node.ipv4_per_eni is None:
        return None
    net = networking or Networking()
    inputs: dict[str, InputValue] = {"enis": node.enis, "ipv4_per_eni": node.ipv4_per_eni}
    if net.max_pods_mode == "prefix-delegation":
        return derive(
            "pod_ips",
            "IPs",
            "enis * (ipv4_per_eni - 1) * 16",
            inputs,
            EKS_PREFIX_SOURCE,
            "prefix delegation: each secondary IPv4 slot holds a /28 prefix of 16 pod addresses",
        )
    if net.max_pods_mode == "custom-networking":
        return derive(
            "pod_ips",
            "IPs",
            "(enis - 1) * (ipv4_per_eni - 1)",
            inputs,
            EKS_CUSTOM_NETWORKING_SOURCE,
            "custom networking: pod IPs come from the secondary ENIs only",
        )
    return derive(
        "pod_ips",
        "IPs",
        "enis * (ipv4_per_eni - 1)",
        inputs,
        EKS_POD_IPS_SOURCE,
        "secondary-IP mode: one secondary IPv4 address per pod; each ENI keeps its primary",
    )


def max_pods(node: NodeType, networking: Networking | None = None) -> Figure:
    net = networking or Networking()
    if net.max_pods is not None:
        low, high, source = PROVIDER_RULES[node.provider.reservation].max_pods_range
        if not low <= net.max_pods <= high:
            raise ConfigError(
                f"max pods {net.max_pods} is outside {node.provider.key}'s accepted range "
                f"{low}-{high} (node type {node.name}); {source}"
            )
        return derive(
            "max_pods",
            "pods",
            "max_pods",
            {"max_pods": net.max_pods},
            source,
            "set with --max-pods",
        )
    if node.max_pods_override is not None:
        return derive(
            "max_pods",
            "pods",
            "max_pods",
            {"max_pods": node.max_pods_override},
            f"catalog entry for {node.name}",
        )
    if node.provider.max_pods is not None:
        return derive(
            "max_pods",
            "pods",
            "max_pods",
            {"max_pods": node.provider.max_pods},
            node.provider.max_pods_source,
        )
    enis, ips = node.enis, node.ipv4_per_eni
    assert enis is not None and ips is not None  # the catalog loader guarantees this
    if net.max_pods_mode == "prefix-delegation":
        return derive(
            "max_pods",
            "pods",
            "min(enis * (ipv4_per_eni - 1) * 16 + 2, (vcpu < 30) * 110 + (vcpu >= 30) * 250)",
            {"enis": enis, "ipv4_per_eni": ips, "vcpu": node.vcpu},
            EKS_PREFIX_SOURCE,
            "prefix delegation: 16 addresses per slot, capped at EKS's recommended maximum",
        )
    if net.max_pods_mode == "custom-networking":
        return derive(
            "max_pods",
            "pods",
            "(enis - 1) * (ipv4_per_eni - 1) + 2",
            {"enis": enis, "ipv4_per_eni": ips},
            EKS_CUSTOM_NETWORKING_SOURCE,
            "custom networking: pods use the secondary ENIs only",
        )
    return derive(
        "max_pods",
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
        return derive(
            "memory_capacity_bytes",
            "bytes",
            "nominal_bytes - (nominal_bytes // 64 + 16 * mib"
            " + (nominal_bytes > swiotlb_threshold_bytes) * 64 * mib)",
            {"nominal_bytes": node.memory_bytes, "mib": MIB, "swiotlb_threshold_bytes": 3 * GIB},
            rule.source,
        )
    return derive(
        "memory_capacity_bytes",
        "bytes",
        "floor(nominal_bytes * (1 - overhead_fraction))",
        {"nominal_bytes": node.memory_bytes, "overhead_fraction": rule.overhead_fraction},
        rule.source,
    )


# ---- the providers' rules, as data -------------------------------------------------------

# A tiered reservation: (rate, upper bound of the bracket; None for everything above).
Tiers = tuple[tuple[float, int | None], ...]

# CPU, EKS and GKE alike: 6% of the first core, 1% of the second, 0.5% of cores 3-4, 0.25% above.
CPU_TIERS_MILLICORES: Tiers = ((0.06, 1000), (0.01, 2000), (0.005, 4000), (0.0025, None))
# GKE memory: 25% of the first 4 GB, 20% of the next 4, 10% of the next 8, 6% of the next 112,
# 2% above 128 GB (GB brackets of 1000 MiB, as GKE computes them).
GKE_MEMORY_TIERS_MIB: Tiers = (
    (0.25, 4000),
    (0.2, 8000),
    (0.1, 16000),
    (0.06, 128000),
    (0.02, None),
)
GKE_MEMORY_FLOOR_BELOW_MIB = 1000  # machines with at most 1 GB get 255 MiB
# AKS CPU: 60m, plus per core (millicores per core, from core, to core; None: no end).
AKS_CPU_BASE_MILLICORES = 60
AKS_CPU_STEPS: tuple[tuple[int, int, int | None], ...] = ((40, 1, 2), (20, 2, 4), (10, 4, None))


def tier_terms(variable: str, tiers: Tiers) -> list[str]:
    """One formula term per bracket: `rate * (the part of variable inside the bracket)`."""
    terms = []
    start = 0
    for rate, end in tiers:
        if end is None:
            part = f"max(0, {variable} - {start})" if start else variable
        elif start == 0:
            part = f"min({variable}, {end})"
        else:
            part = f"max(0, min({variable}, {end}) - {start})"
        terms.append(f"{rate!r} * {part}")
        start = end or start
    return terms


def _tiered_cpu(node: NodeType, source: str, *, per_tier_floor: bool) -> Figure:
    terms = tier_terms("cpu_millicores", CPU_TIERS_MILLICORES)
    if per_tier_floor:  # EKS's bash arithmetic truncates each tier
        formula = " + ".join(f"floor({t})" for t in terms)
    else:  # GKE sums the tiers as floats and truncates once
        formula = "floor(" + " + ".join(terms) + ")"
    return derive(
        "kube_reserved_cpu_millicores",
        "millicores",
        formula,
        {"cpu_millicores": node.vcpu * 1000},
        source,
    )


def _eks_cpu(node: NodeType, pods: Figure) -> Figure:
    return _tiered_cpu(node, EKS_SOURCE, per_tier_floor=True)


def _gke_cpu(node: NodeType, pods: Figure) -> Figure:
    figure = _tiered_cpu(node, GKE_SOURCE, per_tier_floor=False)
    if pods.number() <= GKE_DEFAULT_MAX_PODS:
        return figure
    # GKE says it reserves more CPU on nodes set for more than 110 pods, but the amount could
    # not be checked against a source when this was written (no network): rather than invent
    # one, the figure keeps the tiers and says that it is an upper bound of allocatable CPU.
    return replace(
        figure,
        source=f"{figure.source}; {GKE_ABOVE_110_PODS_SOURCE}",
        explanation=f"max pods {int(pods.number())} > {GKE_DEFAULT_MAX_PODS}: GKE reserves "
        "additional CPU that this kit could not verify from a source, so this reservation "
        "is a lower bound (allocatable CPU an upper bound); read the node's allocatable CPU with "
        "`kubectl describe node`",
    )


def _aks_cpu(node: NodeType, pods: Figure) -> Figure:
    terms = [str(AKS_CPU_BASE_MILLICORES)]
    for per_core, start, end in AKS_CPU_STEPS:
        part = (
            f"max(0, cores - {start})"
            if end is None
            else f"min({end - start}, max(0, cores - {start}))"
        )
        terms.append(f"{per_core} * {part}")
    return derive(
        "kube_reserved_cpu_millicores",
        "millicores",
        " + ".join(terms),
        {"cores": node.vcpu},
        AKS_SOURCE,
    )


def _kube_reserved_memory(
    formula: str, inputs: dict[str, InputValue], source: str, explanation: str = ""
) -> Figure:
    return derive("kube_reserved_memory_bytes", "bytes", formula, inputs, source, explanation)


def _eks_memory(node: NodeType, pods: Figure) -> Figure:
    inputs: dict[str, InputValue] = {"max_pods": int(pods.number()), "mib": MIB}
    return _kube_reserved_memory("(11 * max_pods + 255) * mib", inputs, EKS_SOURCE)


def _gke_memory(node: NodeType, pods: Figure) -> Figure:
    inputs: dict[str, InputValue] = {"nominal_mib": node.memory_bytes // MIB, "mib": MIB}
    if node.memory_bytes // MIB <= GKE_MEMORY_FLOOR_BELOW_MIB:
        minimum = "machines with at most 1 GB get the 255 MiB minimum"
        return _kube_reserved_memory("255 * mib", inputs, GKE_SOURCE, minimum)
    tiers = " + ".join(tier_terms("nominal_mib", GKE_MEMORY_TIERS_MIB))
    return _kube_reserved_memory(f"floor({tiers}) * mib", inputs, GKE_SOURCE)


def _aks_memory(node: NodeType, pods: Figure) -> Figure:
    inputs: dict[str, InputValue] = {
        "max_pods": int(pods.number()),
        "nominal_mib": node.memory_bytes // MIB,
        "mib": MIB,
    }
    formula = "floor(min(20 * max_pods + 50, 0.25 * nominal_mib) * mib)"
    return _kube_reserved_memory(formula, inputs, AKS_SOURCE)


@dataclass(frozen=True)
class ProviderRule:
    """How one provider chooses each term of allocatable (see the sources)."""

    kube_reserved_cpu: Callable[[NodeType, Figure], Figure]  # (node, max pods)
    kube_reserved_memory: Callable[[NodeType, Figure], Figure]  # (node, max pods)
    eviction_source: str
    max_pods_range: tuple[int, int, str]  # what --max-pods may set: low, high, source


PROVIDER_RULES: dict[ReservationRule, ProviderRule] = {
    "eks": ProviderRule(
        _eks_cpu,
        _eks_memory,
        EKS_EVICTION_SOURCE,
        (
            1,
            250,
            "EKS: nodeadm's kubelet maxPods can be set explicitly (NodeConfig "
            "spec.kubelet.config.maxPods); above the network mode's IP limit pods cannot get "
            "addresses",
        ),
    ),
    "gke": ProviderRule(
        _gke_cpu,
        _gke_memory,
        GKE_EVICTION_SOURCE,
        (
            8,
            256,
            "GKE Standard: maximum pods per node is configurable from 8 to 256 "
            "(https://cloud.google.com/kubernetes-engine/docs/how-to/flexible-pod-cidr)",
        ),
    ),
    "aks": ProviderRule(
        _aks_cpu,
        _aks_memory,
        AKS_EVICTION_SOURCE,
        (
            10,
            250,
            "AKS: --max-pods is configurable from 10 to 250 "
            "(https://learn.microsoft.com/azure/aks/azure-cni-overlay#maximum-pods-per-node)",
        ),
    ),
}


def eviction_memory_bytes(source: str) -> Figure:
    """The hard eviction threshold, the same on every provider: memory.available < 100Mi."""
    return derive("eviction_memory_bytes", "bytes", "100 * mib", {"mib": MIB}, source)


def node_allocatable(node: NodeType, networking: Networking | None = None) -> NodeAllocatable:
    pods = max_pods(node, networking)
    capacity = memory_capacity_bytes(node)
    rule = PROVIDER_RULES[node.provider.reservation]
    cpu_reserved = rule.kube_reserved_cpu(node, pods)
    memory_reserved = rule.kube_reserved_memory(node, pods)
    eviction = eviction_memory_bytes(rule.eviction_source)
    allocatable_cpu = derive(
        "allocatable_cpu_millicores",
        "millicores",
        "vcpu * 1000 - kube_reserved_cpu_millicores",
        {"vcpu": node.vcpu, "kube_reserved_cpu_millicores": cpu_reserved.value},
        "kubelet: allocatable = capacity - kube-reserved - system-reserved (none here)",
    )
    allocatable_memory = derive(
        "allocatable_memory_bytes",
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
    ds_cpu, ds_memory = (
        derive(
            kind,
            unit,
            f"sum({kind})",
            {kind: requests},
            ds_source,
            f"requests of {names}",
        )
        for kind, unit, requests in (
            ("daemonset_cpu_millicores", "millicores", [d.cpu_millicores for d in daemonsets]),
            ("daemonset_memory_bytes", "bytes", [d.memory_bytes for d in daemonsets]),
        )
    )
    ds_pods = derive(
        "daemonset_pods",
        "pods",
        "len(daemonset_names)",
        {"daemonset_names": [d.name for d in daemonsets]},
        ds_source,
        "each daemonset runs one pod per node, which takes one of the max-pods slots",
    )
    price = derive(
        "usd_per_hour",
        "USD/hour",
        "usd_per_hour",
        {"usd_per_hour": node.usd_per_hour},
        node.price_source,
    )
    ips = pod_ips(node, networking)
    ds_ips = None
    if ips is not None:
        ds_ips = derive(
            "daemonset_pod_ips",
            "IPs",
            "len(daemonset_names)",
            {"daemonset_names": [d.name for d in daemonsets if not d.host_network]},
            ds_source,
            "daemonset pods on the pod network take a pod IP each; host-network ones ("
            + (", ".join(d.name for d in daemonsets if d.host_network) or "none")
            + ") use the node's",
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
        pod_ips=ips,
        daemonset_pod_ips=ds_ips,
    )
