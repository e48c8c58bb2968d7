#!/usr/bin/env python3
"""Do several runs' answers agree? The repeatability check of issue 22, from report folders.

For two or more reports (each a `reports/<ts>/` folder with results.json and
measurements.jsonl), prints per scenario each run's FastAPI/Django `capacity_ratio` with its
`capacity_ratio_ci95`, whether every run's ratio lies inside every other run's interval, and the
span of the ratios (max/min - 1); per framework and scenario, each run's capacity raw and
normalised, with the spans: by the core-speed probe (capacity x the runs' median probe / the
run's median probe, over each step's `cpu_speed`) and by the request-cost probe (capacity x the
run's median `request_probe_cpu_s` of that framework / the runs' median of it) and by the
series' own CPU per request under load (results.json `cpu_seconds_per_request`, likewise).
`--by` picks the one that is checked. The last lines say which of the checks
hold against `--max-span` (10%: the acceptance of issue 22). Exit 0 when all hold, 1 when one
does not, 2 on unreadable input.

    .venv/bin/python scripts/repeatability.py /tmp/r1/reports/* /tmp/r2/reports/* /tmp/r3/reports/*
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The normalisations: the core-speed probe, the request-cost probe, and the series' own CPU per
# request under load (the product's `cpu_seconds_per_request`: passing steps at or below the
# bracket; capacity x it is the CPU the pod used at its knee, so its span is the knee's).
BY = ("core-speed", "request-cost", "cpu-per-request")


@dataclass(frozen=True)
class Run:
    """What one report says, as far as this check needs."""

    name: str
    speed: float | None  # the median core-speed probe over its steps
    ratios: dict[str, tuple[float | None, tuple[float, float] | None]]  # scenario -> point, ci
    capacities: dict[tuple[str, str], float | None]  # (framework, scenario) -> req/s per pod
    costs: dict[str, float]  # framework -> the median request-cost probe, CPU-s per request
    # (framework, scenario) -> the series' CPU-seconds per request under load (results.json)
    loaded: dict[tuple[str, str], float | None]


def read_run(folder: Path) -> Run:
    """A report folder; ValueError naming the file when it is missing or not a report."""
    results_file, measurements_file = folder / "results.json", folder / "measurements.jsonl"
    try:
        results: dict[str, Any] = json.loads(results_file.read_text(encoding="utf-8"))
        records = [
            json.loads(line)
            for line in measurements_file.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        speeds = [float(r["cpu_speed"]) for r in records if r.get("cpu_speed") is not None]
        by_framework: dict[str, list[float]] = {}
        for r in records:
            if r.get("request_probe_cpu_s") is not None:
                by_framework.setdefault(r["framework"], []).append(float(r["request_probe_cpu_s"]))
        ratios = {
            str(c["scenario"]): (
                c.get("capacity_ratio"),
                tuple(c["capacity_ratio_ci95"]) if c.get("capacity_ratio_ci95") else None,
            )
            for c in results["comparisons"]
        }
        capacities = {
            (str(s["framework"]), str(s["scenario"])): s["capacity_per_pod_rps"].get("value")
            for s in results["series"]
        }
        loaded = {
            (str(s["framework"]), str(s["scenario"])): (s.get("cpu_seconds_per_request") or {}).get(
                "value"
            )
            for s in results["series"]
        }
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(
            f"{folder}: not a capacity report folder (needs results.json and "
            f"measurements.jsonl): {e}"
        ) from e
    speed = statistics.median(speeds) if speeds else None
    costs = {fw: statistics.median(v) for fw, v in by_framework.items()}
    return Run(str(folder), speed, ratios, capacities, costs, loaded)  # type: ignore[arg-type]


def _factors(runs: list[Run], key: tuple[str, str], by: str) -> list[float] | None:
    """Per run, what its capacity is multiplied by to take out the machine's speed: the runs'
    median probe over its own (core speed: faster is higher), or its cost per request over the
    runs' median (request cost, CPU per request: faster is lower). None when a run lacks it."""
    if by == "core-speed":
        speeds = [r.speed for r in runs]
        if any(v is None for v in speeds):
            return None
        known = [float(v) for v in speeds if v is not None]
        return [statistics.median(known) / v for v in known]
    costs = [r.costs.get(key[0]) if by == "request-cost" else r.loaded.get(key) for r in runs]
    if any(v is None for v in costs):
        return None
    known = [float(v) for v in costs if v is not None]
    return [v / statistics.median(known) for v in known]


