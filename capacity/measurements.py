"""The measurement record: one JSON line per framework x scenario x load step, and its reader.

The load run appends a record as soon as a step ends (`append_record`), so a crash or Ctrl-C
loses nothing already measured; the model reads the file back with `read_records`, which names
the file, the line and the problem for anything it cannot use.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, ValidationError, model_validator

from capacity.errors import MeasurementsError
from capacity.frameworks import Framework
from capacity.validation import describe_validation_error

# 2: the open-model fields (client latency, over-SLO share, grid index, attempt, decision).
# 3: drained, interleaved steps: round, drain, send lag, probe speed, foreign load, per-second
#    batches (version 2 records still read: the new fields default to "not measured").
SCHEMA_VERSION = 3
OLDEST_READ = 2


class MeasurementRecord(BaseModel):
    """What one framework's pods did during one fixed-rate load step (totals across its pods)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = Field(ge=2, description="record format version; this kit writes 3")
    run_id: str = Field(min_length=1, description="identifies one measurement run")
    target: Literal["local", "kube"] = Field(description="where the pods ran")
    framework: Framework
    scenario: str = Field(min_length=1, description="the request mix, e.g. db-read")
    step: int = Field(ge=0, description="0-based index of the load step")
    offered_rps: float = Field(ge=0, description="the grid rate offered, req/s (total)")
    grid_index: int = Field(ge=0, description="k of the rate grid r_k = base x ratio^k")
    attempt: int = Field(
        ge=1, description="1 for the first measurement at this rate, 2 for a rerun"
    )
    purpose: str = Field(description="climb, descend, bisect, confirm-pass or confirm-fail")
    seed: int = Field(description="seed of the arrival sequence (the same for both frameworks)")
    achieved_rps: float = Field(ge=0, description="requests/s completed OK (client side, total)")
    requests: int = Field(ge=0, description="arrivals scheduled in the measuring window")
    dropped: int = Field(ge=0, description="arrivals not sent: the in-flight cap was reached")
    slo_latency_ms: float = Field(gt=0, description="the latency the over-SLO share counts above")
    over_slo_ratio: float = Field(ge=0, le=1, description="late, failed or dropped / requests")
    over_slo_lower: float = Field(ge=0, le=1, description="95% Wilson lower bound of the share")
    over_slo_upper: float = Field(ge=0, le=1, description="95% Wilson upper bound of the share")
    decision: Literal["pass", "fail"] = Field(description="this step's verdict at the SLO")
    extended: bool = Field(description="True when the first window was undecided and extended")
    client_latency_p50_ms: float | None = Field(ge=0, description="from the intended send time")
    client_latency_p95_ms: float | None = Field(ge=0)
    client_latency_p99_ms: float | None = Field(ge=0)
    latency_p50_ms: float | None = Field(ge=0, description="server histogram (cross-check)")
    latency_p95_ms: float | None = Field(ge=0)
    latency_p99_ms: float | None = Field(ge=0)
    error_ratio: float = Field(ge=0, le=1, description="failed or dropped / all requests, 0..1")
    cpu_seconds_per_request: float | None = Field(
        ge=0, description="pod CPU-seconds over requests served, both counters over the window"
    )
    host_cpu_ratio: float | None = Field(
        default=None, ge=0, le=1, description="busy share of the cores not given to the pods"
    )
    postgres_cpu_cores: float | None = Field(default=None, ge=0, description="PostgreSQL's CPU")
    contended: bool = Field(default=False, description="the non-pod cores were saturated")
    pods: int = Field(ge=1)
    pod_cpu_cores: float = Field(ge=0, description="mean CPU cores used per pod over the step")
    pod_cpu_cores_max: float = Field(ge=0, description="highest per-pod CPU cores in the step")
    pod_memory_working_set_bytes: float = Field(ge=0, description="peak working set per pod")
    pod_cpu_throttled_ratio: float = Field(ge=0, le=1, description="throttled periods / periods")
    generator_cpu_ratio: float = Field(ge=0, le=1, description="peak share of generator CPU")
    generator_saturated: bool
    pod_cpu_limit_millicores: int = Field(ge=1)
    pod_memory_limit_bytes: int = Field(ge=1)
    workers: int = Field(ge=1, description="server worker processes per pod")
    threads: int | None = Field(ge=1, description="threads per worker (Django gthread)")
    limits_enforced: bool = Field(description="False when cgroups could not be written")
    started_at: datetime
    ended_at: datetime
    duration_s: float = Field(gt=0)
    note: str | None = None
    # -- version 3: the method that makes a run repeatable (docs/local-run.md) ----------------
    round_index: int = Field(default=0, ge=0, description="which round of the search (0-based)")
    in_flight_at_start: int | None = Field(
        default=None, ge=0, description="requests still in flight when the step began (0: drained)"
    )
    drain_s: float | None = Field(
        default=None, ge=0, description="seconds the run waited for the previous load to drain"
    )
    send_lag_p99_ms: float | None = Field(
        default=None, ge=0, description="p99 of actual minus intended send time, generator side"
    )
    cpu_speed: float | None = Field(
        default=None, gt=0, description="interpreter-bound probe on the pods' core(s) just before "
        "the step, k-rounds per CPU-second (capacity/target/cpuspeed.py)",
    )  # fmt: skip
    support_cpu_speed: float | None = Field(
        default=None, gt=0, description="the same probe on the other cores (database, upstream "
        "stub, generator) just before the step, k-rounds per CPU-second",
    )  # fmt: skip
    request_probe_cpu_s: float | None = Field(
        default=None, gt=0, description="pod CPU-seconds per request of 20 sequential reads to "
        "one pod just before the step, drained (capacity/target/requestcost.py; local target)",
    )  # fmt: skip
    pod_core_foreign_cores: float | None = Field(
        default=None, ge=0, description="cores of the pods' CPU(s) busy with anything but the pods"
    )
    over_slo_by_request: dict[str, tuple[NonNegativeInt, NonNegativeInt]] = Field(
        default_factory=dict, description="per request name: [arrivals, late, failed or dropped]"
        " (requests still in flight at the window's end not counted)",
    )  # fmt: skip
    batch_requests: list[int] = Field(
        default_factory=list, description="arrivals per second of the measuring window"
    )
    batch_over_slo: list[int] = Field(
        default_factory=list, description="of those, late, failed or dropped, per second"
    )
    measured_windows: list[tuple[datetime, datetime]] = Field(
        default_factory=list, description="each measuring window (from, to): two when extended;"
        " duration_s is their sum, and the server's figures are read over each",
    )  # fmt: skip

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> MeasurementRecord:
        if self.ended_at < self.started_at:
            raise ValueError(f"ended_at {self.ended_at} is before started_at {self.started_at}")
        if len(self.batch_requests) != len(self.batch_over_slo) or any(
            not 0 <= o <= n for n, o in zip(self.batch_requests, self.batch_over_slo, strict=False)
        ):
            raise ValueError(
                "batch_requests and batch_over_slo must be lists of one length with "
                "0 <= over_slo <= requests in each second"
            )
        return self


