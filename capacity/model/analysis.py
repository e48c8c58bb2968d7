"""From measurement records to every figure the report needs, per framework x scenario.

This is the model's composition root: it groups the records into series, finds capacity at
the SLO, right-sizes the pod, fits it on every node type and prices a target load. Pure: the
records and the node catalog come in, plain values go out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import ConfigDict

from capacity.catalog import NodeType
from capacity.errors import ConfigError, MeasurementsError
from capacity.frameworks import Framework
from capacity.measurements import MeasurementRecord
from capacity.model.allocatable import Networking, NodeAllocatable, node_allocatable
from capacity.model.autoscaling import Autoscaler, VerticalRecommendation, autoscaler, vertical
from capacity.model.capacity_at_slo import (
    PodCapacity,
    Slo,
    capacity_at_slo,
    run_speed,
    run_step_sigma,
)
from capacity.model.cost import (
    BuyingOptions,
    CostEstimate,
    cheapest,
    check_arm_factor,
    check_headroom,
    estimate_cost,
    idle_cpu_cores,
)
from capacity.model.fit import NodeFit, pods_per_node
from capacity.model.rightsizing import Margins, RightSizing, right_size
from capacity.numbers import Number
from capacity.pod_shape import shape_label


@dataclass(frozen=True)
class AnalysisSettings:
    slo: Slo = field(default_factory=Slo)
    margins: Margins = field(default_factory=Margins)
    target_rps: float = 1000.0
    headroom: float = 0.2
    cost: BuyingOptions = field(default_factory=BuyingOptions)
    networking: Networking = field(default_factory=Networking)
    arm_factor: float | None = None  # measured ARM/amd64 CPU per request, for arm64 node types

    def __post_init__(self) -> None:
        check_headroom(self.headroom)
        check_arm_factor(self.arm_factor)
        if not self.target_rps > 0:
            raise ConfigError(f"target load {self.target_rps!r} req/s must be positive")
        for name in ("cpu_headroom", "memory_buffer"):
            value = getattr(self.margins, name)
            if not 0 <= value <= 4:
                raise ConfigError(f"{name} {value!r} must be a fraction between 0 and 4")


@dataclass(frozen=True)
class SeriesAnalysis:
    framework: str
    scenario: str
    records: tuple[MeasurementRecord, ...]
    capacity: PodCapacity
    sizing: RightSizing | None
    fits: tuple[NodeFit, ...]
    costs: tuple[CostEstimate, ...]
    cheapest: CostEstimate | None
    autoscaler: Autoscaler | None = None  # the HPA from the knee (None: nothing to size)
    vertical: VerticalRecommendation | None = None

    @property
    def name(self) -> str:
        return f"{self.framework}/{self.scenario}"

    @property
    def tested(self) -> MeasurementRecord:
        return self.records[0]

    @property
    def shape(self) -> str:
        """The measured pod shape, `500m:1` (CPU limit:workers): a sweep has one series per
        framework x scenario x shape."""
        return shape_label(self.tested.pod_cpu_limit_millicores, self.tested.workers)


@dataclass(frozen=True)
class Comparison:
    """One scenario's headline: numerator/denominator capacity per pod and its 95% interval."""

    # The interval: a bootstrap with the rounds shared by both frameworks
    # (capacity/model/late_share_fit.py). results.json publishes this value as it is.
    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    scenario: str
    numerator: Framework  # e.g. "fastapi"
    denominator: Framework  # e.g. "django"
    capacity_ratio: Number | None
    capacity_ratio_ci95: tuple[Number, Number] | None
    method: str
    reason: str | None
    shape: str | None = None  # a sweep compares the frameworks at each shape both measured


# The pairs compared, numerator first: the headline answers "how much more does FastAPI serve".
# Async Django is compared with FastAPI itself: both are async views under uvicorn.
PAIRS: tuple[tuple[Framework, Framework], ...] = (
    ("fastapi", "django"),
    ("fastapi-lean", "django-lean"),
    ("fastapi", "django-async"),
)


