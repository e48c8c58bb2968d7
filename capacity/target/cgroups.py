"""Linux cgroups for local pods: the same CPU quota and memory limit a Kubernetes pod gets.

A Kubernetes CPU limit is a CFS quota (limit x period per 100 ms period) and a memory limit is
the cgroup's memory limit; the kubelet writes exactly these files. We write them for each local
"pod" under `<hierarchy>/fwcap/<run>/<pod>`, move the pod's server into it before it `exec`s (so
every worker it forks stays inside), read the same counters cAdvisor reads, and remove the tree
afterwards, killing anything still inside so that nothing outlives the run.

cgroup v1 (separate `cpu`, `cpuacct`, `memory` hierarchies) and v2 (one unified hierarchy) are
detected at runtime. In v1 the tree is nested under this process's own cgroup in each hierarchy,
so any limit placed on us (a CI job, a sandbox) still applies to the pods; in v2 it sits under
the hierarchy root, because v2 forbids enabling controllers for children of a cgroup that holds
processes (ours does). When nothing can be written, `CgroupUnavailable` says why and the run
goes on without enforced limits.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from capacity.polling import Pending, poll_until

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
TREE_NAME = "fwcap"
CFS_PERIOD_US = 100_000  # the kubelet's (and the kernel's) default CFS period
# CPU weight of every cgroup the kit creates: 8x a normal process (v1 cpu.shares 1024, v2
# cpu.weight 100). A Kubernetes node reserves each pod's CPU request through the same weights
# (kubepods gets the node's allocatable); here it keeps a busy desktop or CI neighbour from
# starving the measured pods below their quota. The quota, not the weight, caps a pod.
PRIORITY_SHARES_V1 = 8192
PRIORITY_WEIGHT_V2 = 800
V1_CONTROLLERS = ("cpu", "cpuacct", "memory")
V2_KEY = "unified"


class CgroupUnavailable(Exception):
    """cgroups cannot be used here; the message says why (shown to the user as a warning)."""


class CgroupVersion(StrEnum):
    V1 = "v1"
    V2 = "v2"


@dataclass(frozen=True)
class CgroupStats:
    """One reading of a cgroup's counters, in cAdvisor's units."""

    cpu_usage_seconds: float
    memory_usage_bytes: int
    memory_inactive_file_bytes: int
    cfs_periods: int
    cfs_throttled_periods: int
    cpu_quota_us: int  # -1: no quota
    cpu_period_us: int
    memory_limit_bytes: int  # 0: no limit (cAdvisor's convention)

    @property
    def memory_working_set_bytes(self) -> int:
        # cAdvisor: working set = usage - inactive_file, floored at 0.
        return max(0, self.memory_usage_bytes - self.memory_inactive_file_bytes)


@dataclass(frozen=True)
class CgroupLayout:
    """Where this machine's cgroups are and where the kit's tree goes in each hierarchy."""

    version: CgroupVersion
    # v1: controller -> parent dir of the kit's tree; v2: {"unified": parent dir}
    parents: Mapping[str, Path]


def _own_v1_paths(proc_self_cgroup: str) -> dict[str, str]:
    """controller -> this process's cgroup path, from /proc/self/cgroup (v1 lines)."""
    paths: dict[str, str] = {}
    for line in proc_self_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3 or not parts[1]:
            continue
        for controller in parts[1].split(","):
            paths[controller] = parts[2]
    return paths


def detect(root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP) -> CgroupLayout:
    """Find the cgroup layout, or raise `CgroupUnavailable` saying what is missing."""
    if (root / "cgroup.controllers").is_file():
        available = (root / "cgroup.controllers").read_text().split()
        missing = [c for c in ("cpu", "memory") if c not in available]
        if missing:
            raise CgroupUnavailable(
                f"cgroup v2 at {root} lacks the {', '.join(missing)} controller"
            )
        return CgroupLayout(CgroupVersion.V2, {V2_KEY: root})
    if all((root / c).is_dir() for c in V1_CONTROLLERS):
        try:
            own = _own_v1_paths(proc_self_cgroup.read_text())
        except OSError:
            own = {}
        parents = {c: root / c / own.get(c, "/").lstrip("/") for c in V1_CONTROLLERS}
        return CgroupLayout(CgroupVersion.V1, parents)
    raise CgroupUnavailable(
        f"no cgroup v2 (no {root}/cgroup.controllers) and no cgroup v1 cpu, cpuacct and memory "
        f"hierarchies under {root}"
    )


