"""Core split and /proc/stat arithmetic of the local target's isolation (pure parts)."""

from __future__ import annotations

import os

import pytest

from capacity.target.hostcpu import parse_proc_stat, pin_tree, process_tree_cpu_s, split_cores


@pytest.mark.parametrize(
    ("cpus", "needed", "pods", "others"),
    [
        ([0, 1], 0.5, {1}, {0}),  # the 2-core default: one core each
        ([0, 1, 2, 3], 0.5, {3}, {0, 1, 2}),
        ([0, 1, 2, 3], 1.5, {2, 3}, {0, 1}),
        ([0, 1, 2, 3], 8.0, {1, 2, 3}, {0}),  # never every core: the rest needs one
        ([4, 6], 1.0, {6}, {4}),  # an affinity mask with gaps
    ],
)
def test_pods_get_their_own_cores_and_the_rest_at_least_one(
    cpus: list[int], needed: float, pods: set[int], others: set[int]
) -> None:
    split = split_cores(cpus, needed)
    assert split is not None
    assert (set(split.pod_cpus), set(split.other_cpus)) == (pods, others)


def test_one_core_has_nothing_to_isolate() -> None:
    assert split_cores([0], 0.5) is None


STAT = """cpu  100 0 100 800 0 0 0 0 0 0
cpu0 10 0 10 80 0 0 0 0 0 0
cpu1 50 5 20 20 5 0 0 0 0 0
intr 1 2 3
"""


def test_proc_stat_busy_share_counts_idle_and_iowait_as_not_busy() -> None:
    assert parse_proc_stat(STAT, [0], 100.0) == (0.2, 1.0)
    assert parse_proc_stat(STAT, [1], 100.0) == (0.75, 1.0)
    assert parse_proc_stat(STAT, [0, 1], 100.0) == (0.95, 2.0)


def test_pinning_a_real_process_sets_its_affinity() -> None:
    mine = sorted(os.sched_getaffinity(0))
    if len(mine) < 2:
        pytest.skip("one usable core: nothing to pin apart")
    import subprocess
    import sys

    # A process that has started threads before it is pinned, as a server has once ready.
    started = (
        "import threading, time; e = threading.Event()\n"
        "for _ in range(4): threading.Thread(target=e.wait, daemon=True).start()\n"
        "print('ready', flush=True); time.sleep(30)"
    )
    child = subprocess.Popen([sys.executable, "-c", started], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        pin_tree(child.pid, [mine[-1]])
        threads = os.listdir(f"/proc/{child.pid}/task")
        assert len(threads) == 5
        assert all(os.sched_getaffinity(int(tid)) == {mine[-1]} for tid in threads)
        assert (process_tree_cpu_s(child.pid) or 0.0) >= 0.0
    finally:
        child.kill()
        child.wait()
