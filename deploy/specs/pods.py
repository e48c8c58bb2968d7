"""Pure builders of pods and containers under the restricted Pod Security profile: security
contexts, requests = limits, volumes, probes, and how long each pod gets to stop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from deploy.specs.names import labels
from deploy.specs.placement import PodPlacement


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
    name: str, component: str, size: str, storage_class: str
) -> k8s.core.v1.PersistentVolumeClaimArgs:
    """A ReadWriteOnce claim in the stack's StorageClass (empty: the cluster's default class)."""
    return k8s.core.v1.PersistentVolumeClaimArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels=labels(component, name)),
        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteOnce"],
            storage_class_name=storage_class or None,
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


def pod_template(
    component: str,
    name: str,
    *,
    uid: int,
    containers: Sequence[k8s.core.v1.ContainerArgs],
    volumes: Sequence[k8s.core.v1.VolumeArgs],
    placement: PodPlacement,
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
