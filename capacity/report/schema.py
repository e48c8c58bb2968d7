"""results.json as pydantic models: the one definition of the report's machine-readable truth.

`capacity.report.results.build_results` fills these models from the analysis, results.json is
their dump, and the Markdown, HTML and plots read their attributes. Where the model already
holds a value in its published shape, the document holds that value itself, not a copy:
every `Figure` (capacity.model.derivation), `Comparison` (capacity.model.analysis), `Autoscaler`
and `VerticalRecommendation` (capacity.model.autoscaling), `Burstable`
and `Daemonset` (capacity.catalog) - frozen dataclasses whose field annotations pydantic reads.
The committed JSON Schema (capacity/schemas/results.schema.json) is generated from them by
`make schemas` (scripts/results_schema.py); a test fails when the committed file has drifted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from functools import cache
from importlib import resources
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import CoreSchema

from capacity.catalog import AddonProfile, Arch, Burstable, Daemonset
from capacity.errors import ReportError
from capacity.frameworks import Framework
from capacity.load.ladder import Purpose
from capacity.model.allocatable import MaxPodsMode
from capacity.model.analysis import Comparison
from capacity.model.autoscaling import Autoscaler, VerticalRecommendation
from capacity.model.capacity_at_slo import Percentile
from capacity.model.claims import Verdict
from capacity.model.derivation import Figure
from capacity.numbers import Fraction, NonNegative, Number, Positive, PositiveShare, Share

RESULTS_SCHEMA_VERSION: Final = 1


def first_error(exc: ValidationError) -> str:
    """Where the first validation error sits in a results document, and what it is."""
    first = exc.errors()[0]
    where = "/".join(str(p) for p in first["loc"]) or "(top level)"
    return f"at {where}: {first['msg']}"


SCHEMA_ID = "https://github.com/fwcap/fwcap/schemas/results.schema.json"
# Package data (capacity/schemas/), so an installed kit reads the same schema.
SCHEMA_PATH = resources.files("capacity") / "schemas" / "results.schema.json"

ControlPlane = Literal["default", "standard", "extended", "free", "none"]
Purchase = Literal["on-demand", "spot", "commit-1y"]
Binding = Literal["cpu", "memory", "max_pods", "pod_ips"]


def figure_json(figure: Figure) -> dict[str, Any]:
    """One figure's JSON, as results.json writes it."""
    return _FIGURE.dump_python(figure, mode="json")  # type: ignore[no-any-return]


_FIGURE: Final = TypeAdapter(Figure)


SHAPE_DESCRIPTION = (
    "the measured pod shape as CPU limit:workers, e.g. 500m:1 (a --pod-shapes sweep has one "
    "series per shape)"
)


class _Model(BaseModel):
    # Every object in results.json: exactly its fields (additionalProperties false), immutable.
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- inputs, machine, fairness ----------------------------------------------------------------


class SloInputs(_Model):
    percentile: Percentile
    latency_ms: Positive
    max_error_ratio: Share
    allowed_over_slo_ratio: PositiveShare
    text: str


class CostOptions(_Model):
    """How the cluster is bought and run: spare nodes, zones, control-plane tier, purchase
    option, add-on profiles, pod networking."""

    spare_nodes: int = Field(ge=0)
    zones: int = Field(ge=1)
    control_plane: ControlPlane
    purchase: Purchase
    spot_discount: Fraction | None
    addon_profiles: list[AddonProfile]
    max_pods_mode: MaxPodsMode
    max_pods: int | None = Field(ge=1)


class Inputs(_Model):
    measurements_file: str
    measurements_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    records: int = Field(ge=1)
    run_ids: list[str] = Field(min_length=1)
    targets: list[Literal["local", "kube"]] = Field(min_length=1)
    first_step_started_at: str
    last_step_ended_at: str
    slo: SloInputs
    target_rps: Positive
    headroom: Fraction
    cost_options: CostOptions
    cpu_headroom: NonNegative
    memory_buffer: NonNegative
    headline_scenario: str
    catalog: str
    node_types: list[str] = Field(min_length=1)


class Platform(_Model):
    source: str
    details: dict[str, Any]


