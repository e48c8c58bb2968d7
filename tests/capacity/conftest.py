"""Shared fixtures: a synthetic measurements file, one report built from it, Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from capacity.measurements import append_record
from capacity.model import Slo
from tests.capacity import synthetic


@pytest.fixture(scope="session")
def measurements_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("run") / "measurements.jsonl"
    for record in synthetic.run():
        append_record(path, record)
    return path


@pytest.fixture(scope="session")
def report_dir(measurements_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from capacity.report import build_report

    out = tmp_path_factory.mktemp("report") / "out"
    return build_report(measurements_file, out, slo=Slo(latency_ms=100, percentile="p95"))


@pytest.fixture(scope="session")
def chromium() -> str:
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if found is None:
        pytest.skip("Debian's chromium package is not installed (make test installs it)")
    return found
