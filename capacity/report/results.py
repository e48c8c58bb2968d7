"""results.json: the machine-readable truth of a report, assembled from the model's analysis.

`build_results` fills the models of capacity.report.schema; everything the Markdown and HTML
reports show is read from them, so the three files cannot disagree. Each number is a Figure
(value, unit, formula, inputs, source).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Literal, cast

from pydantic import BaseModel, ValidationError

from capacity.catalog import AddonProfile
from capacity.errors import ReportError
from capacity.measurements import MeasurementRecord
from capacity.model import (
    Analysis,
    ClaimCheck,
    CostEstimate,
    NodeAllocatable,
    SeriesAnalysis,
    ShapeChoice,
    derivation,
    shape_choices,
)
from capacity.model.capacity_at_slo import JudgedStep
from capacity.quantity import format_cpu, format_memory
from capacity.report import schema as doc
from capacity.report.fairness import fairness
from capacity.report.schema import RESULTS_SCHEMA_VERSION

# A step's figures as its measurement record has them; the rest the model adds.
_FROM_RECORD = set(doc.Step.model_fields) - {"per_pod_rps", "valid", "reasons", "in_fit"}
# Steps this late are near the knee: late requests there are the ones the SLO gives up first.
KNEE_LATE = (0.01, 0.5)


def late_at_knee(records: Sequence[MeasurementRecord]) -> list[doc.LateRequest]:
    """Per request name, its part in the late share over the steps 1-50% late (pooled)."""
    arrivals: dict[str, int] = {}
    late: dict[str, int] = {}
    for r in records:
        if not KNEE_LATE[0] <= r.over_slo_ratio <= KNEE_LATE[1]:
            continue
        for name, (n, over) in r.over_slo_by_request.items():
            arrivals[name] = arrivals.get(name, 0) + n
            late[name] = late.get(name, 0) + over
    total, total_late = sum(arrivals.values()), sum(late.values())
    if not total or not total_late:
        return []
    return [
        doc.LateRequest(
            request=name,
            arrivals_share=arrivals[name] / total,
            late_share=late[name] / total_late,
            late_ratio=late[name] / arrivals[name] if arrivals[name] else 0.0,
        )
        for name in sorted(arrivals, key=lambda k: (-late[k], k))
    ]


def _kit_version() -> str:
    try:
        return metadata.version("fwcap")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def _copy[M: BaseModel](model: type[M], value: object) -> M:
    """The model's fields read from the attributes of the same name (catalog and claim values)."""
    return model.model_validate(value, from_attributes=True)


def _step(verdict: JudgedStep) -> doc.Step:
    r = verdict.record
    return doc.Step(
        **r.model_dump(include=_FROM_RECORD),
        per_pod_rps=r.achieved_rps / r.pods,
        valid=verdict.valid,
        reasons=list(verdict.reasons),
        in_fit=verdict.excluded is None,
    )


