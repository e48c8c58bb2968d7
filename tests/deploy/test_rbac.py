"""Acceptance: Prometheus and kube-state-metrics get exactly the API access their scrape config
and flags use - node discovery plus `get nodes/metrics` cluster-wide, pod discovery in the kit's
namespace - and `nodes/proxy` (which allows exec into any pod) appears nowhere in the kit."""

from __future__ import annotations

import copy
import subprocess
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import Deployed
from tests.deploy.harness import ROOT

CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
Grant = tuple[str, str, str]  # (scope, resource, verb); scope "cluster" or "namespace"


def granted(rules_by_scope: dict[str, list[dict[str, Any]]]) -> set[Grant]:
    return {
        (scope, resource, verb)
        for scope, rules in rules_by_scope.items()
        for rule in rules
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def needed_by_config(config: dict[str, Any], namespace: str) -> set[Grant]:
    """What the API server and kubelets will be asked, read from the scrape config itself."""
    needed: set[Grant] = set()
    for job in config["scrape_configs"]:
        for sd in job.get("kubernetes_sd_configs") or []:
            names = (sd.get("namespaces") or {}).get("names") or []
            scope = "namespace" if names == [namespace] else "cluster"
            resource = {"node": "nodes", "pod": "pods"}[sd["role"]]
            needed |= {(scope, resource, "list"), (scope, resource, "watch")}
            if sd["role"] == "node" and job.get("metrics_path", "").startswith("/metrics"):
                # The kubelet authorises /metrics* on its own port as `get nodes/metrics`.
                needed.add(("cluster", "nodes/metrics", "get"))
    return needed


def _prometheus_grants(case: Deployed) -> tuple[set[Grant], set[Grant]]:
    run = case.run
    cluster = run.one(CLUSTER_ROLE, "prometheus-nodes").inputs["rules"]
    namespaced = run.one(ROLE, "prometheus-discovery").inputs["rules"]
    config_map = run.one("kubernetes:core/v1:ConfigMap", "prometheus-config").inputs
    config = yaml.safe_load(config_map["data"]["prometheus.yml"])
    return (
        granted({"cluster": cluster, "namespace": namespaced}),
        needed_by_config(config, case.settings.namespace),
    )


def test_prometheus_rbac_grants_exactly_what_its_scrape_config_uses(case: Deployed) -> None:
    if case.settings.monitoring_mode != "bundled":
        assert case.run.of_type(CLUSTER_ROLE) == []  # existing mode: no cluster-wide grant
        return
    grants, needed = _prometheus_grants(case)
    assert grants == needed
    assert ("cluster", "nodes/metrics", "get") in grants
    assert not [g for g in grants if g[1] == "nodes/proxy"]


def test_the_rbac_comparison_notices_an_extra_grant(case: Deployed) -> None:
    """Negative control: the old `nodes/proxy` rule would make the sets differ."""
    if case.settings.monitoring_mode != "bundled":
        pytest.skip("no bundled Prometheus")
    rules = copy.deepcopy(case.run.one(CLUSTER_ROLE, "prometheus-nodes").inputs["rules"])
    rules.append({"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]})
    _, needed = _prometheus_grants(case)
    assert granted({"cluster": rules}) - needed == {("cluster", "nodes/proxy", "get")}


def test_kube_state_metrics_lists_pods_of_the_kit_namespace_only(case: Deployed) -> None:
    if case.settings.monitoring_mode != "bundled":
        return
    role = case.run.one(ROLE, "kube-state-metrics-discovery").inputs
    assert role["metadata"]["namespace"] == case.settings.namespace
    assert granted({"namespace": role["rules"]}) == {
        ("namespace", "pods", "list"),
        ("namespace", "pods", "watch"),
    }
    deployment = case.run.one("kubernetes:apps/v1:Deployment", "kube-state-metrics").inputs
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    # Namespaced informers: what makes a Role (not a ClusterRole) enough.
    assert f"--namespaces={case.settings.namespace}" in args
    assert "--resources=pods" in args


def test_nodes_proxy_appears_nowhere_in_the_kit() -> None:
    found = subprocess.run(
        ["grep", "-rn", "nodes/proxy", "deploy", "capacity", "charts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 1, found.stdout  # grep: 1 = no match, 2 = error