class LimitsEnforced(_Model):
    all: bool
    any: bool
    detail: str


class FairnessCondition(_Model):
    condition: str
    status: Literal["held", "violated", "not checked by the model"]
    detail: str


# -- series: the steps and what they say about one framework x scenario ----------------------


class Step(_Model):
    """One load step as measured (its measurement record's figures) and judged at the SLO."""

    step: int = Field(ge=0)
    grid_index: int = Field(ge=0, description="k of the shared rate grid")
    attempt: int = Field(ge=1)
    purpose: Purpose
    seed: int
    offered_rps: float = Field(ge=0, description="the grid rate (total)")
    achieved_rps: float = Field(ge=0)
    per_pod_rps: float = Field(ge=0)
    requests: int = Field(ge=0)
    dropped: int = Field(ge=0)
    slo_latency_ms: float = Field(gt=0)
    over_slo_ratio: float = Field(ge=0, le=1)
    over_slo_lower: float = Field(ge=0, le=1)
    over_slo_upper: float = Field(ge=0, le=1)
    decision: Literal["pass", "fail"]
    extended: bool
    client_latency_p50_ms: float | None = Field(description="from the intended send time")
    client_latency_p95_ms: float | None
    client_latency_p99_ms: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    error_ratio: float = Field(ge=0, le=1)
    cpu_seconds_per_request: float | None
    host_cpu_ratio: float | None = Field(ge=0, le=1)
    postgres_cpu_cores: float | None = Field(ge=0)
    contended: bool
    pod_cpu_cores: float = Field(ge=0)
    pod_cpu_cores_max: float = Field(ge=0)
    pod_memory_working_set_bytes: float = Field(ge=0)
    pod_cpu_throttled_ratio: float = Field(ge=0, le=1)
    generator_cpu_ratio: float = Field(ge=0, le=1)
    generator_saturated: bool
    duration_s: float
    round_index: int = Field(ge=0, description="which round of the search (0-based)")
    in_flight_at_start: int | None = Field(ge=0, description="0: the step started drained")
    drain_s: float | None = Field(ge=0)
    send_lag_p99_ms: float | None = Field(ge=0, description="generator: actual - intended send")
    cpu_speed: float | None = Field(description="core-speed probe before the step, k-rounds/CPU-s")
    support_cpu_speed: float | None = Field(
        default=None, description="the same probe on the support cores (database, generator)"
    )
    request_probe_cpu_s: float | None = Field(
        default=None, description="pod CPU-s per request of 20 sequential reads before the step"
    )
    pod_core_foreign_cores: float | None = Field(ge=0)
    valid: bool
    reasons: list[str]
    in_fit: bool = Field(description="used by the capacity fit (see reasons when not)")


class TestedShape(_Model):
    pods: int = Field(ge=1)
    cpu_millicores: int = Field(ge=1)
    memory_bytes: int = Field(ge=1)
    cpu: str
    memory: str
    workers: int = Field(ge=1)
    threads: int | None
    limits_enforced: bool


class Recommended(_Model):
    cpu: str = Field(description="CPU request")
    cpu_limit: str
    memory: str = Field(description="memory request = limit")
    cpu_millicores: Figure
    cpu_limit_millicores: Figure
    memory_bytes: Figure
    reasoning: list[str] = Field(min_length=1)


class LateRequest(_Model):
    """One request name's part in the late share of the steps near the knee."""

    request: str = Field(description="the request's name, e.g. /api/upstream")
    arrivals_share: float = Field(ge=0, le=1, description="its share of the arrivals")
    late_share: float = Field(ge=0, le=1, description="its share of the late requests")
    late_ratio: float = Field(
        ge=0, le=1, description="of its own arrivals, the share late, failed or dropped"
    )


