"""The upstream stub the services call for /api/upstream: a Deployment, a Service, and a
NetworkPolicy that admits only the services."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from deploy.resources import add_workload
from deploy.service import ImageTarget, KitImages, kit_image
from deploy.specs.names import KIT_UID, UPSTREAM_PORT, UPSTREAM_SERVICE, in_cluster_url
from deploy.specs.network import Allow, pods
from deploy.specs.placement import PodPlacement
from deploy.specs.pods import (
    container,
    drain_first,
    empty_dir,
    env_vars,
    http_probes,
    mount,
    pod_template,
)

# It only sleeps: memory stays small whatever the load (CPU is the stack's `upstreamCpu`).
UPSTREAM_MEMORY = "256Mi"


@dataclass(frozen=True)
class UpstreamInputs:
    namespace: str  # for its in-cluster URL
    images: KitImages
    pull_policy: str
    cpu: str
    placement: PodPlacement


class UpstreamStub(pulumi.ComponentResource):
    url: str

    def __init__(
        self,
        resource_name: str,
        inputs: UpstreamInputs,
        namespace: pulumi.Input[str],
        target: ImageTarget,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("fwcap:deploy:UpstreamStub", resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        name = component = UPSTREAM_SERVICE
        image = kit_image("upstream", inputs.images, target, self)
        ports = {"http": UPSTREAM_PORT}
        stub = container(
            name,
            image.apply(lambda ref: ref.ref),
            pull_policy=inputs.pull_policy,
            uid=KIT_UID,
            cpu=inputs.cpu,
            memory=UPSTREAM_MEMORY,
            ports=ports,
            env=env_vars({"HOME": "/tmp"}),
            probes=http_probes("/healthz", "http"),
            mounts=[mount("tmp", "/tmp")],
            # The services call it on every /api/upstream: drain before aiohttp stops.
            pre_stop=drain_first(),
        )
        template = pod_template(
            component,
            name,
            uid=KIT_UID,
            containers=[stub],
            volumes=[empty_dir("tmp", "64Mi")],
            placement=inputs.placement,
        )
        # Only the services call it; the stub calls nobody.
        add_workload(
            resource_name,
            namespace,
            component,
            name,
            template,
            child,
            ports=ports,
            ingress=[Allow((pods("service"),), (UPSTREAM_PORT,))],
        )
        self.url = in_cluster_url(name, inputs.namespace, UPSTREAM_PORT)
        self.register_outputs({"url": self.url})
