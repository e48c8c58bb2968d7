"""The local stand-in for the kubelet's cAdvisor: pod CPU and memory under cAdvisor's names.

For every local pod (and every Locust process, container="locust") it publishes
`container_cpu_usage_seconds_total`, `container_memory_working_set_bytes`,
`container_cpu_cfs_periods_total`, `container_cpu_cfs_throttled_periods_total`,
`container_spec_cpu_quota`, `container_spec_cpu_period` and `container_spec_memory_limit_bytes`
with `namespace`, `pod` and `container` labels - plus kube-state-metrics'
`kube_pod_container_resource_limits` (`resource` cpu in cores, memory in bytes; only for a limit
that is set, as kube-state-metrics does), which the limit queries read - so the PromQL in
capacity/metrics/queries.py reads local runs and clusters alike. Values come from each pod's
cgroup; where cgroups could not be used they come from the pod's process tree (psutil), with no
quota and no throttling, which is what an unlimited container reports. Like cAdvisor, each
sample carries the time it was read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

import psutil
from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from capacity.target.cgroups import CFS_PERIOD_US, CgroupStats, PodCgroup


@dataclass(frozen=True)
class ExportedContainer:
    """One local container whose resources are published."""

    namespace: str
    pod: str
    container: str
    cgroup: PodCgroup | None  # None: read the process tree rooted at `pid` instead
    pid: int | None = None


@dataclass
class ProcessTreeReader:
    """CPU and memory of a process tree, for machines where cgroups cannot be used.

    CPU time of processes that exited is kept, so the counter never goes backwards when a
    server restarts a worker.
    """

    pid: int
    _last_cpu_s: dict[int, float] = field(default_factory=dict)
    _exited_cpu_s: float = 0.0

    def read(self) -> CgroupStats:
        procs: list[psutil.Process] = []
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            pass
        seen: dict[int, float] = {}
        rss = 0
        for p in procs:
            try:
                t = p.cpu_times()
                seen[p.pid] = t.user + t.system
                rss += p.memory_info().rss
            except psutil.Error:
                continue
        for pid, cpu_s in self._last_cpu_s.items():
            if pid not in seen:
                self._exited_cpu_s += cpu_s
        self._last_cpu_s = seen
        return CgroupStats(
            cpu_usage_seconds=self._exited_cpu_s + sum(seen.values()),
            memory_usage_bytes=rss,  # RSS: the closest per-process figure to a working set
            memory_inactive_file_bytes=0,
            cfs_periods=0,
            cfs_throttled_periods=0,
            cpu_quota_us=-1,
            cpu_period_us=CFS_PERIOD_US,
            memory_limit_bytes=0,
        )


_FAMILIES = (
    ("container_cpu_usage_seconds", "counter", "Cumulative cpu time consumed in seconds."),
    ("container_memory_working_set_bytes", "gauge", "Current working set in bytes."),
    ("container_cpu_cfs_periods", "counter", "Number of elapsed enforcement period intervals."),
    ("container_cpu_cfs_throttled_periods", "counter", "Number of throttled period intervals."),
    ("container_spec_cpu_quota", "gauge", "CPU quota of the container (0: none)."),
    ("container_spec_cpu_period", "gauge", "CPU period of the container."),
    ("container_spec_memory_limit_bytes", "gauge", "Memory limit for the container (0: none)."),
)
_LABELS = ("namespace", "pod", "container")
# kube-state-metrics' name and labels; requests equal limits in the kit, so limits suffice.
KSM_LIMITS = "kube_pod_container_resource_limits"
_KSM_LABELS = (*_LABELS, "resource", "unit")


def _limits(s: CgroupStats) -> list[tuple[str, str, float]]:
    """(resource, unit, value) for each limit the container has."""
    found = []
    if s.cpu_quota_us > 0 and s.cpu_period_us > 0:
        found.append(("cpu", "core", s.cpu_quota_us / s.cpu_period_us))
    if s.memory_limit_bytes > 0:
        found.append(("memory", "byte", float(s.memory_limit_bytes)))
    return found


def _values(s: CgroupStats) -> tuple[float, ...]:
    return (
        s.cpu_usage_seconds,
        float(s.memory_working_set_bytes),
        float(s.cfs_periods),
        float(s.cfs_throttled_periods),
        float(max(0, s.cpu_quota_us)),
        float(s.cpu_period_us),
        float(s.memory_limit_bytes),
    )


class PodMetricsCollector(Collector):
    """A prometheus_client collector reading every container's counters on each scrape."""

    def __init__(self, containers: Sequence[ExportedContainer]) -> None:
        self._containers = list(containers)
        self._trees = {
            c.pod: ProcessTreeReader(c.pid) for c in containers if c.cgroup is None and c.pid
        }
        self._lock = threading.Lock()

    def add(self, container: ExportedContainer) -> None:
        """Publish a container; one of the same pod name (a restarted pod) is replaced."""
        with self._lock:
            self._containers = [c for c in self._containers if c.pod != container.pod]
            self._containers.append(container)
            if container.cgroup is None and container.pid:
                self._trees[container.pod] = ProcessTreeReader(container.pid)

    def read(self, c: ExportedContainer) -> CgroupStats | None:
        try:
            if c.cgroup is not None:
                return c.cgroup.read()
            tree = self._trees.get(c.pod)
            return tree.read() if tree else None
        except (OSError, ValueError):
            return None  # a cgroup being removed at shutdown: skip it in this scrape

    def collect(self) -> Iterable[Metric]:
        families: list[Metric] = [
            CounterMetricFamily(name, doc, labels=_LABELS)
            if kind == "counter"
            else GaugeMetricFamily(name, doc, labels=_LABELS)
            for name, kind, doc in _FAMILIES
        ]
        limits = GaugeMetricFamily(
            KSM_LIMITS,
            "The limits of a container, as kube-state-metrics names them.",
            labels=_KSM_LABELS,
        )
        families.append(limits)
        with self._lock:
            for c in self._containers:
                stats = self.read(c)
                if stats is None:
                    continue
                ts = time.time()
                labels = [c.namespace, c.pod, c.container]
                for family, value in zip(families, _values(stats), strict=False):
                    family.add_metric(labels, value, timestamp=ts)  # type: ignore[attr-defined]
                for resource, unit, value in _limits(stats):
                    limits.add_metric([*labels, resource, unit], value, timestamp=ts)
        return families


@dataclass
class PodExporter:
    """The exporter's HTTP server (a daemon thread in this process) and its collector."""

    collector: PodMetricsCollector
    server: WSGIServer
    thread: threading.Thread
    address: str  # host:port

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_pod_exporter(
    containers: Sequence[ExportedContainer], *, host: str = "127.0.0.1", port: int
) -> PodExporter:
    registry = CollectorRegistry(auto_describe=False)
    collector = PodMetricsCollector(containers)
    registry.register(collector)
    server, thread = start_http_server(port, addr=host, registry=registry)
    return PodExporter(collector, server, thread, f"{host}:{port}")
