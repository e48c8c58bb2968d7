"""Pure builders the components share: names, labels, pinned images, security contexts, resources,
the service chart's values and the config files pods read.

The builders create no resource, so tests call them directly and compare with what the program
registered (e.g. the chart values it passed to helm.v4.Chart). The `add_*` functions at the end
are the one place a Deployment, Service, NetworkPolicy or RBAC binding is registered from them,
so every component makes each kind of object the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pulumi
import pulumi_kubernetes as k8s

from capacity.metrics.prometheus_config import render_prometheus_config
from deploy import images
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
KSM_SERVICE = "kube-state-metrics"
KSM_PORT = 8080
KSM_TELEMETRY_PORT = 8081
# Outside any pod: the kubelet (cAdvisor) and the API server (443 behind the `kubernetes`
# Service, 6443 on kind's and kubeadm's control-plane nodes).
KUBELET_PORT = 10250
API_SERVER_PORTS = (443, 6443)
DATABASE_URL_KEY = "DATABASE_URL"

# Third-party images by tag; deploy/images.py says why their digests are stack config.
POSTGRES_IMAGE = images.POSTGRES.tag_ref
PROMETHEUS_IMAGE = images.PROMETHEUS.tag_ref
GRAFANA_IMAGE = images.GRAFANA.tag_ref
LOCUST_IMAGE = images.LOCUST.tag_ref
KSM_IMAGE = images.KUBE_STATE_METRICS.tag_ref

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


def third_party_image(settings: Settings, image: images.ThirdPartyImage) -> str:
    """The stack's pin of a third-party image: tag and digest (load_settings made sure of it)."""
    return images.pinned(image, settings.image_digest(image))


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


def database_url(password: str, *, user: str, host: str, database: str) -> str:
    return f"postgresql://{user}:{quote(password, safe='')}@{host}:{POSTGRES_PORT}/{database}"


def database_secret_name(framework: str) -> str:
    return f"fwcap-db-{framework}"


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def postgres_init_sql(role_passwords: Mapping[str, str]) -> str:
    """Run once by the postgres image's entrypoint on an empty volume: per framework a login role
    (not a superuser) that owns one database; nobody else may connect to it."""
    statements: list[str] = []
    for framework, password in sorted(role_passwords.items()):
        statements += [
            f'CREATE ROLE "{framework}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE '
            f"PASSWORD {_sql_literal(password)};",
            f'CREATE DATABASE "{framework}" OWNER "{framework}";',
            f'REVOKE ALL ON DATABASE "{framework}" FROM PUBLIC;',
        ]
    return (
        "-- One role and one database per framework service (deploy/postgres.py).\n"
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


def config_map_volume(name: str, config_map: pulumi.Input[str]) -> k8s.core.v1.VolumeArgs:
    return k8s.core.v1.VolumeArgs(
        name=name, config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=config_map)
    )


def volume_claim(
    name: str, component: str, size: str, settings: Settings
) -> k8s.core.v1.PersistentVolumeClaimArgs:
    """A ReadWriteOnce claim in the stack's StorageClass (empty: the cluster's default class)."""
    return k8s.core.v1.PersistentVolumeClaimArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels=labels(component, name)),
        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteOnce"],
            storage_class_name=settings.storage_class or None,
            resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": size}),
        ),
    )


def secret_volume(name: str, secret: pulumi.Input[str]) -> k8s.core.v1.VolumeArgs:
    return k8s.core.v1.VolumeArgs(
        name=name, secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name=secret)
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


def tcp_probe(port: str, *, period_s: int, failures: int = 3) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        tcp_socket=k8s.core.v1.TCPSocketActionArgs(port=port),
        period_seconds=period_s,
        timeout_seconds=2,
        failure_threshold=failures,
    )


def exec_probe(
    command: list[str], *, period_s: int, failures: int = 6, initial_delay_s: int | None = None
) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        exec_=k8s.core.v1.ExecActionArgs(command=command),
        period_seconds=period_s,
        timeout_seconds=5,
        failure_threshold=failures,
        initial_delay_seconds=initial_delay_s,
    )


def env_vars(
    plain: Mapping[str, str] | None = None,
    secrets: Mapping[str, tuple[pulumi.Input[str], str]] | None = None,
) -> list[k8s.core.v1.EnvVarArgs]:
    """Plain variables, then variables read from `{var: (secret name, key)}`."""
    found = [
        k8s.core.v1.EnvVarArgs(
            name=var,
            value_from=k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret, key=key)
            ),
        )
        for var, (secret, key) in (secrets or {}).items()
    ]
    return found + [k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in (plain or {}).items()]


