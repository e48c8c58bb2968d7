"""A pod's resources, as the plan sets them, the targets start them and the model places them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from capacity.errors import ConfigError
from capacity.quantity import format_cpu, format_memory, parse_cpu_millicores, parse_memory_bytes


@dataclass(frozen=True)
class PodShape:
    """One pod's requests, equal to its limits (the fairness rules), and its server's workers.

    A request may be zero (a pod that asks for no CPU never binds on CPU in the scheduler's
    arithmetic), never negative. The plan asks at least 10m and 64Mi of a measured pod.
    """

    cpu_millicores: int
    memory_bytes: int
    workers: int | None = None  # None: the launcher derives it from the CPU limit
    threads: int | None = None  # None: the launcher's default (Django gthread only)

    def __post_init__(self) -> None:
        if self.cpu_millicores < 0:
            raise ConfigError(
                f"pod CPU request {self.cpu_millicores}m is negative; accepted: 0m or more"
            )
        if self.memory_bytes < 0:
            raise ConfigError(
                f"pod memory request {self.memory_bytes} bytes is negative; accepted: 0 or more"
            )
        for name, count in (("workers", self.workers), ("threads", self.threads)):
            if count is not None and count < 1:
                raise ConfigError(f"pod {name} {count} must be at least 1 (or unset)")

    @classmethod
    def of(
        cls, cpu: str, memory: str, workers: int | None = None, threads: int | None = None
    ) -> PodShape:
        """From Kubernetes quantities: `PodShape.of("500m", "512Mi")`."""
        return cls(parse_cpu_millicores(cpu), parse_memory_bytes(memory), workers, threads)

    def __str__(self) -> str:
        return f"{format_cpu(self.cpu_millicores)} CPU / {format_memory(self.memory_bytes)}"

    def effective_workers(self) -> int:
        """The launcher contract: one server process per core of limit, unless set."""
        return self.workers or max(1, math.ceil(self.cpu_millicores / 1000))


# ---- the pod-shape sweep (`capacity report --pod-shapes`) -----------------------------------

POD_SHAPES_FORMS = (
    "comma-separated CPU limits, each optionally with its server processes as CPU:WORKERS, "
    "e.g. 250m,500m,1000m or 500m,1000m:2"
)


@dataclass(frozen=True)
class SweepShape:
    """One shape of a sweep as given: a CPU limit and, when given, its workers."""

    cpu_millicores: int
    workers: int | None = None  # None: derived from the CPU limit, as for --cpu alone

    @property
    def cpu(self) -> str:
        return f"{self.cpu_millicores}m"

    def __str__(self) -> str:
        return self.cpu if self.workers is None else f"{self.cpu}:{self.workers}"


def shape_label(cpu_millicores: int, workers: int) -> str:
    """How a measured shape is named in tables, plots and results.json: `500m:1`."""
    return f"{cpu_millicores}m:{workers}"


def shape_folder(cpu_millicores: int, workers: int) -> str:
    """The report's sub-folder of one measured shape: `shapes/500mx1`."""
    return f"shapes/{cpu_millicores}mx{workers}"


def parse_pod_shapes(text: str) -> tuple[SweepShape, ...]:
    """`250m,500m,1000m:2` -> three shapes; ConfigError naming the bad value otherwise."""
    shapes: list[SweepShape] = []
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise ConfigError(f"--pod-shapes {text!r} names no shape; accepted: {POD_SHAPES_FORMS}")
    for item in items:
        cpu, colon, workers = item.partition(":")
        try:
            millicores = parse_cpu_millicores(cpu)
        except ConfigError as e:
            raise ConfigError(
                f"--pod-shapes: {item!r} is not a pod shape ({e}); accepted: {POD_SHAPES_FORMS}"
            ) from None
        count = None
        if colon:
            if not workers.strip().isdigit() or int(workers) < 1:
                raise ConfigError(
                    f"--pod-shapes: {item!r} has workers {workers!r}, not a whole number of 1 "
                    f"or more; accepted: {POD_SHAPES_FORMS}"
                )
            count = int(workers)
        shape = SweepShape(millicores, count)
        if any(s.cpu_millicores == millicores and s.workers == count for s in shapes):
            raise ConfigError(f"--pod-shapes: {item!r} is given twice; give each shape once")
        shapes.append(shape)
    return tuple(shapes)