@dataclass(frozen=True)
class Analysis:
    settings: AnalysisSettings
    nodes: tuple[NodeAllocatable, ...]
    series: tuple[SeriesAnalysis, ...]
    warnings: tuple[str, ...]
    comparisons: tuple[Comparison, ...] = ()

    def get(self, framework: str, scenario: str, shape: str | None = None) -> SeriesAnalysis | None:
        """The series at `shape`; without one, at the framework's cheapest shape for the
        target load (capacity/model/shapes.py), the only one unless a sweep was measured."""
        from capacity.model.shapes import cheapest_shape

        found = [
            s
            for s in self.series
            if s.framework == framework and s.scenario == scenario and shape in (None, s.shape)
        ]
        if len(found) > 1:
            return cheapest_shape(found) or found[0]
        return found[0] if found else None

    @property
    def shapes(self) -> list[str]:
        """The measured pod shapes, smallest CPU first (one unless a sweep was measured)."""
        return list(dict.fromkeys(s.shape for s in self.series))

    def cost_curve(self, series: SeriesAnalysis, targets: Sequence[float]) -> list[CostEstimate]:
        """The cheapest plan at each target load (for the cost-vs-load plot)."""
        if not series.fits or not series.capacity.capacity_per_pod_rps.defined:
            return []
        per_pod = series.capacity.capacity_per_pod_rps.number()
        cps = series.capacity.cpu_seconds_per_request
        curve = []
        for target in targets:
            best = cheapest(
                [
                    estimate_cost(
                        per_pod,
                        f,
                        target,
                        self.settings.headroom,
                        cps.number() if cps.defined else None,
                        idle_cpu_cores=idle_cpu_cores(cps) if cps.defined else 0.0,
                        options=self.settings.cost,
                        arm_factor=self.settings.arm_factor,
                    )
                    for f in series.fits
                ]
            )
            if best is not None:
                curve.append(best)
        return curve

    @property
    def scenarios(self) -> list[str]:
        return sorted({s.scenario for s in self.series})


Shape = tuple[int, int, int, int | None, int]  # cpu limit, memory limit, workers, threads, pods
SeriesKey = tuple[str, str, Shape]


def _shape(r: MeasurementRecord) -> Shape:
    return (r.pod_cpu_limit_millicores, r.pod_memory_limit_bytes, r.workers, r.threads, r.pods)


def group_series(records: Sequence[MeasurementRecord]) -> dict[SeriesKey, list[MeasurementRecord]]:
    """One list per framework x scenario x pod shape (a `--pod-shapes` sweep measures several),
    smallest shape first; one record per step in each."""
    groups: dict[SeriesKey, list[MeasurementRecord]] = defaultdict(list)
    for record in records:
        groups[(record.framework, record.scenario, _shape(record))].append(record)
    for (framework, scenario, shape), members in groups.items():
        steps = [r.step for r in members]
        duplicated = sorted({s for s in steps if steps.count(s) > 1})
        if duplicated:
            raise MeasurementsError(
                f"{framework}/{scenario} at {shape_label(shape[0], shape[2])} has more than one "
                f"record for step(s) {duplicated} (two runs of one shape appended to one file?); "
                "keep one run per shape in a measurements file"
            )
    return dict(sorted(groups.items(), key=lambda item: _order(item[0])))


def _order(key: SeriesKey) -> tuple[str, str, int, int, int, int, int]:
    framework, scenario, (cpu, memory, workers, threads, pods) = key
    return framework, scenario, cpu, workers, memory, threads or 0, pods