def _series(analysis: Analysis, s: SeriesAnalysis) -> doc.Series:
    t, capacity, sizing = s.tested, s.capacity, s.sizing
    lo, hi = capacity.interval_per_pod_rps
    return doc.Series(
        framework=t.framework,
        scenario=s.scenario,
        shape=s.shape,
        cheapest_shape=analysis.get(s.framework, s.scenario) is s,
        tested_shape=doc.TestedShape(
            pods=t.pods,
            cpu_millicores=t.pod_cpu_limit_millicores,
            memory_bytes=t.pod_memory_limit_bytes,
            cpu=format_cpu(t.pod_cpu_limit_millicores),
            memory=format_memory(t.pod_memory_limit_bytes),
            workers=t.workers,
            threads=t.threads,
            limits_enforced=all(r.limits_enforced for r in s.records),
        ),
        steps=[_step(v) for v in capacity.steps],
        late_at_knee=late_at_knee([v.record for v in capacity.steps if v.valid]),
        capacity_step=capacity.capacity_step.record.step if capacity.capacity_step else None,
        capacity_interval_rps=(lo, hi),
        capacity_point_rps=capacity.capacity_per_pod_rps.value,
        capacity_confirmed=capacity.confirmed,
        knee="database" if capacity.database_bound else ("none" if hi is None else "pod"),
        capacity_per_pod_rps=capacity.capacity_per_pod_rps,
        capacity_ci95_rps=capacity.capacity_ci95_per_pod_rps,
        capacity_method=capacity.fit.method if capacity.fit is not None else None,
        cpu_capacity_per_pod_rps=capacity.cpu_capacity_per_pod_rps,
        cpu_seconds_per_request=capacity.cpu_seconds_per_request,
        cpu_seconds_per_request_normalised=capacity.cpu_seconds_per_request_normalised,
        recommended=None
        if sizing is None
        else doc.Recommended(
            cpu=format_cpu(sizing.shape.cpu_millicores),
            cpu_limit=format_cpu(int(sizing.cpu_limit_millicores.number())),
            memory=format_memory(sizing.shape.memory_bytes),
            cpu_millicores=sizing.cpu_millicores,
            cpu_limit_millicores=sizing.cpu_limit_millicores,
            memory_bytes=sizing.memory_bytes,
            reasoning=list(sizing.reasoning),
        ),
        autoscaler=s.autoscaler,
        vertical=s.vertical,
        warnings=list(capacity.warnings),
    )


def _node(n: NodeAllocatable) -> doc.Node:
    node = n.node
    return doc.Node(
        name=node.name,
        provider=node.provider.key,
        service=node.provider.service,
        region=node.provider.region,
        vcpu=node.vcpu,
        memory_bytes=node.memory_bytes,
        memory=format_memory(node.memory_bytes),
        price_url=node.price_url,
        price_as_of=node.price_as_of,
        note=node.note,
        arch=node.arch,
        burstable=node.burstable,
        daemonsets=list(node.provider.daemonsets),
        figures=_copy(doc.NodeFigures, n),
    )


def _cost(s: SeriesAnalysis, c: CostEstimate) -> doc.Cost:
    """One framework x scenario x node type: the month as the sum of its terms, each derived."""
    cluster = c.cluster
    pool = cluster.pools[0] if cluster is not None else None
    addons_usd_month = c.term("addons_usd_month")
    return doc.Cost(
        framework=s.tested.framework,
        scenario=s.scenario,
        node_type=c.node_type,
        shape=s.shape,
        target_rps=c.target_rps,
        pods_needed=c.pods_needed,
        nodes_needed=c.nodes_needed,
        monthly_usd=c.monthly_usd,
        usd_per_million_requests=c.usd_per_million_requests,
        workload_nodes_usd_month=c.term("workload_nodes_usd_month"),
        addons_usd_month=addons_usd_month,
        spare_nodes_usd_month=c.term("spare_nodes_usd_month"),
        burst_usd_month=c.term("burst_usd_month"),
        control_plane_usd_month=c.term("control_plane_usd_month"),
        control_plane_usd_per_million_requests=c.control_plane_usd_per_million_requests,
        workload_nodes=pool.workload_nodes if pool else None,
        spare_nodes=pool.spare_nodes if pool else None,
        node_usd_per_hour=pool.node_usd_per_hour if pool else None,
        pod_cpu_use_cores=c.pod_cpu_use_cores,
        pod_idle_cpu_cores=c.pod_idle_cpu_cores,
        burst_surplus_vcpu=list(pool.burst_surplus_vcpu) if pool else [],
        addons=doc.Addons(
            pods=[_copy(doc.AddonPod, a) for a in (pool.addons if pool else ())],
            nodes=pool.addon_nodes if pool else None,
            usd_month=addons_usd_month,
        ),
        placement=[
            doc.Placement(
                nodes=content.nodes, pods=dict(content.pods), cpu_use_cores=content.cpu_use_cores
            )
            for content in (pool.placement.contents if pool else ())
        ],
        survives=cluster.survives if cluster is not None else None,
        placement_name=cast(
            Literal["spread", "first-fit"] | None, pool.placement_name if pool else None
        ),
        alternative_monthly_usd=cluster.alternative_monthly_usd if cluster else None,
        idle_usd_month=cluster.idle_usd_month if cluster is not None else None,
        usd_per_requested_vcpu_hour=c.usd_per_requested_vcpu_hour,
        credit_mode=cast(Literal["standard", "unlimited"] | None, c.credit_mode),
        baseline_sustainable_rps=c.baseline_sustainable_rps,
        arch_caveat=c.arch_caveat,
    )


