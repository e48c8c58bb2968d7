"""Monitoring: the bundled Prometheus (RBAC for pod discovery and the kubelet's cAdvisor, config
from the local run's template) and Grafana (provisioned datasource and dashboards from grafana/,
generated admin password, no anonymous access) - or, in `existing` mode, only a ServiceMonitor for
the load generator and dashboard ConfigMaps for a kube-prometheus-stack already in the cluster.
(The services' own ServiceMonitors come with their chart: monitoring.mode=existing.)"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from deploy.files import KitFiles
from deploy.settings import Settings
from deploy.specs import (
    GRAFANA_IMAGE,
    GRAFANA_PORT,
    GRAFANA_SERVICE,
    GRAFANA_UID,
    LOCUST_SERVICE,
    PROMETHEUS_IMAGE,
    PROMETHEUS_PORT,
    PROMETHEUS_SERVICE,
    PROMETHEUS_UID,
    container_security_context,
    empty_dir,
    guaranteed_resources,
    http_probe,
    in_cluster_url,
    labels,
    mount,
    pod_security_context,
    prometheus_config,
    selector,
)

GRAFANA_ADMIN_USER = "admin"
# Where Grafana reads the dashboards ConfigMap; grafana/provisioning/dashboards/*.yaml reads
# ${FWCAP_DASHBOARDS_DIR}, grafana/provisioning/datasources/*.yaml ${FWCAP_PROMETHEUS_URL}.
GRAFANA_DASHBOARDS_DIR = "/etc/fwcap/dashboards"


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
        settings: Settings,
        namespace: pulumi.Input[str],
        files: KitFiles,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("fwcap:deploy:Monitoring", resource_name, None, opts)
        self._settings = settings
        self._namespace = namespace
        self._child = pulumi.ResourceOptions(parent=self)
        if settings.monitoring_mode == "existing":
            self._existing(files.dashboards)
            self.prometheus_url = settings.existing_prometheus_url
            self.grafana_url = settings.existing_grafana_url or None
            self.grafana_admin_password = None
        else:
            self._prometheus()
            self.grafana_admin_password = self._grafana(files)
            self.prometheus_url = in_cluster_url(
                PROMETHEUS_SERVICE, settings.namespace, PROMETHEUS_PORT
            )
            self.grafana_url = in_cluster_url(GRAFANA_SERVICE, settings.namespace, GRAFANA_PORT)
        self.register_outputs(
            {"prometheus_url": self.prometheus_url, "grafana_url": self.grafana_url}
        )

    def _meta(self, name: str, component: str) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=name, namespace=self._namespace, labels=labels(component, name)
        )

    # -- bundled Prometheus ---------------------------------------------------------------

    def _prometheus(self) -> None:
        settings, ns, child = self._settings, self._namespace, self._child
        name = PROMETHEUS_SERVICE
        account = k8s.core.v1.ServiceAccount(
            f"{name}-account",
            metadata=self._meta(name, "prometheus"),
            # Prometheus authenticates to the API server (discovery, kubelet proxy) with it.
            automount_service_account_token=True,
            opts=child,
        )
        subject = k8s.rbac.v1.SubjectArgs(
            kind="ServiceAccount", name=account.metadata.apply(lambda m: str(m.name)), namespace=ns
        )
        # Nodes are cluster-scoped: cAdvisor is read through /api/v1/nodes/<node>/proxy.
        cluster_role_name = f"fwcap-prometheus-{settings.namespace}"
        node_role = k8s.rbac.v1.ClusterRole(
            f"{name}-nodes",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=cluster_role_name, labels=labels("prometheus", name)
            ),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=[""],
                    resources=["nodes", "nodes/proxy", "nodes/metrics"],
                    verbs=["get", "list", "watch"],
                )
            ],
            opts=child,
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-nodes",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=cluster_role_name, labels=labels("prometheus", name)
            ),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io",
                kind="ClusterRole",
                name=node_role.metadata.apply(lambda m: str(m.name)),
            ),
            subjects=[subject],
            opts=child,
        )
        # Pods are discovered in this namespace only (the config says so), so a Role suffices.
        pod_role = k8s.rbac.v1.Role(
            f"{name}-discovery",
            metadata=self._meta(name, "prometheus"),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=[""],
                    resources=["pods", "endpoints", "services"],
                    verbs=["get", "list", "watch"],
                )
            ],
            opts=child,
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-discovery",
            metadata=self._meta(name, "prometheus"),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io",
                kind="Role",
                name=pod_role.metadata.apply(lambda m: str(m.name)),
            ),
            subjects=[subject],
            opts=child,
        )
        config_text = prometheus_config(settings)
        config = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=self._meta("prometheus-config", "prometheus"),
            data={"prometheus.yml": config_text},
            opts=child,
        )
        container = k8s.core.v1.ContainerArgs(
            name="prometheus",
            image=PROMETHEUS_IMAGE,
            args=[
                "--config.file=/etc/prometheus/prometheus.yml",
                "--storage.tsdb.path=/prometheus",
                f"--storage.tsdb.retention.time={settings.prometheus_retention}",
                f"--web.listen-address=:{PROMETHEUS_PORT}",
            ],
            ports=[k8s.core.v1.ContainerPortArgs(name="web", container_port=PROMETHEUS_PORT)],
            resources=guaranteed_resources(settings.prometheus_cpu, settings.prometheus_memory),
            security_context=container_security_context(PROMETHEUS_UID),
            readiness_probe=http_probe("/-/ready", "web", period_s=5),
            liveness_probe=http_probe("/-/healthy", "web", period_s=15, failures=4),
            volume_mounts=[
                mount("config", "/etc/prometheus", read_only=True),
                mount("data", "/prometheus"),
                mount("tmp", "/tmp"),
            ],
        )
        k8s.apps.v1.Deployment(
            name,
            metadata=self._meta(name, "prometheus"),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                # One TSDB on an emptyDir: never two Prometheus pods at once.
                strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector("prometheus", name)),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=labels("prometheus", name),
                        # A config change rolls the pod (Prometheus would not reload by itself).
                        annotations={"fwcap/config-sha256": _sha256(config_text)},
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=account.metadata.apply(lambda m: str(m.name)),
                        automount_service_account_token=True,
                        enable_service_links=False,
                        security_context=pod_security_context(PROMETHEUS_UID),
                        containers=[container],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="config",
                                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                                    name=config.metadata.apply(lambda m: str(m.name))
                                ),
                            ),
                            empty_dir("data", "8Gi"),
                            empty_dir("tmp", "64Mi"),
                        ],
                    ),
                ),
            ),
            opts=child,
        )
        self._cluster_ip_service(name, "prometheus", "web", PROMETHEUS_PORT)

    # -- bundled Grafana ------------------------------------------------------------------

    def _grafana(self, files: KitFiles) -> pulumi.Output[str]:
        settings, child = self._settings, self._child
        name = GRAFANA_SERVICE
        password = random.RandomPassword(
            f"{name}-admin-password", length=24, special=False, opts=child
        )
        admin = k8s.core.v1.Secret(
            f"{name}-admin",
            metadata=self._meta("grafana-admin", "grafana"),
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
        volume_names: dict[str, pulumi.Output[str]] = {}
        for key, (cm_name, data) in config_maps.items():
            cm = k8s.core.v1.ConfigMap(
                cm_name, metadata=self._meta(cm_name, "grafana"), data=data, opts=child
            )
            volume_names[key] = cm.metadata.apply(lambda m: str(m.name))

        def secret_env(var: str, key: str) -> k8s.core.v1.EnvVarArgs:
            return k8s.core.v1.EnvVarArgs(
                name=var,
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=admin_name, key=key)
                ),
            )

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
                PROMETHEUS_SERVICE, settings.namespace, PROMETHEUS_PORT
            ),
            "FWCAP_DASHBOARDS_DIR": GRAFANA_DASHBOARDS_DIR,
        }
        env = [
            secret_env("GF_SECURITY_ADMIN_USER", "admin-user"),
            secret_env("GF_SECURITY_ADMIN_PASSWORD", "admin-password"),
            *(k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in plain.items()),
        ]
        container = k8s.core.v1.ContainerArgs(
            name="grafana",
            image=GRAFANA_IMAGE,
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=GRAFANA_PORT)],
            env=env,
            resources=guaranteed_resources(settings.grafana_cpu, settings.grafana_memory),
            security_context=container_security_context(GRAFANA_UID),
            readiness_probe=http_probe("/api/health", "http", period_s=5),
            liveness_probe=http_probe("/api/health", "http", period_s=15, failures=4),
            volume_mounts=[
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
        k8s.apps.v1.Deployment(
            name,
            metadata=self._meta(name, "grafana"),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector("grafana", name)),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=labels("grafana", name),
                        annotations={"fwcap/provisioning-sha256": content_hash},
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        enable_service_links=False,
                        # The image's files belong to group 0; Grafana's documented setup.
                        security_context=pod_security_context(GRAFANA_UID, supplemental_groups=[0]),
                        containers=[container],
                        volumes=[
                            empty_dir("data", "1Gi"),
                            empty_dir("tmp", "64Mi"),
                            *(
                                k8s.core.v1.VolumeArgs(
                                    name=key,
                                    config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=cm),
                                )
                                for key, cm in volume_names.items()
                            ),
                        ],
                    ),
                ),
            ),
            opts=child,
        )
        self._cluster_ip_service(name, "grafana", "http", GRAFANA_PORT)
        return pulumi.Output.secret(password.result)

    def _cluster_ip_service(self, name: str, component: str, port_name: str, port: int) -> None:
        k8s.core.v1.Service(
            f"{name}-service",
            metadata=self._meta(name, component),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",  # reach it with `kubectl port-forward`, never from outside
                selector=selector(component, name),
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name=port_name, port=port, target_port=port_name, protocol="TCP"
                    )
                ],
            ),
            opts=self._child,
        )

    # -- existing kube-prometheus-stack ---------------------------------------------------

    def _existing(self, dashboards: dict[str, str]) -> None:
        settings, child = self._settings, self._child
        k8s.apiextensions.CustomResource(
            "locust-servicemonitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=LOCUST_SERVICE,
                namespace=self._namespace,
                labels={
                    **labels("locust-master", LOCUST_SERVICE),
                    "release": settings.prometheus_release_label,
                },
            ),
            spec={
                "selector": {"matchLabels": selector("locust-master", LOCUST_SERVICE)},
                "namespaceSelector": {"matchNames": [settings.namespace]},
                "endpoints": [
                    {
                        "port": "web",
                        "path": "/export/prometheus",
                        "interval": f"{settings.scrape_interval_seconds}s",
                    }
                ],
            },
            opts=child,
        )
        # The kube-prometheus-stack Grafana sidecar loads ConfigMaps labelled grafana_dashboard=1
        # from its own namespace by default, so the dashboards go there.
        for file_name, text in dashboards.items():
            cm_name = f"fwcap-dashboard-{Path(file_name).stem}"
            k8s.core.v1.ConfigMap(
                cm_name,
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=cm_name,
                    namespace=settings.monitoring_namespace,
                    labels={**labels("dashboard", cm_name), "grafana_dashboard": "1"},
                ),
                data={file_name: text},
                opts=child,
            )
