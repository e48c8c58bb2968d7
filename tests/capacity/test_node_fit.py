"""Allocatable, max pods and pods per node, checked against hand computations.

Constants used by hand below (from capacity/catalog/nodes.yaml and the provider rules):
  MiB = 1048576, GiB = 1073741824
  EKS: capacity = floor(nominal * 0.925); kube-reserved memory = (11 * maxPods + 255) MiB;
       CPU 6% / 1% / 0.5% / 0.25% tiers; eviction 100 MiB; daemonsets aws-node 50m +
       kube-proxy 100m + ebs-csi-node 30m/104Mi + eks-pod-identity-agent (slot only) = 180m,
       104 MiB (109051904), 4 pods; maxPods = ENIs * (IPs - 1) + 2
  GKE: capacity = nominal - (nominal // 64 + 16 MiB + 64 MiB above 3 GiB); kube-reserved
       memory brackets of 1000 MiB on the nominal MiB; eviction 100 MiB; daemonsets 218m,
       330 MiB, 4 pods; maxPods 110
  AKS: capacity = floor(nominal * 0.925); kube-reserved memory = min(20 * maxPods + 50,
       25% of nominal MiB) MiB; CPU table 2 cores 100m, 4 cores 140m; eviction 100 MiB;
       daemonsets 350m, 470 MiB, 6 pods; maxPods 250
"""

from __future__ import annotations

import dataclasses

import pytest

from capacity.catalog import load_catalog
from capacity.errors import ConfigError
from capacity.model import PodShape, node_allocatable, pods_per_node
from capacity.quantity import parse_cpu_millicores, parse_memory_bytes

MIB = 2**20
CATALOG = load_catalog()


