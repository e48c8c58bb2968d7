"""Pure builders of NetworkPolicies: default-deny in the namespace, then one explicit allow per
conversation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi_kubernetes as k8s

from deploy.specs.names import COMPONENT


@dataclass(frozen=True)
class Allow:
    """One NetworkPolicy rule: these peers, on these TCP ports (UDP for `udp_ports`)."""

    peers: tuple[k8s.networking.v1.NetworkPolicyPeerArgs, ...]
    ports: tuple[int, ...]
    udp_ports: tuple[int, ...] = ()

    def _ports(self) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
        return [
            k8s.networking.v1.NetworkPolicyPortArgs(port=p, protocol="UDP") for p in self.udp_ports
        ] + [k8s.networking.v1.NetworkPolicyPortArgs(port=p, protocol="TCP") for p in self.ports]

    def ingress(self) -> k8s.networking.v1.NetworkPolicyIngressRuleArgs:
        return k8s.networking.v1.NetworkPolicyIngressRuleArgs(
            from_=list(self.peers), ports=self._ports()
        )

    def egress(self) -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
        return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
            to=list(self.peers), ports=self._ports()
        )


def pods(*components: str) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """Pods of this namespace with one of these components."""
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(
            match_expressions=[
                k8s.meta.v1.LabelSelectorRequirementArgs(
                    key=COMPONENT, operator="In", values=sorted(components)
                )
            ]
        )
    )


def namespace_peer(
    namespace: str, pod_labels: Mapping[str, str] | None = None
) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(
            match_labels={"kubernetes.io/metadata.name": namespace}
        ),
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(pod_labels))
        if pod_labels
        else None,
    )


def addresses(cidrs: Sequence[str]) -> tuple[k8s.networking.v1.NetworkPolicyPeerArgs, ...]:
    """Peers outside any pod (the kubelets, the API server): their addresses, from stack config
    (fwcap:nodeCidrs, fwcap:apiServerCidrs) - never 0.0.0.0/0, which would let a token-holding
    pod reach the internet."""
    return tuple(
        k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=c))
        for c in cidrs
    )


# Cluster DNS: CoreDNS carries k8s-app=kube-dns on kind, k3d, minikube and EKS.
DNS_PEER = namespace_peer("kube-system", {"k8s-app": "kube-dns"})


def network_policy_spec(
    pod_selector: Mapping[str, str],
    *,
    ingress: Sequence[Allow] = (),
    egress: Sequence[Allow] = (),
) -> k8s.networking.v1.NetworkPolicySpecArgs:
    """Both directions are always listed as policy types, so an empty list denies that way."""
    return k8s.networking.v1.NetworkPolicySpecArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(pod_selector)),
        policy_types=["Ingress", "Egress"],
        ingress=[a.ingress() for a in ingress],
        egress=[a.egress() for a in egress],
    )


@dataclass(frozen=True)
class Scrapers:
    """Who scrapes the kit: the bundled Prometheus, or an existing one in `namespace`."""

    mode: str  # fwcap:monitoringMode: "bundled" or "existing"
    namespace: str  # the existing Prometheus' namespace (unused when bundled)


def monitoring_peers(scrapers: Scrapers) -> tuple[k8s.networking.v1.NetworkPolicyPeerArgs, ...]:
    """The bundled Prometheus, or every pod of the monitoring namespace."""
    if scrapers.mode == "existing":
        return (namespace_peer(scrapers.namespace),)
    return (pods("prometheus"),)
