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


def pin_tree(pid: int, cpus: Iterable[int]) -> None:
    """Set the affinity of a process and its current children (later children inherit it)."""
    wanted = sorted(cpus)
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return
    for proc in procs:
        try:
            proc.cpu_affinity(wanted)
        except (psutil.Error, OSError):
            continue


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
    other_cpus: Iterable[int], postgres_cpu_s: Callable[[], float | None]
) -> Callable[[], HostSample | None]:
    cpus = sorted(other_cpus)
    ticks = float(os.sysconf("SC_CLK_TCK"))

    def sample() -> HostSample | None:
        try:
            busy, total = parse_proc_stat(PROC_STAT.read_text(), cpus, ticks)
        except (OSError, ValueError, IndexError):
            return None
        return HostSample(time.time(), busy, total, postgres_cpu_s())

    return sample


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
