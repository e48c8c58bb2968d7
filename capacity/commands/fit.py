"""`capacity fit`: how many pods of one shape fit on each node type."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from capacity.catalog import load_catalog
from capacity.commands.common import out
from capacity.commands.options import (
    NETWORKING,
    CatalogOption,
    MaxPodsModeOption,
    MaxPodsOption,
    networking,
)
from capacity.model import node_allocatable, pods_per_node
from capacity.model.fit import NodeFit, PodShape
from capacity.quantity import format_cpu, human_bytes, parse_cpu_millicores, parse_memory_bytes


def _fit_json(fit: NodeFit) -> dict[str, Any]:
    from capacity.report.schema import figure_json

    node = fit.node
    return {
        "node_type": node.node.name,
        "provider": node.node.provider.key,
        "pods_per_node": fit.pods_per_node.value,
        "binding": list(fit.binding),
        "allocatable_cpu_millicores": node.allocatable_cpu_millicores.value,
        "allocatable_memory_bytes": node.allocatable_memory_bytes.value,
        "max_pods": node.max_pods.value,
        "pod_ips": None if node.pod_ips is None else node.pod_ips.value,
        "daemonset_pods": node.daemonset_pods.value,
        "daemonset_cpu_millicores": node.daemonset_cpu_millicores.value,
        "daemonset_memory_bytes": node.daemonset_memory_bytes.value,
        "derivations": {
            f.kind: figure_json(f)
            for f in (
                node.max_pods,
                node.memory_capacity_bytes,
                node.kube_reserved_cpu_millicores,
                node.kube_reserved_memory_bytes,
                node.eviction_memory_bytes,
                node.allocatable_cpu_millicores,
                node.allocatable_memory_bytes,
                node.daemonset_cpu_millicores,
                node.daemonset_memory_bytes,
                node.daemonset_pods,
                *(x for x in (node.pod_ips, node.daemonset_pod_ips) if x is not None),
                *(x for x in (fit.by_cpu, fit.by_memory) if x is not None),
                fit.by_pod_slots,
                *(x for x in (fit.by_pod_ips,) if x is not None),
                fit.pods_per_node,
            )
        },
    }


def fit(
    cpu: Annotated[str, typer.Option(help="CPU request = limit per pod: 500m, 0.5, 1, 2.")],
    memory: Annotated[str, typer.Option(help="Memory request = limit per pod: 512Mi, 1Gi, 1G.")],
    node: Annotated[
        list[str] | None,
        typer.Option("--node", help="Node type (repeatable); default: every catalog node type."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON with derivations.")] = False,
    catalog: CatalogOption = None,
    max_pods_mode: MaxPodsModeOption = NETWORKING.max_pods_mode,
    max_pods: MaxPodsOption = NETWORKING.max_pods,
) -> None:
    """How many pods of one shape fit on a node: allocatable, max pods, the binding constraint."""
    pod = PodShape(parse_cpu_millicores(cpu), parse_memory_bytes(memory))
    nodes = load_catalog(catalog)
    chosen = [nodes.node(n) for n in node] if node else list(nodes.node_types)
    net = networking(max_pods_mode, max_pods)
    fits = [pods_per_node(node_allocatable(n, net), pod) for n in chosen]
    if as_json:
        payload = {
            "pod": {"cpu_millicores": pod.cpu_millicores, "memory_bytes": pod.memory_bytes},
            "nodes": [_fit_json(f) for f in fits],
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    table = Table(title=f"Pods of {pod} per node")
    for column in (
        "node type",
        "provider",
        "allocatable CPU",
        "allocatable memory",
        "max pods",
        "daemonsets",
        "pods/node",
        "binding",
    ):
        table.add_column(column, justify="right" if column.startswith(("max", "pods")) else "left")
    for f in fits:
        n = f.node
        table.add_row(
            n.node.name,
            n.node.provider.key,
            format_cpu(int(n.allocatable_cpu_millicores.number())),
            human_bytes(n.allocatable_memory_bytes.number()),
            str(n.max_pods.value) + ("" if n.pod_ips is None else f" ({n.pod_ips.value} IPs)"),
            f"{n.daemonset_pods.value} pods, "
            f"{format_cpu(int(n.daemonset_cpu_millicores.number()))}"
            f" / {human_bytes(n.daemonset_memory_bytes.number())}",
            str(f.pods_per_node.value),
            ", ".join(f.binding),
        )
    out.print(table)
