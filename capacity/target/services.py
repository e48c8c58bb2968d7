"""Start the two reference services (and the upstream stub) exactly as their containers do.

The one way tests, benchmarks and the local capacity run start a service: `<python> launch.py`
in the service's directory, configured only through the environment variables of
services/CONTRACT.md, under a `ProcessGroup` that stops it (and every worker it forks).
`<python>` is the pod interpreter (`pod_python()`): this venv's unless FWCAP_POD_PYTHON names
another, e.g. a PGO+LTO build like the images' with the services' requirements.txt installed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from capacity import interrupts
from capacity.errors import TargetError
from capacity.frameworks import REFERENCE, Framework
from capacity.target.process import ManagedProcess, ProcessGroup, log_tail, wait_http_ok

LauncherCommand = Literal["migrate", "seed"]

FRAMEWORKS = REFERENCE
# Every startable service: the reference ones, plus lean variants of each (same contract, same
# launcher and directory, one environment variable apart) that show how much of a difference is
# the framework and how much its ORM/serializer layer. Name -> (service directory, extra env).
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "django": ("django", {}),
    "fastapi": ("fastapi", {}),
    "django-lean": ("django", {"SERVICE_VARIANT": "lean"}),  # plain Django views, no DRF
    "fastapi-lean": ("fastapi", {"SERVICE_VARIANT": "lean"}),  # raw asyncpg, no ORM
    "django-async": ("django", {"SERVICE_VARIANT": "async"}),  # async views under uvicorn
}
SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"
STUB_SCRIPT = SERVICES_DIR / "upstream_stub.py"
LAUNCHER_TIMEOUT_S = 300.0
READY_TIMEOUT_S = 90.0
POD_PYTHON_ENV = "FWCAP_POD_PYTHON"


def pod_python(env: Mapping[str, str] | None = None) -> str:
    """The interpreter pods run: $FWCAP_POD_PYTHON when set, else this process's own.

    The images run python:3.12-slim, built with PGO and LTO; a non-PGO local build costs more
    CPU per request (measured in docs/benchmarks.md, stated in the report's platform section),
    so a user who has a build like the images' can point the pods at it.
    """
    env = os.environ if env is None else env
    chosen = env.get(POD_PYTHON_ENV, "")
    if not chosen:
        return sys.executable
    if not (os.path.isfile(chosen) and os.access(chosen, os.X_OK)):
        raise TargetError(
            f"{POD_PYTHON_ENV}={chosen!r} is not an executable file; expected the path of a "
            "Python 3.12 interpreter with the services' requirements.txt installed, or unset it "
            "to run pods with this venv's interpreter"
        )
    return chosen


@dataclass(frozen=True)
class ServiceHandle:
    """A running service: its base URL and the launcher process (the server after exec)."""

    framework: Framework
    name: str
    base_url: str
    process: ManagedProcess
    port: int
    workers: int | None
    multiproc_dir: Path

    def url(self, path: str) -> str:
        return self.base_url + path


def _check_framework(framework: str) -> Framework:
    if framework not in VARIANTS:
        raise TargetError(f"unknown framework {framework!r}; expected one of {', '.join(VARIANTS)}")
    return framework  # type: ignore[return-value]


def service_dir(framework: str) -> Path:
    """Where `launch.py` of `framework` lives (its working directory)."""
    path = SERVICES_DIR / VARIANTS[_check_framework(framework)][0]
    if not (path / "launch.py").is_file():
        raise TargetError(f"{path}/launch.py does not exist: the {framework} service is missing")
    return path


def run_launcher_command(
    framework: str,
    commands: Sequence[LauncherCommand],
    env: Mapping[str, str],
    python: str | None = None,
) -> None:
    """Run `python launch.py migrate|seed|migrate seed` to completion; raise with its output if
    it fails. ("migrate", "seed") does both in one process: one framework start-up, not two."""
    if tuple(commands) not in (("migrate",), ("seed",), ("migrate", "seed")):
        raise TargetError(
            f"unknown launcher commands {list(commands)}; expected ['migrate'], ['seed'] or "
            "['migrate', 'seed']"
        )
    command = " ".join(commands)
    proc = subprocess.Popen(  # fixed argv, no shell
        [python or pod_python(), "launch.py", *commands],
        cwd=service_dir(framework), env={**os.environ, **env}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + LAUNCHER_TIMEOUT_S
    try:
        while True:
            try:
                stdout, stderr = proc.communicate(timeout=0.2)  # a retry loses no output
                break
            except subprocess.TimeoutExpired:
                interrupts.checkpoint()  # Ctrl-C stops a migration at once, not when it ends
                if time.monotonic() > deadline:
                    raise TargetError(
                        f"{framework} `launch.py {command}` did not finish in "
                        f"{LAUNCHER_TIMEOUT_S:.0f}s"
                    ) from None
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.returncode != 0:
        raise TargetError(
            f"{framework} `launch.py {command}` failed (exit {proc.returncode}):\n"
            f"{(stderr or stdout)[-4000:]}"
        )


def start_stub(group: ProcessGroup, port: int) -> str:
    """Start the upstream stub on 127.0.0.1:`port` under `group`; returns its base URL."""
    proc = group.start(
        f"upstream-stub-{port}",
        [sys.executable, str(STUB_SCRIPT), "--host", "127.0.0.1", "--port", str(port)],
    )
    url = f"http://127.0.0.1:{port}"
    wait_http_ok(url + "/healthz", proc, timeout_s=READY_TIMEOUT_S)
    return url


def start_service(
    group: ProcessGroup,
    framework: str,
    *,
    name: str,
    port: int,
    database_url: str,
    upstream_url: str,
    cpu_limit_millicores: int = 1000,
    workers: int | None = None,
    threads: int | None = None,
    extra_env: Mapping[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
    python: str | None = None,
    wait: bool = True,
) -> ServiceHandle:
    """Start `framework`'s launcher on 127.0.0.1:`port` and wait until /healthz answers
    (`wait=False`: return once it is started; `wait_healthy` then waits).

    `workers`/`threads` left as None let the launcher derive them from the CPU limit, as in a
    pod. `preexec_fn` runs in the child before exec (the local target uses it to enter a cgroup).
    `python` is the interpreter to run (default `pod_python()`).
    Each service gets a private PROMETHEUS_MULTIPROC_DIR under the group's log dir, so metric
    files never mix between services or runs.
    """
    fw = _check_framework(framework)
    cwd = service_dir(fw)
    multiproc_dir = group.log_dir / f"{name}-metrics"
    env: dict[str, str] = {
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "CPU_LIMIT_MILLICORES": str(cpu_limit_millicores),
        "UPSTREAM_URL": upstream_url,
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir),
    }
    if workers is not None:
        env["WORKERS"] = str(workers)
    if threads is not None:
        env["THREADS"] = str(threads)
    env.update(VARIANTS[fw][1])
    env.update(extra_env or {})
    proc = group.start(
        name, [python or pod_python(), "launch.py"], env=env, cwd=cwd, preexec_fn=preexec_fn
    )
    handle = ServiceHandle(
        framework=fw, name=name, base_url=f"http://127.0.0.1:{port}", process=proc, port=port,
        workers=workers, multiproc_dir=multiproc_dir,
    )  # fmt: skip
    if wait:
        wait_healthy(handle)
    return handle


def wait_healthy(handle: ServiceHandle) -> None:
    """Until the service's /healthz answers; TargetError with its log's tail if it never does."""
    try:
        wait_http_ok(handle.url("/healthz"), handle.process, timeout_s=READY_TIMEOUT_S)
    except Exception as e:
        raise TargetError(
            f"{handle.framework} service {handle.name!r} did not become healthy on "
            f"{handle.base_url}: {e}\nlog tail:\n{log_tail(handle.process.log_path)}"
        ) from e