class Series(_Model):
    framework: Framework
    scenario: str
    tested_shape: TestedShape
    shape: str | None = Field(default=None, description=SHAPE_DESCRIPTION)
    cheapest_shape: bool = Field(
        default=True,
        description="this series' shape serves the target load cheapest of the framework's "
        "shapes for the scenario (true for the only shape unless --pod-shapes swept several)",
    )
    steps: list[Step] = Field(min_length=1)
    capacity_step: int | None
    capacity_interval_rps: tuple[Number | None, Number | None] = Field(
        description="[last pass, first fail) in req/s per pod; null where not found"
    )
    capacity_point_rps: Number | None = Field(description="point estimate, req/s per pod")
    capacity_confirmed: bool
    knee: Literal["pod", "database", "none"] = Field(
        description="what the first failing rate ran into"
    )
    capacity_per_pod_rps: Figure
    capacity_ci95_rps: tuple[Number, Number] | None = Field(
        description="95% interval of the capacity per pod (block bootstrap of the fit)"
    )
    capacity_method: str | None = Field(description="how the capacity point was estimated")
    cpu_capacity_per_pod_rps: Figure | None = Field(
        description="the CPU limit over CPU per request: capacity if CPU were the only limit"
    )
    cpu_seconds_per_request: Figure
    cpu_seconds_per_request_normalised: Figure | None = Field(
        description="CPU per request scaled to the run's median core speed"
    )
    recommended: Recommended | None
    autoscaler: Autoscaler | None = Field(
        None, description="the HorizontalPodAutoscaler derived from the knee (manifests/hpa-*.yaml)"
    )
    vertical: VerticalRecommendation | None = Field(
        None, description="VPA-style lowerBound/target/upperBound per resource (manifests/vpa-*)"
    )
    late_at_knee: list[LateRequest] = Field(
        default_factory=list,
        description="what the late share was made of on the steps near the knee (1-50% of "
        "requests late), most late first; empty when no step was that close",
    )
    warnings: list[str]


# -- node types, fits, costs -------------------------------------------------------------------


class NodeFigures(_Model):
    usd_per_hour: Figure
    max_pods: Figure
    memory_capacity_bytes: Figure
    kube_reserved_cpu_millicores: Figure
    kube_reserved_memory_bytes: Figure
    eviction_memory_bytes: Figure
    allocatable_cpu_millicores: Figure
    allocatable_memory_bytes: Figure
    daemonset_cpu_millicores: Figure
    daemonset_memory_bytes: Figure
    daemonset_pods: Figure


class Node(_Model):
    name: str
    provider: str
    service: str
    region: str
    vcpu: int = Field(ge=1)
    memory_bytes: int = Field(ge=1)
    memory: str
    price_url: str = Field(pattern=r"^https://")
    price_as_of: date
    note: str | None
    arch: Arch
    burstable: Burstable | None
    daemonsets: list[Daemonset]
    figures: NodeFigures


class Fit(_Model):
    framework: Framework
    scenario: str
    node_type: str
    shape: str | None = Field(default=None, description=SHAPE_DESCRIPTION)
    pod_cpu_millicores: int = Field(ge=0)
    pod_memory_bytes: int = Field(ge=0)
    pods_by_cpu: Figure | None
    pods_by_memory: Figure | None
    pods_by_slots: Figure
    pods_per_node: Figure
    binding: list[Binding] = Field(min_length=1)
    pods_by_pod_ips: Figure | None = None  # EKS VPC CNI: pod IPs left after the daemonsets


class AddonPod(_Model):
    name: str
    profile: AddonProfile
    replicas: int = Field(ge=1)
    cpu_millicores: int = Field(ge=0)
    memory_bytes: int = Field(ge=0)
    source: str


class Addons(_Model):
    """The cluster's add-on pods, packed with the workload's; the nodes they add and what
    those cost."""

    pods: list[AddonPod]
    nodes: Figure | None
    usd_month: Figure | None


class Placement(_Model):
    nodes: int = Field(ge=1)
    pods: dict[str, Annotated[int, Field(ge=1)]]
    cpu_use_cores: NonNegative


