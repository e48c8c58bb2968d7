"""What `fwcap:sizing` accepts: the per-framework pod shape and autoscaler that `capacity report`
writes to a report's sizing.yaml, which overrides the stack-wide cpu/memory/workers/threads/
replicas and HPA settings for that framework's service only."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from capacity.quantity import parse_cpu_millicores
from deploy.setting_types import FRAMEWORKS, Cpu, Memory

SIZING_FORMS = (
    f"an object keyed by framework ({', '.join(FRAMEWORKS)}; each optional), each with "
    "cpuRequest and cpuLimit (CPU, request <= limit), memory, workers (>= 1), threads (>= 1, "
    "django only; absent: fwcap:threads), replicas (>= 1) and hpa {minReplicas <= maxReplicas, "
    "targetCPUUtilizationPercentage 1-100, scaleDownStabilizationSeconds 0-3600, "
    "scaleDownPercentPerMinute 1-100} - the `config:` block of a report's sizing.yaml"
)
# Only gunicorn's gthread workers have threads; uvicorn's event loop has none to size.
_THREADED = ("django",)


class _SizingModel(BaseModel):
    """Stack-config fields in camelCase, nothing unknown accepted, frozen once read."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class HpaSizing(_SizingModel):
    min_replicas: int = Field(ge=1)
    max_replicas: int = Field(ge=1)
    # The report's (and the HPA's) own spelling, which to_camel would not produce.
    target_cpu_utilization_percentage: int = Field(
        ge=1, le=100, alias="targetCPUUtilizationPercentage"
    )
    # The API server's bound on stabilizationWindowSeconds is one hour.
    scale_down_stabilization_seconds: int = Field(ge=0, le=3600)
    scale_down_percent_per_minute: int = Field(ge=1, le=100)

    @model_validator(mode="after")
    def _min_within_max(self) -> Self:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"hpa.minReplicas {self.min_replicas} is above hpa.maxReplicas {self.max_replicas}"
            )
        return self


class FrameworkSizing(_SizingModel):
    """One framework's pod (requests, limits, server processes) and its replicas."""

    cpu_request: Cpu
    cpu_limit: Cpu
    memory: Memory  # request = limit: memory is not compressible, so never overcommitted
    workers: int = Field(ge=1)
    threads: int | None = Field(default=None, ge=1)
    replicas: int = Field(ge=1)
    hpa: HpaSizing

    @model_validator(mode="after")
    def _request_within_limit(self) -> Self:
        if parse_cpu_millicores(self.cpu_request) > parse_cpu_millicores(self.cpu_limit):
            raise ValueError(
                f"cpuRequest {self.cpu_request} is above cpuLimit {self.cpu_limit} (Kubernetes "
                "refuses a request above its limit)"
            )
        if self.replicas > self.hpa.max_replicas:
            raise ValueError(
                f"replicas {self.replicas} is above hpa.maxReplicas {self.hpa.max_replicas}"
            )
        return self


def _framework(name: str) -> str:
    if name not in FRAMEWORKS:
        raise ValueError(f"unknown framework {name!r}")
    return name


def _threads_only_where_run(sizing: dict[str, FrameworkSizing]) -> dict[str, FrameworkSizing]:
    for framework, size in sizing.items():
        if size.threads is not None and framework not in _THREADED:
            raise ValueError(
                f"{framework}.threads is set, but only {', '.join(_THREADED)} runs threads"
            )
    return sizing


# framework -> its sizing; a framework without an entry keeps the stack-wide settings.
Sizing = Annotated[
    dict[Annotated[str, AfterValidator(_framework)], FrameworkSizing],
    AfterValidator(_threads_only_where_run),
]
