"""The values the program passes to charts/fwcap-service for one framework."""

from __future__ import annotations

from typing import Any

from deploy.images import ImageRef
from deploy.settings import Settings
from deploy.specs.names import (
    COMPONENT,
    DATABASE_URL_KEY,
    KIT_UID,
    POSTGRES_PORT,
    SERVICE_PORT,
    UPSTREAM_PORT,
    UPSTREAM_SERVICE,
    in_cluster_url,
)
from deploy.specs.placement import NOISY_COMPONENTS, POOL_LABEL, PodPlacement
from deploy.specs.workloads import rolling_update


def _peer(component: str) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": {COMPONENT: component}}}


def service_ingress_peers(settings: Settings) -> list[dict[str, Any]]:
    """Who may call a service: the load generator and Prometheus (bundled, or the existing one)."""
    components = ["locust-worker"] + (
        ["prometheus"] if settings.monitoring_mode == "bundled" else []
    )
    peers: list[dict[str, Any]] = [
        {
            "podSelector": {
                "matchExpressions": [{"key": COMPONENT, "operator": "In", "values": components}]
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


def service_placement_values(settings: Settings) -> dict[str, Any]:
    """The chart's `placement`: the pool's selector and toleration, and anti-affinity from the
    noisy components (required once the service has a pool of its own)."""
    placement = PodPlacement(pool=settings.service_pool)
    return {
        "nodeSelector": placement.node_selector() or {},
        "tolerations": [
            {"key": POOL_LABEL, "operator": "Equal", "value": settings.service_pool,
             "effect": "NoSchedule"}
        ] if settings.service_pool else [],
        "avoidComponents": list(NOISY_COMPONENTS),
        "requireAvoid": bool(settings.service_pool),
        "spreadAcrossNodes": True,
    }  # fmt: skip


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
        # One pod: replaced in place (no surge pod the nodes have no room for); more: one extra
        # pod at a time so the service keeps its capacity (the scheduling test counts it).
        "rollout": rolling_update(settings.replicas),
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
        "migration": {
            "enabled": True,
            "helmHook": False,
            "resources": {"cpu": settings.migration_cpu, "memory": settings.migration_memory},
        },
        "placement": service_placement_values(settings),
        # One replica: a PDB would protect nothing (and an autoscaler may scale to one).
        "podDisruptionBudget": {"enabled": settings.replicas > 1, "maxUnavailable": 1},
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