def _term_value(c: CostEstimate, kind: str) -> float | None:
    figure = c.term(kind)
    return None if figure is None else figure.value


def _defined(figure: derivation.Figure) -> float:
    """The value as computed (an int stays an int), for a figure known to be defined."""
    if figure.value is None:
        raise ReportError(f"{figure.kind} is undefined where a value is needed: {figure.reason}")
    return figure.value


def _fits(s: SeriesAnalysis) -> list[doc.Fit]:
    return [
        doc.Fit(
            framework=s.tested.framework,
            scenario=s.scenario,
            node_type=f.node.node.name,
            shape=s.shape,
            pod_cpu_millicores=f.pod.cpu_millicores,
            pod_memory_bytes=f.pod.memory_bytes,
            pods_by_cpu=f.by_cpu,
            pods_by_memory=f.by_memory,
            pods_by_slots=f.by_pod_slots,
            pods_per_node=f.pods_per_node,
            binding=cast(list[doc.Binding], list(f.binding)),  # checked by the model
            pods_by_pod_ips=f.by_pod_ips,
        )
        for f in s.fits
    ]


def _cheapest(s: SeriesAnalysis) -> doc.Cheapest | None:
    c = s.cheapest
    if c is None:
        return None
    return doc.Cheapest(
        framework=s.tested.framework,
        scenario=s.scenario,
        node_type=c.node_type,
        shape=s.shape,
        nodes_needed=int(_defined(c.nodes_needed)),
        monthly_usd=_defined(c.monthly_usd),
        usd_per_million_requests=c.usd_per_million_requests.value,
        burst_usd_month=_term_value(c, "burst_usd_month"),
        control_plane_usd_month=_term_value(c, "control_plane_usd_month"),
        survives=c.cluster.survives if c.cluster else None,
    )


def _cost_curve(analysis: Analysis, s: SeriesAnalysis) -> doc.CostCurve:
    targets = [analysis.settings.target_rps * 3 * i / 60 for i in range(1, 61)]
    return doc.CostCurve(
        framework=s.tested.framework,
        scenario=s.scenario,
        shape=s.shape,
        points=[
            doc.CostPoint(
                target_rps=c.target_rps,
                node_type=c.node_type,
                nodes_needed=int(_defined(c.nodes_needed)),
                monthly_usd=_defined(c.monthly_usd),
            )
            for c in analysis.cost_curve(s, targets)
        ],
    )


def _shape_options(choice: ShapeChoice) -> list[doc.ShapeOption]:
    rows = []
    for option in choice.options:
        c, t = option.cost, option.series.tested
        rows.append(
            doc.ShapeOption(
                framework=t.framework,
                scenario=choice.scenario,
                node_type=choice.node_type,
                shape=option.series.shape,
                cpu_millicores=t.pod_cpu_limit_millicores,
                workers=t.workers,
                pods_per_node=None if c is None else int(c.fit.pods_per_node.number()),
                pods_needed=None if c is None else int(c.pods_needed.number()),
                nodes_needed=None
                if c is None or not c.nodes_needed.defined
                else int(c.nodes_needed.number()),
                monthly_usd=None if c is None else c.monthly_usd.value,
                cheapest=option is choice.cheapest,
            )
        )
    return rows


