"""`capacity report`: measure both frameworks on this machine, then write the report.

Order of events: validate every option and check the machine (pre-flight) before anything
starts; start the local target; run the plan with a live progress display, appending each
finished step to measurements.jsonl; stop everything; model the measurements into the report.
Ctrl-C (or SIGTERM) at any point stops every process, removes every cgroup, keeps the finished
steps and exits 130 (143); a pod that crashes is named with its log tail and exits 1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from capacity.commands.cluster import (
    cluster_preflight,
    measure_cluster,
    step_given,
    write_this_cluster,
)
from capacity.errors import ConfigError, KitError, TargetError
from capacity.interrupts import Interrupted, cancellation, signals_deferred, wait_for_signal
from capacity.plan import Plan, build_plan
from capacity.run import CapacityRun, Progress, RunResult, plan_slo
from capacity.target.base import Endpoints
from capacity.target.cluster.options import ClusterOptions
from capacity.target.cpuspeed import CpuSpeed, drift, probe_cpu_speed
from capacity.target.grafana import dashboards_url
from capacity.target.local import LocalTarget, find_prometheus, new_run_id
from capacity.target.process import port_is_free
from capacity.target.services import service_dir

CLUSTER_PANEL = "Cluster (instead of the local run; docs/cluster-mode.md)"
MEASUREMENTS_FILE = "measurements.jsonl"
RUN_FILE = "run.json"
PLATFORM_FILE = "platform.json"


# -- pre-flight ---------------------------------------------------------------------------------


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


# -- progress -----------------------------------------------------------------------------------


def _fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}{unit}"


def _eta(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def step_line(p: Progress) -> str:
    r = p.last_record
    if r is None:
        return ""
    return (
        f"{r.framework:8} {r.scenario:9} step {r.step:2}  r{r.grid_index:<3} "
        f"offered {r.offered_rps:8.1f}  achieved {r.achieved_rps:8.1f} req/s  "
        f"client p95 {_fmt(r.client_latency_p95_ms, ' ms'):>8}  over SLO "
        f"{r.over_slo_ratio:6.1%}  {r.decision:4}  cpu {r.pod_cpu_cores:.2f}  "
        f"gen {r.generator_cpu_ratio:.0%}  {r.note or ''}"
    )


class ProgressView:
    """Live table on a terminal; one line per finished step (and scenario) otherwise."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live: Live | None = None
        self.latest: Progress | None = None
        self._last_printed: int | None = None

    def __enter__(self) -> ProgressView:
        if self.console.is_terminal:
            self.live = Live(self._render(), console=self.console, refresh_per_second=4)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)
            self.live = None

    def __call__(self, p: Progress) -> None:
        self.latest = p
        if p.phase == "step" and p.last_record is not None and p.step is not None:
            key = id(p.last_record)
            if key != self._last_printed:
                self._last_printed = key
                self.console.print(step_line(p), markup=False, highlight=False)
        if p.phase == "scenario-done" and p.message:
            self.console.print(f"  -> {p.message}", markup=False, highlight=False)
        if self.live is not None:
            self.live.update(self._render())

    def _render(self) -> Group:
        p = self.latest
        table = Table(box=None, show_header=True, header_style="bold")
        for column in ("framework", "scenario", "step", "offered", "req/s now", "p95 now",
                       "last step", "ETA"):  # fmt: skip
            table.add_column(column)
        if p is not None:
            r = p.last_record
            last = (
                "-"
                if r is None
                else f"{r.achieved_rps:.0f} req/s, p95 {_fmt(r.client_latency_p95_ms, ' ms')}"
            )
            table.add_row(
                p.framework,
                f"{p.scenario} ({p.scenario_index + 1}/{p.scenarios_total})",
                "warm-up" if p.phase == "warm-up" else str(p.step if p.step is not None else "-"),
                _fmt(p.offered_rps, " req/s"),
                _fmt(p.live_rps),
                _fmt(p.live_p95_ms, " ms"),
                last,
                _eta(p.eta_s),
            )
        return Group(
            Text("capacity run (Ctrl-C stops and keeps finished steps)", style="dim"), table
        )


