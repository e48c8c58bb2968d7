"""`capacity report` against a cluster: the flags' checks, the run on a cluster target, and the
"this cluster" sizing written beside the report.

commands/report.py calls three functions from here when any cluster flag is given:
`cluster_preflight` (every check that needs no load and changes nothing), `cluster_target`
(the cluster or URL target that `capacity.measure.measure` runs the plan on, as it does the
local one) and `write_this_cluster` (pods per node on the user's own nodes, nodes needed, cost
when the catalog prices them).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from rich.console import Console
from rich.table import Table

from capacity.errors import ConfigError
from capacity.plan import Plan, read_plan_file
from capacity.target.base import Target
from capacity.target.k8s.options import ClusterOptions
from capacity.target.k8s.stack import StackOutputs, find_stack, read_stack_outputs
from capacity.target.url import check_url, wait_reachable

# The kubernetes client (seconds to import) loads only once a cluster flag is given.

log = logging.getLogger(__name__)
THIS_CLUSTER_FILE = "this-cluster.md"


def step_given(step_duration: float | None, plan_file: Path | None) -> bool:
    """Did the user set the step length (then a too-short one is an error, not adjusted)?"""
    if step_duration is not None:
        return True
    return plan_file is not None and "step_duration_s" in read_plan_file(plan_file)


def cluster_preflight(options: ClusterOptions) -> StackOutputs | None:
    """Checks in order of cost, none of which sends load or changes the cluster."""
    for flag, url in (
        ("--prometheus-url", options.prometheus_url),
        ("--locust-url", options.locust_url),
    ):
        if url is not None:
            check_url(flag, url)
    if options.url_mode:
        missing = [
            f
            for f, v in (
                ("--prometheus-url", options.prometheus_url),
                ("--locust-url", options.locust_url),
            )
            if v is None
        ]
        if missing:
            raise ConfigError(
                f"{' and '.join(missing)} missing: without --stack (or --kubeconfig/--context) "
                "the run reaches Prometheus and the Locust master only by the URLs you give"
            )
        if options.namespace is None:
            raise ConfigError(
                "--namespace missing: with --prometheus-url and --locust-url it names the "
                "namespace label of the services' series (`local` for the embedded run)"
            )
    # Nothing is created (not even the report folder) before the URLs given answer.
    for flag, url in (
        ("--prometheus-url", options.prometheus_url),
        ("--locust-url", options.locust_url),
    ):
        if url is not None:
            wait_reachable(flag, check_url(flag, url))
    if options.url_mode:
        return None
    from capacity.target.k8s.kubeapi import load_kube

    stack_file = find_stack(options.stack) if options.stack is not None else None
    if options.context is None and stack_file is not None and stack_file.kube_context:
        load_kube(
            options.kubeconfig,
            stack_file.kube_context,
            f"the kubernetes:context of {stack_file.path.name},",
        )
    else:
        load_kube(options.kubeconfig, options.context)
    if stack_file is None:
        if options.namespace is None:
            raise ConfigError("--namespace missing: give --stack NAME or --namespace NS")
        return None
    return read_stack_outputs(stack_file)


def cluster_target(
    plan: Plan, options: ClusterOptions, outputs: StackOutputs | None, *, step_given: bool
) -> Target:
    """The target for the cluster flags (URL mode, or the Kubernetes API), for
    `capacity.measure.measure`; the kubernetes client loads only here."""
    from capacity.target.deployed import make_target

    return make_target(plan, options, outputs, step_given=step_given)


def write_this_cluster(
    measurements: Path, out_dir: Path, plan: Plan, console: Console
) -> Path | None:
    """this-cluster.md: each framework/scenario on the cluster's own nodes (None: no nodes read)."""
    from capacity.catalog import load_catalog
    from capacity.measurements import read_records
    from capacity.model import AnalysisSettings, analyse
    from capacity.model.own_nodes import CLUSTER_NODES_FILE, ClusterNode, size_cluster
    from capacity.run import plan_slo

    nodes_file = out_dir / CLUSTER_NODES_FILE
    if not nodes_file.is_file():
        return None
    nodes = [ClusterNode(**n) for n in json.loads(nodes_file.read_text())]
    catalog = load_catalog(None)
    settings = AnalysisSettings(slo=plan_slo(plan))
    analysis = analyse(read_records(measurements), catalog.node_types, settings)
    table = Table(title=f"This cluster: {len(nodes)} node(s), target {settings.target_rps:g} req/s")
    columns = (
        "series",
        "instance type",
        "nodes now",
        "zones",
        "pods/node",
        "binding",
        "pods needed",
        "nodes needed",
        "USD/month",
    )
    for c in columns:
        table.add_column(c)
    lines = [
        "# This cluster",
        "",
        f"Target load {settings.target_rps:g} req/s, headroom "
        f"{settings.headroom:.0%}; nodes and daemonset requests read from the API.",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for s in analysis.series:
        if s.sizing is None or not s.capacity.capacity_per_pod_rps.defined:
            continue
        per_pod = s.capacity.capacity_per_pod_rps.number()
        if per_pod <= 0:
            continue
        for row in size_cluster(
            nodes,
            s.sizing.shape,
            capacity_per_pod_rps=per_pod,
            target_rps=settings.target_rps,
            headroom=settings.headroom,
            catalog=catalog,
        ):
            cells = [
                s.name,
                row.instance_type,
                str(row.nodes),
                ", ".join(row.zones) or "-",
                str(row.fit.pods_per_node.value),
                ", ".join(row.fit.binding),
                str(row.pods_needed),
                "-" if row.nodes_needed is None else str(row.nodes_needed),
                "not in catalog" if row.monthly_usd is None else f"{row.monthly_usd:,.2f}",
            ]
            table.add_row(*cells)
            lines.append("| " + " | ".join(cells) + " |")
    path = out_dir / THIS_CLUSTER_FILE
    path.write_text("\n".join(lines) + "\n")
    console.print(table)
    return path