def append_record(path: Path, record: MeasurementRecord) -> None:
    """Append one line and make it durable before returning (the run may be killed next)."""
    line = record.model_dump_json() + "\n"
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise MeasurementsError(f"cannot append to measurements file {path}: {exc}") from exc


def _parse_line(path: Path, number: int, line: str) -> MeasurementRecord:
    where = f"{path}:{number}"
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise MeasurementsError(
            f"{where}: not JSON ({exc.msg} at column {exc.colno}); each line must be one "
            "measurement record as a JSON object"
        ) from exc
    if not isinstance(raw, dict):
        raise MeasurementsError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    version = raw.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise MeasurementsError(
            f"{where}: written by a newer kit (schema_version {version}); "
            f"this kit reads {SCHEMA_VERSION}"
        )
    if isinstance(version, int) and not isinstance(version, bool) and version < OLDEST_READ:
        raise MeasurementsError(
            f"{where}: written by an older kit (schema_version {version}, closed-loop load "
            f"without client-side latency); this kit reads {OLDEST_READ} to {SCHEMA_VERSION}: "
            "re-run "
            "`capacity report` to measure with the open load model"
        )
    try:
        return MeasurementRecord.model_validate(raw)
    except ValidationError as exc:
        problem = describe_validation_error(exc, limit=3)
        raise MeasurementsError(f"{where}: invalid record: {problem}") from exc


def read_records(path: Path) -> list[MeasurementRecord]:
    """Every record in a JSONL file; blank lines are skipped, anything else must be a record."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise MeasurementsError(f"measurements file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise MeasurementsError(f"cannot read measurements file {path}: {exc}") from exc
    records = [
        _parse_line(Path(path), number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]
    if not records:
        raise MeasurementsError(
            f"{path}: empty measurements file (no records); expected one JSON measurement record "
            "per line, as written by `capacity report`"
        )
    return records
