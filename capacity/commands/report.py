"""`capacity report`: measure both frameworks (here, or on a cluster), then write the report.

Order of events: validate every option and check the machine (pre-flight) before anything
starts; start the target; run the plan with a live progress display, appending each finished
step to measurements.jsonl; stop everything; model the measurements into the report.
Ctrl-C (or SIGTERM) at any point stops every process, removes every cgroup, keeps the finished
steps and exits 130 (143); a pod that crashes is named with its log tail and exits 1.

The options are declared once, here: each plan option is named after its `Plan` field, shows
that field's default, and reaches `build_plan` with the flag it was given as. The run's
machinery (targets, load, report) is imported only once a run starts, so `--help` stays quick.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from capacity.commands.common import narration
from capacity.errors import ConfigError, TargetError
from capacity.frameworks import DJANGO_THREADS
from capacity.interrupts import Interrupted, cancellation
from capacity.load.scenarios import SCENARIOS
from capacity.plan import Plan, build_plan, sweep_plans
from capacity.plan import field_default as default
from capacity.pod_shape import parse_pod_shapes, shape_folder

CLUSTER_PANEL = "Cluster (instead of the local run; docs/cluster-mode.md)"


def shown_default(field: str) -> str:
    """`[default: a,b]` for a list field, escaped: rich help would take it for a style tag."""
    return escape(f"[default: {','.join(default(field))}]")


def plan_options(ctx: typer.Context) -> tuple[dict[str, Any], dict[str, str]]:
    """The plan fields among the command's options: their values and the flags they are."""
    options = [p for p in ctx.command.params if p.name in Plan.model_fields]
    return (
        {str(p.name): ctx.params[str(p.name)] for p in options},
        {str(p.name): p.opts[0] for p in options},
    )


@contextmanager
def explained(
    interrupted: Callable[[Interrupted], str], failed: Callable[[], str] | None = None
) -> Iterator[None]:
    """Add what a stage kept (or left) to a Ctrl-C or a target failure on its way out; the one
    error rule (commands/common.py) prints it and picks the exit code."""
    try:
        yield
    except Interrupted as e:
        e.add_note(interrupted(e))
        raise
    except TargetError as e:
        if failed is not None:
            e.add_note(failed())
        raise


def _holds_files(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_file() for p in folder.rglob("*"))


def _count_lines(path: Path) -> int:
    try:
        return sum(1 for line in path.read_text().splitlines() if line.strip())
    except OSError:
        return 0