def analyse(
    records: Sequence[MeasurementRecord], node_types: Sequence[NodeType], settings: AnalysisSettings
) -> Analysis:
    if not node_types:
        raise ConfigError("no node types to model; the catalog selection is empty")
    measured_at = sorted({r.slo_latency_ms for r in records})
    if any(ms != settings.slo.latency_ms for ms in measured_at):
        raise ConfigError(
            f"the measurements counted requests over {', '.join(f'{m:g}' for m in measured_at)} "
            f"ms, but the SLO asked for is {settings.slo.latency_ms:g} ms; use --slo-p95-ms "
            f"{measured_at[0]:g} or measure again with the SLO you want"
        )
    nodes = tuple(node_allocatable(n, settings.networking) for n in node_types)
    series = []
    warnings: list[str] = []
    speed = run_speed(records)  # one reference speed for every series of the run
    groups = group_series(records)
    sigma = run_step_sigma(list(groups.values()), settings.slo, speed)
    sweep = len({shape_label(shape[0], shape[2]) for _, _, shape in groups}) > 1
    for (framework, scenario, shape), members in groups.items():
        name = f"{framework}/{scenario}" + (
            f" at {shape_label(shape[0], shape[2])}" if sweep else ""
        )
        capacity = capacity_at_slo(members, settings.slo, name, speed=speed, step_sigma=sigma)
        warnings.extend(capacity.warnings)
        sizing = right_size(members, capacity, settings.margins, name)
        fits: tuple[NodeFit, ...] = ()
        costs: tuple[CostEstimate, ...] = ()
        hpa: Autoscaler | None = None
        vpa: VerticalRecommendation | None = None
        if sizing is not None and capacity.capacity_per_pod_rps.defined:
            fits = tuple(pods_per_node(n, sizing.shape) for n in nodes)
            per_pod = capacity.capacity_per_pod_rps.number()
            top = capacity.capacity_step
            if top is not None and per_pod > 0:
                hpa = autoscaler(top.record, sizing, per_pod, target_rps=settings.target_rps,
                                 headroom=settings.headroom, zones=settings.cost.zones,
                                 series=name)  # fmt: skip
                vpa = vertical(top.record, sizing, hpa, series=name)
            cps = capacity.cpu_seconds_per_request
            if per_pod > 0:
                costs = tuple(
                    estimate_cost(
                        per_pod,
                        f,
                        settings.target_rps,
                        settings.headroom,
                        cps.number() if cps.defined else None,
                        idle_cpu_cores=idle_cpu_cores(cps) if cps.defined else 0.0,
                        options=settings.cost,
                        arm_factor=settings.arm_factor,
                    )
                    for f in fits
                )
        series.append(
            SeriesAnalysis(
                framework,
                scenario,
                tuple(sorted(members, key=lambda r: r.step)),
                capacity,
                sizing,
                fits,
                costs,
                cheapest(costs),
                hpa,
                vpa,
            )
        )
    return Analysis(
        settings, nodes, tuple(series), tuple(warnings), compare(series, settings.slo, sigma)
    )


def compare(series: Sequence[SeriesAnalysis], slo: Slo, sigma: float) -> tuple[Comparison, ...]:
    """Per scenario, each measured pair's capacity ratio per pod with its 95% interval."""
    from capacity.model.late_share_fit import capacity_ratio

    by_key = {(s.framework, s.scenario, s.shape): s for s in series}
    shapes = list(dict.fromkeys(s.shape for s in series))
    out = []
    for scenario, shape in (
        (sc, sh) for sc in sorted({s.scenario for s in series}) for sh in shapes
    ):
        for num, den in PAIRS:
            a, b = by_key.get((num, scenario, shape)), by_key.get((den, scenario, shape))
            if a is None or b is None:
                continue
            ratio = capacity_ratio(a.capacity.batches, b.capacity.batches, slo.allowed_over_ratio)
            # The fit is on total offered rates; per pod, divide by each side's pods.
            pods = b.tested.pods / a.tested.pods
            point = None if ratio.point is None else ratio.point * pods
            ci = None if ratio.ci95 is None else (ratio.ci95[0] * pods, ratio.ci95[1] * pods)
            out.append(
                Comparison(
                    scenario,
                    num,
                    den,
                    point,
                    ci,
                    ratio.method,
                    ratio.reason,
                    shape if len(shapes) > 1 else None,
                )
            )
    return tuple(out)
