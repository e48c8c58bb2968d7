"""The kit's namespace: every workload in it must meet the restricted Pod Security Standard."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from deploy.settings import Settings
from deploy.specs import NAMESPACE_LABELS


class KitNamespace(pulumi.ComponentResource):
    """One namespace; `name` is an Output so everything placed in it waits for it."""

    name: pulumi.Output[str]

    def __init__(
        self, resource_name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("fwcap:deploy:Namespace", resource_name, None, opts)
        namespace = k8s.core.v1.Namespace(
            resource_name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=settings.namespace, labels=dict(NAMESPACE_LABELS)
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.name = namespace.metadata.apply(lambda m: str(m.name))
        self.register_outputs({"name": self.name})
