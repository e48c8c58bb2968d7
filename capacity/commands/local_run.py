"""`capacity report` on this machine: the pre-flight checks, then the run on the local target.

`preflight` checks everything that can be checked before a process starts; `measure_locally`
starts the local target, runs the plan with the live progress view, writes run.json and
platform.json beside the measurements, and stops everything (keeping the processes' logs).
The cluster counterpart is capacity/commands/cluster.py.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from capacity.commands.progress import ProgressView
from capacity.errors import ConfigError
from capacity.interrupts import signals_deferred, wait_for_signal
from capacity.plan import Plan
from capacity.run import CapacityRun, RunResult
from capacity.target.base import Endpoints
from capacity.target.cpuspeed import CpuSpeed, InterpreterProbe, drift, probe_cpu_speed
from capacity.target.grafana import dashboards_url
from capacity.target.local import LocalTarget, find_prometheus, new_run_id
from capacity.target.process import port_is_free
from capacity.target.services import service_dir

log = logging.getLogger(__name__)

MEASUREMENTS_FILE = "measurements.jsonl"
RUN_FILE = "run.json"
PLATFORM_FILE = "platform.json"


def default_out_dir() -> Path:
    return Path("reports") / time.strftime("%Y%m%d-%H%M%S")


def check_out_dir(out_dir: Path) -> None:
    """The output directory can be created and written, and holds no earlier run."""
    for name in (MEASUREMENTS_FILE, "results.json"):
        if (out_dir / name).exists():
            raise ConfigError(
                f"--out {out_dir} already holds {name} from an earlier run; choose another --out"
            )
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} exists and is not a directory; choose another --out")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".fwcap-write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise ConfigError(
            f"--out {out_dir} is not writable ({e.strerror or e}); choose a directory you can "
            "write to"
        ) from e


def preflight(plan: Plan, out_dir: Path) -> None:
    """Everything that can be checked before a process starts or a request is sent."""
    find_prometheus()
    for framework in plan.frameworks:
        service_dir(framework)
    pinned = {"--prometheus-port": plan.prometheus_port, "--locust-port": plan.locust_port}
    given = {flag: port for flag, port in pinned.items() if port is not None}
    if len(set(given.values())) < len(given):
        raise ConfigError(
            f"--prometheus-port and --locust-port must differ, both are {plan.locust_port}"
        )
    for flag, port in given.items():
        if not port_is_free(port):
            raise ConfigError(
                f"{flag} {port}: the port is already in use on 127.0.0.1; free it or choose "
                "another port (or leave the option out to pick a free one)"
            )
    check_out_dir(out_dir)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def platform_details(target: LocalTarget, plan: Plan) -> dict[str, Any]:
    from capacity.report.platform import cpu_placement, interpreter_build, this_machine
    from capacity.target.services import pod_python

    details = this_machine()
    # What the pods ran on (issue 16): their interpreter's build and where their CPUs were.
    details.update(interpreter_build(pod_python()))
    pods = target.endpoints.pods if target.endpoints is not None else []
    details["cpu_placement"] = cpu_placement([pod.pid for pod in pods if pod.pid is not None])
    details.update(
        target="local",
        run_id=target.run_id,
        limits_enforced=target.cgroups is not None,
        limits_note=target.cgroup_warning or "pods ran in cgroups with CFS quota and memory limit",
        locust_workers=plan.locust_workers,
        scrape_interval_s=plan.scrape_interval_s,
        pod_cpus=sorted(target.core_split.pod_cpus) if target.core_split else None,
        other_cpus=sorted(target.core_split.other_cpus) if target.core_split else None,
    )
    return details


def measure_locally(
    plan: Plan,
    out_dir: Path,
    console: Console,
    *,
    run_id: str | None = None,
    keep_up: bool = False,
    quick: bool = False,
) -> RunResult:
    """Start the local target, run the plan, stop everything; returns what was measured.

    With `keep_up`, everything (Grafana, Prometheus, the pods) stays up after the last step
    until Ctrl-C, so the dashboards can be looked at; then everything stops as usual.
    """
    run_id = run_id or new_run_id()
    measurements = out_dir / MEASUREMENTS_FILE
    workdir = Path(tempfile.mkdtemp(prefix=f"fwcap-{run_id}-"))
    _write_json(out_dir / RUN_FILE, {"run_id": run_id, "workdir": str(workdir), "pid": os.getpid()})
    target = LocalTarget(
        plan.frameworks,
        plan.replicas,
        plan.pod_shape(),
        workdir,
        scrape_interval_s=plan.scrape_interval_s,
        locust_workers=plan.locust_workers,
        prometheus_port=plan.prometheus_port,
        locust_port=plan.locust_port,
        run_id=run_id,
    )
    try:
        with target as endpoints:
            _write_json(out_dir / RUN_FILE, target.manifest())
            details = platform_details(target, plan)
            if quick:
                details["quick"] = True  # the report labels it a smoke test
            _write_json(out_dir / PLATFORM_FILE, details)
            pod_cpus = sorted(target.core_split.pod_cpus) if target.core_split else []
            speed_start = probe_cpu_speed(pod_cpus)
            for pod in endpoints.pods:
                log.info(
                    "pod %s: %s pid %s cgroup %s",
                    pod.name, pod.base_url, pod.pid, pod.cgroup or "(none: limits not enforced)",
                )  # fmt: skip
            with InterpreterProbe(pod_cpus) as probe, ProgressView(console) as view:
                run = CapacityRun(
                    plan, endpoints, measurements_path=measurements, run_id=run_id,
                    check_pods=target.check_pods, host_cpu=target.host_sampler(),
                    cpu_probe=probe.measure, on_progress=view,
                )  # fmt: skip
                result = run.run()
            details["step_order"] = " ".join(run.order)
            speed_end = probe_cpu_speed(pod_cpus)
            _write_json(out_dir / PLATFORM_FILE, details | speed_details(speed_start, speed_end))
            _warn_on_drift(console, speed_start, speed_end)
            if keep_up:
                _hold(console, endpoints)
            return result
    finally:
        with signals_deferred():
            _keep_logs(workdir, out_dir)


# Above this change of the pods' CPU speed between the first and the last step, the run's
# absolute figures are not comparable with another run's (the ratios within it still are).
SPEED_DRIFT_WARN = 0.10


def speed_details(start: CpuSpeed | None, end: CpuSpeed | None) -> dict[str, Any]:
    """platform.json's record of the CPU speed probe (capacity/target/cpuspeed.py)."""
    change = drift(start, end)
    return {
        "cpu_speed_before_first_step": start.text() if start else "not probed",
        "cpu_speed_after_last_step": end.text() if end else "not probed",
        "cpu_speed_change": (
            "unknown"
            if change is None
            else f"{change:+.0%} over the run; absolute figures compare across runs only when "
            "their probes agree; ratios between frameworks, whose steps alternate in time "
            "(A B B A), are far less exposed to that drift"
        ),
    }


