"""No server or database process outlives the tests: run a child pytest on live tests, let it
finish (or interrupt it with SIGINT while both services are up), then look for survivors.

Every process the child starts inherits a unique FWCAP_TEST_TAG in its environment (and lives
under the child's --basetemp), which is how we find them without touching anyone else's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
HOLD_ENV = "FWCAP_TEST_HOLD_FILE"  # see tests/conftest.py
# A cheap test that needs both services, so PostgreSQL, the stub, gunicorn and uvicorn all
# run; the normal run adds a contract row per framework.
BOTH_SERVICES_TEST = (
    "tests/services/test_metrics.py::test_both_services_expose_identical_names_labels_and_buckets"
)
CONTRACT_ROWS = [
    "tests/services/test_contract.py::test_contract[fastapi-healthz]",
    "tests/services/test_contract.py::test_contract[django-healthz]",
]
SERVER_WORDS = ("gunicorn", "uvicorn", "postgres", "upstream_stub")

pytestmark = pytest.mark.live


def tagged_processes(tag: str, basetemp: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.pid == os.getpid():
                continue
            cmdline = " ".join(proc.info["cmdline"] or [])
            tagged = str(basetemp) in cmdline
            if not tagged:
                tagged = proc.environ().get("FWCAP_TEST_TAG") == tag
            if tagged:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def describe(procs: list[psutil.Process]) -> str:
    lines = []
    for p in procs:
        try:
            lines.append(f"{p.pid} {' '.join(p.cmdline())[:160]}")
        except psutil.Error:
            lines.append(f"{p.pid} (gone)")
    return "\n".join(lines)


def start_child(
    tmp_path: Path, tag: str, tests: list[str], hold_file: Path | None = None
) -> subprocess.Popen[str]:
    env = {**os.environ, "FWCAP_TEST_TAG": tag}
    env.pop(HOLD_ENV, None)
    if hold_file is not None:
        env[HOLD_ENV] = str(hold_file)
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"--basetemp={tmp_path / 'child'}", *tests],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # A shell that backgrounds us may have set SIGINT to "ignore", which children inherit.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


def wait_until_gone(tag: str, basetemp: Path, timeout_s: float = 15.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout_s
    while True:
        left = [p for p in tagged_processes(tag, basetemp) if p.status() != psutil.STATUS_ZOMBIE]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def test_a_finished_run_leaves_no_process_behind(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex
    child = start_child(tmp_path, tag, [BOTH_SERVICES_TEST, *CONTRACT_ROWS])
    output, _ = child.communicate(timeout=280)
    assert child.returncode == 0, output[-3000:]
    left = wait_until_gone(tag, tmp_path / "child")
    assert not left, f"left running after a normal run:\n{describe(left)}"


def test_an_interrupted_run_leaves_no_process_behind(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex
    hold_file = tmp_path / "held"
    child = start_child(tmp_path, tag, CONTRACT_ROWS, hold_file=hold_file)
    try:
        deadline = time.monotonic() + 240
        while not hold_file.exists():
            assert child.poll() is None, child.communicate()[0][-3000:]
            assert time.monotonic() < deadline, "the child never got its services up"
            time.sleep(0.2)
        held = tagged_processes(tag, tmp_path / "child")
        running = " ".join(" ".join(p.cmdline()) for p in held)
        for word in SERVER_WORDS:
            assert word in running, f"{word} is not running in the child before the interrupt"
        child.send_signal(signal.SIGINT)  # what Ctrl-C in a terminal does
        output, _ = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode != 0, output[-3000:]
    left = wait_until_gone(tag, tmp_path / "child")
    assert not left, f"left running after Ctrl-C:\n{describe(left)}"
    assert any(word in output for word in ("KeyboardInterrupt", "Interrupted")), output[-2000:]