# (node, cpu, memory, max_pods, allocatable_cpu_m, allocatable_memory_bytes, pods, binding)
CASES = [
    # 1. EKS t3.medium, 500m/512Mi. maxPods 3*(6-1)+2 = 17. CPU reserved 60+10 = 70 ->
    #    1930m; free 1930-180 = 1750 -> floor(1750/500) = 3. Memory: floor(4294967296*0.925)
    #    = 3972844748; reserved (11*17+255) = 442 MiB = 463470592; alloc = 3972844748 -
    #    463470592 - 104857600 = 3404516556; free - 109051904 = 3295464652 ->
    #    floor(/536870912) = 6. Slots 17-4 = 13. -> 3, cpu
    ("t3.medium", "500m", "512Mi", 17, 1930, 3404516556, 3, ("cpu",)),
    # 2. EKS t3.medium, 100m/128Mi: cpu floor(1750/100) = 17, memory floor(3295464652/
    #    134217728) = 24, slots 13 -> 13, max_pods
    ("t3.medium", "100m", "128Mi", 17, 1930, 3404516556, 13, ("max_pods",)),
    # 3. EKS m5.large, 250m/1Gi: maxPods 3*9+2 = 29; capacity floor(8589934592*0.925) =
    #    7945689497; reserved 574 MiB = 601882624; alloc = 7945689497-601882624-104857600 =
    #    7238949273; free 7129897369 -> floor(/1073741824) = 6; cpu floor(1750/250) = 7;
    #    slots 25 -> 6, memory
    ("m5.large", "250m", "1Gi", 29, 1930, 7238949273, 6, ("memory",)),
    # 4. EKS m6i.xlarge, 1/2Gi: maxPods 4*14+2 = 58; CPU reserved 60+10+10 = 80 -> 3920;
    #    free 3740 -> 3; capacity floor(17179869184*0.925) = 15891378995; reserved 893 MiB =
    #    936378368; alloc = 15891378995-936378368-104857600 = 14850143027; free
    #    14741091123 -> floor(/2 GiB) = 6; slots 54 -> 3, cpu
    ("m6i.xlarge", "1", "2Gi", 58, 3920, 14850143027, 3, ("cpu",)),
    # 5. EKS c6i.large, 200m/700Mi (734003200): maxPods 29; capacity 3972844748; alloc =
    #    3972844748-601882624-104857600 = 3266104524; free 3157052620 -> floor(/734003200) =
    #    4; cpu floor(1750/200) = 8 -> 4, memory
    ("c6i.large", "200m", "700Mi", 29, 1930, 3266104524, 4, ("memory",)),
    # 6. EKS t3.large, no CPU request, 256Mi: maxPods 3*11+2 = 35; reserved 640 MiB =
    #    671088640; alloc = 7945689497-671088640-104857600 = 7169743257; free 7060691353 ->
    #    floor(/268435456) = 26; slots 31; CPU never binds -> 26, memory
    ("t3.large", "0", "256Mi", 35, 1930, 7169743257, 26, ("memory",)),
    # 7. GKE e2-standard-2, 500m/512Mi: CPU reserved floor(60+10) = 70 -> 1930; free
    #    1930-218 = 1712 -> 3. Memory nominal 8192 MiB; kernel 128+16+64 = 208 -> capacity
    #    7984 MiB; reserved floor(1000+800+0.1*192) = 1819 MiB; alloc 7984-1819-100 = 6065 MiB
    #    = 6359613440; free 6065-330 = 5735 MiB -> floor(5735/512) = 11; slots 106 -> 3, cpu
    ("e2-standard-2", "500m", "512Mi", 110, 1930, 6065 * MIB, 3, ("cpu",)),
    # 8. GKE e2-standard-4, 250m/2Gi: CPU reserved 80 -> 3920; free 3702 -> 14. Memory
    #    nominal 16384 MiB; kernel 256+16+64 = 336 -> 16048; reserved floor(1000+800+800+
    #    0.06*384) = 2623; alloc 16048-2623-100 = 13325 MiB; free 12995 MiB -> floor(/2048)
    #    = 6 -> 6, memory
    ("e2-standard-4", "250m", "2Gi", 110, 3920, 13325 * MIB, 6, ("memory",)),
    # 9. GKE n2-standard-2, 10m/16Mi: cpu floor(1712/10) = 171, memory floor(5735/16) =
    #    358, slots 110-4 = 106 -> 106, max_pods
    ("n2-standard-2", "10m", "16Mi", 110, 1930, 6065 * MIB, 106, ("max_pods",)),
    # 10. AKS Standard_D2s_v5, 500m/512Mi: CPU reserved 100 -> 1900; free 1900-350 = 1550
    #    -> 3. Memory capacity 7945689497; reserved min(20*250+50 = 5050, 0.25*8192 = 2048)
    #    = 2048 MiB = 2147483648; alloc = 7945689497-2147483648-104857600 = 5693348249;
    #    free 5693348249-492830720 = 5200517529 -> floor(/536870912) = 9 -> 3, cpu
    ("Standard_D2s_v5", "500m", "512Mi", 250, 1900, 5693348249, 3, ("cpu",)),
    # 11. AKS Standard_D4s_v5, 1500m/1Gi: CPU reserved 140 -> 3860; free 3510 -> 2. Memory
    #    capacity 15891378995; reserved min(5050, 4096) = 4096 MiB = 4294967296; alloc =
    #    15891378995-4294967296-104857600 = 11491554099; free 10998723379 -> 10 -> 2, cpu
    ("Standard_D4s_v5", "1500m", "1Gi", 250, 3860, 11491554099, 2, ("cpu",)),
    # 12. AKS Standard_D2s_v5, 600m/4Gi: cpu floor(1550/600) = 2; memory floor(5200517529/
    #    4294967296) = 1 -> 1, memory
    ("Standard_D2s_v5", "600m", "4Gi", 250, 1900, 5693348249, 1, ("memory",)),
]


@pytest.mark.parametrize(
    ("node", "cpu", "memory", "max_pods", "alloc_cpu", "alloc_mem", "pods", "binding"), CASES
)
def test_pods_per_node_matches_hand_computation(
    node: str,
    cpu: str,
    memory: str,
    max_pods: int,
    alloc_cpu: int,
    alloc_mem: int,
    pods: int,
    binding: tuple[str, ...],
) -> None:
    allocatable = node_allocatable(CATALOG.node(node))
    fit = pods_per_node(
        allocatable, PodShape(parse_cpu_millicores(cpu), parse_memory_bytes(memory))
    )
    assert allocatable.max_pods.value == max_pods
    assert allocatable.allocatable_cpu_millicores.value == alloc_cpu
    assert allocatable.allocatable_memory_bytes.value == alloc_mem
    assert fit.pods_per_node.value == pods
    assert fit.binding == binding


def test_aks_with_30_max_pods_reserves_by_pod_count() -> None:
    # kubenet-style 30 pods: reserved min(20*30+50 = 650, 2048) = 650 MiB = 681574400;
    # alloc = 7945689497-681574400-104857600 = 7159257497; free 7159257497-492830720 =
    # 6666426777 -> 100m/256Mi: memory floor(/268435456) = 24, cpu floor(1550/100) = 15,
    # slots 30-6 = 24 -> 15, cpu
    node = dataclasses.replace(CATALOG.node("Standard_D2s_v5"), max_pods_override=30)
    allocatable = node_allocatable(node)
    assert allocatable.kube_reserved_memory_bytes.value == 650 * MIB
    assert allocatable.allocatable_memory_bytes.value == 7159257497
    fit = pods_per_node(allocatable, PodShape(100, 256 * MIB))
    assert (fit.pods_per_node.value, fit.binding) == (15, ("cpu",))


