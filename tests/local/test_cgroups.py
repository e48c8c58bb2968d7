"""cgroups as the kubelet writes them: v1 and v2 files on fake trees, and a real limited process."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from capacity.polling import Pending, poll_until
from capacity.target.cgroups import (
    CgroupUnavailable,
    CgroupVersion,
    cpu_quota_us,
    detect,
    new_manager,
)

MIB = 2**20


def _fake_v1(root: Path) -> Path:
    for c in ("cpu", "cpuacct", "memory"):
        (root / c).mkdir(parents=True)
    (root / "memory" / "sandbox" / "job").mkdir(parents=True)
    proc = root / "proc-self-cgroup"
    proc.write_text("4:memory:/sandbox/job\n2:cpuacct:/\n1:cpu:/\n0::/\n")
    return proc


def _fake_v2(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    proc = root / "proc-self-cgroup"
    proc.write_text("0::/user.slice/session-1.scope\n")
    return proc


@pytest.mark.parametrize(
    ("millicores", "quota"), [(500, 50_000), (250, 25_000), (2000, 200_000), (1, 1000)]
)
def test_cpu_quota_is_the_limit_share_of_the_100ms_period(millicores: int, quota: int) -> None:
    assert cpu_quota_us(millicores) == quota


def test_v1_tree_nests_under_our_own_cgroup_and_writes_the_limits(tmp_path: Path) -> None:
    proc = _fake_v1(tmp_path)
    manager = new_manager("run-1", tmp_path, proc)
    assert manager.layout.version is CgroupVersion.V1
    # Memory nests under our own cgroup (a sandbox's limit still applies); cpu is at the root.
    assert manager.layout.parents["memory"] == tmp_path / "memory" / "sandbox" / "job"
    pod = manager.create("django-0", cpu_millicores=500, memory_bytes=512 * MIB)
    cpu_dir = tmp_path / "cpu" / "fwcap" / "run-1" / "django-0"
    mem_dir = tmp_path / "memory" / "sandbox" / "job" / "fwcap" / "run-1" / "django-0"
    assert (cpu_dir / "cpu.cfs_quota_us").read_text() == "50000"
    assert (cpu_dir / "cpu.cfs_period_us").read_text() == "100000"
    assert (mem_dir / "memory.limit_in_bytes").read_text() == str(512 * MIB)
    assert pod.relative_path == "fwcap/run-1/django-0"
    # Guaranteed-QoS weight at every level, so neighbours cannot starve a pod below its quota.
    for d in (cpu_dir, cpu_dir.parent, cpu_dir.parent.parent):
        assert (d / "cpu.shares").read_text() == "8192"
    unlimited = manager.create("locust-master", cpu_millicores=None, memory_bytes=None)
    assert (unlimited.dirs["cpu"] / "cpu.cfs_quota_us").read_text() == "-1"
    assert not (unlimited.dirs["memory"] / "memory.limit_in_bytes").exists()


def test_v1_reading_follows_cadvisor(tmp_path: Path) -> None:
    manager = new_manager("run-2", tmp_path, _fake_v1(tmp_path))
    pod = manager.create("fastapi-0", cpu_millicores=250, memory_bytes=256 * MIB)
    (pod.dirs["cpuacct"] / "cpuacct.usage").write_text("2500000000\n")
    (pod.dirs["cpu"] / "cpu.stat").write_text("nr_periods 40\nnr_throttled 10\nthrottled_time 5\n")
    (pod.dirs["memory"] / "memory.usage_in_bytes").write_text(str(100 * MIB))
    (pod.dirs["memory"] / "memory.stat").write_text(
        f"cache 1\ninactive_file {5 * MIB}\ntotal_inactive_file {30 * MIB}\n"
    )
    s = pod.read()
    assert s.cpu_usage_seconds == 2.5
    assert s.memory_working_set_bytes == 70 * MIB  # usage - total_inactive_file
    assert (s.cfs_periods, s.cfs_throttled_periods) == (40, 10)
    assert (s.cpu_quota_us, s.cpu_period_us, s.memory_limit_bytes) == (25_000, 100_000, 256 * MIB)


def test_v2_tree_enables_controllers_and_writes_cpu_max_and_memory_max(tmp_path: Path) -> None:
    manager = new_manager("run-3", tmp_path, _fake_v2(tmp_path))
    assert manager.layout.version is CgroupVersion.V2
    pod = manager.create("django-0", cpu_millicores=500, memory_bytes=512 * MIB)
    d = tmp_path / "fwcap" / "run-3" / "django-0"
    assert pod.dirs == {"unified": d}
    assert (d / "cpu.max").read_text() == "50000 100000"
    assert (d / "memory.max").read_text() == str(512 * MIB)
    for level in (tmp_path, tmp_path / "fwcap", tmp_path / "fwcap" / "run-3"):
        assert (level / "cgroup.subtree_control").read_text() == "+cpu +memory"
    for level in (tmp_path / "fwcap", tmp_path / "fwcap" / "run-3", d):
        assert (level / "cpu.weight").read_text() == "800"
    unlimited = manager.create("locust-master", cpu_millicores=None, memory_bytes=None)
    assert (unlimited.dirs["unified"] / "cpu.max").read_text() == "max 100000"
    assert (unlimited.dirs["unified"] / "memory.max").read_text() == "max"
    (d / "cpu.stat").write_text("usage_usec 1500000\nnr_periods 20\nnr_throttled 5\n")
    (d / "memory.current").write_text(str(80 * MIB))
    (d / "memory.stat").write_text(f"anon 1\ninactive_file {20 * MIB}\n")
    s = pod.read()
    assert (s.cpu_usage_seconds, s.memory_working_set_bytes) == (1.5, 60 * MIB)
    assert (s.cpu_quota_us, s.memory_limit_bytes, s.cfs_throttled_periods) == (50_000, 512 * MIB, 5)


@pytest.mark.parametrize(
    ("fake", "quota_file", "limited", "lifted"),
    [
        (_fake_v1, "cpu/fwcap/run-4/django-0/cpu.cfs_quota_us", "50000", "-1"),
        (_fake_v2, "fwcap/run-4/django-0/cpu.max", "50000 100000", "max 100000"),
    ],
    ids=["v1", "v2"],
)
def test_the_start_up_boost_lifts_the_cpu_quota_and_gives_it_back(
    tmp_path: Path, fake: Callable[[Path], Path], quota_file: str, limited: str, lifted: str
) -> None:
    manager = new_manager("run-4", tmp_path, fake(tmp_path))
    pod = manager.create("django-0", cpu_millicores=500, memory_bytes=512 * MIB)
    assert (tmp_path / quota_file).read_text() == limited
    pod.set_cpu_quota(None)
    assert (tmp_path / quota_file).read_text() == lifted
    pod.set_cpu_quota(pod.cpu_millicores)
    assert (tmp_path / quota_file).read_text() == limited


def test_no_cgroups_is_a_reason_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(CgroupUnavailable, match=r"no cgroup v2 .* and no cgroup v1"):
        detect(tmp_path, tmp_path / "none")
    (tmp_path / "cgroup.controllers").write_text("cpuset io pids\n")
    with pytest.raises(CgroupUnavailable, match="lacks the cpu, memory controller"):
        detect(tmp_path)


def _real_manager() -> object:
    try:
        return new_manager(f"test-{uuid.uuid4().hex[:8]}")
    except CgroupUnavailable as e:
        pytest.skip(f"this machine cannot create cgroups: {e}")


@pytest.mark.live  # a real cgroup with two spinning processes in it
def test_a_real_cgroup_caps_cpu_at_the_quota_and_removal_kills_what_is_left() -> None:
    manager = _real_manager()
    pod = manager.create("busy-0", cpu_millicores=200, memory_bytes=128 * MIB)  # type: ignore[attr-defined]
    busy = subprocess.Popen(
        [sys.executable, "-c", "import os\nos.fork()\nwhile True: pass"],  # two spinning processes
        preexec_fn=pod.preexec_fn(),
    )
    try:
        # Both spinners must be running before the window opens: the interpreter starts under
        # the 0.2-core quota, so its fork comes after an unknown time on a busy machine (a fixed
        # 0.5 s assumed a quiet one). A child that left the cgroup never makes it two.
        poll_until(
            lambda: len(pod.pids()) == 2 or Pending(f"{len(pod.pids())} process(es) in the pod"),
            timeout_s=60, interval_s=0.05,
            on_timeout=lambda last: AssertionError(f"the forked child must join the pod: {last}"),
        )  # fmt: skip
        # The wall-clock window encloses both reads, so the rate can only be under-stated by
        # this process's own delays, never over-stated.
        t0 = time.monotonic()
        before = pod.read()
        time.sleep(2.0)
        after = pod.read()
        cores = (after.cpu_usage_seconds - before.cpu_usage_seconds) / (time.monotonic() - t0)
        assert len(pod.pids()) == 2, "the forked child must stay in the pod's cgroup"
        # Two busy processes would use 2 cores; the quota holds them to 0.2 (+5% at most).
        assert cores <= 0.2 * 1.05, cores
        assert cores > 0.05, f"the busy processes barely ran: {cores}"
        assert after.cfs_throttled_periods > before.cfs_throttled_periods
        assert (after.cpu_quota_us, after.memory_limit_bytes) == (20_000, 128 * MIB)
        pids = pod.pids()
        dirs = list(pod.dirs.values())
    finally:
        problems = manager.remove_all()  # type: ignore[attr-defined]
        busy.wait(timeout=5)
    assert problems == []
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in pids)
    assert not any(d.exists() for d in dirs)
    assert not any(d.parent.exists() for d in dirs), "the run's directory must go too"
