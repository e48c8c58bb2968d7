"""Static gates of issue 2: hadolint on both services' Dockerfiles, ruff on the repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from capacity.target.services import FRAMEWORKS, service_dir

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_dockerfile_passes_hadolint(framework: str) -> None:
    dockerfile = service_dir(framework) / "Dockerfile"
    assert dockerfile.is_file(), f"{dockerfile} is missing"
    done = subprocess.run(
        [str(VENV_BIN / "hadolint"), str(dockerfile)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_dockerfile_is_pinned_non_root_and_runs_the_launcher(framework: str) -> None:
    text = (service_dir(framework) / "Dockerfile").read_text()
    base = next(line.split()[1] for line in text.splitlines() if line.startswith("FROM "))
    assert ":" in base and not base.endswith(":latest"), base
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), users
    cmd = [line for line in text.splitlines() if line.startswith("CMD ")]
    assert cmd and "launch.py" in cmd[-1], cmd


def test_ruff_passes_on_the_repository() -> None:
    done = subprocess.run(
        [str(VENV_BIN / "ruff"), "check", "."], cwd=REPO, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr
