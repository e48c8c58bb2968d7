"""Acceptance: every committed stack fits the cluster it documents. All pods the program and the
chart create for the stack (under Pulumi's mocks, chart rendered by Helm) are packed onto the
stack's nodes after what the cluster already runs (tests/deploy/scheduling.py); one pod left over
would stay Pending and fail `pulumi up`'s readiness wait. The same holds for the second
`pulumi up`: the steady state plus every rollout's surge plus the migration Jobs again."""

from __future__ import annotations

import dataclasses

import pytest

from capacity.quantity import format_cpu
from tests.deploy.conftest import Deployed, deployed
from tests.deploy.scheduling import (
    KIND_DOCKER_CPU_MILLICORES,
    KIND_SYSTEM_PODS,
    cluster_for,
    kit_pods,
    pack,
    update_pods,
)


def _checked(stack: Deployed) -> None:
    if not stack.settings.cluster_node_type:
        pytest.fail(
            f"{stack.name} does not say what cluster it is sized for: set fwcap:clusterNodeType "
            "and fwcap:clusterNodes"
        )
    if stack.settings.service_pool or stack.settings.load_pool:
        pytest.fail(f"{stack.name} uses node pools, which this check does not model per pool")


def test_every_pod_of_each_stack_schedules_on_its_documented_cluster(stack: Deployed) -> None:
    _checked(stack)
    cluster = cluster_for(stack.settings)
    pods = kit_pods(stack.all_manifests())
    packing = pack(cluster, pods)
    assert packing.unscheduled == [], (
        f"{stack.name} on {cluster.description}: would stay Pending: "
        + ", ".join(f"{p.name} ({format_cpu(p.cpu_millicores)})" for p in packing.unscheduled)
    )


def test_an_update_of_every_image_fits_its_documented_cluster(stack: Deployed) -> None:
    """Steady state + the largest possible rollout (every Deployment at once) + every migration
    Job: a second `pulumi up` after a code change never leaves a pod Pending."""
    _checked(stack)
    cluster = cluster_for(stack.settings)
    manifests = stack.all_manifests()
    pods = update_pods(manifests)
    jobs = [p for p in pods if p.name.startswith("Job/")]
    assert len(jobs) == len(stack.settings.frameworks)
    packing = pack(cluster, pods)
    assert packing.unscheduled == [], (
        f"{stack.name} on {cluster.description} during an update: would stay Pending: "
        + ", ".join(f"{p.name} ({format_cpu(p.cpu_millicores)})" for p in packing.unscheduled)
    )


def test_without_explicit_strategies_the_update_would_not_fit_on_kind() -> None:
    """Negative control: Kubernetes' default strategy (maxSurge 25%, one extra pod for one
    replica) on the local stack's Deployments asks for more than kind's node has left."""
    stack = deployed("Pulumi.local.yaml")
    defaulted = []
    for m in stack.all_manifests():
        m = dict(m)
        if m["kind"] == "Deployment" and m["spec"].get("strategy", {}).get("type") != "Recreate":
            m["spec"] = {k: v for k, v in m["spec"].items() if k != "strategy"}
        defaulted.append(m)
    assert pack(cluster_for(stack.settings), update_pods(defaulted)).unscheduled


def test_the_pod_list_is_complete(stack: Deployed) -> None:
    """Every workload counts: services, their Jobs, PostgreSQL, the stub, Locust, monitoring."""
    names = {p.name.split("#")[0] for p in kit_pods(stack.all_manifests())}
    frameworks = stack.settings.frameworks
    assert {f"Deployment/{fw}" for fw in frameworks} <= names
    assert len([n for n in names if n.startswith("Job/")]) == len(frameworks)
    expected = {"StatefulSet/postgres", "Deployment/upstream-stub", "Deployment/locust-master"}
    expected.add("Deployment/locust-worker")
    if stack.settings.monitoring_mode == "bundled":
        expected |= {"Deployment/prometheus", "Deployment/grafana", "Deployment/kube-state-metrics"}
    assert expected <= names


def test_kind_leaves_the_documented_cpu_for_the_kit() -> None:
    """docs/deploy.md's arithmetic: 4 CPUs minus kind's own 950m."""
    system = sum(cpu for _, cpu, _ in KIND_SYSTEM_PODS)
    assert system == 950
    assert KIND_DOCKER_CPU_MILLICORES - system == 3050


def test_the_check_fails_when_a_stack_outgrows_its_cluster(stack: Deployed) -> None:
    """Negative control: one more worker-sized pod than the room left makes a pod Pending."""
    _checked(stack)
    cluster = cluster_for(stack.settings)
    pods = kit_pods(stack.all_manifests())
    packing = pack(cluster, pods)
    free = cluster.nodes * cluster.node_cpu_millicores - packing.requested_cpu_millicores
    biggest = max(pods, key=lambda p: p.cpu_millicores)
    extra = dataclasses.replace(biggest, name="extra", cpu_millicores=free // cluster.nodes + 1)
    assert pack(cluster, [*pods, *([extra] * cluster.nodes)]).unscheduled
