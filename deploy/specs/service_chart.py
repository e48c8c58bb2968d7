"""The values the program passes to charts/fwcap-service for one framework."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deploy.images import ImageRef
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
from deploy.specs.network import Scrapers
from deploy.specs.placement import NOISY_COMPONENTS, POOL_LABEL, PodPlacement
from deploy.specs.workloads import rolling_update


@dataclass(frozen=True)
class ServiceChartInputs:
    """What the chart's values are made of, besides the framework, its image and its database:
    the stack's sizing of one service pod (the same for every framework) and who scrapes it."""

    namespace: str
    replicas: int
    cpu: str
    memory: str
    workers: int  # 0: derived from CPU by the service
    threads: int
    db_pool_size: int
    image_pull_policy: str
    hpa_enabled: bool
    hpa_max_replicas: int
    hpa_cpu_utilization_percent: int
    migration_cpu: str
    migration_memory: str
    service_pool: str  # "": no pool of its own
    scrapers: Scrapers
    prometheus_release_label: str
    scrape_interval_seconds: int


def _peer(component: str) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": {COMPONENT: component}}}


def service_ingress_peers(scrapers: Scrapers) -> list[dict[str, Any]]:
    """Who may call a service: the load generator and Prometheus (bundled, or the existing one)."""
    components = ["locust-worker"] + (["prometheus"] if scrapers.mode == "bundled" else [])
    peers: list[dict[str, Any]] = [
        {
            "podSelector": {
                "matchExpressions": [{"key": COMPONENT, "operator": "In", "values": components}]
            }
        }
    ]
    if scrapers.mode == "existing":
        peers.append(
            {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": scrapers.namespace}
                }
            }
        )
    return peers


def service_placement_values(service_pool: str) -> dict[str, Any]:
    """The chart's `placement`: the pool's selector and toleration, and anti-affinity from the
    noisy components (required once the service has a pool of its own)."""
    placement = PodPlacement(pool=service_pool)
    return {
        "nodeSelector": placement.node_selector() or {},
        "tolerations": [
            {"key": POOL_LABEL, "operator": "Equal", "value": service_pool,
             "effect": "NoSchedule"}
        ] if service_pool else [],
        "avoidComponents": list(NOISY_COMPONENTS),
        "requireAvoid": bool(service_pool),
        "spreadAcrossNodes": True,
    }  # fmt: skip


def service_chart_values(
    inputs: ServiceChartInputs, framework: str, image: ImageRef, database_secret: str
) -> dict[str, Any]:
    """The values the program passes to charts/fwcap-service for one framework."""
    return {
        "framework": framework,
        "image": {
            "repository": image.repository,
            "tag": image.tag,
            "digest": image.digest,
            "pullPolicy": inputs.image_pull_policy,
        },
        "replicaCount": inputs.replicas,
        # One pod: replaced in place (no surge pod the nodes have no room for); more: one extra
        # pod at a time so the service keeps its capacity (the scheduling test counts it).
        "rollout": rolling_update(inputs.replicas),
        "resources": {"cpu": inputs.cpu, "memory": inputs.memory},
        "port": SERVICE_PORT,
        "server": {
            "workers": inputs.workers,
            "threads": inputs.threads,
            "dbPoolSize": inputs.db_pool_size,
        },
        "upstreamUrl": in_cluster_url(UPSTREAM_SERVICE, inputs.namespace, UPSTREAM_PORT),
        "database": {"existingSecret": database_secret, "secretKey": DATABASE_URL_KEY, "url": ""},
        "podSecurityContext": {"runAsUser": KIT_UID, "runAsGroup": KIT_UID, "fsGroup": KIT_UID},
        "autoscaling": {
            "enabled": inputs.hpa_enabled,
            "minReplicas": inputs.replicas,
            "maxReplicas": inputs.hpa_max_replicas,
            "targetCPUUtilizationPercentage": inputs.hpa_cpu_utilization_percent,
        },
        # helm.v4.Chart does not run Helm hooks: the Job must be a plain object.
        "migration": {
            "enabled": True,
            "helmHook": False,
            "resources": {"cpu": inputs.migration_cpu, "memory": inputs.migration_memory},
        },
        "placement": service_placement_values(inputs.service_pool),
        # One replica: a PDB would protect nothing (and an autoscaler may scale to one).
        "podDisruptionBudget": {"enabled": inputs.replicas > 1, "maxUnavailable": 1},
        "monitoring": {
            "mode": inputs.scrapers.mode,
            "serviceMonitor": {
                "labels": {"release": inputs.prometheus_release_label},
                "interval": f"{inputs.scrape_interval_seconds}s",
            },
        },
        "networkPolicy": {
            "enabled": True,
            "ingressFrom": service_ingress_peers(inputs.scrapers),
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
