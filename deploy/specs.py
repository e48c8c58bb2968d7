"""Pure builders the components share: names, labels, pinned images, security contexts, resources,
the service chart's values and the config files pods read.

Nothing here creates a resource, so tests call these directly and compare with what the program
registered (e.g. the chart values it passed to helm.v4.Chart).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pulumi_kubernetes as k8s

from capacity.metrics.prometheus_config import render_prometheus_config
from deploy.settings import ImageRef, Settings

PART_OF = "fwcap"
COMPONENT = "app.kubernetes.io/component"
NAME = "app.kubernetes.io/name"

# Ports and Service names: the in-cluster URLs exported for `capacity report --stack`.
SERVICE_PORT = 8000
UPSTREAM_SERVICE = "upstream-stub"
UPSTREAM_PORT = 8099
POSTGRES_SERVICE = "postgres"
POSTGRES_PORT = 5432
POSTGRES_USER = "fwcap"
PROMETHEUS_SERVICE = "prometheus"
PROMETHEUS_PORT = 9090
GRAFANA_SERVICE = "grafana"
GRAFANA_PORT = 3000
LOCUST_SERVICE = "locust-master"
LOCUST_WEB_PORT = 8089
LOCUST_MASTER_PORT = 5557
DATABASE_URL_KEY = "DATABASE_URL"

# Third-party images, pinned (never `latest`); bump them deliberately, together with this comment.
POSTGRES_IMAGE = "postgres:18.1-bookworm"
PROMETHEUS_IMAGE = "prom/prometheus:v3.5.0"
GRAFANA_IMAGE = "grafana/grafana:12.1.1"
LOCUST_IMAGE = "locustio/locust:2.47.0"  # the Locust version the local run uses (uv.lock)

# Non-root identities: each image's own user, so files it ships stay readable.
KIT_UID = 10001  # the kit's images (services, upstream stub)
POSTGRES_UID = 999  # `postgres` in the official Debian-based image
PROMETHEUS_UID = 65534  # `nobody` in prom/prometheus
GRAFANA_UID = 472  # `grafana` in grafana/grafana
LOCUST_UID = 1000  # `locust` in locustio/locust

# Pod Security Standards "restricted", namespace-wide (enforce, plus audit/warn for kubectl users).
NAMESPACE_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
    "pod-security.kubernetes.io/warn": "restricted",
    "app.kubernetes.io/part-of": PART_OF,
}


def labels(component: str, name: str) -> dict[str, str]:
    """Recommended labels; `component` is what Prometheus and NetworkPolicies select on."""
    return {
        NAME: name,
        COMPONENT: component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def selector(component: str, name: str) -> dict[str, str]:
    return {NAME: name, COMPONENT: component}


def in_cluster_url(service: str, namespace: str, port: int) -> str:
    # `<svc>.<ns>.svc` resolves through every pod's DNS search path, whatever the cluster domain.
    return f"http://{service}.{namespace}.svc:{port}"


def database_url(password: str, host: str, database: str) -> str:
    return (
        f"postgresql://{POSTGRES_USER}:{quote(password, safe='')}@{host}:{POSTGRES_PORT}/{database}"
    )


def database_secret_name(framework: str) -> str:
    return f"fwcap-db-{framework}"


def postgres_init_sql(frameworks: tuple[str, ...]) -> str:
    """Run once by the postgres image's entrypoint on an empty volume: one database per service."""
    statements = [f'CREATE DATABASE "{fw}" OWNER "{POSTGRES_USER}";' for fw in frameworks]
    return (
        "-- One database per framework service (deploy/postgres.py).\n"
        + "\n".join(statements)
        + "\n"
    )


def prometheus_config(settings: Settings) -> str:
    """The in-cluster Prometheus config: the same template the local run renders."""
    return render_prometheus_config(
        mode="kubernetes",
        namespace=settings.namespace,
        scrape_interval_s=settings.scrape_interval_seconds,
    )