def _read_int(path: Path) -> int:
    return int(path.read_text().split()[0])


def _read_kv(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            out[key] = int(value)
    return out


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _unique_dirs(dirs: Mapping[str, Path]) -> list[Path]:
    """Distinct directories (v1 `cpu` and `cpuacct` are often one co-mounted hierarchy)."""
    seen: dict[str, Path] = {}
    for d in dirs.values():
        seen.setdefault(os.path.realpath(d), d)
    return list(seen.values())


@dataclass(frozen=True)
class PodCgroup:
    """One pod's cgroup (one directory per hierarchy in v1, one in v2)."""

    name: str
    version: CgroupVersion
    dirs: Mapping[str, Path]  # controller (or "unified") -> the pod's directory
    relative_path: str  # e.g. "fwcap/20260101-120000-4242/django-0"
    cpu_millicores: int | None
    memory_bytes: int | None

    def attach(self, pid: int) -> None:
        for d in _unique_dirs(self.dirs):
            _write(d / "cgroup.procs", str(pid))

    def preexec_fn(self) -> Callable[[], None]:
        """For `subprocess.Popen(preexec_fn=...)`: the child moves itself in before `exec`.

        Only raw os.open/os.write run in the forked child (no allocation-heavy Python), which
        keeps the preexec hook safe.
        """
        procs_files = [str(d / "cgroup.procs") for d in _unique_dirs(self.dirs)]

        def move_into_cgroup() -> None:
            pid = str(os.getpid()).encode()
            for path in procs_files:
                fd = os.open(path, os.O_WRONLY)
                try:
                    os.write(fd, pid)
                finally:
                    os.close(fd)

        return move_into_cgroup

    def set_cpu_quota(self, cpu_millicores: int | None) -> None:
        """Write the CPU quota in place (None: none), like the kubelet's in-place pod resize.

        The local run starts each pod's server without its quota and applies it once the pod
        is ready, before any load (`LocalTarget._start_pods`).
        """
        if self.version is CgroupVersion.V2:
            quota = "max" if cpu_millicores is None else str(cpu_quota_us(cpu_millicores))
            _write(self.dirs[V2_KEY] / "cpu.max", f"{quota} {CFS_PERIOD_US}")
            return
        _write(self.dirs["cpu"] / "cpu.cfs_period_us", str(CFS_PERIOD_US))
        quota_us = -1 if cpu_millicores is None else cpu_quota_us(cpu_millicores)
        _write(self.dirs["cpu"] / "cpu.cfs_quota_us", str(quota_us))

    def pids(self) -> list[int]:
        pids: set[int] = set()
        for d in _unique_dirs(self.dirs):
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in (d / "cgroup.procs").read_text().split())
        return sorted(pids)

    def read(self) -> CgroupStats:
        if self.version is CgroupVersion.V2:
            return self._read_v2(self.dirs[V2_KEY])
        return self._read_v1()

    def _read_v1(self) -> CgroupStats:
        cpu, cpuacct, memory = self.dirs["cpu"], self.dirs["cpuacct"], self.dirs["memory"]
        cpu_stat = _read_kv(cpu / "cpu.stat")
        mem_stat = _read_kv(memory / "memory.stat")
        limit = _read_int(memory / "memory.limit_in_bytes")
        return CgroupStats(
            cpu_usage_seconds=_read_int(cpuacct / "cpuacct.usage") / 1e9,
            memory_usage_bytes=_read_int(memory / "memory.usage_in_bytes"),
            # total_* is hierarchical (includes child cgroups); cAdvisor uses it on v1.
            memory_inactive_file_bytes=mem_stat.get(
                "total_inactive_file", mem_stat.get("inactive_file", 0)
            ),
            cfs_periods=cpu_stat.get("nr_periods", 0),
            cfs_throttled_periods=cpu_stat.get("nr_throttled", 0),
            cpu_quota_us=_read_int(cpu / "cpu.cfs_quota_us"),
            cpu_period_us=_read_int(cpu / "cpu.cfs_period_us"),
            # The kernel's "no limit" is a page-rounded LONG_MAX; cAdvisor shows it as is,
            # we show 0 like cAdvisor does for v2's "max" so one PromQL rule reads both.
            memory_limit_bytes=0 if limit >= 2**62 else limit,
        )

    @staticmethod
    def _read_v2(d: Path) -> CgroupStats:
        cpu_stat = _read_kv(d / "cpu.stat")
        mem_stat = _read_kv(d / "memory.stat")
        quota_s, _, period_s = (d / "cpu.max").read_text().strip().partition(" ")
        mem_max = (d / "memory.max").read_text().strip()
        return CgroupStats(
            cpu_usage_seconds=cpu_stat.get("usage_usec", 0) / 1e6,
            memory_usage_bytes=_read_int(d / "memory.current"),
            memory_inactive_file_bytes=mem_stat.get("inactive_file", 0),
            cfs_periods=cpu_stat.get("nr_periods", 0),
            cfs_throttled_periods=cpu_stat.get("nr_throttled", 0),
            cpu_quota_us=-1 if quota_s == "max" else int(quota_s),
            cpu_period_us=int(period_s or CFS_PERIOD_US),
            memory_limit_bytes=0 if mem_max == "max" else int(mem_max),
        )


