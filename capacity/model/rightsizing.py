"""Right-sized requests and limits for a framework's pod, with the reasoning written out.

CPU request: the pod's mean CPU use at its SLO capacity plus a stated headroom, never above
the CPU limit the capacity was measured with. CPU limit: that tested limit, unchanged. The
latency a pod shows at a given rate depends on its CPU quota (queueing inside the pod), so a
smaller limit would move the knee the run measured; a request that covers the measured use
means the scheduler never packs pods so tightly that they get less CPU than they used at the
SLO load. Memory: the peak working set seen in any step plus a stated buffer, request = limit
(memory cannot be throttled, only OOM-killed). All sizes round up in capacity.model.rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from capacity.measurements import MeasurementRecord
from capacity.model import rounding
from capacity.model.capacity_at_slo import PodCapacity
from capacity.model.derivation import Figure, derive
from capacity.model.fit import PodShape
from capacity.quantity import format_cpu, format_memory, human_bytes


@dataclass(frozen=True)
class Margins:
    """Stated safety margins, as fractions."""

    cpu_headroom: float = 0.25
    memory_buffer: float = 0.25


@dataclass(frozen=True)
class RightSizing:
    cpu_millicores: Figure  # the request, what the scheduler packs by
    cpu_limit_millicores: Figure
    memory_bytes: Figure  # request = limit
    reasoning: tuple[str, ...]

    @property
    def shape(self) -> PodShape:
        """The requests, which is all NodeResourcesFit looks at."""
        return PodShape(int(self.cpu_millicores.number()), int(self.memory_bytes.number()))


def right_size(
    records: Sequence[MeasurementRecord], capacity: PodCapacity, margins: Margins, series: str
) -> RightSizing | None:
    """None when no step met the SLO: there is no load at which to size the pod."""
    top = capacity.capacity_step
    if top is None:
        return None
    record = top.record
    limit = record.pod_cpu_limit_millicores
    step = rounding.CPU_STEP_MILLICORES
    needed = record.pod_cpu_cores * 1000 * (1 + margins.cpu_headroom)
    cpu = derive(
        "recommended_cpu_millicores",
        "millicores",
        "max(step_millicores, min(pod_cpu_limit_millicores, "
        "ceil(pod_cpu_cores * 1000 * (1 + cpu_headroom) / step_millicores) * step_millicores))",
        {
            "pod_cpu_cores": record.pod_cpu_cores,
            "cpu_headroom": margins.cpu_headroom,
            "pod_cpu_limit_millicores": limit,
            "step_millicores": step,
        },
        f"measurements: {series}, mean pod CPU at the capacity step {record.step}",
    )
    cpu_value = int(cpu.number())
    cpu_limit = derive(
        "recommended_cpu_limit_millicores",
        "millicores",
        "pod_cpu_limit_millicores",
        {"pod_cpu_limit_millicores": limit},
        f"measurements: {series}, the CPU limit the capacity was measured with",
    )
    peak = max(r.pod_memory_working_set_bytes for r in records)
    mem_step = rounding.MEMORY_STEP_BYTES
    memory = derive(
        "recommended_memory_bytes",
        "bytes",
        "max(2 * step_bytes, ceil(peak_working_set_bytes * (1 + memory_buffer) / step_bytes)"
        " * step_bytes)",
        {
            "peak_working_set_bytes": peak,
            "memory_buffer": margins.memory_buffer,
            "step_bytes": mem_step,
        },
        f"measurements: {series}, peak working set over all {len(records)} steps",
    )
    memory_value = int(memory.number())
    reasoning = [
        f"At its SLO capacity (step {record.step}, {record.achieved_rps:.0f} req/s over "
        f"{record.pods} pod(s)) each pod used {record.pod_cpu_cores * 1000:.0f}m CPU on average "
        f"(peak {record.pod_cpu_cores_max * 1000:.0f}m) of its {format_cpu(limit)} limit, "
        f"throttled in {record.pod_cpu_throttled_ratio:.0%} of CFS periods.",
    ]
    if needed >= limit:
        reasoning.append(
            f"With {margins.cpu_headroom:.0%} headroom it would need {needed:.0f}m, at or above "
            f"the limit it was measured with: CPU is what bounds this pod, so request = limit = "
            f"{format_cpu(cpu_value)}. A bigger pod may serve more per pod, but this run did not "
            "measure one."
        )
    else:
        reasoning.append(
            f"With {margins.cpu_headroom:.0%} headroom that is {needed:.0f}m, rounded up to a "
            f"{format_cpu(cpu_value)} request (50m steps): the scheduler then reserves at least "
            f"what the pod used at its SLO load. The limit stays {format_cpu(limit)}, the quota "
            "the latency was measured under; a smaller limit would move the knee (re-measure "
            "before lowering it)."
        )
    reasoning.append(
        f"Memory: peak working set {human_bytes(peak)} over all steps, plus a "
        f"{margins.memory_buffer:.0%} buffer, rounded up to 32Mi: {format_memory(memory_value)} "
        "for request = limit."
    )
    if record.limits_enforced is False:
        reasoning.append(
            "Limits were not enforced in this run (no writable cgroups), so the pod could use "
            "more than its limit; treat these sizes as indicative."
        )
    return RightSizing(cpu, cpu_limit, memory, tuple(reasoning))
