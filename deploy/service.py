"""A framework service: its image (built and pushed, or prebuilt) and one release of the
charts/fwcap-service Helm chart, installed through helm.v4.Chart from the local path."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker_build as docker_build
import pulumi_kubernetes as k8s

from deploy.settings import ImageRef, Settings
from deploy.specs import SERVICE_PORT, in_cluster_url, service_chart_values

CHART_PATH = "./charts/fwcap-service"


@dataclass(frozen=True)
class ImageBuild:
    """Where an image of the kit is built from (paths relative to the project directory)."""

    name: str  # django | fastapi | upstream
    context: str
    dockerfile: str
    repository: str  # the name under the stack's registry


def image_build(name: str) -> ImageBuild:
    if name == "upstream":
        # The stub is the one file services/upstream_stub.py plus aiohttp: a small image of its
        # own, so neither service image carries a dependency it does not use.
        return ImageBuild(
            name, "services", "deploy/images/upstream-stub/Dockerfile", "fwcap-upstream-stub"
        )
    return ImageBuild(name, f"services/{name}", f"services/{name}/Dockerfile", f"fwcap-{name}")


def kit_image(name: str, settings: Settings, parent: pulumi.Resource) -> pulumi.Output[ImageRef]:
    """The image for `name`: built and pushed to the stack's registry, or the configured one."""
    if not settings.build_images:
        return pulumi.Output.from_input(settings.prebuilt_image(name))
    build = image_build(name)
    repository = f"{settings.registry}/{build.repository}"
    image = docker_build.Image(
        f"{name}-image",
        tags=[f"{repository}:{settings.image_tag}"],
        push=True,
        context=docker_build.BuildContextArgs(location=build.context),
        dockerfile=docker_build.DockerfileArgs(location=build.dockerfile),
        platforms=[docker_build.Platform(settings.build_platform)],
        opts=pulumi.ResourceOptions(parent=parent),
    )
    # The digest pins the pods to exactly what was pushed, whatever the tag later points at.
    return image.digest.apply(lambda digest: ImageRef(repository, settings.image_tag, digest))


class FrameworkService(pulumi.ComponentResource):
    """One framework's image and chart release; `url` is its in-cluster base URL."""

    url: str
    values: pulumi.Output[dict[str, object]]

    def __init__(
        self,
        framework: str,
        settings: Settings,
        namespace: pulumi.Input[str],
        database_secret: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("fwcap:deploy:FrameworkService", framework, None, opts)
        image = kit_image(framework, settings, self)
        self.values = pulumi.Output.all(image, database_secret).apply(
            lambda args: service_chart_values(settings, framework, args[0], args[1])
        )
        k8s.helm.v4.Chart(
            framework,
            chart=CHART_PATH,
            name=framework,  # the release name: Service, Deployment etc. are named after it
            namespace=namespace,
            values=self.values,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.url = in_cluster_url(framework, settings.namespace, SERVICE_PORT)
        self.register_outputs({"url": self.url})