def cpu_quota_us(cpu_millicores: int, period_us: int = CFS_PERIOD_US) -> int:
    """The CFS quota the kubelet writes for a CPU limit (500m -> 50000 per 100000 us)."""
    return max(1000, cpu_millicores * period_us // 1000)  # the kernel's minimum is 1 ms


@dataclass
class CgroupManager:
    """Creates the kit's cgroup tree for one run and removes all of it (`remove_all`)."""

    layout: CgroupLayout
    run_id: str
    created: list[PodCgroup] = field(default_factory=list)
    _made_dirs: list[Path] = field(default_factory=list)

    def _run_dirs(self) -> dict[str, Path]:
        return {k: p / TREE_NAME / self.run_id for k, p in self.layout.parents.items()}

    def _mkdir(self, path: Path) -> None:
        if path.is_dir():
            return
        try:
            path.mkdir()
        except FileExistsError:
            return
        except OSError as e:
            raise CgroupUnavailable(f"cannot create cgroup {path}: {e.strerror or e}") from e
        self._made_dirs.append(path)

    def _enable_v2_controllers(self, path: Path) -> None:
        try:
            _write(path / "cgroup.subtree_control", "+cpu +memory")
        except OSError as e:
            raise CgroupUnavailable(
                f"cannot enable the cpu and memory controllers in {path}: {e.strerror or e}"
            ) from e

    def prepare(self) -> None:
        """Create `fwcap/<run>` in every hierarchy; raises `CgroupUnavailable` if not possible."""
        for attempt in range(3):
            try:
                self._prepare()
                return
            except CgroupUnavailable as e:
                # Another run may have removed an empty `fwcap` between our two mkdirs.
                if not isinstance(e.__cause__, FileNotFoundError) or attempt == 2:
                    raise

    def _prepare(self) -> None:
        for key, parent in self.layout.parents.items():
            if not parent.is_dir():
                raise CgroupUnavailable(f"cgroup parent {parent} does not exist")
            if self.layout.version is CgroupVersion.V2:
                self._enable_v2_controllers(parent)
            self._mkdir(parent / TREE_NAME)
            if self.layout.version is CgroupVersion.V2:
                self._enable_v2_controllers(parent / TREE_NAME)
            self._mkdir(self._run_dirs()[key])
            if self.layout.version is CgroupVersion.V2:
                self._enable_v2_controllers(self._run_dirs()[key])
            if key in ("cpu", V2_KEY):
                for d in (parent / TREE_NAME, self._run_dirs()[key]):
                    self._prioritise(d)

    def _prioritise(self, d: Path) -> None:
        try:
            if self.layout.version is CgroupVersion.V2:
                _write(d / "cpu.weight", str(PRIORITY_WEIGHT_V2))
            else:
                _write(d / "cpu.shares", str(PRIORITY_SHARES_V1))
        except OSError as e:
            raise CgroupUnavailable(f"cannot set the CPU weight of {d}: {e.strerror or e}") from e

    def create(
        self, name: str, *, cpu_millicores: int | None, memory_bytes: int | None
    ) -> PodCgroup:
        """A pod's cgroup with the given limits (None: unlimited, e.g. the load generator)."""
        dirs = {k: d / name for k, d in self._run_dirs().items()}
        for d in _unique_dirs(dirs):
            self._mkdir(d)
        cg = PodCgroup(
            name=name,
            version=self.layout.version,
            dirs=dirs,
            relative_path=f"{TREE_NAME}/{self.run_id}/{name}",
            cpu_millicores=cpu_millicores,
            memory_bytes=memory_bytes,
        )
        self.created.append(cg)
        try:
            self._set_limits(cg)
        except OSError as e:
            raise CgroupUnavailable(f"cannot set limits on cgroup {name}: {e.strerror or e}") from e
        return cg

    def _set_limits(self, cg: PodCgroup) -> None:
        self._prioritise(cg.dirs[V2_KEY if cg.version is CgroupVersion.V2 else "cpu"])
        cg.set_cpu_quota(cg.cpu_millicores)
        if cg.version is CgroupVersion.V2:
            memory_max = "max" if cg.memory_bytes is None else str(cg.memory_bytes)
            _write(cg.dirs[V2_KEY] / "memory.max", memory_max)
        elif cg.memory_bytes is not None:
            _write(cg.dirs["memory"] / "memory.limit_in_bytes", str(cg.memory_bytes))

    def remove_all(self, timeout_s: float = 5.0) -> list[str]:
        """Kill whatever is left in the run's cgroups, then remove every directory we made.

        Returns the problems it could not fix (empty when everything is gone).
        """
        problems: list[str] = []
        for cg in self.created:
            _kill_all(cg, timeout_s)
        # Deepest first: pods, then the run directory, then `fwcap` if we created it.
        for d in sorted(self._made_dirs, key=lambda p: len(p.parts), reverse=True):
            err = _rmdir_retry(d, timeout_s)
            if err and not (err.errno in (errno.EBUSY, errno.ENOTEMPTY) and d.name == TREE_NAME):
                problems.append(f"{d}: {err.strerror or err}")
        # The shared `fwcap` directory goes too once no run uses it (whoever created it).
        for parent in self.layout.parents.values():
            with contextlib.suppress(OSError):
                (parent / TREE_NAME).rmdir()
        self._made_dirs.clear()
        self.created.clear()
        return problems


# The two cleanup polls below sleep with `time.sleep`, not the run's cancellable sleep: they run
# after a Ctrl-C (the token is already set) and must run to their end, or a cgroup is left behind.
class _GaveUp(Exception):
    """Cleanup stopped waiting; what is left over is reported by the caller."""


def _kill_all(cg: PodCgroup, timeout_s: float) -> None:
    def emptied() -> bool | Pending:
        pids = cg.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        return not pids or Pending(f"{len(pids)} task(s) left")

    with contextlib.suppress(_GaveUp):
        poll_until(
            emptied, timeout_s=timeout_s, interval_s=0.05, on_timeout=_GaveUp, sleep=time.sleep
        )


def _rmdir_retry(d: Path, timeout_s: float) -> OSError | None:
    # A killed task can take a moment to leave the cgroup; rmdir fails with EBUSY until then.
    def removed() -> bool | Pending:
        try:
            d.rmdir()
        except FileNotFoundError:
            return True
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise
            return Pending(e.strerror or str(e))
        return True

    try:
        poll_until(
            removed,
            timeout_s=timeout_s,
            interval_s=0.05,
            on_timeout=lambda why: OSError(errno.EBUSY, why, str(d)),
            sleep=time.sleep,
        )
    except OSError as e:
        return e
    return None


def new_manager(
    run_id: str, root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP
) -> CgroupManager:
    """Detect the layout and create the run's tree, or raise `CgroupUnavailable`."""
    manager = CgroupManager(detect(root, proc_self_cgroup), run_id)
    try:
        manager.prepare()
    except CgroupUnavailable:
        manager.remove_all()
        raise
    return manager
