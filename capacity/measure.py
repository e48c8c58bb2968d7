"""One driver for every target: enter it, run the plan, describe the platform, leave it.

`measure(plan, target, out_dir, ...)` is the whole measuring half of `capacity report`, local or
cluster alike. What differs between targets is asked of the target (capacity/target/base.py
`Target`): the plan as it can run it (a cluster's scrape and cAdvisor timing), its platform
details, its per-step instruments (the core-speed probe and host CPU locally, a retrying
Prometheus client on a cluster) and any files only it can read (a cluster's nodes).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from capacity.interrupts import wait_for_signal
from capacity.measurements import MeasurementRecord
from capacity.plan import Plan
from capacity.run import CapacityRun, Progress, RunResult
from capacity.target.base import Endpoints, Target

MEASUREMENTS_FILE = "measurements.jsonl"
PLATFORM_FILE = "platform.json"

# Above this change of the pods' core speed (the per-step probe, first steps against last), the
# run's absolute figures are not comparable with another run's (the ratios within it still are).
SPEED_DRIFT_WARN = 0.10
SPEED_ENDS = 3  # steps whose probe median stands for the start (and the end) of the run


@dataclass(frozen=True)
class Measured:
    result: RunResult
    plan: Plan  # as run: fitted to the target's timing


def measure(
    plan: Plan,
    target: Target,
    out_dir: Path,
    console: Console,
    *,
    run_id: str,
    progress: Callable[[], AbstractContextManager[Callable[[Progress], None]]],
    quick: bool = False,
    keep_up: bool = False,
) -> Measured:
    """Enter the target, run every framework x scenario of the plan, write platform.json beside
    the measurements, leave the target (everything it started stops, also on error or Ctrl-C).

    With `keep_up`, everything stays up after the last step until Ctrl-C, so the dashboards can
    be looked at.
    """
    with target as endpoints:
        fitted = target.fitted_plan(plan)
        details = target.platform_details(fitted)
        if quick:
            details["quick"] = True  # the report labels it a smoke test
        _write_json(out_dir / PLATFORM_FILE, details)
        target.write_extras(out_dir)
        with target.instruments(endpoints) as tools, progress() as view:
            run = CapacityRun(
                fitted, endpoints, measurements_path=out_dir / MEASUREMENTS_FILE, run_id=run_id,
                check_pods=target.check_pods, target_kind=target.kind, on_progress=view,
                prom=tools.prom, host_cpu=tools.host_cpu, cpu_probe=tools.cpu_probe,
                support_probe=tools.support_probe, between_rounds=target.between_rounds,
                pods_cpu_s=tools.pods_cpu_s,
            )  # fmt: skip
            result = run.run()
        details["step_order"] = " ".join(run.order)
        details["rounds_run"] = result.rounds_run
        if result.budget_note:
            details["rounds_note"] = result.budget_note
            console.print(f"note: {result.budget_note}", markup=False)
        speed = speed_details(result.records)
        _write_json(out_dir / PLATFORM_FILE, details | speed)
        if speed.get("cpu_speed_warning"):
            console.print(f"warning: {speed['cpu_speed_warning']}", markup=False)
        if keep_up:
            _hold(console, endpoints)
        return Measured(result, fitted)


def _probe_summary(speeds: Sequence[float], where: str = "") -> str:
    return (
        f"{statistics.median(speeds):.1f} k-rounds/CPU-s{where}, median of {len(speeds)} steps' "
        f"probes (range {min(speeds):.1f}-{max(speeds):.1f})"
    )


def speed_details(records: Sequence[MeasurementRecord]) -> dict[str, Any]:
    """platform.json's summary of the per-step core-speed probe (capacity/target/cpuspeed.py)."""
    speeds = [r.cpu_speed for r in records if r.cpu_speed is not None]
    if not speeds:
        return {"cpu_speed": "not probed"}
    first = statistics.median(speeds[:SPEED_ENDS])
    last = statistics.median(speeds[-SPEED_ENDS:])
    change = last / first - 1
    details: dict[str, Any] = {
        "cpu_speed": _probe_summary(speeds),
        "cpu_speed_change": (
            f"{change:+.0%} from the first {SPEED_ENDS} steps to the last {SPEED_ENDS}; absolute "
            "figures compare across runs only when their probes agree; ratios between "
            "frameworks, whose steps alternate in time (A B B A), are far less exposed to drift"
        ),
    }
    support = [r.support_cpu_speed for r in records if r.support_cpu_speed is not None]
    if support:
        details["support_cpu_speed"] = _probe_summary(
            support, " on the other cores (database, upstream stub, generator)"
        )
    if abs(change) > SPEED_DRIFT_WARN:
        details["cpu_speed_warning"] = (
            f"the pods' core was {abs(change):.0%} {'faster' if change > 0 else 'slower'} at the "
            "last steps than at the first (this machine's CPU speed varies, see platform.json): "
            "compare this run with others by the ratios within it, not by absolute req/s"
        )
    return details


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def _hold(console: Console, endpoints: Endpoints) -> None:
    from capacity.target.grafana import dashboards_url

    where = f"Prometheus {endpoints.prometheus_url}"
    if endpoints.grafana_url:
        where = f"Grafana {dashboards_url(endpoints.grafana_url)}, " + where
    console.print(
        f"measured; --keep-up: {where} stay up until Ctrl-C, then everything stops and the "
        "report is written",
        markup=False,
    )
    wait_for_signal()