# -- Stopping pods: the grace the kubelet gives each kind of pod before SIGKILL ----------------

# Seconds a serving pod keeps serving after deletion while endpoints drop it (the chart's
# shutdown.preStopSeconds is the same for the services).
PRE_STOP_SECONDS = 5
# The Kubernetes default, stated: what needs no more (Locust, Grafana, kube-state-metrics).
DEFAULT_GRACE_SECONDS = 30
# Prometheus writes its head block and WAL checkpoint on SIGTERM; PostgreSQL's fast shutdown
# checkpoints. Both get longer, so they are never SIGKILLed mid-write.
PROMETHEUS_GRACE_SECONDS = 120
POSTGRES_GRACE_SECONDS = 60


def drain_first(seconds: int = PRE_STOP_SECONDS) -> k8s.core.v1.LifecycleHandlerArgs:
    """preStop `sleep` (Kubernetes 1.30+; no shell needed in the image): the pod keeps serving
    while kube-proxy and DNS stop routing to it, and only then gets SIGTERM."""
    return k8s.core.v1.LifecycleHandlerArgs(sleep=k8s.core.v1.SleepActionArgs(seconds=seconds))


# -- The one set of builders every component uses -------------------------------------------


@dataclass(frozen=True)
class Probes:
    """Readiness and liveness (and an optional startup probe) of a long-running container."""

    readiness: k8s.core.v1.ProbeArgs
    liveness: k8s.core.v1.ProbeArgs
    startup: k8s.core.v1.ProbeArgs | None = None


def http_probes(path: str, port: str, *, live_path: str | None = None) -> Probes:
    return Probes(
        readiness=http_probe(path, port, period_s=5),
        liveness=http_probe(live_path or path, port, period_s=15, failures=4),
    )


def container(
    name: str,
    image: pulumi.Input[str],
    *,
    uid: int,
    cpu: str,
    memory: str,
    probes: Probes,
    mounts: Sequence[k8s.core.v1.VolumeMountArgs],
    ports: Mapping[str, int] | None = None,
    args: Sequence[str] | None = None,
    env: Sequence[k8s.core.v1.EnvVarArgs] | None = None,
    pull_policy: str | None = None,
    pre_stop: k8s.core.v1.LifecycleHandlerArgs | None = None,
) -> k8s.core.v1.ContainerArgs:
    """A container under the restricted profile: non-root `uid`, read-only root, requests = limits,
    and readiness + liveness probes (no long-running container goes without them). `pre_stop`:
    what the kubelet runs before SIGTERM (see drain_first)."""
    return k8s.core.v1.ContainerArgs(
        name=name,
        image=image,
        image_pull_policy=pull_policy,
        lifecycle=k8s.core.v1.LifecycleArgs(pre_stop=pre_stop) if pre_stop else None,
        args=list(args) if args is not None else None,
        env=list(env) if env else None,
        ports=[
            k8s.core.v1.ContainerPortArgs(name=port_name, container_port=port, protocol="TCP")
            for port_name, port in (ports or {}).items()
        ]
        or None,
        resources=guaranteed_resources(cpu, memory),
        security_context=container_security_context(uid),
        readiness_probe=probes.readiness,
        liveness_probe=probes.liveness,
        startup_probe=probes.startup,
        volume_mounts=list(mounts),
    )


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


def pod_template(
    component: str,
    name: str,
    *,
    uid: int,
    containers: Sequence[k8s.core.v1.ContainerArgs],
    volumes: Sequence[k8s.core.v1.VolumeArgs],
    placement: Placement,
    annotations: Mapping[str, str] | None = None,
    service_account: pulumi.Input[str] | None = None,
    supplemental_groups: list[int] | None = None,
    grace_seconds: int = DEFAULT_GRACE_SECONDS,
    restart_policy: str | None = None,
) -> k8s.core.v1.PodTemplateSpecArgs:
    """A pod that mounts no API token unless it names a service account that needs one;
    `grace_seconds` (terminationGracePeriodSeconds) is always stated."""
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(
            labels=labels(component, name),
            annotations=dict(annotations) if annotations else None,
        ),
        spec=k8s.core.v1.PodSpecArgs(
            service_account_name=service_account,
            automount_service_account_token=service_account is not None,
            enable_service_links=False,
            termination_grace_period_seconds=grace_seconds,
            restart_policy=restart_policy,  # a Job's pods: OnFailure or Never
            security_context=pod_security_context(uid, supplemental_groups=supplemental_groups),
            containers=list(containers),
            volumes=list(volumes),
            node_selector=placement.node_selector(),
            tolerations=placement.tolerations(),
            affinity=placement.affinity(),
            topology_spread_constraints=placement.spread(component, name),
        ),
    )


