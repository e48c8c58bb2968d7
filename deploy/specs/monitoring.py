"""Pure builders of the bundled monitoring: its inputs, and the pods of Prometheus,
kube-state-metrics and Grafana (deploy/monitoring.py registers them with their RBAC, ConfigMaps
and policies)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from capacity.quantity import MIB, parse_memory_bytes
from deploy.specs.names import (
    GRAFANA_PORT,
    GRAFANA_SERVICE,
    GRAFANA_UID,
    KSM_PORT,
    KSM_SERVICE,
    KSM_TELEMETRY_PORT,
    KSM_UID,
    PROMETHEUS_PORT,
    PROMETHEUS_SERVICE,
    PROMETHEUS_UID,
    in_cluster_url,
)
from deploy.specs.placement import PodPlacement
from deploy.specs.pods import (
    PROMETHEUS_GRACE_SECONDS,
    Probes,
    config_map_volume,
    container,
    empty_dir,
    env_vars,
    http_probe,
    http_probes,
    mount,
    pod_template,
)

GRAFANA_ADMIN_USER = "admin"
# Where Grafana reads the dashboards ConfigMap; grafana/provisioning/dashboards/*.yaml reads
# ${FWCAP_DASHBOARDS_DIR}, grafana/provisioning/datasources/*.yaml ${FWCAP_PROMETHEUS_URL}.
GRAFANA_DASHBOARDS_DIR = "/etc/fwcap/dashboards"
# kube-state-metrics exports only what the kit's queries read: requests and limits of the pods of
# this namespace (capacity/metrics/queries.py).
KSM_METRICS = ("kube_pod_container_resource_limits", "kube_pod_container_resource_requests")
KSM_CPU, KSM_MEMORY = "50m", "128Mi"
# Prometheus' own TSDB, whether on a PVC or an emptyDir.
PROMETHEUS_EMPTYDIR_SIZE = "8Gi"

# What each RBAC rule is for; tests/deploy/test_rbac.py checks the config uses exactly this.
PROMETHEUS_CLUSTER_RULES = (
    # kubernetes_sd_configs role: node (the cadvisor job) lists and watches nodes.
    (("nodes",), ("list", "watch")),
    # The kubelet authorises GET /metrics/cadvisor as `get nodes/metrics` (no node proxy).
    (("nodes/metrics",), ("get",)),
)
PROMETHEUS_NAMESPACE_RULES = (
    # kubernetes_sd_configs role: pod (services, loadgen, kube-state-metrics), this namespace.
    (("pods",), ("list", "watch")),
)
KSM_NAMESPACE_RULES = ((("pods",), ("list", "watch")),)


# Size-based retention keeps this share of the TSDB's volume: the WAL, the head block being
# compacted and a block being written need the rest (Prometheus' storage docs advise a margin).
RETENTION_SHARE_PERCENT = 80


def retention_size(volume: str) -> str:
    """`--storage.tsdb.retention.size` for a volume of `volume` (a Kubernetes quantity), in
    Prometheus' units (MB = 2^20 bytes)."""
    return f"{parse_memory_bytes(volume) * RETENTION_SHARE_PERCENT // 100 // MIB}MB"


@dataclass(frozen=True)
class BundledMonitoring:
    """fwcap:monitoringMode bundled: Prometheus, kube-state-metrics and Grafana run by the kit."""

    prometheus_image: str  # each image pinned by digest
    prometheus_cpu: str
    prometheus_memory: str
    prometheus_retention: str
    prometheus_storage: str  # "": an emptyDir
    storage_class: str  # "": the cluster's default class
    scrape_interval_seconds: int
    node_cidrs: tuple[str, ...]  # the kubelets Prometheus scrapes
    api_server_cidrs: tuple[str, ...]  # discovery, for Prometheus and kube-state-metrics
    ksm_image: str
    grafana_image: str
    grafana_cpu: str
    grafana_memory: str


@dataclass(frozen=True)
class ExistingMonitoring:
    """fwcap:monitoringMode existing: a kube-prometheus-stack already in the cluster."""

    prometheus_url: str
    grafana_url: str  # "": none
    release_label: str  # its Prometheus selects ServiceMonitors by `release`
    scrape_interval_seconds: int


@dataclass(frozen=True)
class MonitoringInputs:
    namespace: str  # the kit's: Prometheus discovers pods there, Grafana's URLs name it
    placement: PodPlacement
    stack: BundledMonitoring | ExistingMonitoring


