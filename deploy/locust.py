"""The load generator in the cluster: a Locust master (web API on `web`, which the kit's driver and
Prometheus use) and configurable workers, running the repository's locustfile from a ConfigMap
with the same flags the local run uses (capacity/target/local.py)."""

from __future__ import annotations

import hashlib

import pulumi
import pulumi_kubernetes as k8s

from deploy.settings import Settings
from deploy.specs import (
    LOCUST_IMAGE,
    LOCUST_MASTER_PORT,
    LOCUST_SERVICE,
    LOCUST_UID,
    LOCUST_WEB_PORT,
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

LOCUSTFILE_DIR = "/etc/fwcap/locust"
LOCUSTFILE_NAME = "locustfile.py"
_ENV = {"HOME": "/tmp", "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def master_args() -> list[str]:
    return [
        "-f", f"{LOCUSTFILE_DIR}/{LOCUSTFILE_NAME}", "--loglevel", "WARNING",
        "--master", "--class-picker",
        "--web-host", "0.0.0.0", "--web-port", str(LOCUST_WEB_PORT),
        "--master-bind-host", "0.0.0.0", "--master-bind-port", str(LOCUST_MASTER_PORT),
    ]  # fmt: skip


def worker_args(namespace: str) -> list[str]:
    return [
        "-f", f"{LOCUSTFILE_DIR}/{LOCUSTFILE_NAME}", "--loglevel", "WARNING",
        "--worker", "--master-host", f"{LOCUST_SERVICE}.{namespace}.svc",
        "--master-port", str(LOCUST_MASTER_PORT),
    ]  # fmt: skip


class Locust(pulumi.ComponentResource):
    url: str

    def __init__(
        self,
        resource_name: str,
        settings: Settings,
        namespace: pulumi.Input[str],
        locustfile: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("fwcap:deploy:Locust", resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config_map = k8s.core.v1.ConfigMap(
            f"{resource_name}-locustfile",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="locustfile", namespace=namespace, labels=labels("locust", "locustfile")
            ),
            data={LOCUSTFILE_NAME: locustfile},
            opts=child,
        )
        volume = k8s.core.v1.VolumeArgs(
            name="locustfile",
            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                name=config_map.metadata.apply(lambda m: str(m.name))
            ),
        )
        # A new locustfile rolls master and workers together.
        digest = hashlib.sha256(locustfile.encode()).hexdigest()

        def deployment(
            name: str,
            component: str,
            replicas: int,
            container: k8s.core.v1.ContainerArgs,
        ) -> None:
            k8s.apps.v1.Deployment(
                name,
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=name, namespace=namespace, labels=labels(component, name)
                ),
                spec=k8s.apps.v1.DeploymentSpecArgs(
                    replicas=replicas,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(component, name)),
                    template=k8s.core.v1.PodTemplateSpecArgs(
                        metadata=k8s.meta.v1.ObjectMetaArgs(
                            labels=labels(component, name),
                            annotations={"fwcap/locustfile-sha256": digest},
                        ),
                        spec=k8s.core.v1.PodSpecArgs(
                            automount_service_account_token=False,
                            enable_service_links=False,
                            security_context=pod_security_context(LOCUST_UID),
                            containers=[container],
                            volumes=[volume, empty_dir("tmp", "256Mi")],
                        ),
                    ),
                ),
                opts=child,
            )

        env = [k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in _ENV.items()]
        mounts = [mount("locustfile", LOCUSTFILE_DIR, read_only=True), mount("tmp", "/tmp")]
        # The container is named "locust" in both: Prometheus labels the loadgen series with it.
        deployment(
            LOCUST_SERVICE,
            "locust-master",
            1,
            k8s.core.v1.ContainerArgs(
                name="locust",
                image=LOCUST_IMAGE,
                args=master_args(),
                env=env,
                ports=[
                    k8s.core.v1.ContainerPortArgs(name="web", container_port=LOCUST_WEB_PORT),
                    k8s.core.v1.ContainerPortArgs(name="master", container_port=LOCUST_MASTER_PORT),
                ],
                resources=guaranteed_resources(
                    settings.locust_master_cpu, settings.locust_master_memory
                ),
                security_context=container_security_context(LOCUST_UID),
                readiness_probe=http_probe("/stats/requests", "web", period_s=5),
                liveness_probe=http_probe("/stats/requests", "web", period_s=15, failures=4),
                volume_mounts=mounts,
            ),
        )
        deployment(
            "locust-worker",
            "locust-worker",
            settings.locust_workers,
            k8s.core.v1.ContainerArgs(
                name="locust",
                image=LOCUST_IMAGE,
                args=worker_args(settings.namespace),
                env=env,
                resources=guaranteed_resources(settings.locust_cpu, settings.locust_memory),
                security_context=container_security_context(LOCUST_UID),
                volume_mounts=mounts,
            ),
        )
        k8s.core.v1.Service(
            f"{resource_name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=LOCUST_SERVICE,
                namespace=namespace,
                labels=labels("locust-master", LOCUST_SERVICE),
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector("locust-master", LOCUST_SERVICE),
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="web", port=LOCUST_WEB_PORT, target_port="web", protocol="TCP"
                    ),
                    k8s.core.v1.ServicePortArgs(
                        name="master",
                        port=LOCUST_MASTER_PORT,
                        target_port="master",
                        protocol="TCP",
                    ),
                ],
            ),
            opts=child,
        )
        self.url = in_cluster_url(LOCUST_SERVICE, settings.namespace, LOCUST_WEB_PORT)
        self.register_outputs({"url": self.url})
