"""The "this cluster" table: nodes and daemonset pods read from the (fake) API, then the
scheduler's arithmetic on the user's own nodes, nodes needed and cost when the catalog knows
the instance type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from capacity.catalog import load_catalog
from capacity.model.cost import HOURS_PER_MONTH
from capacity.model.fit import PodShape
from capacity.model.own_nodes import ClusterNode, size_cluster
from capacity.target.k8s.kubeapi import KubeAccess
from capacity.target.k8s.nodes import read_cluster_nodes
from tests.kube.fake_api import FakeKube, node, pod

MI = 2**20


def daemonsets(kube: FakeKube, node_name: str) -> None:
    """aws-node (with an init container bigger than its app) and kube-proxy on one node."""
    aws = pod(
        f"aws-node-{node_name}",
        "kube-system",
        {"k8s-app": "aws-node"},
        owner=("DaemonSet", "aws-node"),
        node=node_name,
        containers=[
            {
                "name": "aws-node",
                "image": "aws-node:1",
                "resources": {"requests": {"cpu": "25m", "memory": "40Mi"}},
            }
        ],
    )
    aws["spec"]["initContainers"] = [
        {"name": "init", "image": "aws-init:1", "resources": {"requests": {"cpu": "50m"}}}
    ]
    kube.add(aws)
    kube.add(
        pod(
            f"kube-proxy-{node_name}",
            "kube-system",
            {"k8s-app": "kube-proxy"},
            owner=("DaemonSet", "kube-proxy"),
            node=node_name,
            containers=[
                {
                    "name": "kube-proxy",
                    "image": "kube-proxy:1",
                    "resources": {"requests": {"cpu": "100m"}},
                }
            ],
        )
    )


@pytest.fixture
def cluster(kube: FakeKube) -> FakeKube:
    for name, zone in (("ip-a", "us-east-1a"), ("ip-b", "us-east-1b"), ("ip-c", "us-east-1a")):
        kube.add(
            node(
                name,
                cpu="2",
                memory="3943844Ki",
                alloc_cpu="1930m",
                alloc_memory="3388308Ki",
                pods=17,
                instance_type="t3.medium",
                zone=zone,
            )
        )
        daemonsets(kube, name)
    kube.add(
        node(
            "ip-d",
            cpu="2",
            memory="3943844Ki",
            alloc_cpu="1930m",
            alloc_memory="3388308Ki",
            pods=17,
            instance_type="t3.medium",
            zone="us-east-1b",
            unschedulable=True,
        )
    )  # cordoned: not counted
    kube.add(
        node(
            "kind-worker",
            cpu="4",
            memory="8Gi",
            alloc_cpu="4",
            alloc_memory="8Gi",
            pods=110,
            instance_type=None,
            zone=None,
        )
    )
    done = pod(
        "old-ds-pod",
        "kube-system",
        {"k8s-app": "x"},
        owner=("DaemonSet", "x"),
        node="kind-worker",
        containers=[{"name": "x", "image": "x:1", "resources": {"requests": {"cpu": "3"}}}],
    )
    done["status"]["phase"] = "Succeeded"  # finished pods hold no requests
    kube.add(done)
    kube.add(
        pod(
            "not-a-daemonset",
            "fwcap",
            {"app": "y"},
            node="ip-a",
            containers=[{"name": "y", "image": "y:1", "resources": {"requests": {"cpu": "1"}}}],
        )
    )
    return kube


def test_nodes_and_daemonset_requests_are_read_from_the_api(
    cluster: FakeKube, access: KubeAccess
) -> None:
    nodes = {n.name: n for n in read_cluster_nodes(access.api)}
    a = nodes["ip-a"]
    assert (a.instance_type, a.zone, a.max_pods) == ("t3.medium", "us-east-1a", 17)
    assert a.allocatable_cpu_millicores == 1930 and a.allocatable_memory_bytes == 3388308 * 1024
    # aws-node: max(25m app, 50m init) + kube-proxy 100m; memory 40Mi; the ReplicaSet pod is no DS.
    assert (a.daemonset_pods, a.daemonset_cpu_millicores) == (2, 150)
    assert a.daemonset_memory_bytes == 40 * MI
    kind = nodes["kind-worker"]
    assert kind.instance_type is None and kind.daemonset_pods == 0
    assert not nodes["ip-d"].schedulable


def test_this_cluster_rows_use_the_scheduler_rule_on_real_allocatable(
    cluster: FakeKube, access: KubeAccess
) -> None:
    catalog = load_catalog(None)
    rows = size_cluster(
        read_cluster_nodes(access.api),
        PodShape(500, 512 * MI),
        capacity_per_pod_rps=100,
        target_rps=1000,
        headroom=0.2,
        catalog=catalog,
    )
    by_type = {r.instance_type: r for r in rows}
    t3 = by_type["t3.medium"]
    assert t3.nodes == 3 and t3.zones == ("us-east-1a", "us-east-1b")  # the cordoned one is out
    # CPU binds: floor((1930 - 150) / 500) = 3; memory allows floor((3388308Ki - 40Mi)/512Mi) = 6.
    assert t3.fit.pods_per_node.value == 3 and t3.fit.binding == ("cpu",)
    assert t3.pods_needed == 13  # ceil(1000 / (100 x 0.8))
    assert t3.nodes_needed == 5  # ceil(13 / 3)
    price = catalog.node("t3.medium").usd_per_hour
    assert t3.monthly_usd == pytest.approx(5 * price * HOURS_PER_MONTH, abs=0.01)
    kind = by_type["(unlabelled)"]
    assert kind.fit.pods_per_node.value == 8 and kind.fit.binding == ("cpu",)  # 4000m / 500m
    assert kind.nodes_needed == 2 and kind.monthly_usd is None  # not in the catalog: no price


def test_a_pod_bigger_than_the_nodes_needs_no_count_but_says_so() -> None:
    small = ClusterNode("n", "t3.medium", "z", 2000, 4 * 2**30, 1930, 3 * 2**30, 17, 0, 0, 0)
    (row,) = size_cluster(
        [small], PodShape(4000, MI), capacity_per_pod_rps=50, target_rps=100, headroom=0.2
    )
    assert row.fit.pods_per_node.value == 0 and row.nodes_needed is None


def test_the_table_is_written_beside_the_report(
    cluster: FakeKube, access: KubeAccess, tmp_path: Path
) -> None:
    from dataclasses import asdict

    from capacity.commands.report_cluster import write_this_cluster
    from capacity.measurements import append_record
    from capacity.model.own_nodes import CLUSTER_NODES_FILE
    from capacity.plan import build_plan
    from tests.capacity import synthetic

    measurements = tmp_path / "measurements.jsonl"
    for record in synthetic.run():
        append_record(measurements, record)
    nodes = read_cluster_nodes(access.api)
    (tmp_path / CLUSTER_NODES_FILE).write_text(json.dumps([asdict(n) for n in nodes]))
    path = write_this_cluster(measurements, tmp_path, build_plan(), Console(file=None))
    assert path is not None
    text = path.read_text()
    assert "| t3.medium | 3 | us-east-1a, us-east-1b |" in text
    assert "not in catalog" in text  # the kind node's row
