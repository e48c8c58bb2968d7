"""A small evaluator of Kubernetes NetworkPolicy semantics over manifests, for the policy tests.

It answers "may a pod with these labels, in this namespace, open a TCP connection to that pod on
that port?" the way the NetworkPolicy API defines it: a direction is open unless some policy of
the pod's namespace selects the pod for that direction, and then only what one of those
policies' rules admits is open. Peers: podSelector (the policy's namespace), namespaceSelector
(+ podSelector), and ipBlock - which, conservatively, is taken to match pods too (the API leaves
pod IPs inside an ipBlock to the implementation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.deploy.policy import pod_spec


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: Mapping[str, str]
    namespace_labels: Mapping[str, str] = field(default_factory=dict)


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector: {} (or None in a peer with another selector) selects everything."""
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def _peer_matches(peer: Mapping[str, Any], policy_ns: str, other: Pod) -> bool:
    if "ipBlock" in peer:
        return True  # conservative: may match pod IPs
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], other.namespace_labels):
            return False
        return selects(peer.get("podSelector"), other.labels)
    return other.namespace == policy_ns and selects(peer.get("podSelector"), other.labels)


def _port_matches(rule: Mapping[str, Any], port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    return any(
        p.get("protocol", "TCP") == protocol and ("port" not in p or p["port"] == port)
        for p in ports
    )


def _direction_open(
    policies: list[Mapping[str, Any]],
    subject: Pod,
    other: Pod,
    port: int,
    protocol: str,
    direction: str,  # "Ingress" | "Egress"
) -> bool:
    selecting = [
        p
        for p in policies
        if p["metadata"].get("namespace") == subject.namespace
        and direction in (p["spec"].get("policyTypes") or ["Ingress"])
        and selects(p["spec"].get("podSelector") or {}, subject.labels)
    ]
    if not selecting:
        return True
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in selecting:
        for rule in policy["spec"].get(rules_key) or []:
            peers = rule.get(peers_key)
            peer_ok = not peers or any(
                _peer_matches(peer, subject.namespace, other) for peer in peers
            )
            if peer_ok and _port_matches(rule, port, protocol):
                return True
    return False


def allowed(
    manifests: list[dict[str, Any]], src: Pod, dst: Pod, port: int, protocol: str = "TCP"
) -> bool:
    policies = [m for m in manifests if m["kind"] == "NetworkPolicy"]
    return _direction_open(policies, src, dst, port, protocol, "Egress") and _direction_open(
        policies, dst, src, port, protocol, "Ingress"
    )


def pods_of(manifests: list[dict[str, Any]], namespace: str) -> list[Pod]:
    """One Pod per workload template (its labels), in `namespace`."""
    found = []
    for m in manifests:
        if pod_spec(m) is None or m["kind"] == "Pod":
            continue
        spec = m["spec"]["jobTemplate"]["spec"] if m["kind"] == "CronJob" else m["spec"]
        labels = spec["template"]["metadata"]["labels"]
        ns_labels = {"kubernetes.io/metadata.name": namespace}
        found.append(Pod(f"{m['kind']}/{m['metadata']['name']}", namespace, labels, ns_labels))
    return found