def prometheus_pod(
    inputs: MonitoringInputs,
    bundled: BundledMonitoring,
    *,
    config: pulumi.Input[str],
    config_sha256: str,
    data: k8s.core.v1.VolumeArgs,
    service_account: pulumi.Input[str],
) -> k8s.core.v1.PodTemplateSpecArgs:
    """`config` names the ConfigMap with prometheus.yml; `data` is the TSDB's volume."""
    tsdb_size = bundled.prometheus_storage or PROMETHEUS_EMPTYDIR_SIZE
    server = container(
        "prometheus",
        bundled.prometheus_image,
        uid=PROMETHEUS_UID,
        cpu=bundled.prometheus_cpu,
        memory=bundled.prometheus_memory,
        args=[
            "--config.file=/etc/prometheus/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            f"--storage.tsdb.retention.time={bundled.prometheus_retention}",
            # Whichever comes first: a volume that fills up stops Prometheus writing.
            f"--storage.tsdb.retention.size={retention_size(tsdb_size)}",
            f"--web.listen-address=:{PROMETHEUS_PORT}",
        ],
        ports={"web": PROMETHEUS_PORT},
        probes=http_probes("/-/ready", "web", live_path="/-/healthy"),
        mounts=[
            mount("config", "/etc/prometheus", read_only=True),
            mount("data", "/prometheus"),
            mount("tmp", "/tmp"),
        ],
    )
    return pod_template(
        PROMETHEUS_SERVICE,
        PROMETHEUS_SERVICE,
        uid=PROMETHEUS_UID,
        containers=[server],
        volumes=[config_map_volume("config", config), data, empty_dir("tmp", "64Mi")],
        placement=inputs.placement,
        # A config change rolls the pod (Prometheus would not reload by itself).
        annotations={"fwcap/config-sha256": config_sha256},
        service_account=service_account,  # the config reads its token
        grace_seconds=PROMETHEUS_GRACE_SECONDS,
    )


def kube_state_metrics_pod(
    inputs: MonitoringInputs, bundled: BundledMonitoring, service_account: pulumi.Input[str]
) -> k8s.core.v1.PodTemplateSpecArgs:
    """Requests and limits of this namespace's pods, and nothing else."""
    component = "kube-state-metrics"
    exporter = container(
        component,
        bundled.ksm_image,
        uid=KSM_UID,
        cpu=KSM_CPU,
        memory=KSM_MEMORY,
        args=[
            f"--namespaces={inputs.namespace}",
            "--resources=pods",
            f"--metric-allowlist={','.join(KSM_METRICS)}",
            f"--port={KSM_PORT}",
            f"--telemetry-port={KSM_TELEMETRY_PORT}",
        ],
        ports={"http-metrics": KSM_PORT, "telemetry": KSM_TELEMETRY_PORT},
        probes=Probes(
            readiness=http_probe("/readyz", "telemetry", period_s=10),
            liveness=http_probe("/livez", "http-metrics", period_s=15, failures=4),
        ),
        mounts=[mount("tmp", "/tmp")],
    )
    return pod_template(
        component,
        KSM_SERVICE,
        uid=KSM_UID,
        containers=[exporter],
        volumes=[empty_dir("tmp", "16Mi")],
        placement=inputs.placement,
        service_account=service_account,  # it lists pods through the API server
    )


def grafana_pod(
    inputs: MonitoringInputs,
    bundled: BundledMonitoring,
    *,
    admin_secret: pulumi.Input[str],
    provisioning: Mapping[str, pulumi.Input[str]],
    provisioning_sha256: str,
) -> k8s.core.v1.PodTemplateSpecArgs:
    """`provisioning`: volume name (datasources, providers, dashboards) -> its ConfigMap."""
    plain = {
        "GF_AUTH_ANONYMOUS_ENABLED": "false",
        "GF_AUTH_DISABLE_LOGIN_FORM": "false",
        "GF_USERS_ALLOW_SIGN_UP": "false",
        "GF_ANALYTICS_REPORTING_ENABLED": "false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
        "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES": "false",
        "GF_NEWS_NEWS_FEED_ENABLED": "false",
        # Read-only root: everything Grafana writes lives in the data emptyDir.
        "GF_PATHS_DATA": "/var/lib/grafana",
        "GF_PATHS_LOGS": "/var/lib/grafana/logs",
        "GF_PATHS_PLUGINS": "/var/lib/grafana/plugins",
        "GF_PATHS_PROVISIONING": "/etc/grafana/provisioning",
        "FWCAP_PROMETHEUS_URL": in_cluster_url(
            PROMETHEUS_SERVICE, inputs.namespace, PROMETHEUS_PORT
        ),
        "FWCAP_DASHBOARDS_DIR": GRAFANA_DASHBOARDS_DIR,
    }
    server = container(
        "grafana",
        bundled.grafana_image,
        uid=GRAFANA_UID,
        cpu=bundled.grafana_cpu,
        memory=bundled.grafana_memory,
        ports={"http": GRAFANA_PORT},
        env=env_vars(
            plain,
            secrets={
                "GF_SECURITY_ADMIN_USER": (admin_secret, "admin-user"),
                "GF_SECURITY_ADMIN_PASSWORD": (admin_secret, "admin-password"),
            },
        ),
        probes=http_probes("/api/health", "http"),
        mounts=[
            mount("data", "/var/lib/grafana"),
            mount("tmp", "/tmp"),
            mount("datasources", "/etc/grafana/provisioning/datasources", read_only=True),
            mount("providers", "/etc/grafana/provisioning/dashboards", read_only=True),
            mount("dashboards", GRAFANA_DASHBOARDS_DIR, read_only=True),
        ],
    )
    return pod_template(
        GRAFANA_SERVICE,
        GRAFANA_SERVICE,
        uid=GRAFANA_UID,
        containers=[server],
        volumes=[empty_dir("data", "1Gi"), empty_dir("tmp", "64Mi")]
        + [config_map_volume(key, cm) for key, cm in provisioning.items()],
        placement=inputs.placement,
        # Changed dashboards or provisioning roll the pod (Grafana reads provisioning at start).
        annotations={"fwcap/provisioning-sha256": provisioning_sha256},
        # The image's files belong to group 0; Grafana's documented setup.
        supplemental_groups=[0],
    )