@pytest.mark.parametrize(
    ("node", "max_pods"), [("t3.medium", 17), ("m5.large", 29), ("m6i.xlarge", 58)]
)
def test_eks_vpc_cni_max_pods(node: str, max_pods: int) -> None:
    assert node_allocatable(CATALOG.node(node)).max_pods.value == max_pods


@pytest.mark.parametrize(("node", "reserved_m"), [("t3.medium", 70), ("m6i.xlarge", 80)])
def test_eks_kube_reserved_cpu_tiers(node: str, reserved_m: int) -> None:
    assert node_allocatable(CATALOG.node(node)).kube_reserved_cpu_millicores.value == reserved_m


def test_eks_kube_reserved_memory_and_eviction() -> None:
    a = node_allocatable(CATALOG.node("t3.medium"))
    assert a.kube_reserved_memory_bytes.value == (11 * 17 + 255) * MIB
    assert a.eviction_memory_bytes.value == 100 * MIB


def test_eks_cpu_tiers_above_four_cores() -> None:
    # 8 vCPU: 60 + 10 + 10 + floor(4000 * 0.0025) = 90m
    node = dataclasses.replace(CATALOG.node("m6i.xlarge"), vcpu=8)
    assert node_allocatable(node).kube_reserved_cpu_millicores.value == 90


def test_aks_cpu_formula_reproduces_the_published_table() -> None:
    published = {1: 60, 2: 100, 4: 140, 8: 180, 16: 260, 32: 420, 64: 740}
    base = CATALOG.node("Standard_D2s_v5")
    for cores, reserved in published.items():
        node = dataclasses.replace(base, vcpu=cores)
        assert node_allocatable(node).kube_reserved_cpu_millicores.value == reserved


def test_gke_small_machine_gets_the_255_mib_minimum() -> None:
    node = dataclasses.replace(CATALOG.node("e2-standard-2"), memory_bytes=1000 * MIB)
    assert node_allocatable(node).kube_reserved_memory_bytes.value == 255 * MIB


def test_a_pod_larger_than_the_node_fits_zero_times() -> None:
    fit = pods_per_node(node_allocatable(CATALOG.node("t3.medium")), PodShape(4000, 256 * MIB))
    assert (fit.pods_per_node.value, fit.binding) == (0, ("cpu",))


def test_unknown_node_type_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        CATALOG.node("t2.nano")
    assert "'t2.nano'" in str(caught.value)
    for name in ("t3.medium", "e2-standard-2", "Standard_D2s_v5"):
        assert name in str(caught.value)


def test_catalog_has_every_required_node_type_with_a_dated_price() -> None:
    required = {
        "t3.medium",
        "t3.large",
        "m5.large",
        "m6i.large",
        "m6i.xlarge",
        "c6i.large",
        "c6i.xlarge",
        "e2-standard-2",
        "e2-standard-4",
        "n2-standard-2",
        "Standard_D2s_v5",
        "Standard_D4s_v5",
    }
    assert required <= set(CATALOG.names)
    for node in CATALOG.node_types:
        assert node.usd_per_hour > 0 and node.price_url.startswith("https://")
        assert node.price_as_of.year >= 2024


