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
