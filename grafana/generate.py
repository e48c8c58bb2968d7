"""Generate grafana/dashboards/*.json from the PromQL in capacity/metrics/queries.py.

Every panel target is a `Query` rendered with `GRAFANA_SCOPE`, so a dashboard can only show what
the capacity engine measures. The layout below is plain data; `build_dashboard` turns it into
Grafana JSON with grafana-foundation-sdk (a dev dependency: this file lives beside its output,
outside the `capacity` package, so the kit's wheel never carries it). Regenerate the committed
files with `python grafana/generate.py` (or `make dashboards`); `--check` exits 1 when they
drift from this code.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.builders import prometheus as prom_b
from grafana_foundation_sdk.builders import stat as stat_b
from grafana_foundation_sdk.builders import timeseries as ts_b
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_m
from grafana_foundation_sdk.models import dashboard as dash_m

from capacity.metrics import queries as q
from capacity.metrics.queries import GRAFANA_SCOPE, HTTP_METRIC, Query

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = dash_m.DataSourceRef(type_val="prometheus", uid="${datasource}")
SLO_MS_DEFAULT = "100"
_ALL = dash_m.VariableOption(selected=True, text="All", value="$__all")
# Limits and the SLO are reference lines, drawn dashed red so they never read as a measurement.
_REFERENCE_STYLE = [
    dash_m.DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}),
    dash_m.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": "red"}),
]


@dataclass(frozen=True)
class Target:
    """One query on a panel; `extra` fills template fields beyond the scope (e.g. q)."""

    query: Query
    extra: tuple[tuple[str, str], ...] = ()
    legend_suffix: str = ""
    reference: bool = False  # a limit or threshold, not a measurement

    @property
    def expr(self) -> str:
        return self.query.render(GRAFANA_SCOPE, **dict(self.extra))

    @property
    def legend(self) -> str:
        return self.query.legend + self.legend_suffix


def quantile(query: Query, p: int) -> Target:
    return Target(query, (("q", str(p / 100)),), legend_suffix=f" p{p}")


@dataclass(frozen=True)
class Panel:
    title: str
    targets: tuple[Target, ...]
    description: str = ""
    width: int = 12
    height: int = 8
    kind: Literal["timeseries", "stat"] = "timeseries"
    max_value: float | None = None

    @property
    def unit(self) -> str:
        # A panel has one y axis: its targets must agree on the unit their queries declare.
        units = {t.query.unit.value for t in self.targets}
        if len(units) != 1:
            raise ValueError(f"panel {self.title!r} mixes units {sorted(units)}; split it")
        return units.pop()


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: tuple[Row, ...]
    slo_variable: bool = False


_LIMIT_NOTE = "Requests equal limits in this kit, so the dashed line is both."

FRAMEWORK_COMPARISON = Dashboard(
    uid="fwcap-framework-comparison",
    title="fwcap / Framework comparison",
    description="Django vs FastAPI: throughput, latency, errors, pod resources and efficiency.",
    rows=(
        Row(
            "Throughput and errors",
            (
                Panel("Requests/s per framework", (Target(q.ACHIEVED_RPS),), width=12),
                Panel("Requests/s by route", (Target(q.RPS_BY_ROUTE),), width=12),
                Panel("Server error ratio (5xx) per framework", (Target(q.ERROR_RATIO),)),
                Panel("Server error ratio (5xx) by route", (Target(q.ERROR_RATIO_BY_ROUTE),)),
            ),
        ),
        Row(
            "Latency",
            (
                Panel(
                    "Latency p50 / p95 / p99 per framework",
                    tuple(quantile(q.LATENCY_QUANTILE, p) for p in (50, 95, 99)),
                ),
                *(
                    Panel(f"Latency p{p} by route", (quantile(q.LATENCY_QUANTILE_BY_ROUTE, p),))
                    for p in (50, 95, 99)
                ),
            ),
        ),
        Row(
            "Pod resources",
            (
                Panel(
                    "CPU cores per pod vs limit",
                    (Target(q.POD_CPU_CORES), Target(q.POD_CPU_LIMIT_CORES, reference=True)),
                    description=_LIMIT_NOTE,
                ),
                Panel(
                    "Memory working set per pod vs limit",
                    (
                        Target(q.POD_MEMORY_WORKING_SET),
                        Target(q.POD_MEMORY_LIMIT, reference=True),
                    ),
                    description=_LIMIT_NOTE,
                ),
                Panel(
                    "CPU throttling ratio",
                    (Target(q.POD_CPU_THROTTLED_RATIO),),
                    description="Share of CFS periods in which the pod hit its CPU quota.",
                    width=8,
                    max_value=1.0,
                ),
                Panel(
                    "Requests/s per CPU core (efficiency)",
                    (Target(q.RPS_PER_CORE),),
                    description="Achieved requests/s divided by the CPU cores the pods used.",
                    width=8,
                ),
                Panel("Pods", (Target(q.POD_COUNT),), width=8, kind="stat"),
            ),
        ),
    ),
)

CAPACITY_RUN = Dashboard(
    uid="fwcap-capacity-run",
    title="fwcap / Capacity run",
    description="A capacity run as it happens: offered vs achieved load per step, latency "
    "against the SLO, and whether the load generator itself had CPU to spare.",
    slo_variable=True,
    rows=(
        Row(
            "Load",
            (
                Panel(
                    "Offered vs achieved requests/s",
                    (Target(q.OFFERED_RPS), Target(q.ACHIEVED_RPS, legend_suffix=" achieved")),
                    description="Achieved below offered means the service fell behind.",
                    width=16,
                ),
                Panel("Current load step", (Target(q.LOADGEN_STEP),), width=8, kind="stat"),
            ),
        ),
        Row(
            "Service level",
            (
                Panel(
                    "Latency p95 vs SLO",
                    (
                        quantile(q.LATENCY_QUANTILE, 95),
                        Target(q.SLO_LATENCY, (("slo_ms", "$slo_ms"),), reference=True),
                    ),
                    description="The dashed line is the `slo_ms` variable.",
                ),
                Panel("Server error ratio (5xx)", (Target(q.ERROR_RATIO),)),
            ),
        ),
        Row(
            "Load generator and service CPU",
            (
                Panel(
                    "Load generator CPU cores",
                    (Target(q.GENERATOR_CPU_CORES),),
                    description="A saturated generator invalidates the step, not the service.",
                ),
                Panel(
                    "Service CPU cores per pod vs limit",
                    (Target(q.POD_CPU_CORES), Target(q.POD_CPU_LIMIT_CORES, reference=True)),
                    description=_LIMIT_NOTE,
                ),
            ),
        ),
    ),
)

DASHBOARDS: dict[str, Dashboard] = {
    "framework-comparison.json": FRAMEWORK_COMPARISON,
    "capacity-run.json": CAPACITY_RUN,
}


def _variables(
    spec: Dashboard,
) -> list[dash_b.QueryVariable | dash_b.DatasourceVariable | dash_b.TextBoxVariable]:
    def label_values(name: str, series: str, label: str) -> dash_b.QueryVariable:
        return (
            dash_b.QueryVariable(name)
            .datasource(DATASOURCE)
            .query(f"label_values({series}, {label})")
            .refresh(dash_m.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(dash_m.VariableSort.ALPHABETICAL_ASC)
        )

    variables: list[dash_b.QueryVariable | dash_b.DatasourceVariable | dash_b.TextBoxVariable] = [
        dash_b.DatasourceVariable("datasource").label("Data source").type("prometheus"),
        label_values("namespace", f"{HTTP_METRIC}_count", "namespace").label("Namespace"),
        # No custom "All" value: Grafana then sends the services seen, e.g. (django|fastapi) or
        # (django|django-async|fastapi), whereas ".+" would also match container="locust" in
        # the pod-resource queries.
        label_values("framework", f'{HTTP_METRIC}_count{{namespace=~"$namespace"}}', "app")
        .label("Framework")
        .multi(True)
        .include_all(True)
        .current(_ALL),
        label_values(
            "pod",
            'container_memory_working_set_bytes{namespace=~"$namespace", container=~"$framework"}',
            "pod",
        )
        .label("Pod")
        .multi(True)
        .include_all(True)
        .all_value(".+")
        .current(_ALL),
    ]
    if spec.slo_variable:
        variables.append(
            dash_b.TextBoxVariable("slo_ms").label("Latency SLO (ms)").default_value(SLO_MS_DEFAULT)
        )
    return variables


def _panel(spec: Panel, panel_id: int) -> ts_b.Panel | stat_b.Panel:
    builder: ts_b.Panel | stat_b.Panel
    if spec.kind == "stat":
        builder = stat_b.Panel().reduce_options(
            common_b.ReduceDataOptions().calcs(["lastNotNull"]).values(False)
        )
    else:
        builder = (
            ts_b.Panel()
            .legend(
                common_b.VizLegendOptions()
                .display_mode(common_m.LegendDisplayMode.LIST)
                .placement(common_m.LegendPlacement.BOTTOM)
                .show_legend(True)
            )
            .tooltip(
                common_b.VizTooltipOptions()
                .mode(common_m.TooltipDisplayMode.MULTI)
                .sort(common_m.SortOrder.DESCENDING)
            )
            .fill_opacity(10)
            .min(0)
        )
    builder = (
        builder.id(panel_id)
        .title(spec.title)
        .unit(spec.unit)
        .datasource(DATASOURCE)
        .span(spec.width)
        .height(spec.height)
    )
    if spec.description:
        builder = builder.description(spec.description)
    if spec.max_value is not None:
        builder = builder.max(spec.max_value)
    for index, target in enumerate(spec.targets):
        ref_id = chr(ord("A") + index)
        builder = builder.with_target(
            prom_b.Dataquery()
            .ref_id(ref_id)
            .datasource(DATASOURCE)
            .expr(target.expr)
            .legend_format(target.legend)
            .range()
        )
        if target.reference:
            builder = builder.override_by_query(ref_id, _REFERENCE_STYLE)
    return builder


def build_dashboard(spec: Dashboard) -> dash_m.Dashboard:
    builder = (
        dash_b.Dashboard(spec.title)
        .uid(spec.uid)
        .description(spec.description)
        .tags(["fwcap"])
        .time("now-30m", "now")
        .refresh("10s")
        .timezone("browser")
        .tooltip(dash_m.DashboardCursorSync.CROSSHAIR)
        # An explicit (empty) list: Grafana adds its built-in annotation to `annotations.list`.
        .annotations([])
        .link(
            dash_b.DashboardLink("fwcap dashboards")
            .type(dash_m.DashboardLinkType.DASHBOARDS)
            .tags(["fwcap"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )
    for variable in _variables(spec):
        builder = builder.with_variable(variable)
    panel_id = 0
    for row in spec.rows:
        panel_id += 1
        builder = builder.with_row(dash_b.Row(row.title).id(panel_id))
        for panel in row.panels:
            panel_id += 1
            builder = builder.with_panel(_panel(panel, panel_id))
    return builder.build()


def render(spec: Dashboard) -> str:
    """The dashboard's JSON text, byte-stable (sorted keys) so a diff shows only real changes."""
    return json.dumps(build_dashboard(spec), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def render_all() -> dict[str, str]:
    return {name: render(spec) for name, spec in DASHBOARDS.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python grafana/generate.py", description=__doc__)
    parser.add_argument("--out", type=Path, default=DASHBOARDS_DIR, help="output directory")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the files differ from the generated JSON"
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    stale = [n for n, text in render_all().items() if _read(out / n) != text]
    if args.check:
        for name in stale:
            print(f"{out / name} is out of date; run `python grafana/generate.py`")
        return 1 if stale else 0
    out.mkdir(parents=True, exist_ok=True)
    for name, text in render_all().items():
        (out / name).write_text(text)
        print(f"wrote {out / name}")
    return 0


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


if __name__ == "__main__":
    sys.exit(main())
