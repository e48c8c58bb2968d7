"""Acceptance: who may talk to whom, evaluated over every manifest the program and the chart
produce (tests/deploy/netpol.py implements the NetworkPolicy semantics). Each claim has a
negative control: the same evaluation on a deliberately weakened copy must find the hole."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

import pytest

from capacity.errors import ConfigError
from deploy.specs.names import LOCUST_MASTER_PORT, LOCUST_WEB_PORT, POSTGRES_PORT, SERVICE_PORT
from deploy.stack_config import load_settings
from tests.deploy.conftest import Deployed
from tests.deploy.harness import ROOT, raw_from_stack_values, stack_values
from tests.deploy.netpol import Pod, allowed, pods_of

COMPONENT = "app.kubernetes.io/component"
# Components allowed to open a connection to PostgreSQL: the services and their migration Jobs.
DATABASE_CLIENTS = {"service", "migration"}
# A pod of another team in another namespace, labelled like the kit's own pods to be sure labels
# alone never let it in.
INTRUDER_LABELS = {COMPONENT: "service"}


def _manifests(case: Deployed) -> list[dict[str, Any]]:
    """Every object, each in the namespace helm.v4.Chart / the program puts it in."""
    namespace = case.settings.namespace
    found = []
    for m in case.all_manifests():
        m = copy.deepcopy(m)
        m["metadata"].setdefault("namespace", namespace)
        found.append(m)
    return found


def _pods(manifests: list[dict[str, Any]], case: Deployed) -> dict[str, Pod]:
    pods = pods_of(manifests, case.settings.namespace)
    return {p.name: p for p in pods}


def _by_component(pods: dict[str, Pod], component: str) -> list[Pod]:
    found = [p for p in pods.values() if p.labels.get(COMPONENT) == component]
    assert found, f"no pod with component {component}"
    return found


def _intruder(namespace: str = "other-team") -> Pod:
    return Pod(
        "Pod/intruder", namespace, INTRUDER_LABELS, {"kubernetes.io/metadata.name": namespace}
    )


def _postgres_clients(manifests: list[dict[str, Any]], case: Deployed) -> set[tuple[str, str]]:
    """(namespace, component) of every pod that may connect to PostgreSQL."""
    pods = _pods(manifests, case)
    [postgres] = _by_component(pods, "postgres")
    candidates = [*pods.values(), _intruder(), _intruder(case.settings.monitoring_namespace)]
    return {
        (p.namespace, p.labels.get(COMPONENT, "?"))
        for p in candidates
        if p is not postgres and allowed(manifests, p, postgres, POSTGRES_PORT)
    }


def _default_deny(manifests: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    return [
        m
        for m in manifests
        if m["kind"] == "NetworkPolicy"
        and m["metadata"]["namespace"] == namespace
        and m["spec"]["podSelector"] in ({}, {"matchLabels": {}})
        and set(m["spec"].get("policyTypes") or []) == {"Ingress", "Egress"}
        and not m["spec"].get("ingress")
        and not m["spec"].get("egress")
    ]


def test_the_namespace_denies_everything_by_default(case: Deployed) -> None:
    manifests = _manifests(case)
    assert len(_default_deny(manifests, case.settings.namespace)) == 1
    # Pods the kit did not plan for (no policy of their own) can neither call nor be called.
    stray = Pod("Pod/stray", case.settings.namespace, {COMPONENT: "debug"})
    other = Pod("Pod/other", case.settings.namespace, {COMPONENT: "debug2"})
    assert not allowed(manifests, stray, other, SERVICE_PORT)
    assert not allowed(manifests, _intruder(), stray, SERVICE_PORT)
    for pod in _pods(manifests, case).values():
        assert not allowed(manifests, stray, pod, SERVICE_PORT)
        assert not allowed(manifests, pod, stray, SERVICE_PORT)


def test_default_deny_check_fails_without_the_policy(case: Deployed) -> None:
    manifests = [m for m in _manifests(case) if m["metadata"]["name"] != "default-deny"]
    assert _default_deny(manifests, case.settings.namespace) == []
    stray = Pod("Pod/stray", case.settings.namespace, {COMPONENT: "debug"})
    # The hole the policy closes: anyone, from any namespace, may call an unplanned pod.
    assert allowed(manifests, _intruder(), stray, SERVICE_PORT)


def test_only_the_services_and_their_jobs_reach_postgresql(case: Deployed) -> None:
    namespace = case.settings.namespace
    clients = DATABASE_CLIENTS | (
        {"postgres-backup"} if case.settings.postgres_backup_schedule else set()
    )
    assert _postgres_clients(_manifests(case), case) == {(namespace, c) for c in clients}


def test_postgresql_check_sees_a_widened_policy(case: Deployed) -> None:
    manifests = _manifests(case)
    [policy] = [
        m for m in manifests if m["kind"] == "NetworkPolicy" and m["metadata"]["name"] == "postgres"
    ]
    # A classic slip: an empty namespaceSelector means every pod of every namespace.
    policy["spec"]["ingress"][0]["from"].append({"namespaceSelector": {}})
    assert ("other-team", "service") in _postgres_clients(manifests, case)


def test_each_conversation_the_kit_needs_is_allowed(case: Deployed) -> None:
    """Least privilege must not break the kit: the calls a measurement makes are all open."""
    manifests = _manifests(case)
    pods = _pods(manifests, case)
    services = _by_component(pods, "service")
    [worker] = _by_component(pods, "locust-worker")
    [master] = _by_component(pods, "locust-master")
    [stub] = _by_component(pods, "upstream-stub")
    [postgres] = _by_component(pods, "postgres")
    for service in services:
        assert allowed(manifests, worker, service, SERVICE_PORT)
        assert allowed(manifests, service, postgres, POSTGRES_PORT)
        assert allowed(manifests, service, stub, 8099)
        assert not allowed(manifests, master, service, SERVICE_PORT)  # it only coordinates
    assert allowed(manifests, worker, master, LOCUST_MASTER_PORT)
    if case.settings.monitoring_mode == "bundled":
        [prometheus] = _by_component(pods, "prometheus")
        [grafana] = _by_component(pods, "grafana")
        [ksm] = _by_component(pods, "kube-state-metrics")
        for service in services:
            assert allowed(manifests, prometheus, service, SERVICE_PORT)
        assert allowed(manifests, prometheus, master, LOCUST_WEB_PORT)
        assert allowed(manifests, prometheus, ksm, 8080)
        assert allowed(manifests, grafana, prometheus, 9090)
        assert not allowed(manifests, worker, prometheus, 9090)
    else:
        scraper = _intruder(case.settings.monitoring_namespace)
        assert allowed(manifests, scraper, master, LOCUST_WEB_PORT)


def test_nobody_outside_the_namespace_reaches_locust_grafana_or_prometheus(case: Deployed) -> None:
    manifests = _manifests(case)
    pods = _pods(manifests, case)
    intruder = _intruder()
    guarded = [("locust-master", LOCUST_WEB_PORT), ("locust-master", LOCUST_MASTER_PORT)]
    if case.settings.monitoring_mode == "bundled":
        guarded += [("grafana", 3000), ("prometheus", 9090)]
    for component, port in guarded:
        for pod in _by_component(pods, component):
            assert not allowed(manifests, intruder, pod, port), (component, port)


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({}, {"a": "1"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {"a": "1"}, True),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {}, False),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": "x"}, True),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": "x"}, False),
    ],
)
def test_label_selector_semantics(
    selector: dict[str, Any], labels: dict[str, str], expected: bool
) -> None:
    from tests.deploy.netpol import selects

    assert selects(selector, labels) is expected


def _peers(manifests: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], list[Any]]]:
    """(policy name, peer, ports) for every ingress and egress peer."""
    found = []
    for m in manifests:
        if m["kind"] != "NetworkPolicy":
            continue
        for rule in m["spec"].get("egress", []) or []:
            found += [(m["metadata"]["name"], p, rule.get("ports", [])) for p in rule.get("to", [])]
        for rule in m["spec"].get("ingress", []) or []:
            found += [
                (m["metadata"]["name"], p, rule.get("ports", [])) for p in rule.get("from", [])
            ]
    return found


def test_no_policy_opens_every_address(case: Deployed) -> None:
    """Acceptance: no peer is 0.0.0.0/0 or ::/0 (the token-holding Prometheus and
    kube-state-metrics reach only the nodes and the API server, by their stated addresses)."""
    wide = [
        (name, peer)
        for name, peer, _ in _peers(case.all_manifests())
        if "ipBlock" in peer and ipaddress.ip_network(peer["ipBlock"]["cidr"]).prefixlen == 0
    ]
    assert wide == []


def test_address_peers_are_the_stacks_cidrs_on_the_kubelet_and_api_ports(case: Deployed) -> None:
    settings = case.settings
    by_policy: dict[str, set[tuple[str, int]]] = {}
    for name, peer, ports in _peers(case.all_manifests()):
        if "ipBlock" in peer:
            by_policy.setdefault(name, set()).update(
                (peer["ipBlock"]["cidr"], p["port"]) for p in ports
            )
    if settings.monitoring_mode != "bundled":
        assert by_policy == {}
        return
    api = {(c, port) for c in settings.api_server_cidrs for port in (443, 6443)}
    nodes = {(c, 10250) for c in settings.node_cidrs}
    assert by_policy == {"prometheus": nodes | api, "kube-state-metrics": api}


@pytest.mark.parametrize("cidrs", [["0.0.0.0/0"], ["::/0"], ["10.0.0.1/8"], ["nodes"]])
def test_every_address_or_a_bad_cidr_is_refused(cidrs: list[str]) -> None:
    local = raw_from_stack_values(stack_values(ROOT / "stacks" / "Pulumi.local.yaml"))
    with pytest.raises(ConfigError, match="fwcap:nodeCidrs"):
        load_settings({**local, "nodeCidrs": cidrs}, ROOT)


def test_bundled_monitoring_needs_the_addresses() -> None:
    local = raw_from_stack_values(stack_values(ROOT / "stacks" / "Pulumi.local.yaml"))
    local.pop("apiServerCidrs")
    with pytest.raises(ConfigError, match=r"fwcap:apiServerCidrs is required .* endpoints"):
        load_settings(local, ROOT)
