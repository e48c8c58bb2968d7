"""The report's plots, drawn with matplotlib's Agg backend from results.json alone.

knee-<scenario>.png    latency and achieved vs offered req/s per step (the knee)
cpu-per-request.png    pod CPU vs per-pod req/s with the fit; CPU ms per request
pods-per-node.png      right-sized pods per node, per node type and framework
cost-vs-target.png     monthly cost vs target req/s on the cheapest node type
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, no GUI toolkit, same output everywhere

import matplotlib.pyplot as plt
from matplotlib.figure import Figure as MplFigure

COLOURS = {"django": "#0C4B33", "fastapi": "#009688"}
Results = Mapping[str, Any]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "scenario"


def _save(fig: MplFigure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _series(results: Results, scenario: str) -> list[Mapping[str, Any]]:
    return [s for s in results["series"] if s["scenario"] == scenario]


def _knee(results: Results, scenario: str, path: Path) -> None:
    slo = results["inputs"]["slo"]
    key = f"latency_{slo['percentile']}_ms"
    fig, (lat, thr) = plt.subplots(1, 2, figsize=(10, 4))
    top = 0.0
    for s in _series(results, scenario):
        colour = COLOURS.get(s["framework"], "grey")
        steps = s["steps"]
        offered = [st["offered_rps"] for st in steps]
        top = max([top, *offered])
        points = [(st["offered_rps"], st[key]) for st in steps if st[key] is not None]
        if points:
            lat.plot(
                *zip(*points, strict=True),
                "o-",
                color=colour,
                label=f"{s['framework']} {slo['percentile']}",
            )
        p99 = [
            (st["offered_rps"], st["latency_p99_ms"])
            for st in steps
            if st["latency_p99_ms"] is not None
        ]
        if p99 and slo["percentile"] != "p99":
            lat.plot(
                *zip(*p99, strict=True),
                "--",
                color=colour,
                alpha=0.5,
                label=f"{s['framework']} p99",
            )
        thr.plot(
            offered, [st["achieved_rps"] for st in steps], "o-", color=colour, label=s["framework"]
        )
        invalid = [(st["offered_rps"], st["achieved_rps"]) for st in steps if not st["valid"]]
        if invalid:
            thr.plot(*zip(*invalid, strict=True), "x", color="#c62828", markersize=9)
        if s["capacity_step"] is not None:
            cap = next(st for st in steps if st["step"] == s["capacity_step"])
            thr.annotate(
                f"{s['framework']}: {cap['achieved_rps']:,.0f} req/s at SLO",
                (cap["offered_rps"], cap["achieved_rps"]),
                textcoords="offset points",
                xytext=(12, -14),
                fontsize=8,
                color=colour,
                ha="left",
                arrowprops={"arrowstyle": "-", "color": colour, "alpha": 0.6},
            )
            lat.axvline(cap["offered_rps"], color=colour, linestyle=":", alpha=0.7)
    lat.axhline(
        slo["latency_ms"],
        color="#c62828",
        linewidth=1,
        label=f"SLO {slo['percentile']} {slo['latency_ms']:g} ms",
    )
    lat.set(xlabel="offered req/s", ylabel="latency (ms)", title=f"{scenario}: latency per step")
    lat.set_yscale("log")
    lat.legend(fontsize=8)
    line = [0, top or 1]
    thr.plot(line, line, color="grey", linewidth=0.8, label="achieved = offered")
    thr.plot(
        line,
        [v * slo["min_achieved_ratio"] for v in line],
        color="grey",
        linewidth=0.8,
        linestyle="--",
        label=f"{slo['min_achieved_ratio']:.0%} of offered",
    )
    thr.set(
        xlabel="offered req/s",
        ylabel="achieved req/s",
        title=f"{scenario}: achieved vs offered (x: step not valid)",
    )
    thr.legend(fontsize=8)
    _save(fig, path)


def _cpu(results: Results, headline: str, path: Path) -> None:
    fig, (scatter, bars) = plt.subplots(1, 2, figsize=(10, 4))
    for s in _series(results, headline):
        colour = COLOURS.get(s["framework"], "grey")
        steps = s["steps"]
        scatter.plot(
            [st["per_pod_rps"] for st in steps],
            [st["pod_cpu_cores"] for st in steps],
            "o",
            color=colour,
            alpha=0.35,
        )
        valid = [st for st in steps if st["valid"]]
        scatter.plot(
            [st["per_pod_rps"] for st in valid],
            [st["pod_cpu_cores"] for st in valid],
            "o",
            color=colour,
            label=f"{s['framework']} (valid steps)",
        )
        fit = s["cpu_seconds_per_request"]
        if fit["value"] is not None and valid:
            xs = [st["per_pod_rps"] for st in valid]
            ys = [st["pod_cpu_cores"] for st in valid]
            mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
            slope = fit["value"]
            intercept = mean_y - slope * mean_x if len(set(xs)) > 1 else 0.0
            span = [0.0, max(xs)]
            scatter.plot(
                span,
                [intercept + slope * x for x in span],
                "-",
                color=colour,
                label=f"{s['framework']}: {slope * 1000:.2f} ms CPU/request",
            )
    scatter.set(
        xlabel="req/s per pod", ylabel="CPU cores per pod", title=f"{headline}: CPU use vs load"
    )
    scatter.legend(fontsize=8)
    scenarios = sorted({s["scenario"] for s in results["series"]})
    width = 0.38
    for i, framework in enumerate(("django", "fastapi")):
        values = []
        for scenario in scenarios:
            match = [s for s in _series(results, scenario) if s["framework"] == framework]
            value = match[0]["cpu_seconds_per_request"]["value"] if match else None
            values.append((value or 0.0) * 1000)
        positions = [x + (i - 0.5) * width for x in range(len(scenarios))]
        bars.bar(positions, values, width, color=COLOURS[framework], label=framework)
    bars.set_xticks(range(len(scenarios)), scenarios, rotation=30, ha="right", fontsize=8)
    bars.set(ylabel="CPU ms per request", title="CPU-seconds per request, by scenario")
    bars.legend(fontsize=8)
    _save(fig, path)


def _pods_per_node(results: Results, headline: str, path: Path) -> None:
    nodes = [n["name"] for n in results["nodes"]]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(nodes) + 1.5))
    height = 0.38
    for i, framework in enumerate(("django", "fastapi")):
        by_node = {
            f["node_type"]: f["pods_per_node"]["value"]
            for f in results["fits"]
            if f["framework"] == framework and f["scenario"] == headline
        }
        values = [by_node.get(n, 0) for n in nodes]
        positions = [y + (i - 0.5) * height for y in range(len(nodes))]
        shape = next(
            (
                s["recommended"]
                for s in _series(results, headline)
                if s["framework"] == framework and s["recommended"]
            ),
            None,
        )
        label = (
            f"{framework} (requests {shape['cpu']} CPU / {shape['memory']})" if shape else framework
        )
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
    target = results["inputs"]["target_rps"]
    headroom = results["inputs"]["headroom"]
    fig, ax = plt.subplots(figsize=(10, 4))
    for curve in results["cost_curves"]:
        points = curve["points"]
        if not points:
            continue
        ax.step(
            [p["target_rps"] for p in points],
            [p["monthly_usd"] for p in points],
            where="post",
            color=COLOURS.get(curve["framework"], "grey"),
            label=f"{curve['framework']} (cheapest node type at each load)",
        )
    ax.axvline(target, color="grey", linestyle=":", label=f"target {target:,.0f} req/s")
    ax.set(
        xlabel="target req/s",
        ylabel="USD per month (730 h, list prices)",
        title=f"{headline}: monthly cost vs target load, {headroom:.0%} headroom",
    )
    ax.legend(fontsize=8)
    _save(fig, path)


def draw_plots(results: Results, plots_dir: Path) -> list[dict[str, str]]:
    """Draw every plot into plots_dir; return their entries for results.json (relative paths)."""
    plots_dir.mkdir(parents=True, exist_ok=True)
    headline = results["inputs"]["headline_scenario"]
    entries = []
    for scenario in sorted({s["scenario"] for s in results["series"]}):
        name = f"knee-{slug(scenario)}.png"
        _knee(results, scenario, plots_dir / name)
        entries.append(
            {
                "file": f"plots/{name}",
                "title": f"The knee: {scenario}",
                "caption": "Latency and achieved vs offered requests/s per load step; the dotted "
                "line marks the last step within the SLO.",
            }
        )
    drawers = [
        (
            "cpu-per-request.png",
            "CPU per request",
            _cpu,
            "Pod CPU against per-pod load with the least-squares fit, and CPU ms per request.",
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
    for name, title, draw, caption in drawers:
        draw(results, headline, plots_dir / name)
        entries.append({"file": f"plots/{name}", "title": title, "caption": caption})
    return entries
