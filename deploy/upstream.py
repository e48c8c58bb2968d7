"""The upstream stub the services call for /api/upstream: a Deployment, a Service, and a
NetworkPolicy that admits only the services."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from deploy.service import kit_image
from deploy.settings import Settings
from deploy.specs import (
    KIT_UID,
    UPSTREAM_PORT,
    UPSTREAM_SERVICE,
    Allow,
    Placement,
    cluster_ip_service_spec,
    container,
    deployment_spec,
    empty_dir,
    env_vars,
    http_probes,
    in_cluster_url,
    meta,
    mount,
    network_policy_spec,
    pod_template,
    pods,
    selector,
)

# It only sleeps: memory stays small whatever the load (CPU is the stack's `upstreamCpu`).
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
        name = component = UPSTREAM_SERVICE
        image = kit_image("upstream", settings, self)
        ports = {"http": UPSTREAM_PORT}
        stub = container(
            name,
            image.apply(lambda ref: ref.ref),
            pull_policy=settings.image_pull_policy,
            uid=KIT_UID,
            cpu=settings.upstream_cpu,
            memory=UPSTREAM_MEMORY,
            ports=ports,
            env=env_vars({"HOME": "/tmp"}),
            probes=http_probes("/healthz", "http"),
            mounts=[mount("tmp", "/tmp")],
        )
        template = pod_template(
            component,
            name,
            uid=KIT_UID,
            containers=[stub],
            volumes=[empty_dir("tmp", "64Mi")],
            placement=Placement(pool=settings.load_pool),
        )
        k8s.apps.v1.Deployment(
            resource_name,
            metadata=meta(name, namespace, component),
            spec=deployment_spec(component, name, template),
            opts=child,
        )
        k8s.core.v1.Service(
            f"{resource_name}-service",
            metadata=meta(name, namespace, component),
            spec=cluster_ip_service_spec(component, name, ports),
            opts=child,
        )
        # Only the services call it; the stub calls nobody.
        k8s.networking.v1.NetworkPolicy(
            f"{resource_name}-policy",
            metadata=meta(name, namespace, component),
            spec=network_policy_spec(
                selector(component, name), ingress=[Allow((pods("service"),), (UPSTREAM_PORT,))]
            ),
            opts=child,
        )
        self.url = in_cluster_url(name, settings.namespace, UPSTREAM_PORT)
        self.register_outputs({"url": self.url})
