"""`capacity report` on this machine: the pre-flight checks, and the local target of the run.

`preflight` checks everything that can be checked before a process starts; `local_target`
gives the target that `capacity.measure.measure` runs the plan on, with run.json written before
anything starts and the processes' logs kept afterwards. The cluster counterpart is
capacity/commands/report_cluster.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from capacity.errors import ConfigError
from capacity.interrupts import signals_deferred
from capacity.measure import MEASUREMENTS_FILE
from capacity.plan import Plan
from capacity.pod_shape import SweepShape
from capacity.target.hostcpu import pod_cores
from capacity.target.local import LocalTarget, find_prometheus
from capacity.target.process import port_is_free
from capacity.target.services import service_dir

RUN_FILE = "run.json"


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


def check_shapes_fit(shapes: Iterable[SweepShape], replicas: int, available: Iterable[int]) -> None:
    """Refuse, before anything starts, a sweep shape whose pods need more CPU than the cores
    this machine pins the pods to (capacity/target/hostcpu.py `split_cores`)."""
    cores = pod_cores(available)
    for shape in shapes:
        needed = replicas * shape.cpu_millicores
        if needed > cores * 1000:
            raise ConfigError(
                f"--pod-shapes {shape}: {replicas} pod(s) of {shape.cpu} CPU need {needed}m, "
                f"more than this machine's {cores} pod core(s) ({cores * 1000}m; the pods get "
                "every usable core but one, which runs PostgreSQL, Locust and Prometheus); "
                "drop the shape, lower --replicas, or measure on a machine with more cores"
            )


@contextlib.contextmanager
def local_target(plan: Plan, out_dir: Path, run_id: str) -> Iterator[LocalTarget]:
    """The local target of a run, its work directory recorded in run.json before anything
    starts (so a killed run can be found), its processes' logs kept in the report directory."""
    workdir = Path(tempfile.mkdtemp(prefix=f"fwcap-{run_id}-"))
    run_file = out_dir / RUN_FILE
    run_file.write_text(
        json.dumps({"run_id": run_id, "workdir": str(workdir), "pid": os.getpid()}, indent=2) + "\n"
    )
    try:
        yield LocalTarget(
            plan.frameworks,
            plan.replicas,
            plan.pod_shape(),
            workdir,
            scrape_interval_s=plan.scrape_interval_s,
            locust_workers=plan.locust_workers,
            prometheus_port=plan.prometheus_port,
            locust_port=plan.locust_port,
            run_id=run_id,
            manifest_path=run_file,
        )
    finally:
        with signals_deferred():
            _keep_logs(workdir, out_dir)


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
