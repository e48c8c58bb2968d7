"""Pure builders of Deployment, Service and RBAC specs: how each Deployment rolls out, and
ClusterIP-only Services.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi_kubernetes as k8s

from deploy.specs.names import selector


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
    only the services under test ask (deploy/specs/service_chart.py)."""
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


Rules = tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]  # ((resources, verbs), ...)


def policy_rules(rules: Rules) -> list[k8s.rbac.v1.PolicyRuleArgs]:
    return [
        k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=list(res), verbs=list(verbs))
        for res, verbs in rules
    ]
