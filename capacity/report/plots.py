"""The report's plots, drawn with matplotlib's Agg backend from the results document alone.

knee-<scenario>.png    client p95 and share over the SLO vs offered req/s, both frameworks
cpu-per-request.png    CPU ms per request by step, and its median per scenario
pods-per-node.png      right-sized pods per node, per node type and framework
cost-vs-target.png     monthly cost vs target req/s on the cheapest node type
cost-vs-shape.png      a --pod-shapes sweep only: monthly cost at each measured pod shape
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

from capacity.frameworks import present
from capacity.report.schema import Plot, Results, Series

matplotlib.use("Agg")  # before pyplot: no display, no GUI toolkit, same output everywhere

import matplotlib.pyplot as plt
from matplotlib.figure import Figure as MplFigure

# Each lean variant a lighter shade of its framework's colour.
COLOURS = {
    "django": "#0C4B33",
    "fastapi": "#009688",
    "django-lean": "#6FA287",
    "fastapi-lean": "#80CBC4",
    "django-async": "#C9A227",  # not a shade of Django's green: a server and views of its own
}


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "scenario"


def _save(fig: MplFigure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _series(results: Results, scenario: str) -> list[Series]:
    return [s for s in results.series if s.scenario == scenario]


def _name(results: Results, s: Series) -> str:
    """The framework, and in a sweep its shape: the legends name every series apart."""
    return f"{s.framework} {s.shape}" if len(results.shapes) > 1 and s.shape else s.framework


def _knee(results: Results, scenario: str, path: Path) -> None:
    """Client p95 and the share over the SLO against the shared grid rates, both frameworks."""
    slo = results.inputs.slo
    allowed = slo.allowed_over_slo_ratio
    fig, (lat, over) = plt.subplots(1, 2, figsize=(11, 4.2))
    for s in _series(results, scenario):
        colour = COLOURS.get(s.framework, "grey")
        fw = _name(results, s)
        steps = sorted(s.steps, key=lambda st: (st.offered_rps, st.step))
        client = [(st.offered_rps, st.client_latency_p95_ms, st.decision) for st in steps
                  if st.client_latency_p95_ms is not None]  # fmt: skip
        if client:
            xs, ys, _ = zip(*client, strict=True)
            lat.plot(xs, ys, "-", color=colour, alpha=0.6, label=f"{fw} client p95")
            for mark, kind in (("o", "pass"), ("x", "fail")):
                pts = [(x, y) for x, y, d in client if d == kind]
                if pts:
                    lat.plot(*zip(*pts, strict=True), mark, color=colour, markersize=7)
        server = [(st.offered_rps, st.latency_p95_ms) for st in steps
                  if st.latency_p95_ms is not None]  # fmt: skip
        if server:
            lat.plot(*zip(*server, strict=True), ":", color=colour, alpha=0.5,
                     label=f"{fw} server p95 (cross-check)")  # fmt: skip
        for st in steps:
            over.errorbar(
                st.offered_rps, st.over_slo_ratio,
                yerr=[[max(0.0, st.over_slo_ratio - st.over_slo_lower)],
                      [max(0.0, st.over_slo_upper - st.over_slo_ratio)]],
                fmt="o" if st.decision == "pass" else "x", color=colour, capsize=3,
            )  # fmt: skip
        lo, hi = s.capacity_interval_rps
        pods = s.tested_shape.pods
        if lo is not None:
            right = (hi if hi is not None else lo) * pods
            for ax in (lat, over):
                ax.axvspan(lo * pods, right, color=colour, alpha=0.15)
            lat.annotate(
                f"{fw}: [{lo:,.0f}, {'-' if hi is None else f'{hi:,.0f}'}) req/s/pod",
                (lo * pods, slo.latency_ms), textcoords="offset points", xytext=(4, 8),
                fontsize=8, color=colour,
            )  # fmt: skip
    lat.axhline(slo.latency_ms, color="#c62828", linewidth=1,
                label=f"SLO {slo.percentile} {slo.latency_ms:g} ms")  # fmt: skip
    lat.set(xlabel="offered req/s (shared grid)", ylabel="latency (ms)",
            title=f"{scenario}: client p95 vs offered (o pass, x fail)")  # fmt: skip
    lat.set_yscale("log")
    lat.legend(fontsize=7)
    over.axhline(allowed, color="#c62828", linewidth=1, label=f"allowed {allowed:.0%}")
    over.set(xlabel="offered req/s (shared grid)", ylabel="share over the SLO",
             title="late, failed or dropped (95% Wilson bounds)")  # fmt: skip
    over.set_ylim(0, 0.3)
    over.legend(fontsize=7)
    _save(fig, path)


def _cpu(results: Results, headline: str, path: Path) -> None:
    fig, (scatter, bars) = plt.subplots(1, 2, figsize=(10, 4))
    for s in _series(results, headline):
        colour = COLOURS.get(s.framework, "grey")
        cpu = [(st.per_pod_rps, st.cpu_seconds_per_request) for st in s.steps
               if st.cpu_seconds_per_request is not None]  # fmt: skip
        scatter.plot(
            [rps for rps, _ in cpu], [seconds * 1000 for _, seconds in cpu],
            "o", color=colour, alpha=0.35,
        )  # fmt: skip
        median = s.cpu_seconds_per_request.value
        if median is not None:
            used = s.cpu_seconds_per_request.inputs.get("per_step")
            steps = len(used) if isinstance(used, list) else 0
            scatter.axhline(
                median * 1000, color=colour,
                label=f"{_name(results, s)}: median {median * 1000:.2f} ms over {steps} steps",
            )  # fmt: skip
    scatter.set(xlabel="req/s per pod", ylabel="CPU ms per request",
                title=f"{headline}: CPU per request by step")  # fmt: skip
    scatter.legend(fontsize=8)
    scenarios = sorted({s.scenario for s in results.series})
    frameworks = present({s.framework for s in results.series})
    width = 0.76 / len(frameworks)
    for i, framework in enumerate(frameworks):
        values = []
        for scenario in scenarios:
            match = results.get(framework, scenario)  # a sweep: the cheapest shape's
            value = match.cpu_seconds_per_request.value if match else None
            values.append((value or 0.0) * 1000)
        positions = [x + (i - (len(frameworks) - 1) / 2) * width for x in range(len(scenarios))]
        bars.bar(positions, values, width, color=COLOURS[framework], label=framework)
    bars.set_xticks(range(len(scenarios)), scenarios, rotation=30, ha="right", fontsize=8)
    bars.set(ylabel="CPU ms per request", title="CPU-seconds per request, by scenario")
    bars.legend(fontsize=8)
    _save(fig, path)


def _pods_per_node(results: Results, headline: str, path: Path) -> None:
    nodes = [n.name for n in results.nodes]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(nodes) + 1.5))
    frameworks = present({s.framework for s in results.series})
    height = 0.76 / len(frameworks)
    for i, framework in enumerate(frameworks):
        chosen = results.get(framework, headline)  # a sweep: the cheapest shape's
        by_node = {
            f.node_type: f.pods_per_node.value or 0
            for f in results.fits
            if f.framework == framework
            and f.scenario == headline
            and chosen is not None
            and f.shape == chosen.shape
        }
        values = [by_node.get(n, 0) for n in nodes]
        positions = [y + (i - (len(frameworks) - 1) / 2) * height for y in range(len(nodes))]
        shape = chosen.recommended if chosen else None
        name = _name(results, chosen) if chosen else framework
        label = f"{name} (requests {shape.cpu} CPU / {shape.memory})" if shape else name
        ax.barh(positions, values, height, color=COLOURS[framework], label=label)
        for y, v in zip(positions, values, strict=True):
            ax.text(v + 0.1, y, str(v), va="center", fontsize=8)
    ax.set_yticks(range(len(nodes)), nodes, fontsize=8)
    ax.invert_yaxis()
    ax.set(
        xlabel="pods per node (right-sized requests)",
        title=f"{headline}: pods per node by node type",
    )
    ax.legend(fontsize=8)
    _save(fig, path)


def _cost(results: Results, headline: str, path: Path) -> None:
    target = results.inputs.target_rps
    headroom = results.inputs.headroom
    fig, ax = plt.subplots(figsize=(10, 4))
    for curve in results.cost_curves:
        points = curve.points
        if not points:
            continue
        ax.step(
            [p.target_rps for p in points],
            [p.monthly_usd for p in points],
            where="post",
            color=COLOURS.get(curve.framework, "grey"),
            label=f"{curve.framework} (cheapest node type at each load)",
        )
    ax.axvline(target, color="grey", linestyle=":", label=f"target {target:,.0f} req/s")
    ax.set(
        xlabel="target req/s",
        ylabel="USD per month (730 h, list prices)",
        title=f"{headline}: monthly cost vs target load, {headroom:.0%} headroom",
    )
    ax.legend(fontsize=8)
    _save(fig, path)


def _shape_cost(results: Results, headline: str, path: Path) -> None:
    """Each framework's monthly cost at each measured shape (on that shape's cheapest node
    type), the framework's cheapest shape ringed."""
    shapes = results.shapes
    fig, ax = plt.subplots(figsize=(10, 4))
    for framework in present({s.framework for s in results.series}):
        points = [
            (shapes.index(c.shape), c.monthly_usd, c.node_type)
            for c in results.cheapest
            if c.framework == framework and c.scenario == headline and c.shape in shapes
        ]
        if not points:
            continue
        xs, ys, nodes = zip(*sorted(points), strict=True)
        colour = COLOURS.get(framework, "grey")
        ax.plot(xs, ys, "o-", color=colour, label=framework)
        for x, y, node in zip(xs, ys, nodes, strict=True):
            ax.annotate(node, (x, y), textcoords="offset points", xytext=(4, 6), fontsize=7)
        chosen = results.get(framework, headline)
        best = [(x, y) for x, y in zip(xs, ys, strict=True) if chosen and shapes[x] == chosen.shape]
        if best:
            ax.plot(*best[0], "o", markersize=14, fillstyle="none", color=colour,
                    label=f"{framework} cheapest: {chosen.shape if chosen else ''}")  # fmt: skip
    ax.set_xticks(range(len(shapes)), shapes)
    ax.set(
        xlabel="pod shape (CPU limit:workers)",
        ylabel="USD per month (730 h, list prices)",
        title=f"{headline}: monthly cost at {results.inputs.target_rps:,.0f} req/s by pod shape",
    )
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    _save(fig, path)


