"""The suite's parallel layout holds: a module's shared fixture is set up on one worker, once.

`make test` runs `-n auto --dist loadgroup`, and tests/conftest.py puts every test that uses a
module-scoped fixture into its module's `xdist_group`. If that grouping silently stops working
(pytest 9.2 with pytest-xdist 3.8 does, pytest-xdist#1386), each real capacity run behind such a
fixture is made once per worker: the suite still passes, only minutes slower. This runs a small
suite through the real conftest hook, on two workers, and counts the fixture's set-ups.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CONFTEST = "from tests.conftest import pytest_collection_modifyitems  # noqa: F401\n"
SHARED = """
import os
import pytest

@pytest.fixture(scope="module")
def shared():
    with open(os.environ["SETUP_LOG"], "a") as f:
        f.write(f"{os.environ.get('PYTEST_XDIST_WORKER')}\\n")
    yield

@pytest.mark.parametrize("n", range(6))
def test_uses_shared(shared, n):
    pass
"""
SPREAD = """
import time
import pytest

@pytest.mark.parametrize("n", range(6))
def test_independent(n):
    time.sleep(0.05)
"""
# Plugins this small suite does not need, left out so it starts in seconds.
NO_PLUGINS = [
    arg
    for name in ("cacheprovider", "schemathesis", "hypothesispytest", "locust")
    for arg in ("-p", f"no:{name}")
]


def test_a_module_fixture_is_set_up_once_on_one_of_two_workers(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_shared.py").write_text(SHARED)
    (tmp_path / "test_spread.py").write_text(SPREAD)
    log = tmp_path / "setups.log"
    env = {**os.environ, "SETUP_LOG": str(log), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", *NO_PLUGINS, "-q",
         "-W", "ignore::pytest.PytestUnknownMarkWarning", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    workers = log.read_text().split()
    assert len(workers) == 1, (
        f"the module fixture was set up {len(workers)} times (on workers {workers}): "
        "--dist loadgroup no longer keeps a module's tests together"
    )