def rolling_update(replicas: int) -> dict[str, int]:
    """maxSurge / maxUnavailable for a Deployment of `replicas` pods.

    One pod: maxSurge 0, maxUnavailable 1 (Kubernetes' advice for single replicas) - the old pod
    goes before the new one is created, so a rollout needs no room beyond the steady state (the
    documented nodes have none to spare; tests/deploy/test_scheduling.py proves the update fits).
    More pods: one extra pod at a time and none missing, so capacity holds during the rollout;
    the scheduling test counts that surge pod.
    """
    if replicas <= 1:
        return {"maxSurge": 0, "maxUnavailable": 1}
    return {"maxSurge": 1, "maxUnavailable": 0}


def deployment_strategy(
    replicas: int, *, single_writer: bool = False, surge: bool = False
) -> k8s.apps.v1.DeploymentStrategyArgs:
    """Explicit on every Deployment. `single_writer` (a pod owning a volume: Prometheus' TSDB,
    Grafana's data): Recreate, never two at once. Otherwise a rolling update that adds no pod
    (maxSurge 0, maxUnavailable 1) unless `surge` asks for rolling_update's capacity-keeping one;
    only the services under test ask (deploy/specs.py:service_chart_values)."""
    if single_writer:
        return k8s.apps.v1.DeploymentStrategyArgs(type="Recreate")
    steps = rolling_update(replicas) if surge else rolling_update(1)
    return k8s.apps.v1.DeploymentStrategyArgs(
        type="RollingUpdate",
        rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
            max_surge=steps["maxSurge"], max_unavailable=steps["maxUnavailable"]
        ),
    )


def deployment_spec(
    component: str,
    name: str,
    template: k8s.core.v1.PodTemplateSpecArgs,
    *,
    replicas: int = 1,
    single_writer: bool = False,
) -> k8s.apps.v1.DeploymentSpecArgs:
    """`single_writer`: a pod that owns a volume (Prometheus' TSDB) never overlaps its successor."""
    return k8s.apps.v1.DeploymentSpecArgs(
        replicas=replicas,
        revision_history_limit=3,
        strategy=deployment_strategy(replicas, single_writer=single_writer),
        selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(component, name)),
        template=template,
    )


def cluster_ip_service_spec(
    component: str, name: str, ports: Mapping[str, int], *, headless: bool = False
) -> k8s.core.v1.ServiceSpecArgs:
    """ClusterIP only: reach it from outside with `kubectl port-forward`, never a public address."""
    return k8s.core.v1.ServiceSpecArgs(
        type="ClusterIP",
        cluster_ip="None" if headless else None,
        selector=selector(component, name),
        ports=[
            k8s.core.v1.ServicePortArgs(
                name=port_name, port=port, target_port=port_name, protocol="TCP"
            )
            for port_name, port in ports.items()
        ],
    )


# -- NetworkPolicy: default-deny in the namespace, then one explicit allow per conversation --


@dataclass(frozen=True)
class Allow:
    """One NetworkPolicy rule: these peers, on these TCP ports (UDP for `udp_ports`)."""

    peers: tuple[k8s.networking.v1.NetworkPolicyPeerArgs, ...]
    ports: tuple[int, ...]
    udp_ports: tuple[int, ...] = ()

    def _ports(self) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
        return [
            k8s.networking.v1.NetworkPolicyPortArgs(port=p, protocol="UDP") for p in self.udp_ports
        ] + [k8s.networking.v1.NetworkPolicyPortArgs(port=p, protocol="TCP") for p in self.ports]

    def ingress(self) -> k8s.networking.v1.NetworkPolicyIngressRuleArgs:
        return k8s.networking.v1.NetworkPolicyIngressRuleArgs(
            from_=list(self.peers), ports=self._ports()
        )

    def egress(self) -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
        return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
            to=list(self.peers), ports=self._ports()
        )


def pods(*components: str) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """Pods of this namespace with one of these components."""
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(
            match_expressions=[
                k8s.meta.v1.LabelSelectorRequirementArgs(
                    key=COMPONENT, operator="In", values=sorted(components)
                )
            ]
        )
    )


