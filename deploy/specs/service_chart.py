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
class ScaleDown:
    """How fast the autoscaler may remove pods: after this long below target, at most this
    share of them per minute (so one quiet minute does not undo a measured minimum)."""

    stabilization_seconds: int
    percent_per_minute: int


@dataclass(frozen=True)
class ServiceChartInputs:
    """What one framework's chart values are made of, besides its image and its database: its
    pod's size (the stack-wide settings, or its fwcap:sizing entry), autoscaler, and who
    scrapes it."""

    namespace: str
    replicas: int
    cpu_request: str
    cpu_limit: str
    memory: str
    workers: int  # 0: derived from CPU by the service
    threads: int
    db_pool_size: int
    image_pull_policy: str
    hpa_enabled: bool
    hpa_min_replicas: int
    hpa_max_replicas: int
    hpa_cpu_utilization_percent: int
    hpa_scale_down: ScaleDown | None  # None: Kubernetes' default behavior
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


def _resources(inputs: ServiceChartInputs) -> dict[str, str]:
    """`cpu` is the request, and the limit unless `cpuLimit` is above it (Burstable QoS); a
    Guaranteed pod's values stay as they always were."""
    resources = {"cpu": inputs.cpu_request, "memory": inputs.memory}
    if inputs.cpu_limit != inputs.cpu_request:
        resources["cpuLimit"] = inputs.cpu_limit
    return resources


def _autoscaling(inputs: ServiceChartInputs) -> dict[str, Any]:
    autoscaling: dict[str, Any] = {
        "enabled": inputs.hpa_enabled,
        "minReplicas": inputs.hpa_min_replicas,
        "maxReplicas": inputs.hpa_max_replicas,
        "targetCPUUtilizationPercentage": inputs.hpa_cpu_utilization_percent,
    }
    if inputs.hpa_scale_down is not None:
        autoscaling["behavior"] = {
            "scaleDown": {
                "stabilizationWindowSeconds": inputs.hpa_scale_down.stabilization_seconds,
                "policies": [
                    {
                        "type": "Percent",
                        "value": inputs.hpa_scale_down.percent_per_minute,
                        "periodSeconds": 60,
                    }
                ],
            }
        }
    return autoscaling


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
        "resources": _resources(inputs),
        "port": SERVICE_PORT,
        "server": {
            "workers": inputs.workers,
            "threads": inputs.threads,
            "dbPoolSize": inputs.db_pool_size,
        },
        "upstreamUrl": in_cluster_url(UPSTREAM_SERVICE, inputs.namespace, UPSTREAM_PORT),
        "database": {"existingSecret": database_secret, "secretKey": DATABASE_URL_KEY, "url": ""},
        "podSecurityContext": {"runAsUser": KIT_UID, "runAsGroup": KIT_UID, "fsGroup": KIT_UID},
        "autoscaling": _autoscaling(inputs),
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
