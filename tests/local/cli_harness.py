"""Run `capacity report` as a user would (a child process), and find anything it left behind.

Every process the run starts inherits the environment, so a unique marker variable finds them
all in /proc afterwards, whatever they are (servers, PostgreSQL, Prometheus, Locust); the run's
cgroups are found by its run id (written to run.json before anything starts).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

CAPACITY = Path(sys.executable).with_name("capacity")
MARK = "FWCAP_TEST_MARK"
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass
class CliRun:
    popen: subprocess.Popen[str]
    out_dir: Path
    marker: str
    lines: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    readers: list[threading.Thread] = field(default_factory=list)

    def wait_for_line(self, pattern: str, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if regex.search(line):
                    return line
            if self.popen.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(
            f"no line matching {pattern!r} in {timeout_s}s; exit {self.popen.poll()}\n"
            f"stdout:\n{''.join(self.lines)}\nstderr:\n{''.join(self.stderr)}"
        )

    def signal(self, signum: int = signal.SIGINT) -> None:
        self.popen.send_signal(signum)

    def finish(self, timeout_s: float = 90) -> int:
        code = self.popen.wait(timeout=timeout_s)
        # The reader threads end at the pipes' end of file, once every process holding them has
        # exited: wait for that rather than a fixed 0.3 s, which a busy machine can outlast
        # (the last lines, the ones the tests check, were then missing). The bound is only for
        # a leftover process still holding a pipe, which the leftover checks then report.
        for reader in self.readers:
            reader.join(timeout=30)
        return code

    @property
    def output(self) -> str:
        return "".join(self.lines) + "".join(self.stderr)

    def run_id(self) -> str | None:
        path = self.out_dir / "run.json"
        return json.loads(path.read_text())["run_id"] if path.exists() else None

    def manifest(self) -> dict[str, object]:
        return dict(json.loads((self.out_dir / "run.json").read_text()))


def _drain(stream: object, into: list[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.append(line)


def start_cli(args: Sequence[str], out_dir: Path, *, env: dict[str, str] | None = None) -> CliRun:
    marker = uuid.uuid4().hex
    full_env = {**os.environ, MARK: marker, "COLUMNS": "200", **(env or {})}
    popen = subprocess.Popen(
        [str(CAPACITY), "report", "--out", str(out_dir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
    )
    run = CliRun(popen, out_dir, marker)
    run.readers = [
        threading.Thread(target=_drain, args=(popen.stdout, run.lines), daemon=True),
        threading.Thread(target=_drain, args=(popen.stderr, run.stderr), daemon=True),
    ]
    for reader in run.readers:
        reader.start()
    return run


def processes_with_marker(marker: str) -> list[str]:
    """Every live process whose environment carries the marker (zombies excluded)."""
    found = []
    needle = f"{MARK}={marker}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if needle not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            status = (proc / "status").read_text()
            if "\nState:\tZ" in status:
                continue
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{proc.name}: {cmdline}")
        except OSError:
            continue
    return found


def wait_no_processes(marker: str, timeout_s: float = 10) -> list[str]:
    deadline = time.monotonic() + timeout_s
    left = processes_with_marker(marker)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = processes_with_marker(marker)
    return left


def cgroups_of_run(run_id: str) -> list[Path]:
    """Every cgroup directory named after the run, in any hierarchy (v1 or v2)."""
    found: list[Path] = []
    for base in [CGROUP_ROOT, *CGROUP_ROOT.iterdir()] if CGROUP_ROOT.is_dir() else []:
        found += [p for p in base.glob(f"fwcap/{run_id}") if p.is_dir()]
    # v1 memory is nested under the run's own cgroup (e.g. a sandbox's), at any depth.
    memory = CGROUP_ROOT / "memory"
    if memory.is_dir():
        found += [p for p in memory.glob(f"**/fwcap/{run_id}") if p.is_dir()]
    return sorted(set(found))


@dataclass(frozen=True)
class InProcessRun:
    """`capacity report` run in this process through typer's CliRunner: the same parsing,
    exit code and messages as the installed command, without a Python start-up. For runs that
    end before anything starts (refused input); the signal tests need a real child process."""

    returncode: int
    output: str
    out_dir: Path
    marker: str


def run_cli_in_process(
    args: Sequence[str], out_dir: Path, *, env: dict[str, str] | None = None
) -> InProcessRun:
    import traceback

    from typer.testing import CliRunner

    from capacity.cli import app

    marker = uuid.uuid4().hex
    # CliRunner sets these in os.environ for the call: any process started would carry MARK.
    runner = CliRunner(env={MARK: marker, "COLUMNS": "200", **(env or {})})
    result = runner.invoke(app, ["report", "--out", str(out_dir), *args])
    output = result.stdout + result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        output += "Traceback (most recent call last):\n" + "".join(
            traceback.format_exception(result.exception)
        )
    return InProcessRun(result.exit_code, output, out_dir, marker)
