"""Reads the cluster's nodes and its daemonset pods' requests: the inputs of "this cluster".

Quantities are parsed once here (Kubernetes notation, capacity/quantity.py); what leaves this
module is plain frozen values for capacity/model/own_nodes.py.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from capacity.errors import ConfigError, TargetError
from capacity.model.own_nodes import ClusterNode
from capacity.quantity import parse_cpu_millicores, parse_memory_bytes
from capacity.target.k8s.kubeapi import api_call

INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
# Pods in these phases hold no requests on their node any more.
DONE_PHASES = ("Succeeded", "Failed")


def _label(labels: dict[str, str] | None, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if labels and labels.get(key):
            return labels[key]
    return None


def _quantity(node: str, field: str, raw: dict[str, str] | None, key: str) -> int:
    value = (raw or {}).get(key)
    if value is None:
        raise TargetError(f"node {node} reports no {field}.{key}")
    try:
        if key == "cpu":
            return parse_cpu_millicores(value)
        if key == "memory":
            return parse_memory_bytes(value)
        return int(value)
    except (ConfigError, ValueError) as e:
        raise TargetError(f"node {node}: {field}.{key} {value!r} is not a quantity: {e}") from e


def pod_requests(pod: Any) -> tuple[int, int]:
    """The scheduler's view of a pod's requests: sum of containers, at least each init container.

    (Pod overhead, when a RuntimeClass sets one, is added too.)
    """

    def one(container: Any) -> tuple[int, int]:
        req = (container.resources.requests or {}) if container.resources else {}
        cpu = parse_cpu_millicores(req["cpu"]) if "cpu" in req else 0
        mem = parse_memory_bytes(req["memory"]) if "memory" in req else 0
        return cpu, mem

    spec = pod.spec
    apps = [one(c) for c in spec.containers or []]
    inits = [one(c) for c in spec.init_containers or []]
    cpu = max(sum(c for c, _ in apps), max((c for c, _ in inits), default=0))
    mem = max(sum(m for _, m in apps), max((m for _, m in inits), default=0))
    overhead = spec.overhead or {}
    cpu += parse_cpu_millicores(overhead["cpu"]) if "cpu" in overhead else 0
    mem += parse_memory_bytes(overhead["memory"]) if "memory" in overhead else 0
    return cpu, mem


def read_cluster_nodes(api: client.ApiClient) -> list[ClusterNode]:
    """Every node with its allocatable, instance type, zone and its daemonset pods' requests."""
    core = client.CoreV1Api(api)
    # The client's models type every field Optional; the API always sets these, so read as Any.
    nodes: list[Any] = api_call("list nodes", None, core.list_node).items
    pods: list[Any] = api_call(
        "list pods (all namespaces)", None, core.list_pod_for_all_namespaces
    ).items
    per_node: dict[str, list[tuple[int, int]]] = {}
    for pod in pods:
        owners = pod.metadata.owner_references or []
        if not any(o.kind == "DaemonSet" for o in owners):
            continue
        if pod.status and pod.status.phase in DONE_PHASES:
            continue
        if pod.spec.node_name:
            per_node.setdefault(pod.spec.node_name, []).append(pod_requests(pod))
    out = []
    for n in nodes:
        name = n.metadata.name
        labels = n.metadata.labels or {}
        alloc = n.status.allocatable if n.status else None
        cap = n.status.capacity if n.status else None
        ds = per_node.get(name, [])
        unschedulable = bool(n.spec and n.spec.unschedulable)
        out.append(
            ClusterNode(
                name=name,
                instance_type=_label(labels, INSTANCE_TYPE_LABELS),
                zone=_label(labels, ZONE_LABELS),
                capacity_cpu_millicores=_quantity(name, "capacity", cap, "cpu"),
                capacity_memory_bytes=_quantity(name, "capacity", cap, "memory"),
                allocatable_cpu_millicores=_quantity(name, "allocatable", alloc, "cpu"),
                allocatable_memory_bytes=_quantity(name, "allocatable", alloc, "memory"),
                max_pods=_quantity(name, "allocatable", alloc, "pods"),
                daemonset_pods=len(ds),
                daemonset_cpu_millicores=sum(c for c, _ in ds),
                daemonset_memory_bytes=sum(m for _, m in ds),
                schedulable=not unschedulable,
            )
        )
    return out
