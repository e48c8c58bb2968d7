"""Names, ports, identities and labels every object of the kit shares: the in-cluster URLs
exported for `capacity report --stack` are built from these.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

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
KSM_SERVICE = "kube-state-metrics"
KSM_PORT = 8080
KSM_TELEMETRY_PORT = 8081
# Outside any pod: the kubelet (cAdvisor) and the API server (443 behind the `kubernetes`
# Service, 6443 on kind's and kubeadm's control-plane nodes).
KUBELET_PORT = 10250
API_SERVER_PORTS = (443, 6443)
DATABASE_URL_KEY = "DATABASE_URL"

# Non-root identities: each image's own user, so files it ships stay readable.
KIT_UID = 10001  # the kit's images (services, upstream stub)
POSTGRES_UID = 999  # `postgres` in the official Debian-based image
PROMETHEUS_UID = 65534  # `nobody` in prom/prometheus
GRAFANA_UID = 472  # `grafana` in grafana/grafana
LOCUST_UID = 1000  # `locust` in locustio/locust
KSM_UID = 65534  # `nobody` in the distroless kube-state-metrics image

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


def meta(
    name: str,
    namespace: pulumi.Input[str] | None,
    component: str,
    *,
    annotations: Mapping[str, str] | None = None,
) -> k8s.meta.v1.ObjectMetaArgs:
    """Object metadata with the kit's labels; `namespace` None for cluster-scoped objects."""
    return k8s.meta.v1.ObjectMetaArgs(
        name=name,
        namespace=namespace,
        labels=labels(component, name),
        annotations=dict(annotations) if annotations else None,
    )