def _warn_on_drift(console: Console, start: CpuSpeed | None, end: CpuSpeed | None) -> None:
    change = drift(start, end)
    if change is not None and abs(change) > SPEED_DRIFT_WARN:
        console.print(
            f"warning: the pods' CPU was {abs(change):.0%} {'faster' if change > 0 else 'slower'} "
            "after the last step than before the first (this machine's CPU speed varies, see "
            "platform.json): compare this run with others by the ratios within it, not by "
            "absolute req/s",
            markup=False,
        )


def _hold(console: Console, endpoints: Endpoints) -> None:
    where = f"Prometheus {endpoints.prometheus_url}"
    if endpoints.grafana_url:
        where = f"Grafana {dashboards_url(endpoints.grafana_url)}, " + where
    console.print(
        f"measured; --keep-up: {where} stay up until Ctrl-C, then everything stops and the "
        "report is written",
        markup=False,
    )
    wait_for_signal()


def _keep_logs(workdir: Path, out_dir: Path) -> None:
    """Copy the processes' logs into the report directory, then delete the work dir."""
    logs = workdir / "logs"
    if logs.is_dir():
        dest = out_dir / "logs"
        dest.mkdir(exist_ok=True)
        for log in logs.glob("*.log"):
            try:
                shutil.copy2(log, dest / log.name)
            except OSError:
                continue
    shutil.rmtree(workdir, ignore_errors=True)


def _count_lines(path: Path) -> int:
    try:
        return sum(1 for line in path.read_text().splitlines() if line.strip())
    except OSError:
        return 0