class Cost(_Model):
    """One framework x scenario x node type. monthly_usd = workload_nodes_usd_month +
    addons_usd_month + spare_nodes_usd_month + burst_usd_month + control_plane_usd_month; every
    term is null only when no pod fits the node."""

    framework: Framework
    scenario: str
    node_type: str
    shape: str | None = Field(default=None, description=SHAPE_DESCRIPTION)
    target_rps: NonNegative
    pods_needed: Figure
    nodes_needed: Figure
    monthly_usd: Figure
    usd_per_million_requests: Figure
    workload_nodes_usd_month: Figure | None
    addons_usd_month: Figure | None
    spare_nodes_usd_month: Figure | None
    burst_usd_month: Figure | None
    control_plane_usd_month: Figure | None
    control_plane_usd_per_million_requests: Figure | None
    workload_nodes: Figure | None
    spare_nodes: Figure | None
    node_usd_per_hour: Figure | None
    pod_cpu_use_cores: Figure | None
    pod_idle_cpu_cores: Figure | None
    burst_surplus_vcpu: list[Figure]
    addons: Addons
    placement: list[Placement] = Field(
        description="Nodes holding pods, grouped by identical content, as placement_name "
        "places them (spread: kube-scheduler's default scoring over every node, spare ones "
        "included; first-fit: first-fit decreasing in each zone, spare nodes empty)."
    )
    survives: str | None = Field(description="The failure the sizing survives.")
    placement_name: Literal["spread", "first-fit"] | None = Field(
        default=None, description="The placement the burst term is priced on."
    )
    alternative_monthly_usd: Figure | None = Field(
        default=None,
        description="The same month with the pods placed the other way (first-fit when "
        "placement_name is spread): only the burst term moves.",
    )
    idle_usd_month: Figure | None = Field(
        default=None,
        description="OpenCost's idle: what the nodes cost for capacity no pod requests; part "
        "of the node terms, not added to monthly_usd.",
    )
    usd_per_requested_vcpu_hour: Figure | None = Field(
        default=None, description="monthly_usd over the vCPU-hours the workload requests."
    )
    credit_mode: Literal["standard", "unlimited"] | None = Field(
        default=None,
        description="Burstable nodes: the credit mode priced (standard: no surplus billed, "
        "CPU held at baseline once credits are spent; spot's default).",
    )
    baseline_sustainable_rps: Figure | None = Field(
        default=None, description="Standard credit mode: the load the pods sustain at baseline."
    )
    arch_caveat: str | None = Field(
        default=None, description="ARM node types: what their CPU per request rests on."
    )


class Cheapest(_Model):
    framework: Framework
    scenario: str
    node_type: str
    shape: str | None = Field(default=None, description=SHAPE_DESCRIPTION)
    nodes_needed: int = Field(ge=0)
    monthly_usd: NonNegative
    usd_per_million_requests: NonNegative | None
    burst_usd_month: NonNegative | None
    control_plane_usd_month: NonNegative | None
    survives: str | None


# -- claims, cost curves, plots, the document ----------------------------------------------------


class Claim(_Model):
    id: str
    claim: str
    quote: str
    conditions: str = Field(description="the claim's own conditions, and which this run reproduced")
    measured: str
    rule: str
    verdict: Verdict


class CostPoint(_Model):
    target_rps: NonNegative
    node_type: str
    nodes_needed: int = Field(ge=0)
    monthly_usd: NonNegative


class CostCurve(_Model):
    """The cheapest plan at each target load for the headline scenario (the cost-vs-load
    plot's data)."""

    framework: Framework
    scenario: str
    points: list[CostPoint]
    shape: str | None = Field(default=None, description=SHAPE_DESCRIPTION)


class ShapeOption(_Model):
    """One measured shape's plan on one node type, from a --pod-shapes sweep: the cost model's
    own figures (see costs), and whether it is the framework's cheapest shape on that type."""

    framework: Framework
    scenario: str
    node_type: str
    shape: str = Field(description=SHAPE_DESCRIPTION)
    cpu_millicores: int = Field(ge=1, description="the tested CPU limit")
    workers: int = Field(ge=1)
    pods_per_node: int | None = Field(ge=0, description="right-sized pods per node")
    pods_needed: int | None = Field(ge=0)
    nodes_needed: int | None = Field(ge=0)
    monthly_usd: NonNegative | None = Field(description="null: no plan (no capacity, no fit)")
    cheapest: bool