def draw_plots(results: Results, plots_dir: Path) -> list[Plot]:
    """Draw every plot into plots_dir; return their entries for results.json (relative paths)."""
    plots_dir.mkdir(parents=True, exist_ok=True)
    headline = results.inputs.headline_scenario
    entries = []
    for scenario in sorted({s.scenario for s in results.series}):
        name = f"knee-{slug(scenario)}.png"
        _knee(results, scenario, plots_dir / name)
        entries.append(
            Plot(
                file=f"plots/{name}",
                title=f"The knee: {scenario}",
                caption="Client-side p95 (from the intended send time) and the share of "
                "requests over the SLO against the offered rate of the shared grid, both "
                "frameworks; the shaded band is each capacity interval [last pass, first fail).",
            )
        )
    drawers = [
        (
            "cpu-per-request.png",
            "CPU per request",
            _cpu,
            "Pod CPU-seconds over requests served per step, and the median per scenario.",
        ),
        (
            "pods-per-node.png",
            "Pods per node",
            _pods_per_node,
            "Right-sized pods that fit each node type after reservations and daemonsets.",
        ),
        (
            "cost-vs-target.png",
            "Monthly cost vs target load",
            _cost,
            "Monthly cost on the cheapest node type at each target load, both frameworks.",
        ),
    ]
    if len(results.shapes) > 1:
        drawers.append(
            (
                "cost-vs-shape.png",
                "Monthly cost vs pod shape",
                _shape_cost,
                "Monthly cost at the target load at each measured pod shape (--pod-shapes), on "
                "that shape's cheapest node type, both frameworks; each framework's cheapest "
                "shape ringed.",
            )
        )
    for name, title, draw, caption in drawers:
        draw(results, headline, plots_dir / name)
        entries.append(Plot(file=f"plots/{name}", title=title, caption=caption))
    return entries
