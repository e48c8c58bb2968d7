"""The report: results.json, report.md and report.html with plots, from a measurements file.

`build_report` is the one entry point: `capacity model` and the end of `capacity report` both
call it. It reads and checks everything before writing anything, and publishes the files
atomically (capacity.report.writer).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from capacity.catalog import load_catalog
from capacity.errors import ConfigError
from capacity.measurements import read_records
from capacity.model import (
    Analysis,
    AnalysisSettings,
    BuyingOptions,
    Margins,
    Slo,
    analyse,
    check_claims,
)
from capacity.model.allocatable import Networking
from capacity.report.platform import platform_for
from capacity.report.results import build_results
from capacity.report.schema import Results
from capacity.report.sizing import write_sizing
from capacity.report.view import template_context
from capacity.report.writer import write_atomically

__all__ = ["Results", "build_report", "headline_scenario"]

# Package data, read through importlib.resources (works from a wheel as from a checkout).
TEMPLATES = PackageLoader("capacity.report", "templates")


def headline_scenario(analysis: Analysis, wanted: str | None) -> str:
    """The scenario the summary leads with: the one asked for, else `mixed`, else the first
    scenario both frameworks ran."""
    scenarios = analysis.scenarios
    if wanted is not None:
        if wanted not in scenarios:
            raise ConfigError(
                f"scenario {wanted!r} is not in the measurements; measured: {', '.join(scenarios)}"
            )
        return wanted
    both = [
        s
        for s in scenarios
        if analysis.get("django", s) is not None and analysis.get("fastapi", s) is not None
    ]
    for candidate in ("mixed", *both, *scenarios):
        if candidate in scenarios:
            return candidate
    raise ConfigError("the measurements hold no scenario")  # pragma: no cover - records exist


def _render(results: Results, out: Path) -> None:
    context = template_context(results)
    markdown = Environment(
        loader=TEMPLATES,
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    (out / "report.md").write_text(
        markdown.get_template("report.md.j2").render(**context), encoding="utf-8"
    )
    images = {
        p.file: "data:image/png;base64,"
        + base64.b64encode((out / p.file).read_bytes()).decode("ascii")
        for p in results.plots
    }
    html = Environment(loader=TEMPLATES, undefined=StrictUndefined, autoescape=True)
    (out / "report.html").write_text(
        html.get_template("report.html.j2").render(images=images, **context), encoding="utf-8"
    )


def build_report(
    measurements_path: Path,
    out_dir: Path,
    *,
    slo: Slo,
    target_rps: float = AnalysisSettings.target_rps,
    headroom: float = AnalysisSettings.headroom,
    margins: Margins | None = None,
    catalog_path: Path | None = None,
    node_types: Sequence[str] | None = None,
    scenario: str | None = None,
    platform: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    cost: BuyingOptions | None = None,
    networking: Networking | None = None,
    arm_factor: float | None = None,
) -> Path:
    """Model the measurements and write results.json, report.md, report.html, plots/*.png.

    platform: what the measurement run knows of its machine; when None, a platform.json beside
    the measurements file is used, else the machine the model runs on (and the report says so).
    overwrite: replace the report files in an out_dir that already holds a report.
    cost, networking: how the cluster is bought and run (capacity.model.cost.BuyingOptions) and
    its pod networking; the defaults are a production cluster (N+1, add-ons, control plane).
    arm_factor: a measured ARM/amd64 CPU-per-request ratio, applied on arm64 node types.
    """
    measurements_path = Path(measurements_path)
    records = read_records(measurements_path)
    digest = hashlib.sha256(measurements_path.read_bytes()).hexdigest()
    catalog = load_catalog(catalog_path)
    names = node_types or catalog.default_candidates  # ARM types only when named
    nodes = [catalog.node(n) for n in names]
    settings = AnalysisSettings(
        slo=slo,
        margins=margins or Margins(),
        target_rps=target_rps,
        headroom=headroom,
        cost=cost or BuyingOptions(),
        networking=networking or Networking(),
        arm_factor=arm_factor,
    )
    analysis = analyse(records, nodes, settings)
    headline = headline_scenario(analysis, scenario)
    results = build_results(
        analysis,
        check_claims(analysis, headline),
        measurements_path=measurements_path,
        measurements_sha256=digest,
        records=records,
        headline_scenario=headline,
        catalog_path=catalog.path,
        platform=platform_for(measurements_path, platform),
    )

    def fill(tmp: Path) -> None:
        from capacity.report.plots import draw_plots  # matplotlib loads only to draw

        drawn = results.with_plots(draw_plots(results, tmp / "plots"))
        (tmp / "results.json").write_text(drawn.to_json(), encoding="utf-8")
        headline_series = [  # a sweep: each framework's cheapest shape
            s
            for s in analysis.series
            if s.scenario == headline and analysis.get(s.framework, s.scenario) is s
        ]
        write_sizing(tmp, headline_series, f"{measurements_path.name} ({headline})")
        _render(drawn, tmp)

    return write_atomically(Path(out_dir), fill, overwrite=overwrite)