def pod_security_context(
    uid: int, gid: int | None = None, *, supplemental_groups: list[int] | None = None
) -> k8s.core.v1.PodSecurityContextArgs:
    group = uid if gid is None else gid
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=group,
        fs_group=group,
        supplemental_groups=supplemental_groups,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def container_security_context(uid: int, gid: int | None = None) -> k8s.core.v1.SecurityContextArgs:
    return k8s.core.v1.SecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid if gid is None else gid,
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def guaranteed_resources(cpu: str, memory: str) -> k8s.core.v1.ResourceRequirementsArgs:
    """Requests = limits: Guaranteed QoS, so measurements are not skewed by noisy neighbours."""
    amounts = {"cpu": cpu, "memory": memory}
    return k8s.core.v1.ResourceRequirementsArgs(requests=dict(amounts), limits=dict(amounts))


def empty_dir(name: str, size: str) -> k8s.core.v1.VolumeArgs:
    return k8s.core.v1.VolumeArgs(
        name=name, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=size)
    )


def mount(name: str, path: str, *, read_only: bool = False) -> k8s.core.v1.VolumeMountArgs:
    return k8s.core.v1.VolumeMountArgs(name=name, mount_path=path, read_only=read_only or None)


def http_probe(path: str, port: str, *, period_s: int, failures: int = 3) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port=port),
        period_seconds=period_s,
        timeout_seconds=2,
        failure_threshold=failures,
    )


def _peer(component: str) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": {COMPONENT: component}}}


def service_ingress_peers(settings: Settings) -> list[dict[str, Any]]:
    """Who may call a service: the load generator and Prometheus (bundled, or the existing one)."""
    peers: list[dict[str, Any]] = [
        {
            "podSelector": {
                "matchExpressions": [
                    {
                        "key": COMPONENT,
                        "operator": "In",
                        "values": ["locust-master", "locust-worker", "prometheus"],
                    }
                ]
            }
        }
    ]
    if settings.monitoring_mode == "existing":
        peers.append(
            {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": settings.monitoring_namespace}
                }
            }
        )
    return peers


def service_chart_values(
    settings: Settings, framework: str, image: ImageRef, database_secret: str
) -> dict[str, Any]:
    """The values the program passes to charts/fwcap-service for one framework."""
    return {
        "framework": framework,
        "image": {
            "repository": image.repository,
            "tag": image.tag,
            "digest": image.digest,
            "pullPolicy": settings.image_pull_policy,
        },
        "replicaCount": settings.replicas,
        "resources": {"cpu": settings.cpu, "memory": settings.memory},
        "port": SERVICE_PORT,
        "server": {
            "workers": settings.workers,
            "threads": settings.threads,
            "dbPoolSize": settings.db_pool_size,
        },
        "upstreamUrl": in_cluster_url(UPSTREAM_SERVICE, settings.namespace, UPSTREAM_PORT),
        "database": {"existingSecret": database_secret, "secretKey": DATABASE_URL_KEY, "url": ""},
        "podSecurityContext": {"runAsUser": KIT_UID, "runAsGroup": KIT_UID, "fsGroup": KIT_UID},
        "autoscaling": {
            "enabled": settings.hpa_enabled,
            "minReplicas": settings.replicas,
            "maxReplicas": settings.hpa_max_replicas,
            "targetCPUUtilizationPercentage": settings.hpa_cpu_utilization_percent,
        },
        # helm.v4.Chart does not run Helm hooks: the Job must be a plain object.
        "migration": {"enabled": True, "helmHook": False},
        "monitoring": {
            "mode": settings.monitoring_mode,
            "serviceMonitor": {
                "labels": {"release": settings.prometheus_release_label},
                "interval": f"{settings.scrape_interval_seconds}s",
            },
        },
        "networkPolicy": {
            "enabled": True,
            "ingressFrom": service_ingress_peers(settings),
            "databaseTo": [_peer("postgres")],
            "databasePort": POSTGRES_PORT,
            "upstreamTo": [_peer("upstream-stub")],
            "upstreamPort": UPSTREAM_PORT,
            "dnsTo": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                    },
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                }
            ],
        },
    }