def namespace_peer(
    namespace: str, pod_labels: Mapping[str, str] | None = None
) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(
            match_labels={"kubernetes.io/metadata.name": namespace}
        ),
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(pod_labels))
        if pod_labels
        else None,
    )


def addresses(cidrs: Sequence[str]) -> tuple[k8s.networking.v1.NetworkPolicyPeerArgs, ...]:
    """Peers outside any pod (the kubelets, the API server): their addresses, from stack config
    (fwcap:nodeCidrs, fwcap:apiServerCidrs) - never 0.0.0.0/0, which would let a token-holding
    pod reach the internet."""
    return tuple(
        k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=c))
        for c in cidrs
    )


# Cluster DNS: CoreDNS carries k8s-app=kube-dns on kind, k3d, minikube and EKS.
DNS_PEER = namespace_peer("kube-system", {"k8s-app": "kube-dns"})


def network_policy_spec(
    pod_selector: Mapping[str, str],
    *,
    ingress: Sequence[Allow] = (),
    egress: Sequence[Allow] = (),
) -> k8s.networking.v1.NetworkPolicySpecArgs:
    """Both directions are always listed as policy types, so an empty list denies that way."""
    return k8s.networking.v1.NetworkPolicySpecArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(pod_selector)),
        policy_types=["Ingress", "Egress"],
        ingress=[a.ingress() for a in ingress],
        egress=[a.egress() for a in egress],
    )


# -- Placement: who shares a node with whom -----------------------------------------------

POOL_LABEL = "fwcap.io/pool"
HOSTNAME = "kubernetes.io/hostname"
# The service under test is kept off the nodes of what would steal its CPU during a measurement.
NOISY_COMPONENTS = ("locust-master", "locust-worker", "prometheus", "grafana", "postgres")


@dataclass(frozen=True)
class Placement:
    """Where a pod may run: an optional node pool (label + taint `fwcap.io/pool=<pool>`) and,
    for the service under test and its noisy neighbours, anti-affinity from each other."""

    pool: str = ""
    avoid: tuple[str, ...] = ()  # components this pod prefers not to share a node with
    required: bool = False  # anti-affinity required (dedicated pools) or only preferred
    spread_replicas: bool = False  # spread replicas across nodes (the services)

    def node_selector(self) -> dict[str, str] | None:
        return {POOL_LABEL: self.pool} if self.pool else None

    def tolerations(self) -> list[k8s.core.v1.TolerationArgs] | None:
        if not self.pool:
            return None
        return [
            k8s.core.v1.TolerationArgs(
                key=POOL_LABEL, operator="Equal", value=self.pool, effect="NoSchedule"
            )
        ]

    def affinity(self) -> k8s.core.v1.AffinityArgs | None:
        if not self.avoid:
            return None
        term = k8s.core.v1.PodAffinityTermArgs(
            topology_key=HOSTNAME,
            label_selector=k8s.meta.v1.LabelSelectorArgs(
                match_expressions=[
                    k8s.meta.v1.LabelSelectorRequirementArgs(
                        key=COMPONENT, operator="In", values=sorted(self.avoid)
                    )
                ]
            ),
        )
        if self.required:
            anti = k8s.core.v1.PodAntiAffinityArgs(
                required_during_scheduling_ignored_during_execution=[term]
            )
        else:
            anti = k8s.core.v1.PodAntiAffinityArgs(
                preferred_during_scheduling_ignored_during_execution=[
                    k8s.core.v1.WeightedPodAffinityTermArgs(weight=100, pod_affinity_term=term)
                ]
            )
        return k8s.core.v1.AffinityArgs(pod_anti_affinity=anti)

    def spread(
        self, component: str, name: str
    ) -> list[k8s.core.v1.TopologySpreadConstraintArgs] | None:
        if not self.spread_replicas:
            return None
        return [
            k8s.core.v1.TopologySpreadConstraintArgs(
                max_skew=1,
                topology_key=HOSTNAME,
                when_unsatisfiable="ScheduleAnyway",
                label_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels=selector(component, name)
                ),
            )
        ]


def _peer(component: str) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": {COMPONENT: component}}}