# -- the run ------------------------------------------------------------------------------------


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
        log=lambda msg: console.print(f"[dim]{msg}[/dim]", highlight=False),
    )
    try:
        with target as endpoints:
            _write_json(out_dir / RUN_FILE, target.manifest())
            details = platform_details(target, plan)
            _write_json(out_dir / PLATFORM_FILE, details)
            pod_cpus = sorted(target.core_split.pod_cpus) if target.core_split else []
            speed_start = probe_cpu_speed(pod_cpus)
            for pod in endpoints.pods:
                console.print(
                    f"[dim]pod {pod.name}: {pod.base_url} pid {pod.pid} "
                    f"cgroup {pod.cgroup or '(none: limits not enforced)'}[/dim]",
                    highlight=False,
                )
            run = CapacityRun(
                plan, endpoints, measurements_path=measurements, run_id=run_id,
                check_pods=target.check_pods, host_cpu=target.host_sampler(),
            )  # fmt: skip
            with ProgressView(console) as view:
                run.on_progress = view
                result = run.run()
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
            "their probes agree, ratios between frameworks (measured interleaved) within a run "
            "do regardless"
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


def report(
    frameworks: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated frameworks [default: django,fastapi]; the lean variants "
            "django-lean, fastapi-lean measure the framework without its ORM/serializer."
        ),
    ] = None,
    scenarios: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated scenarios: db-read, list, write, stats, upstream, "
            "cpu, mixed [default: mixed,db-read,upstream]."
        ),
    ] = None,
    cpu: Annotated[str | None, typer.Option(help="CPU limit per pod: 500m, 0.5, 1 [500m].")] = None,
    memory: Annotated[
        str | None, typer.Option(help="Memory limit per pod: 512Mi, 1Gi [512Mi].")
    ] = None,
    replicas: Annotated[int | None, typer.Option(help="Pods per framework [1].")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Server processes per pod [from --cpu].")
    ] = None,
    threads: Annotated[int | None, typer.Option(help="Threads per Django worker [4].")] = None,
    slo_p95_ms: Annotated[float | None, typer.Option(help="p95 latency SLO, ms [100].")] = None,
    error_budget: Annotated[float | None, typer.Option(help="Error ratio budget [0.01].")] = None,
    step_duration: Annotated[
        float | None, typer.Option(help="Seconds per load step, 2 s settle included [8].")
    ] = None,
    warmup: Annotated[float | None, typer.Option(help="Warm-up seconds per search [5].")] = None,
    locust_workers: Annotated[int | None, typer.Option(help="Locust worker processes [1].")] = None,
    prometheus_port: Annotated[int | None, typer.Option(help="Pin Prometheus' port.")] = None,
    locust_port: Annotated[int | None, typer.Option(help="Pin the Locust web port.")] = None,
    plan: Annotated[
        Path | None, typer.Option("--plan", help="Plan YAML (keys as in capacity/plan.py).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output dir [reports/<timestamp>].")
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Short smoke run: mixed only, fewer, shorter steps.")
    ] = False,
    keep_up: Annotated[
        bool,
        typer.Option(
            "--keep-up",
            help="After the last step keep Grafana (when installed) and Prometheus up until "
            "Ctrl-C, then write the report.",
        ),
    ] = False,
    # Cluster mode (capacity/commands/cluster.py); none given: the local run.
    stack: Annotated[
        str | None,
        typer.Option(
            help="Measure the pods this Pulumi stack deployed (reads its outputs; "
            "scales, port-forwards, restores).",
            rich_help_panel=CLUSTER_PANEL,
        ),
    ] = None,
    kubeconfig: Annotated[
        Path | None,
        typer.Option(
            help="Kubeconfig (default: $KUBECONFIG, else ~/.kube/config).",
            rich_help_panel=CLUSTER_PANEL,
        ),
    ] = None,
    context: Annotated[
        str | None,
        typer.Option(
            help="Kubeconfig context (default: the stack's kubernetes:context, else current).",
            rich_help_panel=CLUSTER_PANEL,
        ),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            help="Namespace of the kit (default: the stack's output).",
            rich_help_panel=CLUSTER_PANEL,
        ),
    ] = None,
    prometheus_url: Annotated[
        str | None,
        typer.Option(
            help="Use this Prometheus instead of a port-forward.", rich_help_panel=CLUSTER_PANEL
        ),
    ] = None,
    locust_url: Annotated[
        str | None,
        typer.Option(
            help="Use this Locust master (web API) instead of a port-forward.",
            rich_help_panel=CLUSTER_PANEL,
        ),
    ] = None,
) -> None:
    """Measure both frameworks here (real pods in cgroups, real load), then write the report.

    With --stack (or --prometheus-url, --locust-url and --namespace) the same pipeline measures
    a deployed cluster instead: docs/cluster-mode.md.
    """
    console = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    cli: dict[str, Any] = {
        "frameworks": frameworks, "scenarios": scenarios, "cpu": cpu, "memory": memory,
        "replicas": replicas, "workers": workers, "threads": threads, "slo_p95_ms": slo_p95_ms,
        "error_budget": error_budget, "step_duration_s": step_duration, "warmup_s": warmup,
        "locust_workers": locust_workers, "prometheus_port": prometheus_port,
        "locust_port": locust_port,
    }  # fmt: skip
    out_dir = out or default_out_dir()
    measurements = out_dir / MEASUREMENTS_FILE
    cluster = ClusterOptions(stack, kubeconfig, context, namespace, prometheus_url, locust_url)
    outputs = None
    # Signals only set `cancel`; the run raises Interrupted at its next wait, and each
    # `cancel.check()` below catches a signal that arrived after the last wait of a stage.
    with cancellation() as cancel:
        try:
            the_plan = build_plan(cli=cli, plan_file=plan, quick=quick)
            if cluster.given:
                outputs = cluster_preflight(cluster)
                check_out_dir(out_dir)
            else:
                preflight(the_plan, out_dir)
            cancel.check()
        except Interrupted as e:
            err.print("interrupted before the run started; nothing was started")
            raise typer.Exit(128 + e.signum) from None
        except ConfigError as e:
            err.print(f"error: {e}", markup=False)
            raise typer.Exit(2) from None
        except KitError as e:
            err.print(f"error: {e}", markup=False)
            raise typer.Exit(1) from None

        combos = the_plan.combos()
        estimate = len(combos) * the_plan.scenario_estimate_s()
        console.print(
            f"capacity run: {', '.join(the_plan.frameworks)} x {', '.join(the_plan.scenarios)}; "
            f"{the_plan.replicas} pod(s) each at {the_plan.cpu} CPU / {the_plan.memory}; "
            f"SLO p95 <= {the_plan.slo_p95_ms:g} ms, errors <= {the_plan.error_budget:.1%}; about "
            f"{_eta(estimate)} of load; output {out_dir}/",
            markup=False,
        )
        try:
            if cluster.given:
                result, the_plan = measure_cluster(
                    the_plan, cluster, outputs, out_dir, console, run_id=new_run_id(),
                    step_given=step_given(step_duration, plan), progress=ProgressView,
                )  # fmt: skip
            else:
                result = measure_locally(the_plan, out_dir, console, keep_up=keep_up)
            cancel.check()
        except Interrupted as e:
            kept = _count_lines(measurements)
            err.print(
                f"interrupted ({signal.Signals(e.signum).name}): every process was stopped and "
                f"every cgroup removed; {kept} finished step(s) kept in {measurements}"
                + (f" (`capacity model {measurements}` builds a report from them)" if kept else ""),
                markup=False,
            )
            raise typer.Exit(128 + e.signum) from None
        except TargetError as e:
            kept = _count_lines(measurements)
            err.print(f"error: {e}", markup=False)
            err.print(
                f"the run stopped; every process was stopped; {kept} finished step(s) kept in "
                f"{measurements}; logs in {out_dir / 'logs'}",
                markup=False,
            )
            raise typer.Exit(1) from None
        except KitError as e:
            err.print(f"error: {e}", markup=False)
            raise typer.Exit(1) from None

        try:
            console.print("modelling the measurements and writing the report ...")
            from capacity.report import build_report  # matplotlib loads only here

            path = build_report(measurements, out_dir, slo=plan_slo(the_plan))
            if cluster.given:
                write_this_cluster(measurements, out_dir, the_plan, console)
            cancel.check()
        except Interrupted as e:
            err.print(f"interrupted while writing the report; measurements kept in {measurements}")
            raise typer.Exit(128 + e.signum) from None
        except KitError as e:
            err.print(f"error: {e}", markup=False)
            raise typer.Exit(1 if not isinstance(e, ConfigError) else 2) from None
    console.print(
        f"{len(result.records)} steps measured. Report: {path / 'report.html'} "
        f"(also report.md, results.json; measurements in {measurements})",
        markup=False,
    )
