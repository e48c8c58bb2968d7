"""PostgreSQL for both services: one StatefulSet with a volume, a generated password, one database
per framework, and a NetworkPolicy that admits only the services (and their migration Jobs)."""

from __future__ import annotations

import functools

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from deploy.settings import Settings
from deploy.specs import (
    COMPONENT,
    DATABASE_URL_KEY,
    POSTGRES_IMAGE,
    POSTGRES_PORT,
    POSTGRES_SERVICE,
    POSTGRES_UID,
    POSTGRES_USER,
    container_security_context,
    database_secret_name,
    database_url,
    empty_dir,
    guaranteed_resources,
    labels,
    mount,
    pod_security_context,
    postgres_init_sql,
    selector,
)

# The image's own layout for 18+: data under /var/lib/postgresql/<major>/docker, volume above it.
_VOLUME_PATH = "/var/lib/postgresql"
_PGDATA = "/var/lib/postgresql/18/docker"


class Postgres(pulumi.ComponentResource):
    """Exposes `database_secrets`: framework -> name of the Secret holding its DATABASE_URL."""

    database_secrets: dict[str, pulumi.Output[str]]
    host: str

    def __init__(
        self,
        resource_name: str,
        settings: Settings,
        namespace: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("fwcap:deploy:Postgres", resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        name = POSTGRES_SERVICE
        meta_labels = labels("postgres", name)
        self.host = f"{POSTGRES_SERVICE}.{settings.namespace}.svc"

        password = random.RandomPassword(
            f"{resource_name}-password", length=32, special=False, opts=child
        )
        admin = k8s.core.v1.Secret(
            f"{resource_name}-admin",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="postgres-admin", namespace=namespace, labels=meta_labels
            ),
            type="Opaque",
            string_data={"POSTGRES_PASSWORD": password.result},
            opts=child,
        )
        self.database_secrets = {}
        for framework in settings.frameworks:
            secret = k8s.core.v1.Secret(
                f"{resource_name}-db-{framework}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=database_secret_name(framework),
                    namespace=namespace,
                    labels=labels("postgres", framework),
                ),
                type="Opaque",
                string_data={
                    DATABASE_URL_KEY: password.result.apply(
                        functools.partial(database_url, host=self.host, database=framework)
                    )
                },
                opts=child,
            )
            self.database_secrets[framework] = secret.metadata.apply(lambda m: str(m.name))

        init = k8s.core.v1.ConfigMap(
            f"{resource_name}-init",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="postgres-init", namespace=namespace, labels=meta_labels
            ),
            data={"10-databases.sql": postgres_init_sql(settings.frameworks)},
            opts=child,
        )
        port = k8s.core.v1.ServicePortArgs(
            name="postgres", port=POSTGRES_PORT, target_port="postgres", protocol="TCP"
        )
        k8s.core.v1.Service(
            f"{resource_name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=POSTGRES_SERVICE, namespace=namespace, labels=meta_labels
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP", selector=selector("postgres", name), ports=[port]
            ),
            opts=child,
        )
        headless = k8s.core.v1.Service(
            f"{resource_name}-headless",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="postgres-headless", namespace=namespace, labels=meta_labels
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                cluster_ip="None", selector=selector("postgres", name), ports=[port]
            ),
            opts=child,
        )
        # Over TCP on purpose: during first-start initialisation the server listens on its
        # socket only, so the pod turns ready once the real server (and the databases) are up.
        pg_isready = k8s.core.v1.ExecActionArgs(
            command=[
                "pg_isready",
                "-h",
                "127.0.0.1",
                "-p",
                str(POSTGRES_PORT),
                "-U",
                POSTGRES_USER,
                "-d",
                "postgres",
            ]
        )
        ready = k8s.core.v1.ProbeArgs(
            exec_=pg_isready,
            period_seconds=5,
            timeout_seconds=3,
            failure_threshold=6,
        )
        container = k8s.core.v1.ContainerArgs(
            name="postgres",
            image=POSTGRES_IMAGE,
            args=["-c", f"max_connections={settings.postgres_max_connections}"],
            ports=[k8s.core.v1.ContainerPortArgs(name="postgres", container_port=POSTGRES_PORT)],
            env=[
                k8s.core.v1.EnvVarArgs(name="POSTGRES_USER", value=POSTGRES_USER),
                k8s.core.v1.EnvVarArgs(
                    name="POSTGRES_PASSWORD",
                    value_from=k8s.core.v1.EnvVarSourceArgs(
                        secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                            name=admin.metadata.apply(lambda m: str(m.name)),
                            key="POSTGRES_PASSWORD",
                        )
                    ),
                ),
                k8s.core.v1.EnvVarArgs(name="PGDATA", value=_PGDATA),
            ],
            resources=guaranteed_resources(settings.postgres_cpu, settings.postgres_memory),
            security_context=container_security_context(POSTGRES_UID),
            readiness_probe=ready,
            liveness_probe=k8s.core.v1.ProbeArgs(
                exec_=pg_isready,
                period_seconds=10,
                timeout_seconds=5,
                failure_threshold=6,
                initial_delay_seconds=30,
            ),
            volume_mounts=[
                mount("data", _VOLUME_PATH),
                mount("init", "/docker-entrypoint-initdb.d", read_only=True),
                # Read-only root: the server's socket/lock directory and scratch are emptyDirs.
                mount("run", "/var/run/postgresql"),
                mount("tmp", "/tmp"),
            ],
        )
        k8s.apps.v1.StatefulSet(
            resource_name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=meta_labels),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                replicas=1,
                service_name=headless.metadata.apply(lambda m: str(m.name)),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector("postgres", name)),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=meta_labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        enable_service_links=False,
                        security_context=pod_security_context(POSTGRES_UID),
                        containers=[container],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="init",
                                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                                    name=init.metadata.apply(lambda m: str(m.name))
                                ),
                            ),
                            empty_dir("run", "16Mi"),
                            empty_dir("tmp", "256Mi"),
                        ],
                    ),
                ),
                volume_claim_templates=[
                    k8s.core.v1.PersistentVolumeClaimArgs(
                        metadata=k8s.meta.v1.ObjectMetaArgs(name="data", labels=meta_labels),
                        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                            access_modes=["ReadWriteOnce"],
                            storage_class_name=settings.storage_class or None,
                            resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                                requests={"storage": settings.postgres_storage}
                            ),
                        ),
                    )
                ],
            ),
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{resource_name}-policy",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=meta_labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector("postgres", name)),
                policy_types=["Ingress", "Egress"],
                # Only the services and their migration Jobs; PostgreSQL itself calls nobody.
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_expressions=[
                                        k8s.meta.v1.LabelSelectorRequirementArgs(
                                            key=COMPONENT,
                                            operator="In",
                                            values=["service", "migration"],
                                        )
                                    ]
                                )
                            )
                        ],
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(
                                port=POSTGRES_PORT, protocol="TCP"
                            )
                        ],
                    )
                ],
                egress=[],
            ),
            opts=child,
        )
        self.register_outputs({"host": self.host})
