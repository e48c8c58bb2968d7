"""Monitoring: the bundled Prometheus (least-privilege RBAC: node discovery and the kubelet's
/metrics/cadvisor through `nodes/metrics`, never the node proxy), a namespace-scoped
kube-state-metrics for requests and limits, and Grafana (provisioned datasource and dashboards
from grafana/, generated admin password, no anonymous access) - or, in `existing` mode, only a
ServiceMonitor for the load generator and dashboard ConfigMaps for a kube-prometheus-stack already
in the cluster. (The services' own ServiceMonitors come with their chart: monitoring.mode=existing.)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from capacity.quantity import MIB, parse_memory_bytes
from deploy.files import KitFiles
from deploy.resources import add_role_binding, add_workload
from deploy.specs.config_files import prometheus_config
from deploy.specs.names import (
    API_SERVER_PORTS,
    GRAFANA_PORT,
    GRAFANA_SERVICE,
    GRAFANA_UID,
    KSM_PORT,
    KSM_SERVICE,
    KSM_TELEMETRY_PORT,
    KSM_UID,
    KUBELET_PORT,
    LOCUST_SERVICE,
    LOCUST_WEB_PORT,
    PROMETHEUS_PORT,
    PROMETHEUS_SERVICE,
    PROMETHEUS_UID,
    SERVICE_PORT,
    in_cluster_url,
    labels,
    meta,
    selector,
)
from deploy.specs.network import Allow, addresses, pods
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
    volume_claim,
)
from deploy.specs.workloads import Rules

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


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


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


class Monitoring(pulumi.ComponentResource):
    """Exposes the URLs `capacity report --stack` reads, and Grafana's admin password."""

    prometheus_url: str
    grafana_url: str | None
    grafana_admin_password: pulumi.Output[str] | None

    def __init__(
        self,
        resource_name: str,
        inputs: MonitoringInputs,
        namespace: pulumi.Input[str],
        files: KitFiles,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("fwcap:deploy:Monitoring", resource_name, None, opts)
        self._kit_namespace = inputs.namespace
        self._namespace = namespace
        self._child = pulumi.ResourceOptions(parent=self)
        self._placement = inputs.placement
        stack = inputs.stack
        if isinstance(stack, ExistingMonitoring):
            self._existing(stack, files.dashboards)
            self.prometheus_url = stack.prometheus_url
            self.grafana_url = stack.grafana_url or None
            self.grafana_admin_password = None
        else:
            self._prometheus(stack)
            self._kube_state_metrics(stack)
            self.grafana_admin_password = self._grafana(stack, files)
            self.prometheus_url = in_cluster_url(
                PROMETHEUS_SERVICE, inputs.namespace, PROMETHEUS_PORT
            )
            self.grafana_url = in_cluster_url(GRAFANA_SERVICE, inputs.namespace, GRAFANA_PORT)
        self.register_outputs(
            {"prometheus_url": self.prometheus_url, "grafana_url": self.grafana_url}
        )

    def _account(
        self,
        name: str,
        component: str,
        namespace_rules: Rules,
    ) -> k8s.rbac.v1.SubjectArgs:
        """A service account bound to a Role of this namespace with `namespace_rules`."""
        ns, child = self._namespace, self._child
        account = k8s.core.v1.ServiceAccount(
            f"{name}-account",
            metadata=meta(name, ns, component),
            automount_service_account_token=False,  # only the pod that names it mounts a token
            opts=child,
        )
        subject = k8s.rbac.v1.SubjectArgs(
            kind="ServiceAccount", name=account.metadata.apply(lambda m: str(m.name)), namespace=ns
        )
        add_role_binding(f"{name}-discovery", ns, component, name, namespace_rules, subject, child)
        return subject

    # -- bundled Prometheus ---------------------------------------------------------------

    def _prometheus(self, bundled: BundledMonitoring) -> None:
        ns, child = self._namespace, self._child
        name = component = PROMETHEUS_SERVICE
        subject = self._account(name, component, PROMETHEUS_NAMESPACE_RULES)
        # Nodes are cluster-scoped: the one cluster-wide grant, read-only, no proxy.
        cluster_role_name = f"fwcap-prometheus-{self._kit_namespace}"
        add_role_binding(
            f"{name}-nodes", None, component, cluster_role_name, PROMETHEUS_CLUSTER_RULES,
            subject, child,
        )  # fmt: skip
        config_text = prometheus_config(self._kit_namespace, bundled.scrape_interval_seconds)
        config = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=meta("prometheus-config", ns, component),
            data={"prometheus.yml": config_text},
            opts=child,
        )
        tsdb_size = bundled.prometheus_storage or PROMETHEUS_EMPTYDIR_SIZE
        if bundled.prometheus_storage:
            claim = k8s.core.v1.PersistentVolumeClaim(
                f"{name}-data",
                metadata=meta("prometheus-data", ns, component),
                spec=volume_claim(
                    "prometheus-data", component, bundled.prometheus_storage, bundled.storage_class
                ).spec,
                # A first `pulumi up` on a WaitForFirstConsumer class would otherwise wait here.
                opts=pulumi.ResourceOptions(
                    parent=self, custom_timeouts=pulumi.CustomTimeouts(create="20m")
                ),
            )
            data = k8s.core.v1.VolumeArgs(
                name="data",
                persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                    claim_name=claim.metadata.apply(lambda m: str(m.name))
                ),
            )
        else:
            data = empty_dir("data", PROMETHEUS_EMPTYDIR_SIZE)
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
        template = pod_template(
            component,
            name,
            uid=PROMETHEUS_UID,
            containers=[server],
            volumes=[
                config_map_volume("config", config.metadata.apply(lambda m: str(m.name))),
                data,
                empty_dir("tmp", "64Mi"),
            ],
            placement=self._placement,
            # A config change rolls the pod (Prometheus would not reload by itself).
            annotations={"fwcap/config-sha256": _sha256(config_text)},
            service_account=subject.name,  # the config reads its token
            grace_seconds=PROMETHEUS_GRACE_SECONDS,
        )
        # One TSDB (single_writer): never two Prometheus pods at once.
        add_workload(
            name,
            ns,
            component,
            name,
            template,
            child,
            single_writer=True,
            ports={"web": PROMETHEUS_PORT},
            ingress=[Allow((pods("grafana"),), (PROMETHEUS_PORT,))],
            egress=[
                Allow((pods("service"),), (SERVICE_PORT,)),
                Allow((pods("locust-master"),), (LOCUST_WEB_PORT,)),
                Allow((pods("kube-state-metrics"),), (KSM_PORT,)),
                # The kubelets (cAdvisor) and the API server (discovery) are outside any pod:
                # named by their addresses, so the token cannot leave the cluster.
                Allow(addresses(bundled.node_cidrs), (KUBELET_PORT,)),
                Allow(addresses(bundled.api_server_cidrs), API_SERVER_PORTS),
            ],
        )

    # -- bundled kube-state-metrics: requests and limits, this namespace only --------------

    def _kube_state_metrics(self, bundled: BundledMonitoring) -> None:
        ns, component = self._namespace, "kube-state-metrics"
        name = KSM_SERVICE
        subject = self._account(name, component, KSM_NAMESPACE_RULES)
        exporter = container(
            component,
            bundled.ksm_image,
            uid=KSM_UID,
            cpu=KSM_CPU,
            memory=KSM_MEMORY,
            args=[
                f"--namespaces={self._kit_namespace}",
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
        template = pod_template(
            component,
            name,
            uid=KSM_UID,
            containers=[exporter],
            volumes=[empty_dir("tmp", "16Mi")],
            placement=self._placement,
            service_account=subject.name,  # it lists pods through the API server
        )
        add_workload(
            name,
            ns,
            component,
            name,
            template,
            self._child,
            ingress=[Allow((pods("prometheus"),), (KSM_PORT,))],
            egress=[Allow(addresses(bundled.api_server_cidrs), API_SERVER_PORTS)],
        )

    # -- bundled Grafana ------------------------------------------------------------------

    def _grafana(self, bundled: BundledMonitoring, files: KitFiles) -> pulumi.Output[str]:
        ns, child = self._namespace, self._child
        name = component = GRAFANA_SERVICE
        password = random.RandomPassword(
            f"{name}-admin-password", length=24, special=False, opts=child
        )
        admin = k8s.core.v1.Secret(
            f"{name}-admin",
            metadata=meta("grafana-admin", ns, component),
            type="Opaque",
            string_data={"admin-user": GRAFANA_ADMIN_USER, "admin-password": password.result},
            opts=child,
        )
        admin_name = admin.metadata.apply(lambda m: str(m.name))
        config_maps = {
            "datasources": ("grafana-datasources", files.datasources),
            "providers": ("grafana-dashboard-providers", files.dashboard_providers),
            "dashboards": ("grafana-dashboards", files.dashboards),
        }
        volumes = [empty_dir("data", "1Gi"), empty_dir("tmp", "64Mi")]
        for key, (cm_name, data) in config_maps.items():
            cm = k8s.core.v1.ConfigMap(
                cm_name, metadata=meta(cm_name, ns, component), data=data, opts=child
            )
            volumes.append(config_map_volume(key, cm.metadata.apply(lambda m: str(m.name))))
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
                PROMETHEUS_SERVICE, self._kit_namespace, PROMETHEUS_PORT
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
                    "GF_SECURITY_ADMIN_USER": (admin_name, "admin-user"),
                    "GF_SECURITY_ADMIN_PASSWORD": (admin_name, "admin-password"),
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
        # Changed dashboards or provisioning roll the pod (Grafana reads provisioning at start).
        content_hash = _sha256(
            repr((files.dashboards, files.datasources, files.dashboard_providers))
        )
        template = pod_template(
            component,
            name,
            uid=GRAFANA_UID,
            containers=[server],
            volumes=volumes,
            placement=self._placement,
            annotations={"fwcap/provisioning-sha256": content_hash},
            # The image's files belong to group 0; Grafana's documented setup.
            supplemental_groups=[0],
        )
        # Reached only through `kubectl port-forward`; it calls only Prometheus.
        add_workload(
            name,
            ns,
            component,
            name,
            template,
            child,
            single_writer=True,
            ports={"http": GRAFANA_PORT},
            egress=[Allow((pods("prometheus"),), (PROMETHEUS_PORT,))],
        )
        return pulumi.Output.secret(password.result)

    # -- existing kube-prometheus-stack ---------------------------------------------------

    def _existing(self, existing: ExistingMonitoring, dashboards: dict[str, str]) -> None:
        child = self._child
        k8s.apiextensions.CustomResource(
            "locust-servicemonitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=LOCUST_SERVICE,
                namespace=self._namespace,
                labels={
                    **labels("locust-master", LOCUST_SERVICE),
                    "release": existing.release_label,
                },
            ),
            spec={
                "selector": {"matchLabels": selector("locust-master", LOCUST_SERVICE)},
                "namespaceSelector": {"matchNames": [self._kit_namespace]},
                "endpoints": [
                    {
                        "port": "web",
                        "path": "/export/prometheus",
                        "interval": f"{existing.scrape_interval_seconds}s",
                    }
                ],
            },
            opts=child,
        )
        # The kube-prometheus-stack Grafana sidecar watches ConfigMaps labelled
        # grafana_dashboard=1 in every namespace by default (sidecar.dashboards.searchNamespace:
        # ALL), so the dashboards stay in the kit's own namespace: nothing is written into the
        # monitoring team's namespace. A sidecar limited to its own namespace needs
        # searchNamespace to include this one (docs/deploy.md).
        for file_name, text in dashboards.items():
            cm_name = f"fwcap-dashboard-{Path(file_name).stem}"
            k8s.core.v1.ConfigMap(
                cm_name,
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=cm_name,
                    namespace=self._namespace,
                    labels={**labels("dashboard", cm_name), "grafana_dashboard": "1"},
                ),
                data={file_name: text},
                opts=child,
            )