@pytest.mark.parametrize(
    ("shape", "needle"),
    [
        (dict(cpu_millicores=-1, memory_bytes=MIB), "CPU request -1m"),
        (dict(cpu_millicores=100, memory_bytes=-5), "memory request -5 bytes"),
        (dict(cpu_millicores=100, memory_bytes=MIB, workers=0), "workers 0"),
    ],
)
def test_a_pod_shape_refuses_negative_requests_naming_the_value(
    shape: dict[str, int], needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        PodShape(**shape)


def test_the_plan_the_targets_and_the_model_share_one_pod_shape() -> None:
    from capacity.model.fit import PodShape as ModelShape
    from capacity.target.base import PodShape as TargetShape

    assert ModelShape is TargetShape is PodShape
    assert str(PodShape(500, 512 * MIB)) == "500m CPU / 512Mi"
    assert PodShape(1500, 512 * MIB).effective_workers() == 2


def test_a_bad_quantity_in_the_catalog_names_the_file_field_and_value(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from capacity.catalog import DEFAULT_CATALOG

    text = DEFAULT_CATALOG.read_text(encoding="utf-8").replace("cpu: 30m", "cpu: 30 m", 1)
    path = tmp_path / "nodes.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_catalog(path)
    message = str(caught.value)
    assert str(path) in message and "daemonsets" in message and "'30 m'" in message
    assert "500m" in message  # what is accepted


# Pod IPs (EKS VPC CNI): (node, --max-pods, --max-pods-mode, pod IPs, pods per node, binding).
# Daemonsets on the pod network: ebs-csi-node only (aws-node, kube-proxy and
# eks-pod-identity-agent are host-network), so one IP goes to daemonsets.
IP_CASES = [
    # t3.medium 100m/128Mi: 3 x (6 - 1) = 15 IPs - 1 = 14; slots 50 - 4 = 46; CPU
    # floor(1750 / 100) = 17; memory with maxPods 50: reserved (11*50+255) MiB = 844103680 ->
    # alloc 3972844748 - 844103680 - 104857600 = 3023883468, free 2914831564 / 134217728 = 21.
    ("t3.medium", 50, "default", 15, 14, ("pod_ips",)),
    # The default maxPods 17 leaves 13 slots, one below the 14 IPs: max pods binds, not IPs.
    ("t3.medium", None, "default", 15, 13, ("max_pods",)),
    # m5.large 3 x (10 - 1) = 27 IPs - 1 = 26; maxPods 100 -> 96 slots; CPU 17, memory
    # (8 GiB: 7945689497 - (11*100+255) MiB - 100 MiB - 104 MiB) // 128 MiB = 47 -> 17, cpu
    ("m5.large", 100, "default", 27, 17, ("cpu",)),
    # custom networking: (3 - 1) x 5 = 10 IPs - 1 = 9 < 17 - 4 = 13 slots... maxPods is
    # (3 - 1) x 5 + 2 = 12 -> 8 slots, so max pods binds (its rule already drops the ENI).
    ("t3.medium", None, "custom-networking", 10, 8, ("max_pods",)),
    # prefix delegation: 3 x 5 x 16 = 240 IPs; maxPods min(242, 110) = 110, so kube-reserved
    # memory is (11*110+255) MiB = 1536163840 -> alloc 3972844748 - 1536163840 - 104857600 =
    # 2331823308, free 2222771404 / 134217728 = 16.56 -> 16, memory (CPU 17).
    ("t3.medium", None, "prefix-delegation", 240, 16, ("memory",)),
]


@pytest.mark.parametrize(("node", "max_pods", "mode", "ips", "pods", "binding"), IP_CASES)
def test_pods_per_node_are_capped_by_the_pod_ips_in_secondary_ip_mode(
    node: str, max_pods: int | None, mode: str, ips: int, pods: int, binding: tuple[str, ...]
) -> None:
    from capacity.model.allocatable import Networking

    net = Networking(max_pods_mode=mode, max_pods=max_pods)  # type: ignore[arg-type]
    alloc = node_allocatable(CATALOG.node(node), net)
    assert alloc.pod_ips is not None and alloc.pod_ips.value == ips
    assert alloc.daemonset_pod_ips is not None and alloc.daemonset_pod_ips.value == 1
    fit = pods_per_node(alloc, PodShape(100, 128 * MIB))
    assert fit.pods_per_node.value == pods
    assert fit.binding == binding
    assert fit.by_pod_ips is not None and fit.by_pod_ips.value == ips - 1


def test_gke_and_aks_have_no_pod_ip_cap() -> None:
    for name in ("e2-standard-2", "Standard_D2s_v5"):
        alloc = node_allocatable(CATALOG.node(name))
        assert alloc.pod_ips is None
        assert pods_per_node(alloc, PodShape(100, 128 * MIB)).by_pod_ips is None


@pytest.mark.parametrize(("max_pods", "flagged"), [(110, False), (111, True), (256, True)])
def test_gke_above_110_pods_says_its_extra_cpu_reservation_is_unverified(
    max_pods: int, flagged: bool
) -> None:
    # e2-standard-2 with --max-pods 256: the tiers give 60 + 10 = 70m whatever max pods is; GKE's
    # extra reservation above 110 pods is not applied (unverified) and the figure says so.
    from capacity.model.allocatable import Networking

    alloc = node_allocatable(CATALOG.node("e2-standard-2"), Networking(max_pods=max_pods))
    cpu = alloc.kube_reserved_cpu_millicores
    assert cpu.value == 70 and alloc.allocatable_cpu_millicores.value == 1930
    assert ("UNVERIFIED" in cpu.source) is flagged
    assert ("upper bound" in cpu.explanation) is flagged
    # 256 slots - 4 daemonsets = 252; memory (GKE's reservation has no max-pods term) and CPU
    # bind first: 100m pods -> floor((1930 - 218) / 100) = 17.
    assert pods_per_node(alloc, PodShape(100, 128 * MIB)).pods_per_node.value == 17
