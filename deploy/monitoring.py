"""Monitoring: the bundled Prometheus (least-privilege RBAC: node discovery and the kubelet's
/metrics/cadvisor through `nodes/metrics`, never the node proxy), a namespace-scoped
kube-state-metrics for requests and limits, and Grafana (provisioned datasource and dashboards
from grafana/, generated admin password, no anonymous access) - or, in `existing` mode, only a
ServiceMonitor for the load generator and dashboard ConfigMaps for a kube-prometheus-stack already
in the cluster. (The services' own ServiceMonitors come with their chart: monitoring.mode=existing.)
The pods are built in deploy/specs/monitoring.py; this component registers the objects.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from deploy.files import KitFiles
from deploy.resources import add_role_binding, add_workload, name_of
from deploy.specs.config_files import prometheus_config
from deploy.specs.monitoring import (
    GRAFANA_ADMIN_USER,
    KSM_NAMESPACE_RULES,
    PROMETHEUS_CLUSTER_RULES,
    PROMETHEUS_EMPTYDIR_SIZE,
    PROMETHEUS_NAMESPACE_RULES,
    BundledMonitoring,
    ExistingMonitoring,
    MonitoringInputs,
    grafana_pod,
    kube_state_metrics_pod,
    prometheus_pod,
)
from deploy.specs.names import (
    API_SERVER_PORTS,
    GRAFANA_PORT,
    GRAFANA_SERVICE,
    KSM_PORT,
    KSM_SERVICE,
    KUBELET_PORT,
    LOCUST_SERVICE,
    LOCUST_WEB_PORT,
    PROMETHEUS_PORT,
    PROMETHEUS_SERVICE,
    SERVICE_PORT,
    in_cluster_url,
    labels,
    meta,
    selector,
)
from deploy.specs.network import Allow, addresses, pods
from deploy.specs.pods import empty_dir, volume_claim
from deploy.specs.workloads import Rules


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


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
        self._inputs = inputs
        self._namespace = namespace
        self._child = pulumi.ResourceOptions(parent=self)
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
            kind="ServiceAccount", name=name_of(account), namespace=ns
        )
        add_role_binding(f"{name}-discovery", ns, component, name, namespace_rules, subject, child)
        return subject

    # -- bundled Prometheus ---------------------------------------------------------------

    def _prometheus(self, bundled: BundledMonitoring) -> None:
        ns, child = self._namespace, self._child
        name = component = PROMETHEUS_SERVICE
        subject = self._account(name, component, PROMETHEUS_NAMESPACE_RULES)
        # Nodes are cluster-scoped: the one cluster-wide grant, read-only, no proxy.
        cluster_role_name = f"fwcap-prometheus-{self._inputs.namespace}"
        add_role_binding(
            f"{name}-nodes", None, component, cluster_role_name, PROMETHEUS_CLUSTER_RULES,
            subject, child,
        )  # fmt: skip
        config_text = prometheus_config(self._inputs.namespace, bundled.scrape_interval_seconds)
        config = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=meta("prometheus-config", ns, component),
            data={"prometheus.yml": config_text},
            opts=child,
        )
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
                    claim_name=name_of(claim)
                ),
            )
        else:
            data = empty_dir("data", PROMETHEUS_EMPTYDIR_SIZE)
        template = prometheus_pod(
            self._inputs,
            bundled,
            config=name_of(config),
            config_sha256=_sha256(config_text),
            data=data,
            service_account=subject.name,
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
        name, component = KSM_SERVICE, "kube-state-metrics"
        subject = self._account(name, component, KSM_NAMESPACE_RULES)
        add_workload(
            name,
            self._namespace,
            component,
            name,
            kube_state_metrics_pod(self._inputs, bundled, subject.name),
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
        config_maps = {
            "datasources": ("grafana-datasources", files.datasources),
            "providers": ("grafana-dashboard-providers", files.dashboard_providers),
            "dashboards": ("grafana-dashboards", files.dashboards),
        }
        provisioning = {
            key: name_of(
                k8s.core.v1.ConfigMap(
                    cm_name, metadata=meta(cm_name, ns, component), data=data, opts=child
                )
            )
            for key, (cm_name, data) in config_maps.items()
        }
        template = grafana_pod(
            self._inputs,
            bundled,
            admin_secret=name_of(admin),
            provisioning=provisioning,
            provisioning_sha256=_sha256(
                repr((files.dashboards, files.datasources, files.dashboard_providers))
            ),
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
                "namespaceSelector": {"matchNames": [self._inputs.namespace]},
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
