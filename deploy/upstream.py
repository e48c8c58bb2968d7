"""The upstream stub the services call for /api/upstream: a Deployment, a Service, and a
NetworkPolicy that admits only the services."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from deploy.service import kit_image
from deploy.settings import Settings
from deploy.specs import (
    COMPONENT,
    KIT_UID,
    UPSTREAM_PORT,
    UPSTREAM_SERVICE,
    container_security_context,
    empty_dir,
    guaranteed_resources,
    http_probe,
    in_cluster_url,
    labels,
    mount,
    pod_security_context,
    selector,
)

# Sized so the stub is never the bottleneck of an /api/upstream measurement (it only sleeps).
UPSTREAM_CPU = "500m"
UPSTREAM_MEMORY = "256Mi"


class UpstreamStub(pulumi.ComponentResource):
    url: str

    def __init__(
        self,
        resource_name: str,
        settings: Settings,
        namespace: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("fwcap:deploy:UpstreamStub", resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        name = UPSTREAM_SERVICE
        meta_labels = labels("upstream-stub", name)
        match = selector("upstream-stub", name)
        image = kit_image("upstream", settings, self)

        container = k8s.core.v1.ContainerArgs(
            name="upstream-stub",
            image=image.apply(lambda ref: ref.ref),
            image_pull_policy=settings.image_pull_policy,
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=UPSTREAM_PORT)],
            env=[k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp")],
            resources=guaranteed_resources(UPSTREAM_CPU, UPSTREAM_MEMORY),
            security_context=container_security_context(KIT_UID),
            readiness_probe=http_probe("/healthz", "http", period_s=5),
            liveness_probe=http_probe("/healthz", "http", period_s=10),
            volume_mounts=[mount("tmp", "/tmp")],
        )
        k8s.apps.v1.Deployment(
            resource_name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=meta_labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=match),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=meta_labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        enable_service_links=False,
                        security_context=pod_security_context(KIT_UID),
                        containers=[container],
                        volumes=[empty_dir("tmp", "64Mi")],
                    ),
                ),
            ),
            opts=child,
        )
        k8s.core.v1.Service(
            f"{resource_name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=meta_labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=match,
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="http", port=UPSTREAM_PORT, target_port="http", protocol="TCP"
                    )
                ],
            ),
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{resource_name}-policy",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=meta_labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=match),
                policy_types=["Ingress", "Egress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels={COMPONENT: "service"}
                                )
                            )
                        ],
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(
                                port=UPSTREAM_PORT, protocol="TCP"
                            )
                        ],
                    )
                ],
                egress=[],  # the stub calls nobody
            ),
            opts=child,
        )
        self.url = in_cluster_url(name, settings.namespace, UPSTREAM_PORT)
        self.register_outputs({"url": self.url})