class Plot(_Model):
    file: str = Field(pattern=r"^plots/[a-z0-9-]+\.png$")
    title: str
    caption: str


class Results(_Model):
    """results.json written by `capacity model` / `capacity report`: the machine-readable truth
    of a report. Every number is a figure carrying its derivation (inputs, formula, source);
    see docs/capacity-model.md."""

    model_config = ConfigDict(title="fwcap capacity results")

    schema_version: Literal[1]
    generated_at: str = Field(json_schema_extra={"format": "date-time"})
    kit_version: str
    inputs: Inputs
    platform: Platform
    limits_enforced: LimitsEnforced
    fairness: list[FairnessCondition]
    series: list[Series] = Field(min_length=1)
    comparisons: list[Comparison]
    nodes: list[Node] = Field(min_length=1)
    fits: list[Fit]
    costs: list[Cost]
    cheapest: list[Cheapest]
    claims: list[Claim]
    cost_curves: list[CostCurve]
    plots: list[Plot]
    warnings: list[str]
    shape_sweep: list[ShapeOption] = Field(
        default_factory=list,
        description="--pod-shapes: every shape's plan per framework, scenario and node type, "
        "the cheapest marked; empty when one shape was measured",
    )

    def with_plots(self, plots: Sequence[Plot]) -> Results:
        return self.model_copy(update={"plots": list(plots)})

    def to_json(self) -> str:
        """results.json's text."""
        return json.dumps(self.model_dump(mode="json"), indent=2) + "\n"

    def get(self, framework: str, scenario: str, shape: str | None = None) -> Series | None:
        """The series at `shape`; without one, at the framework's cheapest shape."""
        found = [
            s
            for s in self.series
            if s.framework == framework and s.scenario == scenario and shape in (None, s.shape)
        ]
        return next((s for s in found if shape or s.cheapest_shape), found[0] if found else None)

    def cheapest_for(
        self, framework: str, scenario: str, shape: str | None = None
    ) -> Cheapest | None:
        return next(
            (
                c
                for c in self.cheapest
                if c.framework == framework and c.scenario == scenario and shape in (None, c.shape)
            ),
            None,
        )

    @property
    def shapes(self) -> list[str]:
        """The measured pod shapes (CPU:workers), smallest first; more than one in a sweep."""
        return list(dict.fromkeys(s.shape for s in self.series if s.shape))


# -- the JSON Schema, generated ------------------------------------------------------------------


class _Generator(GenerateJsonSchema):
    def field_title_should_be_set(self, schema: CoreSchema) -> bool:
        return False  # the property's name is its title


def results_json_schema() -> dict[str, Any]:
    """The JSON Schema of results.json, as generated from `Results`."""
    generated = Results.model_json_schema(schema_generator=_Generator)
    for part in (generated, *generated["$defs"].values()):
        if "description" in part:  # a docstring's line breaks are not the reader's
            part["description"] = " ".join(part["description"].split())
    return {"$schema": GenerateJsonSchema.schema_dialect, "$id": SCHEMA_ID, **generated}


def _compact(value: Any, indent: int = 0, column: int = 0, width: int = 100) -> str:
    """JSON indented by 2, with each object or array on one line when it fits in `width`
    (`column`: where the value starts on its line)."""
    flat = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, dict | list) or not value or column + len(flat) <= width:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        items = [f"{json.dumps(k)}: " for k in value]
        lines = [
            pad + key + _compact(item, indent + 2, len(pad + key), width)
            for key, item in zip(items, value.values(), strict=True)
        ]
        return "{\n" + ",\n".join(lines) + "\n" + " " * indent + "}"
    lines = [pad + _compact(item, indent + 2, len(pad), width) for item in value]
    return "[\n" + ",\n".join(lines) + "\n" + " " * indent + "]"


def render_schema() -> str:
    """The schema file's text: stable, and compact enough to read."""
    return _compact(results_json_schema()) + "\n"


@cache
def results_schema() -> dict[str, Any]:
    """The committed schema, read as package data."""
    try:
        loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ReportError(f"cannot read the results schema {SCHEMA_PATH}: {exc}") from exc
    return loaded
