"""The local target: the whole measured system on this machine, on loopback, in a work dir.

Entering `LocalTarget` starts, each on a free 127.0.0.1 port: PostgreSQL (one database per
framework, migrated and seeded by the services' own launchers), the upstream stub, `replicas`
pods per framework (the real server command line, each inside its own cgroup with the pod
shape's CPU quota and memory limit), the Locust master and workers (each in an unlimited cgroup
so their CPU is measured), the pod exporter (cAdvisor's series from those cgroups) and
Prometheus (the real binary, config rendered from the template shared with the cluster).
Leaving it stops every process and removes every cgroup, on success, error and Ctrl-C.

How each part maps to Kubernetes is written up in docs/local-run.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import psutil

from capacity.errors import TargetError
from capacity.interrupts import signals_deferred
from capacity.load.driver import LocustMaster
from capacity.metrics.client import wait_for_targets
from capacity.metrics.prometheus_config import ServiceTarget, render_prometheus_config
from capacity.target.base import (
    LOCAL_NAMESPACE,
    Endpoints,
    PodInfo,
    PodShape,
    StepInstruments,
    StopsOnExit,
)
from capacity.target.cgroups import (
    CgroupManager,
    CgroupUnavailable,
    PodCgroup,
    new_manager,
)
from capacity.target.cpuspeed import InterpreterProbe
from capacity.target.grafana import local_grafana
from capacity.target.hostcpu import (
    CoreSplit,
    HostSample,
    host_sampler,
    pin_tree,
    process_tree_cpu_s,
    split_cores,
)
from capacity.target.pod_exporter import ExportedContainer, PodExporter, start_pod_exporter
from capacity.target.postgres import start_postgres
from capacity.target.process import (
    ManagedProcess,
    ProcessError,
    ProcessGroup,
    free_port,
    log_tail,
    port_is_free,
    stop_side_by_side,
    wait_http_ok,
)
from capacity.target.services import (
    ServiceHandle,
    run_launcher_command,
    start_service,
    start_stub,
    wait_healthy,
)

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from capacity.plan import Plan

LOCUSTFILE = Path(__file__).resolve().parents[1] / "load" / "locustfile.py"
PROMETHEUS_BINARY = "prometheus"
PROMETHEUS_INSTALL_HINT = (
    "install it with `apt-get install prometheus` (Debian/Ubuntu; `make report` does this for "
    "you) or `brew install prometheus`, or put a `prometheus` binary on PATH"
)
READY_TIMEOUT_S = 90.0


def find_prometheus() -> str:
    """The Prometheus server binary on PATH, or a TargetError saying how to install it."""
    path = shutil.which(PROMETHEUS_BINARY)
    if path is None:
        raise TargetError(f"the `prometheus` binary is not on PATH; {PROMETHEUS_INSTALL_HINT}")
    return path


class PortPicker:
    """Free loopback ports chosen up front, each at most once, outside the ephemeral range.

    Ports are picked before their servers bind them (so Prometheus can start first). A port
    from the kernel's ephemeral range could meanwhile become the source port of some outgoing
    connection (a migration, a scrape), and two picks could return the same still-unbound port;
    picking below the ephemeral range, and never twice, rules both out.
    """

    def __init__(self, range_file: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> None:
        self._taken: set[int] = set()
        try:
            ephemeral_low = int(range_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            ephemeral_low = 32768
        self._low, self._high = 10_000, ephemeral_low - 1
        self._random = random.Random()

    def take(self, pinned: int | None = None) -> int:
        if pinned is not None:
            self._taken.add(pinned)
            return pinned
        for _ in range(200):
            port = (
                self._random.randint(self._low, self._high)
                if self._high - self._low > 1000
                else free_port()
            )
            if port not in self._taken and port_is_free(port):
                self._taken.add(port)
                return port
        raise TargetError("no free loopback port found for the local run")


def locust_commands(web_port: int, master_port: int) -> tuple[list[str], list[str]]:
    """argv of the Locust master (web API on 127.0.0.1:`web_port`) and of each worker."""
    base = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--loglevel", "WARNING"]
    master = [
        *base, "--master", "--class-picker", "--web-host", "127.0.0.1", "--web-port",
        str(web_port), "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port),
    ]  # fmt: skip
    worker = [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port)]
    return master, worker


def new_run_id() -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class _PodSetup:
    """What every pod (re)start needs, fixed when the target starts."""

    database_urls: dict[str, str]
    stub_url: str
    ports: dict[str, int]
    cgroups: dict[str, PodCgroup]


class LocalTarget(StopsOnExit):
    """Context manager: `with LocalTarget(...) as endpoints:` runs everything locally."""

    kind: ClassVar[Literal["local", "kube"]] = "local"

    def __init__(
        self,
        frameworks: Sequence[str],
        replicas: int,
        shape: PodShape,
        workdir: Path,
        scrape_interval_s: int = 1,
        locust_workers: int = 1,
        *,
        prometheus_port: int | None = None,
        locust_port: int | None = None,
        run_id: str | None = None,
        manifest_path: Path | None = None,
    ) -> None:
        if replicas < 1:
            raise TargetError(f"replicas must be at least 1, got {replicas}")
        if locust_workers < 1:
            raise TargetError(f"locust_workers must be at least 1, got {locust_workers}")
        self.frameworks = list(frameworks)
        self.replicas = replicas
        self.shape = shape
        self.workdir = Path(workdir)
        self.scrape_interval_s = scrape_interval_s
        self.locust_workers = locust_workers
        self.prometheus_port = prometheus_port
        self.locust_port = locust_port
        self.run_id = run_id or new_run_id()
        self.manifest_path = manifest_path  # run.json: what was started, written once started
        self.group = ProcessGroup(self.workdir / "logs")
        self.ports = PortPicker()
        self.cgroups: CgroupManager | None = None
        self.cgroup_warning: str | None = None
        self.exporter: PodExporter | None = None
        self.endpoints: Endpoints | None = None
        self._pod_processes: dict[str, ManagedProcess] = {}
        self._helpers: dict[str, ManagedProcess] = {}
        self.core_split: CoreSplit | None = None
        self._support_cgroups: dict[str, PodCgroup] = {}
        self._pod_cgroups: dict[str, PodCgroup] = {}
        self._pod_setup: _PodSetup | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Endpoints:
        try:
            self.endpoints = self._start()
            if self.manifest_path is not None:
                self.manifest_path.write_text(json.dumps(self.manifest(), indent=2) + "\n")
        except BaseException:
            self.stop()
            raise
        return self.endpoints

    def stop(self) -> None:
        """Stop every process and remove every cgroup (idempotent)."""
        with signals_deferred():
            if self.exporter is not None:
                with contextlib.suppress(Exception):
                    self.exporter.stop()
                self.exporter = None
            self.group.stop_all()
            if self.cgroups is not None:
                problems = self.cgroups.remove_all()
                if problems:
                    log.warning("could not remove cgroups: %s", "; ".join(problems))
                self.cgroups = None

    # -- start-up ----------------------------------------------------------------------------

    def _start(self) -> Endpoints:
        prometheus_binary = find_prometheus()
        self.workdir.mkdir(parents=True, exist_ok=True)
        pod_cgroups, locust_cgroups, support_cgroups = self._make_cgroups()
        # Every address is chosen up front so Prometheus can start first: it waits ~5 s before
        # its first scrape (its discovery batching), which then overlaps the rest of start-up.
        pod_ports = {name: self.ports.take() for _fw, name in self._pod_names()}
        locust_web_port = self.ports.take(self.locust_port)
        locust_url = f"http://127.0.0.1:{locust_web_port}"
        self.exporter = start_pod_exporter([], port=self.ports.take())
        prometheus_url = self._start_prometheus(prometheus_binary, pod_ports, locust_url)

        log.info("starting PostgreSQL")
        pg = start_postgres(self.group, self.workdir)
        self._helpers["postgres"] = pg.process
        self._adopt("postgres", pg.process.pid, support_cgroups)
        database_urls = {fw: pg.create_database(f"fwcap_{fw}") for fw in self.frameworks}
        log.info("migrating and seeding %s; starting the upstream stub", ", ".join(self.frameworks))
        stub_url = self._prepare_databases_and_stub(database_urls, support_cgroups)

        self._spawn_locust(locust_web_port, locust_cgroups)  # it starts while the pods do
        pods = self._start_pods(database_urls, stub_url, pod_ports, pod_cgroups)
        self._wait_locust(locust_url)
        for p in pods:
            cg = pod_cgroups.get(p.name)
            self.exporter.collector.add(
                ExportedContainer(LOCAL_NAMESPACE, p.name, p.framework, cg, p.pid)
            )
        for name in self._locust_names():
            cg = locust_cgroups.get(name)
            self.exporter.collector.add(
                ExportedContainer(LOCAL_NAMESPACE, name, "locust", cg, self._helpers[name].pid)
            )
        wait_for_targets(prometheus_url, ["services", "cadvisor", "loadgen"], timeout_s=30)
        grafana_url = local_grafana(self.group, self.workdir, prometheus_url)
        log.info("Prometheus %s, Locust %s", prometheus_url, locust_url)
        self._support_cgroups = support_cgroups
        self._pin(pods)
        for pod in pods:
            log.info(
                "pod %s: %s pid %s cgroup %s",
                pod.name, pod.base_url, pod.pid, pod.cgroup or "(none: limits not enforced)",
            )  # fmt: skip
        return Endpoints(
            service_urls={
                fw: [p.base_url for p in pods if p.framework == fw] for fw in self.frameworks
            },
            prometheus_url=prometheus_url,
            locust_url=locust_url,
            namespace=LOCAL_NAMESPACE,
            pods=pods,
            grafana_url=grafana_url,
        )

    def _pod_names(self) -> list[tuple[str, str]]:
        return [(fw, f"{fw}-{i}") for fw in self.frameworks for i in range(self.replicas)]

    def _locust_names(self) -> list[str]:
        return ["locust-master", *(f"locust-worker-{i}" for i in range(self.locust_workers))]

    def _make_cgroups(
        self,
    ) -> tuple[dict[str, PodCgroup], dict[str, PodCgroup], dict[str, PodCgroup]]:
        """All cgroups up front: either every one works or the run goes on without limits.

        Pods get the pod shape's limits; Locust processes, PostgreSQL and the stub get none
        (only the kit's CPU weight, so a busy machine starves none of the measured system).
        """
        try:
            manager = new_manager(self.run_id)
            self.cgroups = manager
            pods = {
                name: manager.create(
                    name,
                    cpu_millicores=self.shape.cpu_millicores,
                    memory_bytes=self.shape.memory_bytes,
                )
                for _fw, name in self._pod_names()
            }
            locust = {
                name: manager.create(name, cpu_millicores=None, memory_bytes=None)
                for name in self._locust_names()
            }
            support = {
                name: manager.create(name, cpu_millicores=None, memory_bytes=None)
                for name in ("postgres", "upstream-stub")
            }
            return pods, locust, support
        except CgroupUnavailable as e:
            if self.cgroups is not None:
                self.cgroups.remove_all()
                self.cgroups = None
            self.cgroup_warning = (
                f"cgroups cannot be used here ({e}); pods run WITHOUT CPU and memory limits and "
                "the report says so"
            )
            log.warning("%s", self.cgroup_warning)
            return {}, {}, {}

    def _adopt(self, name: str, pid: int, cgroups: dict[str, PodCgroup]) -> None:
        """Move a started process and its children into its cgroup (new children inherit it)."""
        cg = cgroups.get(name)
        if cg is None:
            return
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(OSError):
                    cg.attach(proc.pid)
        except psutil.Error:
            pass

    def _prepare_databases_and_stub(
        self, database_urls: dict[str, str], support_cgroups: dict[str, PodCgroup]
    ) -> str:
        """Migrate and seed every framework's database and start the stub, all at once."""

        def prepare(fw: str) -> None:
            run_launcher_command(fw, ("migrate", "seed"), {"DATABASE_URL": database_urls[fw]})

        # Only the migrations (short launcher subprocesses) run in threads. Every long-lived
        # process is started from this (main) thread: ProcessGroup gives its children a parent-death
        # signal, which the kernel fires when the *thread* that started them ends.
        with ThreadPoolExecutor(max_workers=len(self.frameworks)) as pool:
            futures = [pool.submit(prepare, fw) for fw in self.frameworks]
            stub_port = self.ports.take()
            stub_url = start_stub(self.group, stub_port)
            self._helpers["upstream-stub"] = next(
                p for p in self.group.processes if p.name == f"upstream-stub-{stub_port}"
            )
            self._adopt("upstream-stub", self._helpers["upstream-stub"].pid, support_cgroups)
            for future in futures:
                future.result()
        return stub_url

    def _start_pods(
        self,
        database_urls: dict[str, str],
        stub_url: str,
        ports: dict[str, int],
        cgroups: dict[str, PodCgroup],
    ) -> list[PodInfo]:
        self._pod_setup = _PodSetup(database_urls, stub_url, ports, cgroups)
        names = self._pod_names()
        log.info("starting pods %s", ", ".join(name for _fw, name in names))
        # One after the other, from the main thread (see _prepare_databases_and_stub).
        return [self._start_pod(fw, name) for fw, name in names]

    def _start_pod(self, fw: str, name: str) -> PodInfo:
        setup = self._pod_setup
        assert setup is not None, "_start_pods sets up the pods first"
        cg = setup.cgroups.get(name)
        if cg is not None:
            # Start-up boost: the server imports its framework without the CPU quota (as
            # with Kubernetes' in-place resize) and gets it back once ready, before any
            # load; under a 500m quota a Django pod took twice as long to start.
            cg.set_cpu_quota(None)
        try:
            return self._ready_pod(self._launch_pod(fw, name))
        finally:
            if cg is not None:
                cg.set_cpu_quota(self.shape.cpu_millicores)

    def _launch_pod(self, fw: str, name: str) -> ServiceHandle:
        """The pod's server process, started in its cgroup; not yet ready."""
        setup = self._pod_setup
        assert setup is not None, "_start_pods sets up the pods first"
        cg = setup.cgroups.get(name)
        handle = start_service(
            self.group,
            fw,
            name=name,
            port=setup.ports[name],
            database_url=setup.database_urls[fw],
            upstream_url=setup.stub_url,
            cpu_limit_millicores=self.shape.cpu_millicores,
            workers=self.shape.workers,
            threads=self.shape.threads,
            extra_env={},
            preexec_fn=cg.preexec_fn() if cg else None,
            wait=False,
        )
        self._pod_processes[name] = handle.process
        if cg is not None:
            self._pod_cgroups[name] = cg
        return handle

    def _ready_pod(self, handle: ServiceHandle) -> PodInfo:
        """Once the pod's server is healthy and ready: what the run knows of it."""
        try:
            wait_healthy(handle)
            wait_http_ok(handle.url("/readyz"), handle.process, timeout_s=READY_TIMEOUT_S)
        except ProcessError as e:
            raise TargetError(f"pod {handle.name} did not become ready: {e}") from e
        cg = self._pod_cgroups.get(handle.name)
        return PodInfo(
            name=handle.name,
            framework=handle.framework,
            base_url=handle.base_url,
            pid=handle.process.pid,
            cgroup=cg.relative_path if cg else None,
            cpu_limit_millicores=self.shape.cpu_millicores,
            memory_limit_bytes=self.shape.memory_bytes,
            limits_enforced=cg is not None,
        )

    def restart_pods(self) -> None:
        """Fresh server processes in every pod (same ports, cgroups and cores), so each round
        of a run samples new processes: a Python process's speed varies from one start to the
        next (hash randomisation, memory layout), which one process per run would sample once.
        """
        if self.endpoints is None:
            raise TargetError("restart_pods before the target was entered")
        pods = self.endpoints.pods
        stop_side_by_side([self._pod_processes[pod.name] for pod in pods])
        # Under their quotas (once measuring has begun, a pod never runs above its limit) but
        # side by side: each pod's quota is its own, so they start in the time of the slowest.
        # Both pods took 12.1 s to restart one after the other, 7.35 s side by side (medians of
        # 5, alternating, scripts/bench_pod_restart.py, 2026-12-08): about 19 s of a 5-round run
        # go back to its steps.
        # Started from this thread (see _prepare_databases_and_stub), then waited for.
        handles = [self._launch_pod(pod.framework, pod.name) for pod in pods]
        for i, handle in enumerate(handles):
            new = self._ready_pod(handle)
            pods[i] = new  # the run holds these Endpoints: same URLs, new pids
            if self.exporter is not None:
                cg = self._pod_cgroups.get(new.name)
                self.exporter.collector.add(
                    ExportedContainer(LOCAL_NAMESPACE, new.name, new.framework, cg, new.pid)
                )
            if self.core_split is not None and new.pid is not None:
                pin_tree(new.pid, self.core_split.pod_cpus)
        log.info("pods restarted: %s", ", ".join(f"{p.name} pid {p.pid}" for p in pods))

    def _spawn_locust(self, web_port: int, cgroups: dict[str, PodCgroup]) -> None:
        log.info("starting Locust (master + %d worker(s))", self.locust_workers)
        master_argv, worker_argv = locust_commands(web_port, self.ports.take())
        env = {"PYTHONUNBUFFERED": "1"}
        master_cg = cgroups.get("locust-master")
        self._helpers["locust-master"] = self.group.start(
            "locust-master",
            master_argv,
            env=env,
            preexec_fn=master_cg.preexec_fn() if master_cg else None,
        )
        for i in range(self.locust_workers):
            name = f"locust-worker-{i}"
            cg = cgroups.get(name)
            self._helpers[name] = self.group.start(
                name, worker_argv, env=env, preexec_fn=cg.preexec_fn() if cg else None
            )

    def _wait_locust(self, url: str) -> None:
        master = self._helpers["locust-master"]
        try:
            wait_http_ok(url + "/stats/requests", master, timeout_s=60)
        except ProcessError as e:
            raise TargetError(f"the Locust master did not start: {e}") from e
        master_api = LocustMaster(url)
        try:
            master_api.wait_ready(self.locust_workers, timeout_s=60)
        except TargetError:
            self.check_pods()  # a worker that died says more than "not ready"
            raise
        finally:
            master_api.close()

    def _start_prometheus(self, binary: str, pod_ports: dict[str, int], locust_url: str) -> str:
        log.info("starting Prometheus")
        assert self.exporter is not None
        config = render_prometheus_config(
            mode="local",
            namespace=LOCAL_NAMESPACE,
            scrape_interval_s=self.scrape_interval_s,
            service_targets=[
                ServiceTarget(f"127.0.0.1:{pod_ports[name]}", name, fw)
                for fw, name in self._pod_names()
            ],
            pod_exporter_address=self.exporter.address,
            loadgen_address=locust_url.removeprefix("http://"),
        )
        config_path = self.workdir / "prometheus.yml"
        config_path.write_text(config)
        port = self.ports.take(self.prometheus_port)
        proc = self.group.start(
            "prometheus",
            [binary, f"--config.file={config_path}",
             f"--storage.tsdb.path={self.workdir / 'prometheus-data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1d",
             "--log.level=warn"],
        )  # fmt: skip
        self._helpers["prometheus"] = proc
        url = f"http://127.0.0.1:{port}"
        try:
            wait_http_ok(url + "/-/ready", proc, timeout_s=60)
        except ProcessError as e:
            raise TargetError(f"Prometheus did not start: {e}") from e
        return url

    def _pin(self, pods: list[PodInfo]) -> None:
        """The pods on their own core(s), everything else the kit started on the others."""
        needed = self.replicas * self.shape.cpu_millicores / 1000
        self.core_split = split_cores(os.sched_getaffinity(0), needed)
        if self.core_split is None:
            log.info("one usable core: the pods share it with PostgreSQL, Locust and Prometheus")
            return
        for p in pods:
            if p.pid is not None:
                pin_tree(p.pid, self.core_split.pod_cpus)
        for proc in self._helpers.values():
            pin_tree(proc.pid, self.core_split.other_cpus)
        log.info(
            "pods pinned to CPU(s) %s; PostgreSQL, the stub, Locust and Prometheus to CPU(s) %s",
            sorted(self.core_split.pod_cpus),
            sorted(self.core_split.other_cpus),
        )

    def host_sampler(self) -> Callable[[], HostSample | None] | None:
        """Reads the non-pod cores' and PostgreSQL's CPU (None when nothing is isolated)."""
        if self.core_split is None:
            return None
        pg_cgroup = self._support_cgroups.get("postgres")
        pg = self._helpers.get("postgres")

        def postgres_cpu_s() -> float | None:
            if pg_cgroup is not None:
                try:
                    return pg_cgroup.read().cpu_usage_seconds
                except (OSError, ValueError):
                    pass
            return process_tree_cpu_s(pg.pid) if pg is not None else None

        return host_sampler(
            self.core_split.other_cpus, postgres_cpu_s, self.core_split.pod_cpus, self.pods_cpu_s
        )

    def pods_cpu_s(self) -> float | None:
        """Every pod's cumulative CPU-seconds, summed (its cgroup, else its process tree)."""
        total = 0.0
        for name, proc in self._pod_processes.items():
            cg = self._pod_cgroups.get(name)
            try:
                value = cg.read().cpu_usage_seconds if cg is not None else None
            except (OSError, ValueError):
                value = None
            if value is None:
                value = process_tree_cpu_s(proc.pid)
            if value is None:
                return None
            total += value
        return total

    # -- what the driver asks of a target -----------------------------------------------------

    def fitted_plan(self, plan: Plan) -> Plan:
        return plan  # the local target runs any valid plan as it is

    def platform_details(self, plan: Plan) -> dict[str, Any]:
        from capacity.report.platform import cpu_placement, interpreter_build, this_machine
        from capacity.target.services import pod_python

        details = this_machine()
        # What the pods ran on: their interpreter's build and where their CPUs were.
        details.update(interpreter_build(pod_python()))
        pods = self.endpoints.pods if self.endpoints is not None else []
        details["cpu_placement"] = cpu_placement([pod.pid for pod in pods if pod.pid is not None])
        details.update(
            target="local",
            run_id=self.run_id,
            limits_enforced=self.cgroups is not None,
            limits_note=self.cgroup_warning
            or "pods ran in cgroups with CFS quota and memory limit",
            locust_workers=plan.locust_workers,
            scrape_interval_s=plan.scrape_interval_s,
            pod_cpus=sorted(self.core_split.pod_cpus) if self.core_split else None,
            other_cpus=sorted(self.core_split.other_cpus) if self.core_split else None,
            pod_processes=(
                f"restarted before each later round: {plan.rounds} processes per pod"
                if plan.rounds > 1
                else "one process per pod for the whole run"
            ),
        )
        return details

    @contextlib.contextmanager
    def instruments(self, endpoints: Endpoints) -> Iterator[StepInstruments]:
        """The core-speed probe on the pods' core(s) and on the others, and the host's CPU
        sampler."""
        pod_cpus = sorted(self.core_split.pod_cpus) if self.core_split else []
        other_cpus = sorted(self.core_split.other_cpus) if self.core_split else []
        with InterpreterProbe(pod_cpus) as probe, InterpreterProbe(other_cpus) as support:
            yield StepInstruments(
                host_cpu=self.host_sampler(), cpu_probe=probe.measure,
                support_probe=support.measure if other_cpus else None,
                pods_cpu_s=self.pods_cpu_s,
            )  # fmt: skip

    def between_rounds(self) -> None:
        self.restart_pods()

    def write_extras(self, out_dir: Path) -> None:
        return None  # platform.json says all there is about this machine

    # -- while running -----------------------------------------------------------------------

    def check_pods(self) -> None:
        """Raise TargetError naming the first pod (then helper) whose process has ended."""
        for name, proc in self._pod_processes.items():
            if not proc.alive():
                raise TargetError(
                    f"pod {name} crashed: its server (pid {proc.pid}) exited with code "
                    f"{proc.popen.poll()}; last log lines ({proc.log_path}):\n"
                    f"{log_tail(proc.log_path)}"
                )
        for name, proc in self._helpers.items():
            if not proc.alive():
                raise TargetError(f"{name} stopped during the run: {proc.describe_exit()}")

    def manifest(self) -> dict[str, Any]:
        """What this run started (for logs and for tests that check nothing is left behind)."""
        cgroup_dirs: list[str] = []
        if self.cgroups is not None:
            for cg in self.cgroups.created:
                cgroup_dirs += [str(d) for d in cg.dirs.values()]
        return {
            "run_id": self.run_id,
            "workdir": str(self.workdir),
            "limits_enforced": self.cgroups is not None,
            "cgroup_warning": self.cgroup_warning,
            "cgroup_dirs": sorted(set(cgroup_dirs)),
            "processes": {p.name: p.pid for p in self.group.processes},
            "pods": [asdict(p) for p in (self.endpoints.pods if self.endpoints else [])],
            "pod_cpus": sorted(self.core_split.pod_cpus) if self.core_split else None,
            "other_cpus": sorted(self.core_split.other_cpus) if self.core_split else None,
        }
