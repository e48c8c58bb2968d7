"""Start, watch and always stop the child processes of a run (servers, Prometheus, Locust).

Every child gets its own session (process group), so stopping it also stops the workers it
forked (gunicorn/uvicorn workers, Locust workers). `ProcessGroup` is a context manager that stops
everything it started on success, on failure and on KeyboardInterrupt.
"""

from __future__ import annotations

import contextlib
import ctypes  # imported before any fork: a demoted child cannot read /root/.pyenv
import os
import signal
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from capacity import interrupts
from capacity.polling import Pending, poll_until


class ProcessError(RuntimeError):
    """A managed process failed to start or died; the message includes its log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def _die_with_parent() -> None:
    """Linux: the child gets SIGKILL if the process that started it dies (even by SIGKILL),
    a safety net under the orderly stop; a no-op where prctl is unavailable."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class ManagedProcess:
    """One child process with its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def describe_exit(self) -> str:
        code = self.popen.poll()
        return (
            f"{self.name} (pid {self.pid}) exited with code {code}; last log lines "
            f"({self.log_path}):\n{log_tail(self.log_path)}"
        )

    def terminate(self) -> None:
        """SIGTERM the whole process group if it still runs (`stop` then reaps it)."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM the whole process group, then SIGKILL what is left after `timeout_s`."""
        self.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=timeout_s)
        # Also what a process that already exited left in its group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)


def stop_side_by_side(processes: Sequence[ManagedProcess]) -> None:
    """Every process told to stop at once, then each waited for (and killed if it lingers):
    they shut down side by side, in the time of the slowest."""
    for proc in processes:
        proc.terminate()
    for proc in processes:
        proc.stop()


@dataclass
class ProcessGroup:
    """Owns every process a run starts; stops them in reverse order of start."""

    log_dir: Path
    processes: list[ManagedProcess] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        preexec_fn: Callable[[], None] | None = None,
    ) -> ManagedProcess:
        interrupts.checkpoint()  # after Ctrl-C, start nothing new
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        user_preexec = preexec_fn

        def preexec() -> None:
            if user_preexec is not None:
                user_preexec()  # may change user: that clears the death signal, so set it after
            _die_with_parent()

        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(  # argv is built by the kit, never by a shell
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=full_env,
                cwd=str(cwd) if cwd else None,
                start_new_session=True,
                preexec_fn=preexec,
            )
        proc = ManagedProcess(name=name, popen=popen, log_path=log_path)
        self.processes.append(proc)
        return proc

    def dead(self) -> list[ManagedProcess]:
        return [p for p in self.processes if not p.alive()]

    def stop_all(self) -> None:
        # No Ctrl-C may cut the clean-up short, so a second press cannot leave orphans.
        with interrupts.signals_deferred():
            # Every process is told to stop at once, then each is waited for: they shut down
            # side by side (one after the other took 3.8 s for a one-pod run, mostly gunicorn's
            # and Locust's graceful exits). PostgreSQL's SIGTERM is a smart shutdown, so it
            # still serves the pods' open sessions until they close.
            stop_side_by_side(list(reversed(self.processes)))
            self.processes.clear()

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def wait_http_ok(
    url: str, proc: ManagedProcess | None = None, timeout_s: float = 60.0, interval_s: float = 0.2
) -> None:
    """Poll `url` until it answers 2xx; fail early (with the log) if `proc` dies."""

    def answered() -> bool | Pending:
        if proc is not None and not proc.alive():
            raise ProcessError(proc.describe_exit())
        try:
            r = httpx.get(url, timeout=2.0)
        except httpx.HTTPError as e:
            return Pending(str(e) or type(e).__name__)
        return 200 <= r.status_code < 300 or Pending(f"HTTP {r.status_code}")

    def not_ready(last_error: str) -> ProcessError:
        detail = f"\n{proc.describe_exit()}" if proc is not None and not proc.alive() else ""
        log = f"\nlog tail ({proc.log_path}):\n{log_tail(proc.log_path)}" if proc else ""
        return ProcessError(
            f"{url} did not become ready in {timeout_s:.0f}s ({last_error}){detail}{log}"
        )

    poll_until(answered, timeout_s=timeout_s, interval_s=interval_s, on_timeout=not_ready)