def span(values: list[float]) -> float:
    """max/min - 1 of positive values."""
    return max(values) / min(values) - 1


def check(runs: list[Run], max_span: float, by: str = "core-speed") -> tuple[list[str], bool]:
    """The report lines and whether every check holds."""
    lines: list[str] = []
    verdicts: list[tuple[str, bool]] = []
    for i, run in enumerate(runs, 1):
        speed = f"{run.speed:.2f}" if run.speed is not None else "none"
        costs = ", ".join(f"{fw} {v * 1000:.3f} ms" for fw, v in sorted(run.costs.items()))
        lines.append(
            f"run {i}: {run.name} (median core-speed probe {speed}; median request cost "
            f"{costs or 'none'})"
        )
    for scenario in sorted({s for r in runs for s in r.ratios}):
        got = [r.ratios.get(scenario, (None, None)) for r in runs]
        cells = [f"{p:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]" if p and ci else f"{p}" for p, ci in got]
        lines.append(f"{scenario} FastAPI/Django: " + " | ".join(cells))
        pairs = [(p, ci) for p, ci in got if p is not None and ci is not None]
        if len(pairs) < len(got):
            verdicts.append((f"{scenario}: a run has no ratio or no interval", False))
            continue
        inside = all(
            ci[0] <= p <= ci[1]
            for i, (p, _) in enumerate(pairs)
            for j, (_, ci) in enumerate(pairs)
            if i != j
        )
        s = span([p for p, _ in pairs])
        verdicts.append((f"{scenario}: each ratio inside the other runs' 95% intervals", inside))
        verdicts.append((f"{scenario}: the ratios span {s:.1%} (<= {max_span:.0%})", s <= max_span))
    for key in sorted({k for r in runs for k in r.capacities}):
        raw = [r.capacities.get(key) for r in runs]
        label = f"{key[0]} {key[1]}"
        if any(v is None for v in raw):
            lines.append(f"{label}: " + " | ".join(f"{v}" for v in raw))
            verdicts.append((f"{label}: a run has no capacity", False))
            continue
        values = [float(v) for v in raw if v is not None]
        lines.append(
            f"{label} req/s per pod, raw: " + " | ".join(f"{v:.1f}" for v in values)
            + f"; span {span(values):.1%}"
        )  # fmt: skip
        for name in BY:
            factors = _factors(runs, key, name)
            if factors is None:
                lines.append(f"  normalised by {name}: a run has no such probe")
                if name == by:
                    verdicts.append((f"{label}: a run has no {name} probe to normalise by", False))
                continue
            normalised = [v * f for v, f in zip(values, factors, strict=True)]
            lines.append(
                f"  normalised by {name}: " + " | ".join(f"{n:.1f}" for n in normalised)
                + f"; span {span(normalised):.1%}"
            )  # fmt: skip
            if name == by:
                s = span(normalised)
                verdicts.append(
                    (f"{label}: span normalised by {name} {s:.1%} (<= {max_span:.0%})",
                     s <= max_span)
                )  # fmt: skip
    lines += [f"{'holds' if ok else 'FAILS'}: {what}" for what, ok in verdicts]
    return lines, all(ok for _, ok in verdicts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path, help="report folders (reports/<ts>/)")
    parser.add_argument(
        "--by", choices=BY, default="core-speed",
        help="the probe whose normalised capacities are checked (both are printed)",
    )  # fmt: skip
    parser.add_argument(
        "--max-span", type=float, default=0.10, help="the largest span that holds (0.10 = 10%%)"
    )
    args = parser.parse_args(argv)
    if len(args.reports) < 2:
        parser.error(f"needs two or more report folders to compare, got {len(args.reports)}")
    if not 0 < args.max_span < 10:
        parser.error(f"--max-span must be a share between 0 and 10, got {args.max_span!r}")
    try:
        runs = [read_run(folder) for folder in args.reports]
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    lines, ok = check(runs, args.max_span, args.by)
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
