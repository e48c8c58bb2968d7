"""A HorizontalPodAutoscaler derived from the measured knee, and a VPA-style recommendation.

The HPA divides a pod's CPU use by its CPU *request* (not its limit) and scales so that the
average stays at the target utilisation. The target that keeps each pod below its SLO capacity
with the stated load headroom is therefore the CPU a pod uses at capacity x (1 - headroom),
as a share of the right-sized request. CPU use is taken as proportional to the rate from the
capacity step (the pod's idle CPU is under 5% of its limit when drained, docs/local-run.md), so
the target errs low: the HPA adds pods a little early rather than late.

Min replicas: one per zone plus one (N+1: a pod lost to a node or a rollout leaves every zone
served). Max replicas: the pods the target load times a stated growth factor needs at the same
headroom (capacity.model.cost.PODS_FOR_LOAD_FORMULA). Scale-down waits out a stabilisation
window and removes at most half the pods a minute, because a target set near the knee flaps
when pods leave as fast as they came (opentelemetry-operator #1065 saw it at 90%).

The VPA-style recommendation is Kubernetes' VerticalPodAutoscaler vocabulary for one container:
`target` is the right-sized request, `lowerBound` what the pod used at its HPA target, and
`upperBound` what it was measured with (CPU limit; memory limit), beyond which nothing was seen.
"""

from __future__ import annotations

from dataclasses import dataclass

from capacity.measurements import MeasurementRecord
from capacity.model.cost import PODS_FOR_LOAD_FORMULA
from capacity.model.derivation import Figure, derive
from capacity.model.rightsizing import RightSizing

DEFAULT_GROWTH_FACTOR = 2.0  # max replicas serve twice the target load: a stated assumption
SCALE_DOWN_STABILIZATION_S = 300  # Kubernetes' own default, written out so it is visible
SCALE_DOWN_PERCENT_PER_MINUTE = 50


@dataclass(frozen=True)
class Autoscaler:
    min_replicas: Figure
    max_replicas: Figure
    target_cpu_utilization_percent: Figure
    scale_down_stabilization_s: int
    scale_down_percent_per_minute: int
    reasoning: tuple[str, ...]


@dataclass(frozen=True)
class ResourceBounds:
    """One resource's VPA-style recommendation (millicores for CPU, bytes for memory)."""

    lower_bound: Figure
    target: Figure
    upper_bound: Figure


@dataclass(frozen=True)
class VerticalRecommendation:
    cpu: ResourceBounds
    memory: ResourceBounds


def autoscaler(
    capacity_record: MeasurementRecord,
    sizing: RightSizing,
    capacity_per_pod_rps: float,
    *,
    target_rps: float,
    headroom: float,
    zones: int,
    growth_factor: float = DEFAULT_GROWTH_FACTOR,
    series: str,
) -> Autoscaler:
    """The HPA for one framework, from its capacity step and its right-sized request."""
    if not growth_factor >= 1:
        raise ValueError(f"growth factor {growth_factor!r} must be 1 or more (e.g. 2)")
    source = f"measurements: {series}, mean pod CPU at the capacity step {capacity_record.step}"
    request = int(sizing.cpu_millicores.number())
    utilisation = derive(
        "hpa_target_cpu_utilization_percent",
        "percent",
        "max(1, min(100, floor(pod_cpu_cores * 1000 * (1 - headroom) * 100 "
        "/ cpu_request_millicores)))",
        {
            "pod_cpu_cores": capacity_record.pod_cpu_cores,
            "headroom": headroom,
            "cpu_request_millicores": request,
        },
        source + "; the right-sized CPU request (what the HPA divides by)",
    )
    min_replicas = derive(
        "hpa_min_replicas",
        "pods",
        "zones + 1",
        {"zones": zones},
        "--zones: one pod per zone plus one (N+1)",
    )
    peak = derive(
        "hpa_max_replicas",
        "pods",
        f"max(zones + 1, {PODS_FOR_LOAD_FORMULA.replace('target_rps', 'target_rps * growth')})",
        {
            "zones": zones,
            "target_rps": target_rps,
            "growth": growth_factor,
            "capacity_per_pod_rps": capacity_per_pod_rps,
            "headroom": headroom,
        },
        f"the target load x {growth_factor:g} (a stated growth factor) at the same headroom",
    )
    percent = int(utilisation.number())
    reasoning = (
        f"At its SLO capacity ({capacity_per_pod_rps:.0f} req/s per pod) a pod used "
        f"{capacity_record.pod_cpu_cores * 1000:.0f}m CPU; with {headroom:.0%} of the load held "
        f"back it uses about {capacity_record.pod_cpu_cores * 1000 * (1 - headroom):.0f}m, "
        f"{percent}% of its {request}m request: the HPA's target utilisation.",
        f"Min {int(min_replicas.number())} pods (one per zone plus one); max "
        f"{int(peak.number())} (the target {target_rps:g} req/s x {growth_factor:g}).",
        f"Scale-down waits {SCALE_DOWN_STABILIZATION_S} s and removes at most "
        f"{SCALE_DOWN_PERCENT_PER_MINUTE}% of the pods a minute, so a target this close to the "
        "knee does not flap.",
    )
    return Autoscaler(
        min_replicas,
        peak,
        utilisation,
        SCALE_DOWN_STABILIZATION_S,
        SCALE_DOWN_PERCENT_PER_MINUTE,
        reasoning,
    )


def vertical(
    capacity_record: MeasurementRecord, sizing: RightSizing, hpa: Autoscaler, *, series: str
) -> VerticalRecommendation:
    """VPA-style bounds per resource: what the HPA target needs, the request, what was tested."""
    request = int(sizing.cpu_millicores.number())
    cpu_lower = derive(
        "vpa_cpu_lower_bound_millicores",
        "millicores",
        "ceil(cpu_request_millicores * target_utilization_percent / 100)",
        {
            "cpu_request_millicores": request,
            "target_utilization_percent": int(hpa.target_cpu_utilization_percent.number()),
        },
        f"measurements: {series}, the CPU a pod uses at the HPA's target",
    )
    cpu_upper = derive(
        "vpa_cpu_upper_bound_millicores",
        "millicores",
        "pod_cpu_limit_millicores",
        {"pod_cpu_limit_millicores": capacity_record.pod_cpu_limit_millicores},
        f"measurements: {series}, the CPU limit the capacity was measured with",
    )
    memory_upper = derive(
        "vpa_memory_upper_bound_bytes",
        "bytes",
        "max(recommended_memory_bytes, pod_memory_limit_bytes)",
        {
            "recommended_memory_bytes": int(sizing.memory_bytes.number()),
            "pod_memory_limit_bytes": capacity_record.pod_memory_limit_bytes,
        },
        f"measurements: {series}, the memory limit the pod was measured with",
    )
    memory_lower = derive(
        "vpa_memory_lower_bound_bytes",
        "bytes",
        "peak_working_set_bytes",
        {"peak_working_set_bytes": _peak_input(sizing)},
        f"measurements: {series}, the peak working set over all steps",
    )
    return VerticalRecommendation(
        ResourceBounds(cpu_lower, sizing.cpu_millicores, cpu_upper),
        ResourceBounds(memory_lower, sizing.memory_bytes, memory_upper),
    )


def _peak_input(sizing: RightSizing) -> int:
    peak = sizing.memory_bytes.inputs["peak_working_set_bytes"]
    assert isinstance(peak, int | float), peak
    return int(peak)