def report(
    ctx: typer.Context,
    frameworks: Annotated[
        str | None,
        typer.Option(
            help=f"Comma-separated frameworks {shown_default('frameworks')}; the lean variants "
            "django-lean, fastapi-lean measure the framework without its ORM/serializer; "
            "django-async is Django's async views under uvicorn."
        ),
    ] = None,
    scenarios: Annotated[
        str | None,
        typer.Option(
            help=f"Comma-separated scenarios: {', '.join(SCENARIOS)} {shown_default('scenarios')}."
        ),
    ] = None,
    cpu: Annotated[
        str | None, typer.Option(help=f"CPU limit per pod: 500m, 0.5, 1 [{default('cpu')}].")
    ] = None,
    memory: Annotated[
        str | None, typer.Option(help=f"Memory limit per pod: 512Mi, 1Gi [{default('memory')}].")
    ] = None,
    replicas: Annotated[
        int | None, typer.Option(help=f"Pods per framework [{default('replicas')}].")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Server processes per pod [from --cpu].")
    ] = None,
    pod_shapes: Annotated[
        str | None,
        typer.Option(
            "--pod-shapes",
            help="Measure each framework at each of these shapes instead of --cpu/--workers: "
            "CPU limits, each optionally CPU:WORKERS (250m,500m,1000m:2); one full run per "
            "shape, and the report picks each framework's cheapest shape.",
        ),
    ] = None,
    threads: Annotated[
        int | None, typer.Option(help=f"Threads per Django worker [{DJANGO_THREADS}].")
    ] = None,
    slo_p95_ms: Annotated[
        float | None, typer.Option(help=f"p95 latency SLO, ms [{default('slo_p95_ms'):g}].")
    ] = None,
    error_budget: Annotated[
        float | None, typer.Option(help=f"Error ratio budget [{default('error_budget'):g}].")
    ] = None,
    step_duration_s: Annotated[
        float | None,
        typer.Option(
            "--step-duration",
            help=f"Seconds per load step, {default('settle_s'):g} s settle included "
            f"[{default('step_duration_s'):g}].",
        ),
    ] = None,
    warmup_s: Annotated[
        float | None,
        typer.Option("--warmup", help=f"Warm-up seconds per search [{default('warmup_s'):g}]."),
    ] = None,
    rounds: Annotated[
        int | None,
        typer.Option(
            help=f"Times each search runs, on fresh pod processes [{default('rounds')}; "
            "--quick: 1]."
        ),
    ] = None,
    time_budget_s: Annotated[
        float | None,
        typer.Option(
            "--time-budget",
            help="Seconds of measuring after which no later round starts "
            f"[{default('time_budget_s'):g}].",
        ),
    ] = None,
    locust_workers: Annotated[
        int | None, typer.Option(help=f"Locust worker processes [{default('locust_workers')}].")
    ] = None,
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
    # Cluster mode (capacity/commands/report_cluster.py); none given: the local run.
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
    from capacity.commands.local_run import (
        check_out_dir,
        check_shapes_fit,
        default_out_dir,
        local_target,
        preflight,
    )
    from capacity.commands.progress import ProgressView, format_eta
    from capacity.commands.report_cluster import (
        cluster_preflight,
        cluster_target,
        step_given,
        write_this_cluster,
    )
    from capacity.measure import MEASUREMENTS_FILE, PLATFORM_FILE, measure
    from capacity.run import plan_slo
    from capacity.target.k8s.options import ClusterOptions
    from capacity.target.local import new_run_id

    console = narration
    cli, flags = plan_options(ctx)
    out_dir = out or default_out_dir()
    measurements = out_dir / MEASUREMENTS_FILE
    cluster = ClusterOptions(stack, kubeconfig, context, namespace, prometheus_url, locust_url)
    outputs = None
    shape_dir = out_dir  # where a run keeps its run.json and logs: a sweep's shape's own folder

    def kept() -> str:
        steps = _count_lines(measurements)
        if not steps:
            return "no step had finished, so nothing was kept"
        return f"{steps} finished step(s) kept in {measurements}"

    def before_run(_e: Interrupted) -> str:
        return "interrupted before the run started; nothing was started"

    def during_run(e: Interrupted) -> str:
        hint = f" (`capacity model {measurements}` builds a report from them)"
        return (
            f"interrupted ({signal.Signals(e.signum).name}): every process was stopped and "
            f"every cgroup removed; {kept()}" + (hint if _count_lines(measurements) else "")
        )

    def run_failed() -> str:
        logs = shape_dir / "logs"
        where = f"; logs in {logs}" if _holds_files(logs) else ""
        return f"the run stopped; every process was stopped; {kept()}{where}"

    def during_report(_e: Interrupted) -> str:
        return f"interrupted while writing the report; measurements kept in {measurements}"

    # A folder this run made and left without a single file (it failed or was stopped before
    # anything was written) is removed, so a failed start leaves nothing behind to clean up.
    created = not out_dir.exists()
    try:
        # Signals only set `cancel`; the run raises Interrupted at its next wait, and each
        # `cancel.check()` below catches a signal that arrived after the last wait of a stage.
        with cancellation() as cancel:
            with explained(before_run):
                the_plan = build_plan(cli=cli, plan_file=plan, quick=quick, flags=flags)
                shapes = None if pod_shapes is None else parse_pod_shapes(pod_shapes)
                if keep_up and cluster.given:
                    raise ConfigError(
                        "--keep-up keeps a local run's Prometheus and Grafana up after its last "
                        "step: a cluster's stay up anyway; drop --keep-up or the cluster options"
                    )
                plans = [the_plan]
                if shapes is not None:
                    if cluster.given:
                        raise ConfigError(
                            "--pod-shapes measures local pods only: a cluster's pods have the "
                            "shape its stack deployed; drop --pod-shapes or the cluster options"
                        )
                    if cpu is not None or workers is not None:
                        raise ConfigError(
                            "--pod-shapes sets each shape's CPU and workers; drop --cpu and "
                            "--workers (write a shape's workers as CPU:WORKERS, e.g. 1000m:2)"
                        )
                    plans = sweep_plans(the_plan, shapes)
                    check_shapes_fit(shapes, the_plan.replicas, os.sched_getaffinity(0))
                if cluster.given:
                    outputs = cluster_preflight(cluster)
                    check_out_dir(out_dir)
                else:
                    preflight(the_plan, out_dir)
                cancel.check()

            combos = the_plan.combos()
            estimate = len(plans) * len(combos) * the_plan.scenario_estimate_s()
            cpus = the_plan.cpu if shapes is None else f"each of {','.join(map(str, shapes))}"
            console.print(
                f"capacity run: {', '.join(the_plan.frameworks)} x "
                f"{', '.join(the_plan.scenarios)}; "
                f"{the_plan.replicas} pod(s) each at {cpus} CPU / {the_plan.memory}; "
                f"SLO p95 <= {the_plan.slo_p95_ms:g} ms, "
                f"errors <= {the_plan.error_budget:.1%}; about "
                f"{format_eta(estimate)} of load; output {out_dir}/",
                markup=False,
            )
            # A sweep runs the one driver once per shape: every shape's steps go to the one
            # measurements.jsonl (each record carries its shape), its run.json, logs and
            # platform.json to its own shapes/<cpu>x<workers>/.
            steps = 0
            for number, shape_plan in enumerate(plans, 1):
                if shapes is not None:
                    shape = shape_plan.pod_shape()
                    shape_dir = out_dir / shape_folder(
                        shape.cpu_millicores, shape.effective_workers()
                    )
                    shape_dir.mkdir(parents=True, exist_ok=True)
                    console.print(
                        f"pod shape {shape_plan.cpu} CPU, {shape.effective_workers()} "
                        f"worker(s) ({number} of {len(plans)})",
                        markup=False,
                    )
                with explained(during_run, run_failed), contextlib.ExitStack() as scope:
                    run_id = new_run_id()
                    if cluster.given:
                        target = cluster_target(
                            shape_plan, cluster, outputs,
                            step_given=step_given(step_duration_s, plan),
                        )  # fmt: skip
                    else:
                        target = scope.enter_context(local_target(shape_plan, shape_dir, run_id))
                    measured = measure(
                        shape_plan, target, out_dir, console, run_id=run_id, quick=quick,
                        keep_up=keep_up and number == len(plans),
                        progress=lambda: ProgressView(console),
                    )  # fmt: skip
                    steps += len(measured.result.records)
                    the_plan = measured.plan
                    if shape_dir != out_dir:
                        shutil.copy2(out_dir / PLATFORM_FILE, shape_dir / PLATFORM_FILE)
                    cancel.check()

            with explained(during_report):
                console.print("modelling the measurements and writing the report ...")
                from capacity.report import build_report  # matplotlib loads only here

                path = build_report(measurements, out_dir, slo=plan_slo(the_plan))
                if cluster.given:
                    write_this_cluster(measurements, out_dir, the_plan, console)
                cancel.check()
    finally:
        if created and out_dir.is_dir() and not _holds_files(out_dir):
            shutil.rmtree(out_dir, ignore_errors=True)
    console.print(
        f"{steps} steps measured. Report: {path / 'report.html'} "
        f"(also report.md, results.json; measurements in {measurements})",
        markup=False,
    )
