"""The kit's namespace: every workload in it must meet the restricted Pod Security Standard, and
no pod talks to any other unless a NetworkPolicy of the kit allows that one conversation."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from deploy.specs.names import NAMESPACE_LABELS, meta
from deploy.specs.network import DNS_PEER, Allow, network_policy_spec

# Selects every pod of the namespace.
ALL_PODS: dict[str, str] = {}


class KitNamespace(pulumi.ComponentResource):
    """One namespace; `name` is an Output so everything placed in it waits for it."""

    name: pulumi.Output[str]

    def __init__(
        self, resource_name: str, namespace: str, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("fwcap:deploy:Namespace", resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        created = k8s.core.v1.Namespace(
            resource_name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=namespace, labels=dict(NAMESPACE_LABELS)),
            opts=child,
        )
        self.name = created.metadata.apply(lambda m: str(m.name))
        # Default deny, both ways: each component's own policy then allows what it needs.
        k8s.networking.v1.NetworkPolicy(
            "default-deny",
            metadata=meta("default-deny", self.name, "namespace"),
            spec=network_policy_spec(ALL_PODS),
            opts=child,
        )
        # Every pod may resolve names (and nothing else through this policy).
        k8s.networking.v1.NetworkPolicy(
            "allow-dns",
            metadata=meta("allow-dns", self.name, "namespace"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=ALL_PODS),
                policy_types=["Egress"],
                egress=[Allow((DNS_PEER,), (53,), udp_ports=(53,)).egress()],
            ),
            opts=child,
        )
        self.register_outputs({"name": self.name})
