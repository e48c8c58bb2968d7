"""Which cores the local pods get, and how busy the rest of the machine was (local target only).

Where the machine has at least 2 usable cores, the pods under test are pinned to their own
core(s) and everything else the kit starts (PostgreSQL, the upstream stub, Locust, Prometheus)
to the others, with the CPU affinity mask (sched_setaffinity, inherited by every child a
process forks later, like PostgreSQL's backends and gunicorn's workers). Then "was the pod's
knee its own?" can be answered: the run samples /proc/stat for the non-pod cores and
PostgreSQL's CPU at both ends of each measuring window (capacity/run.py marks a step
"contended" when the non-pod cores were saturated, and the model calls out database-bound
knees). Other users of the machine are not pinned by the kit; their load shows in the sample.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

PROC_STAT = Path("/proc/stat")


@dataclass(frozen=True)
class HostSample:
    """Cumulative CPU counters read at one instant."""

    wall_s: float  # when it was read
    busy_s: float  # CPU-seconds busy on the cores not given to the pods
    total_s: float  # CPU-seconds elapsed on those cores
    postgres_s: float | None  # PostgreSQL's cumulative CPU-seconds
    # The pods' own core(s): CPU-seconds busy and elapsed there, and the pods' own CPU-seconds
    # (all frameworks' pods share those cores), so what else ran on them can be told apart.
    pod_cores_busy_s: float | None = None
    pod_cores_total_s: float | None = None
    pods_s: float | None = None


@dataclass(frozen=True)
class CoreSplit:
    pod_cpus: frozenset[int]
    other_cpus: frozenset[int]


def split_cores(available: Iterable[int], pod_cores_needed: float) -> CoreSplit | None:
    """Give the pods the highest-numbered ceil(needed) cores, at least one core to the rest.

    None with fewer than 2 cores: there is nothing to isolate, and the report says so.
    """
    cpus = sorted(set(available))
    if len(cpus) < 2:
        return None
    count = min(len(cpus) - 1, max(1, math.ceil(pod_cores_needed - 1e-9)))
    return CoreSplit(frozenset(cpus[-count:]), frozenset(cpus[:-count]))


def pod_cores(available: Iterable[int]) -> int:
    """The cores `split_cores` can give the pods at most: all but one, or the only one."""
    return max(1, len(set(available)) - 1)


def pin_tree(pid: int, cpus: Iterable[int]) -> None:
    """Set the affinity of every thread of a process and of its current children.

    Affinity is per thread on Linux: pinning a process's first thread leaves the threads it
    already started where they were (a Django worker's request threads, Prometheus' runtime
    threads all ran on every core). Threads and children started later inherit it.
    """
    wanted = sorted(cpus)
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return
    for proc in procs:
        try:
            threads = [t.id for t in proc.threads()]
        except psutil.Error:
            continue
        for tid in threads:
            with contextlib.suppress(OSError):  # a thread that has just ended
                os.sched_setaffinity(tid, wanted)


def parse_proc_stat(text: str, cpus: Iterable[int], ticks_per_s: float) -> tuple[float, float]:
    """(busy, total) CPU-seconds of the given cores from /proc/stat's per-cpu lines."""
    wanted = {f"cpu{c}" for c in cpus}
    busy = total = 0
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0] not in wanted:
            continue
        values = [int(v) for v in fields[1:]]
        # user nice system idle iowait irq softirq steal [guest guest_nice: already in user]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        all_ticks = sum(values[:8])
        total += all_ticks
        busy += all_ticks - idle
    return busy / ticks_per_s, total / ticks_per_s


def host_sampler(
    other_cpus: Iterable[int],
    postgres_cpu_s: Callable[[], float | None],
    pod_cpus: Iterable[int] = (),
    pods_cpu_s: Callable[[], float | None] = lambda: None,
) -> Callable[[], HostSample | None]:
    cpus = sorted(other_cpus)
    pod_cores = sorted(pod_cpus)
    ticks = float(os.sysconf("SC_CLK_TCK"))

    def sample() -> HostSample | None:
        try:
            text = PROC_STAT.read_text()
            busy, total = parse_proc_stat(text, cpus, ticks)
            pod_busy, pod_total = parse_proc_stat(text, pod_cores, ticks) if pod_cores else (0, 0)
        except (OSError, ValueError, IndexError):
            return None
        return HostSample(
            time.time(), busy, total, postgres_cpu_s(),
            pod_busy if pod_cores else None, pod_total if pod_cores else None, pods_cpu_s(),
        )  # fmt: skip

    return sample


def foreign_pod_core_cores(before: HostSample | None, after: HostSample | None) -> float | None:
    """Mean cores of the pods' core(s) busy with something other than the pods between two
    samples (the probe, another tenant, a stray process): busy there minus the pods' own CPU."""
    if before is None or after is None:
        return None
    values = (before.pod_cores_busy_s, after.pod_cores_busy_s, before.pods_s, after.pods_s)
    if any(v is None for v in values) or after.wall_s <= before.wall_s:
        return None
    busy = after.pod_cores_busy_s - before.pod_cores_busy_s  # type: ignore[operator]
    own = after.pods_s - before.pods_s  # type: ignore[operator]
    return max(0.0, busy - own) / (after.wall_s - before.wall_s)


def process_tree_cpu_s(pid: int) -> float | None:
    """User + system CPU-seconds of a process and its live children (and children it reaped)."""
    try:
        root = psutil.Process(pid)
        total = 0.0
        for proc in [root, *root.children(recursive=True)]:
            with_children = proc.cpu_times()
            total += with_children.user + with_children.system
            if proc.pid == pid:
                total += with_children.children_user + with_children.children_system
        return total
    except psutil.Error:
        return None
