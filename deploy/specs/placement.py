"""Who shares a node with whom: node pools, and anti-affinity between the service under test
and its noisy neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi_kubernetes as k8s

from deploy.specs.names import COMPONENT, selector

POOL_LABEL = "fwcap.io/pool"
HOSTNAME = "kubernetes.io/hostname"
# The service under test is kept off the nodes of what would steal its CPU during a measurement.
NOISY_COMPONENTS = ("locust-master", "locust-worker", "prometheus", "grafana", "postgres")


@dataclass(frozen=True)
class PodPlacement:
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
