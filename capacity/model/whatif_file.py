"""The what-if YAML file (`capacity whatif FILE.yaml`): validated here, at the boundary.

node_types: [m6i.large, e2-standard-4]   # candidates; default: every catalog node type
workloads:
  - {name: api, cpu: 500m, memory: 512Mi, replicas: 6}
  - {name: web, cpu: 250m, memory: 256Mi, target_rps: 2000, capacity_per_pod_rps: 180,
     headroom: 0.2, cpu_seconds_per_request: 0.0009, idle_cpu_cores: 0.05}  # measured CPU line
  - {name: batch, cpu: "2", memory: 4Gi, replicas: 2, node_type: c6i.xlarge}  # own pool
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from capacity.errors import ConfigError
from capacity.model.whatif import Workload
from capacity.pod_shape import PodShape
from capacity.quantity import CpuMillicores, MemoryBytes
from capacity.validation import describe_validation_error


class _WorkloadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    cpu: CpuMillicores
    memory: MemoryBytes
    replicas: int | None = Field(default=None, ge=0)
    target_rps: float | None = Field(default=None, ge=0)
    capacity_per_pod_rps: float | None = Field(default=None, gt=0)
    headroom: float = Field(default=0.0, ge=0, lt=1)
    node_type: str | None = None
    cpu_seconds_per_request: float | None = Field(default=None, gt=0)
    idle_cpu_cores: float = Field(default=0.0, ge=0)


class _WhatIfIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    node_types: list[str] | None = None
    workloads: list[_WorkloadIn] = Field(min_length=1)


def load_whatif(path: Path) -> tuple[list[Workload], list[str] | None]:
    """The workloads, and the candidate node types (None: all of the catalog)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"what-if file {path} does not exist") from exc
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"what-if file {path} cannot be read as YAML: {exc}") from exc
    try:
        parsed = _WhatIfIn.model_validate(data)
    except ValidationError as exc:
        problem = describe_validation_error(exc, whole="file", limit=1)
        raise ConfigError(
            f"what-if file {path}: {problem} (expected node_types: [..] and "
            "workloads: [{name, cpu, memory, replicas | target_rps + capacity_per_pod_rps, "
            "optional headroom, node_type, cpu_seconds_per_request, idle_cpu_cores}])"
        ) from exc
    workloads = []
    for w in parsed.workloads:
        try:
            pod = PodShape(w.cpu, w.memory)
        except ConfigError as exc:
            raise ConfigError(f"what-if file {path}: workload {w.name!r}: {exc}") from exc
        workloads.append(
            Workload(
                name=w.name,
                pod=pod,
                replicas=w.replicas,
                target_rps=w.target_rps,
                capacity_per_pod_rps=w.capacity_per_pod_rps,
                headroom=w.headroom,
                node_type=w.node_type,
                cpu_seconds_per_request=w.cpu_seconds_per_request,
                idle_cpu_cores=w.idle_cpu_cores,
            )
        )
    return workloads, parsed.node_types
