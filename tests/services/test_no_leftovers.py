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
HOLD_ENV = "FWCAP_TEST_HOLD_FILE"  # see tests/services/hold_services.py
HOLD_TEST = "tests/services/hold_services.py"
# A cheap test that needs both services, so PostgreSQL, the stub, gunicorn and uvicorn all
# run; the normal run adds a contract row per framework.
BOTH_SERVICES_TEST = (
    "tests/services/test_metrics.py::test_both_services_expose_identical_names_labels_and_buckets"
)
CONTRACT_ROWS = [
    "tests/services/test_contract.py::test_contract[fastapi-healthz]",
    "tests/services/test_contract.py::test_contract[django-healthz]",
]
# FastAPI (and django-async) run under uvicorn through `python -m asgi_server.serve` (its
# hardened protocol, issue 15).
SERVER_WORDS = ("gunicorn", "asgi_server.serve", "postgres", "upstream_stub")

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
) -> tuple[subprocess.Popen[bytes], Path]:
    env = {**os.environ, "FWCAP_TEST_TAG": tag}
    env.pop(HOLD_ENV, None)
    if hold_file is not None:
        env[HOLD_ENV] = str(hold_file)
    output = tmp_path / "output.txt"
    with output.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             f"--basetemp={tmp_path / 'basetemp'}", *tests],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
            # A shell that backgrounds us may have set SIGINT to "ignore"; children inherit that.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
    return child, output


def wait_until_gone(tag: str, basetemp: Path, timeout_s: float = 15.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout_s
    while True:
        left = [p for p in tagged_processes(tag, basetemp) if p.status() != psutil.STATUS_ZOMBIE]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def test_no_server_or_database_survives_a_finished_or_an_interrupted_run(
    tmp_path: Path,
) -> None:
    # Both child sessions run at once (each costs a PostgreSQL and two services' start-up).
    finished_dir, interrupted_dir = tmp_path / "finished", tmp_path / "interrupted"
    finished_dir.mkdir()
    interrupted_dir.mkdir()
    finished_tag, interrupted_tag = uuid.uuid4().hex, uuid.uuid4().hex
    hold_file = interrupted_dir / "held"
    finished, finished_out = start_child(
        finished_dir, finished_tag, [BOTH_SERVICES_TEST, *CONTRACT_ROWS]
    )
    interrupted, interrupted_out = start_child(
        interrupted_dir, interrupted_tag, [*CONTRACT_ROWS, HOLD_TEST], hold_file=hold_file
    )
    try:
        deadline = time.monotonic() + 240
        while not hold_file.exists():
            assert interrupted.poll() is None, interrupted_out.read_text()[-3000:]
            assert time.monotonic() < deadline, "the child never got its services up"
            time.sleep(0.2)
        held = tagged_processes(interrupted_tag, interrupted_dir)
        running = " ".join(" ".join(p.cmdline()) for p in held)
        for word in SERVER_WORDS:
            assert word in running, f"{word} is not running in the child before the interrupt"
        interrupted.send_signal(signal.SIGINT)  # what Ctrl-C in a terminal does
        interrupted.wait(timeout=120)
        finished.wait(timeout=240)
    finally:
        for child in (finished, interrupted):
            if child.poll() is None:
                child.kill()

    output = finished_out.read_text()
    assert finished.returncode == 0, output[-3000:]
    left = wait_until_gone(finished_tag, finished_dir)
    assert not left, f"left running after a normal run:\n{describe(left)}"

    output = interrupted_out.read_text()
    assert interrupted.returncode != 0, output[-3000:]
    assert any(word in output for word in ("KeyboardInterrupt", "Interrupted")), output[-2000:]
    left = wait_until_gone(interrupted_tag, interrupted_dir)
    assert not left, f"left running after Ctrl-C:\n{describe(left)}"