def monitoring_peers(settings: Settings) -> tuple[k8s.networking.v1.NetworkPolicyPeerArgs, ...]:
    """Who scrapes the kit: the bundled Prometheus, or every pod of the monitoring namespace."""
    if settings.monitoring_mode == "existing":
        return (namespace_peer(settings.monitoring_namespace),)
    return (pods("prometheus"),)


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
    placement = Placement(pool=settings.service_pool)
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


# -- Registering objects: every component's Deployments, Services, policies and RBAC ------------

Rules = tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]  # ((resources, verbs), ...)


def policy_rules(rules: Rules) -> list[k8s.rbac.v1.PolicyRuleArgs]:
    return [
        k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=list(res), verbs=list(verbs))
        for res, verbs in rules
    ]


def add_deployment(
    resource_name: str,
    namespace: pulumi.Input[str],
    component: str,
    name: str,
    template: k8s.core.v1.PodTemplateSpecArgs,
    opts: pulumi.ResourceOptions,
    *,
    replicas: int = 1,
    single_writer: bool = False,
) -> k8s.apps.v1.Deployment:
    return k8s.apps.v1.Deployment(
        resource_name,
        metadata=meta(name, namespace, component),
        spec=deployment_spec(
            component, name, template, replicas=replicas, single_writer=single_writer
        ),
        opts=opts,
    )


def add_service(
    resource_name: str,
    namespace: pulumi.Input[str],
    component: str,
    name: str,
    ports: Mapping[str, int],
    opts: pulumi.ResourceOptions,
    *,
    headless: bool = False,
    object_name: str | None = None,
) -> k8s.core.v1.Service:
    """A Service for the pods of (component, name), itself named `object_name` or `name`."""
    return k8s.core.v1.Service(
        resource_name,
        metadata=meta(object_name or name, namespace, component),
        spec=cluster_ip_service_spec(component, name, ports, headless=headless),
        opts=opts,
    )


def add_network_policy(
    resource_name: str,
    namespace: pulumi.Input[str],
    component: str,
    name: str,
    opts: pulumi.ResourceOptions,
    *,
    ingress: Sequence[Allow] = (),
    egress: Sequence[Allow] = (),
) -> k8s.networking.v1.NetworkPolicy:
    """The pods of (component, name): only these conversations, in each direction."""
    return k8s.networking.v1.NetworkPolicy(
        resource_name,
        metadata=meta(name, namespace, component),
        spec=network_policy_spec(selector(component, name), ingress=ingress, egress=egress),
        opts=opts,
    )


def add_role_binding(
    resource_name: str,
    namespace: pulumi.Input[str] | None,
    component: str,
    name: str,
    rules: Rules,
    subject: k8s.rbac.v1.SubjectArgs,
    opts: pulumi.ResourceOptions,
) -> None:
    """A Role and RoleBinding in `namespace`, or (namespace None) a ClusterRole and binding."""
    cluster = namespace is None
    kind = "ClusterRole" if cluster else "Role"
    role_type = k8s.rbac.v1.ClusterRole if cluster else k8s.rbac.v1.Role
    binding_type = k8s.rbac.v1.ClusterRoleBinding if cluster else k8s.rbac.v1.RoleBinding
    role = role_type(
        resource_name,
        metadata=meta(name, namespace, component),
        rules=policy_rules(rules),
        opts=opts,
    )
    binding_type(
        resource_name,
        metadata=meta(name, namespace, component),
        role_ref=k8s.rbac.v1.RoleRefArgs(
            api_group="rbac.authorization.k8s.io",
            kind=kind,
            name=role.metadata.apply(lambda m: str(m.name)),
        ),
        subjects=[subject],
        opts=opts,
    )


def add_workload(
    resource_name: str,
    namespace: pulumi.Input[str],
    component: str,
    name: str,
    template: k8s.core.v1.PodTemplateSpecArgs,
    opts: pulumi.ResourceOptions,
    *,
    ports: Mapping[str, int] | None = None,
    ingress: Sequence[Allow] = (),
    egress: Sequence[Allow] = (),
    replicas: int = 1,
    single_writer: bool = False,
) -> None:
    """A Deployment, its ClusterIP Service (when it serves `ports`) and its NetworkPolicy: the
    shape of every Deployment-run component of the kit."""
    add_deployment(
        resource_name,
        namespace,
        component,
        name,
        template,
        opts,
        replicas=replicas,
        single_writer=single_writer,
    )
    if ports:
        add_service(f"{resource_name}-service", namespace, component, name, ports, opts)
    add_network_policy(
        f"{resource_name}-policy", namespace, component, name, opts, ingress=ingress, egress=egress
    )