def _inputs(
    analysis: Analysis,
    records: Sequence[MeasurementRecord],
    *,
    measurements_path: Path,
    measurements_sha256: str,
    headline_scenario: str,
    catalog_path: Path,
) -> doc.Inputs:
    settings = analysis.settings
    slo, cost, margins = settings.slo, settings.cost, settings.margins
    return doc.Inputs(
        measurements_file=str(measurements_path),
        measurements_sha256=measurements_sha256,
        records=len(records),
        run_ids=sorted({r.run_id for r in records}),
        targets=sorted({r.target for r in records}),
        first_step_started_at=min(r.started_at for r in records).isoformat(),
        last_step_ended_at=max(r.ended_at for r in records).isoformat(),
        slo=doc.SloInputs(
            percentile=slo.percentile,
            latency_ms=slo.latency_ms,
            max_error_ratio=slo.max_error_ratio,
            allowed_over_slo_ratio=slo.allowed_over_ratio,
            text=str(slo),
        ),
        target_rps=settings.target_rps,
        headroom=settings.headroom,
        cost_options=doc.CostOptions(
            spare_nodes=cost.spare_nodes,
            zones=cost.zones,
            # capacity.model.cost.BuyingOptions checked these names against the same choices
            control_plane=cast(doc.ControlPlane, cost.control_plane),
            purchase=cast(doc.Purchase, cost.purchase),
            spot_discount=cost.spot_discount,
            addon_profiles=cast(list[AddonProfile], list(cost.addon_profiles)),
            max_pods_mode=settings.networking.max_pods_mode,
            max_pods=settings.networking.max_pods,
        ),
        cpu_headroom=margins.cpu_headroom,
        memory_buffer=margins.memory_buffer,
        headline_scenario=headline_scenario,
        catalog=str(catalog_path),
        node_types=[n.node.name for n in analysis.nodes],
    )


def _limits_enforced(records: Sequence[MeasurementRecord]) -> doc.LimitsEnforced:
    enforced = [r.limits_enforced for r in records]
    return doc.LimitsEnforced(
        all=all(enforced),
        any=any(enforced),
        detail=(
            "every step ran with its CPU quota and memory limit enforced by cgroups"
            if all(enforced)
            else f"{enforced.count(False)} of {len(enforced)} steps ran without enforced "
            "limits (no writable cgroups): pods could use more than their limits"
        ),
    )


def build_results(
    analysis: Analysis,
    claims: Sequence[ClaimCheck],
    *,
    measurements_path: Path,
    measurements_sha256: str,
    records: Sequence[MeasurementRecord],
    headline_scenario: str,
    catalog_path: Path,
    platform: doc.Platform,
    plots: Sequence[doc.Plot] = (),
) -> doc.Results:
    """The results document. Each model checks its fields as it is built (the rules the
    generated schema states); ReportError names the first field that breaks them."""
    series = analysis.series
    try:
        return doc.Results(
            schema_version=RESULTS_SCHEMA_VERSION,
            generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
            kit_version=_kit_version(),
            inputs=_inputs(
                analysis,
                records,
                measurements_path=measurements_path,
                measurements_sha256=measurements_sha256,
                headline_scenario=headline_scenario,
                catalog_path=catalog_path,
            ),
            platform=platform,
            limits_enforced=_limits_enforced(records),
            fairness=fairness(analysis),
            series=[_series(analysis, s) for s in series],
            comparisons=list(analysis.comparisons),
            nodes=[_node(n) for n in analysis.nodes],
            fits=[fit for s in series for fit in _fits(s)],
            costs=[_cost(s, c) for s in series for c in s.costs],
            cheapest=[c for s in series if (c := _cheapest(s)) is not None],
            claims=[_copy(doc.Claim, c) for c in claims],
            cost_curves=[
                _cost_curve(analysis, s)
                for s in series
                if s.scenario == headline_scenario
                and analysis.get(s.framework, s.scenario) is s  # a sweep: the cheapest shape's
            ],
            plots=list(plots),
            warnings=list(analysis.warnings),
            shape_sweep=[row for c in shape_choices(analysis) for row in _shape_options(c)],
        )
    except ValidationError as exc:
        raise ReportError(
            f"results.json does not match its model {exc.title} {doc.first_error(exc)}"
        ) from exc
