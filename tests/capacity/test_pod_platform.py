"""What the report says the pods ran on: interpreter build, CPU placement, the pod interpreter.

Real interpreters and real processes: the build is read by running the interpreter, the
placement from live processes' affinity masks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from capacity.errors import TargetError
from capacity.report.platform import PGO_LTO_FLAGS, cpu_placement, interpreter_build
from capacity.target.services import POD_PYTHON_ENV, pod_python

needs_two_cpus = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="pinning is told apart from free placement only on a machine with 2+ usable CPUs",
)


def test_interpreter_build_reports_the_config_args_of_the_interpreter_it_runs() -> None:
    build = interpreter_build(sys.executable)
    assert build["pod_python"] == sys.executable
    assert build["pod_python_version"].endswith(sys.version.split()[0])
    assert build["pod_python_config_args"] == (
        sysconfig.get_config_var("CONFIG_ARGS") or "(none recorded)"
    )
    optimised = all(flag in build["pod_python_config_args"] for flag in PGO_LTO_FLAGS)
    assert build["pod_python_pgo_lto"].startswith("yes") == optimised
    if not optimised:
        assert "overstate" in build["pod_python_pgo_lto"]


def test_the_framework_versions_measured_are_the_pod_interpreters_own() -> None:
    from importlib import metadata

    packages = interpreter_build(sys.executable)["pod_framework_packages"]
    for name in ("fastapi", "starlette", "django", "gunicorn", "uvicorn"):
        assert f"{name} {metadata.version(name)}" in packages


def test_a_pgo_lto_build_is_recognised_from_its_config_args(tmp_path: Path) -> None:
    # A real interpreter run with a CONFIG_ARGS the images' build has (python:3.12-slim).
    fake = tmp_path / "python-pgo"
    fake.write_text(
        "#!/bin/sh\n"
        'echo \'{"version": "3.12.11", "implementation": "cpython", "config_args": '
        '"--enable-loadable-sqlite-extensions --enable-optimizations '
        "--enable-option-checking=fatal --enable-shared --with-lto --with-ensurepip\"}'\n"
    )
    fake.chmod(0o755)
    build = interpreter_build(str(fake))
    assert build["pod_python_pgo_lto"].startswith("yes")
    assert build["pod_python_version"] == "cpython 3.12.11"
    assert build["pod_framework_packages"] == "none found"


def test_an_interpreter_that_cannot_run_is_reported_not_raised(tmp_path: Path) -> None:
    build = interpreter_build(str(tmp_path / "no-such-python"))
    assert build["pod_python_build"].startswith("unknown: cannot run it")


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_a_process_with_every_cpu_is_reported_free(sleeper: subprocess.Popen[bytes]) -> None:
    os.sched_setaffinity(sleeper.pid, range(os.cpu_count() or 1))
    assert cpu_placement([sleeper.pid]).startswith("free")


@needs_two_cpus
def test_a_process_held_to_one_cpu_is_reported_pinned(sleeper: subprocess.Popen[bytes]) -> None:
    os.sched_setaffinity(sleeper.pid, {0})
    placement = cpu_placement([sleeper.pid])
    assert placement.startswith("pinned (cpuset): pods on CPU(s) 0 of")


def test_placement_of_an_exited_pod_is_unknown() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert cpu_placement([gone.pid]).startswith("unknown")


def test_pods_run_this_venvs_interpreter_unless_told_otherwise() -> None:
    assert pod_python({}) == sys.executable
    assert pod_python({POD_PYTHON_ENV: ""}) == sys.executable
    assert pod_python({POD_PYTHON_ENV: sys.executable}) == sys.executable


def test_a_pod_interpreter_that_is_not_executable_is_refused_by_name(tmp_path: Path) -> None:
    missing = tmp_path / "python3.12"
    with pytest.raises(TargetError, match=rf"{POD_PYTHON_ENV}=.*python3\.12.*not an executable"):
        pod_python({POD_PYTHON_ENV: str(missing)})


@needs_two_cpus
def test_the_reports_machine_section_names_the_pods_interpreter_and_placement(
    sleeper: subprocess.Popen[bytes], measurements_file: Path, tmp_path: Path
) -> None:
    """platform.json as the local run writes it, then the report rendered from it."""
    from capacity.model import Slo
    from capacity.plan import Plan
    from capacity.report import build_report
    from capacity.target.base import Endpoints, PodInfo, PodShape
    from capacity.target.local import LocalTarget

    os.sched_setaffinity(sleeper.pid, {1})  # a pod pinned to CPU 1 by its cpuset
    target = LocalTarget(["fastapi"], 1, PodShape(500, 512 * 2**20), tmp_path / "work")
    pod = PodInfo("fastapi-0", "fastapi", "http://127.0.0.1:1", sleeper.pid, None, 500, 1, False)
    target.endpoints = Endpoints({"fastapi": [pod.base_url]}, "", "", "local", [pod])
    details = target.platform_details(Plan())
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "measurements.jsonl").write_bytes(measurements_file.read_bytes())
    (run_dir / "platform.json").write_text(json.dumps(details))

    out = build_report(run_dir / "measurements.jsonl", tmp_path / "report", slo=Slo())

    markdown = (out / "report.md").read_text()
    machine = markdown[markdown.index("## The machine") :]
    config_args = sysconfig.get_config_var("CONFIG_ARGS")
    assert "pod_python_config_args" in machine
    assert config_args in machine or json.dumps(config_args)[1:-1] in machine
    assert "pod_python_pgo_lto" in machine
    assert "pinned (cpuset): pods on CPU(s) 1 of" in machine
