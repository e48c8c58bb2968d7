"""The pod exporter publishes cAdvisor's series, from cgroups or (without them) process trees."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from capacity.polling import Pending, poll_until
from capacity.target.cgroups import new_manager
from capacity.target.pod_exporter import ExportedContainer, start_pod_exporter
from capacity.target.process import free_port

MIB = 2**20
CADVISOR_SERIES = {
    "container_cpu_usage_seconds_total",
    "container_memory_working_set_bytes",
    "container_cpu_cfs_periods_total",
    "container_cpu_cfs_throttled_periods_total",
    "container_spec_cpu_quota",
    "container_spec_cpu_period",
    "container_spec_memory_limit_bytes",
}


LIMITS = "kube_pod_container_resource_limits"


def _scrape(
    address: str, limits: dict[tuple[str, str, str], float] | None = None
) -> dict[tuple[str, str], tuple[float, float | None]]:
    """cAdvisor-named samples by (name, pod); kube-state-metrics' limits go into `limits`, by
    (pod, resource, unit)."""
    text = httpx.get(f"http://{address}/metrics", timeout=5).text
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == LIMITS:
                assert set(s.labels) == {"namespace", "pod", "container", "resource", "unit"}
                if limits is not None:
                    limits[(s.labels["pod"], s.labels["resource"], s.labels["unit"])] = s.value
                continue
            ts = float(s.timestamp) if s.timestamp is not None else None
            out[(s.name, s.labels["pod"])] = (s.value, ts)
            assert set(s.labels) == {"namespace", "pod", "container"}
    return out


def _fake_pod(tmp_path: Path):  # type: ignore[no-untyped-def]
    for c in ("cpu", "cpuacct", "memory"):
        (tmp_path / c).mkdir()
    proc = tmp_path / "self"
    proc.write_text("1:cpu:/\n")
    manager = new_manager("r", tmp_path, proc)
    pod = manager.create("django-0", cpu_millicores=500, memory_bytes=512 * MIB)
    (pod.dirs["cpuacct"] / "cpuacct.usage").write_text("3000000000")
    (pod.dirs["cpu"] / "cpu.stat").write_text("nr_periods 100\nnr_throttled 7\n")
    (pod.dirs["memory"] / "memory.usage_in_bytes").write_text(str(90 * MIB))
    (pod.dirs["memory"] / "memory.stat").write_text(f"total_inactive_file {10 * MIB}\n")
    return pod


def test_cgroup_counters_are_published_under_cadvisor_names_with_read_times(tmp_path: Path) -> None:
    pod = _fake_pod(tmp_path)
    exporter = start_pod_exporter(
        [ExportedContainer("local", "django-0", "django", pod)], port=free_port()
    )
    try:
        before = time.time()
        limits: dict[tuple[str, str, str], float] = {}
        samples = _scrape(exporter.address, limits)
    finally:
        exporter.stop()
    assert {name for name, _pod in samples} == CADVISOR_SERIES
    got = {name: value for (name, _pod), (value, _ts) in samples.items()}
    assert got == {
        "container_cpu_usage_seconds_total": 3.0,
        "container_memory_working_set_bytes": 80 * MIB,
        "container_cpu_cfs_periods_total": 100,
        "container_cpu_cfs_throttled_periods_total": 7,
        "container_spec_cpu_quota": 50_000,
        "container_spec_cpu_period": 100_000,
        "container_spec_memory_limit_bytes": 512 * MIB,
    }
    # The same limits under kube-state-metrics' name, which the limit queries read.
    assert limits == {
        ("django-0", "cpu", "core"): 0.5,
        ("django-0", "memory", "byte"): 512 * MIB,
    }
    for _value, ts in samples.values():
        assert ts is not None and before - 1 <= ts <= time.time() + 1  # like cAdvisor


def _tree_cpu_s(root: psutil.Process) -> float:
    """The tree's CPU seconds as psutil reads them (the exporter's own source, same ticks)."""
    return sum(float(t.user + t.system) for t in (p.cpu_times() for p in [root, *root.children()]))


def test_without_cgroups_a_process_tree_gives_the_same_series_and_no_limits() -> None:
    # A parent that forks a busy child: the tree's CPU must include the child.
    tree = subprocess.Popen(
        [sys.executable, "-c",
         "import os, time\nif os.fork() == 0:\n    while True: pass\ntime.sleep(60)"],
    )  # fmt: skip
    exporter = start_pod_exporter(
        [ExportedContainer("local", "fastapi-0", "fastapi", None, tree.pid)], port=free_port()
    )
    cpu = "container_cpu_usage_seconds_total", "fastapi-0"
    root = psutil.Process(tree.pid)
    try:
        # Checked against the tree's own CPU clock, read on either side of each scrape, not
        # against the wall clock: on a busy machine the spinning child may get a small share of
        # a core, so a rate over a fixed 1.5 s said little. The child must exist before the
        # first scrape, and must run 0.5 s of CPU between the scrapes (the parent sleeps).
        poll_until(
            lambda: bool(root.children()) or Pending("not forked yet"),
            timeout_s=60, interval_s=0.05, on_timeout=AssertionError,
        )  # fmt: skip
        before_first = _tree_cpu_s(root)
        first = _scrape(exporter.address)
        after_first = _tree_cpu_s(root)
        poll_until(
            lambda: _tree_cpu_s(root) >= after_first + 0.5 or Pending("the child barely ran"),
            timeout_s=120, interval_s=0.1, on_timeout=AssertionError,
        )  # fmt: skip
        before_second = _tree_cpu_s(root)
        limits: dict[tuple[str, str, str], float] = {}
        second = _scrape(exporter.address, limits)
        after_second = _tree_cpu_s(root)
    finally:
        exporter.stop()
        for child in root.children(recursive=True):
            child.kill()
        tree.kill()
        tree.wait()
    assert {name for name, _pod in second} == CADVISOR_SERIES
    (c1, t1), (c2, t2) = first[cpu], second[cpu]
    assert t1 is not None and t2 is not None and t2 > t1
    # The counter moved by the tree's CPU between the two reads, which lie between our own
    # reads (0.02 s for the sums' rounding): the child is counted, and counted once.
    assert c2 - c1 >= before_second - after_first - 0.02, "the busy child's CPU must be counted"
    assert c2 - c1 <= after_second - before_first + 0.02, "no process may be counted twice"
    assert second[("container_memory_working_set_bytes", "fastapi-0")][0] > 5 * MIB
    assert second[("container_spec_cpu_quota", "fastapi-0")][0] == 0  # no limit
    assert second[("container_spec_memory_limit_bytes", "fastapi-0")][0] == 0
    assert limits == {}  # like kube-state-metrics: no limit, no series
    assert second[("container_cpu_cfs_throttled_periods_total", "fastapi-0")][0] == 0
