"""Acceptance 5: a missing Prometheus, a busy port, an unwritable output directory and an
invalid option each stop `capacity report` with a clear error and a non-zero exit, before any
process starts or any request is sent. Run in-process (tests/local/cli_harness.py): nothing
here gets as far as starting a process, which `_assert_nothing_started` checks.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.local.cli_harness import InProcessRun, processes_with_marker, run_cli_in_process


def _run(args: list[str], out: Path, env: dict[str, str] | None = None) -> InProcessRun:
    return run_cli_in_process(args, out, env=env)


def _assert_nothing_started(run: InProcessRun) -> None:
    assert not processes_with_marker(run.marker)
    assert not (run.out_dir / "run.json").exists(), "no run may begin"
    assert not (run.out_dir / "measurements.jsonl").exists()
    assert "starting" not in run.output


def test_missing_prometheus_binary_says_how_to_install_it(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"  # a PATH with everything but prometheus
    bin_dir.mkdir()
    for tool in ("sh", "env", "uname"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    run = _run(["--quick"], tmp_path / "out", env={"PATH": str(bin_dir)})
    assert run.returncode == 1, run.output
    assert "`prometheus` binary is not on PATH" in run.output
    assert "apt-get install prometheus" in run.output and "make report" in run.output
    _assert_nothing_started(run)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize("flag", ["--prometheus-port", "--locust-port"])
def test_a_pinned_busy_port_is_refused(tmp_path: Path, busy_port: int, flag: str) -> None:
    run = _run(["--quick", flag, str(busy_port)], tmp_path / "out")
    assert run.returncode == 2, run.output
    assert f"{flag} {busy_port}: the port is already in use" in run.output
    _assert_nothing_started(run)


def test_an_output_path_under_a_file_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    run = _run(["--quick"], blocker / "report")
    assert run.returncode == 2, run.output
    assert f"--out {blocker / 'report'} is not writable" in run.output
    _assert_nothing_started(run)


@pytest.fixture
def unwritable_dir(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "locked"
    d.mkdir()
    if os.geteuid() != 0:
        d.chmod(0o555)
        yield d
        d.chmod(0o755)
        return
    # root ignores permission bits: make the directory immutable instead (ext2/3/4, xfs, btrfs)
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(d)], capture_output=True).returncode:
        pytest.skip("running as root on a file system without chattr +i: no unwritable dir")
    try:
        yield d
    finally:
        subprocess.run([chattr, "-i", str(d)], check=True)


def test_an_unwritable_output_directory_is_refused(unwritable_dir: Path) -> None:
    run = _run(["--quick"], unwritable_dir / "report")
    assert run.returncode == 2, run.output
    assert "is not writable" in run.output and "choose a directory you can write to" in run.output
    _assert_nothing_started(run)


def test_an_output_directory_with_an_earlier_run_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "measurements.jsonl").write_text("{}\n")
    run = _run(["--quick"], tmp_path / "out")
    assert run.returncode == 2, run.output
    assert "already holds measurements.jsonl" in run.output
    assert (tmp_path / "out" / "measurements.jsonl").read_text() == "{}\n", "never overwritten"


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--cpu", "half"], ["cpu (--cpu)", "'half'", "500m"]),
        (["--scenarios", "db-read,login"], ["unknown scenario(s) 'login'", "accepted:"]),
        (["--replicas", "0"], ["replicas (--replicas)", "got 0"]),
        (["--replicas", "two"], ["Invalid value for '--replicas'", "valid integer"]),
        (["--frameworks", "flask"], ["frameworks (--frameworks)", "'flask'"]),
    ],
)
def test_an_invalid_option_is_refused_before_anything_starts(
    tmp_path: Path, args: list[str], needles: list[str]
) -> None:
    run = _run(args, tmp_path / "out")
    assert run.returncode == 2, run.output
    for needle in needles:
        assert needle in run.output
    _assert_nothing_started(run)


def test_a_bad_plan_file_is_refused(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("scenarios: [db-read]\nstep_duration_s: 1\n")
    run = _run(["--plan", str(plan)], tmp_path / "out")
    assert run.returncode == 2, run.output
    assert f"step_duration_s (plan file {plan})" in run.output
    _assert_nothing_started(run)
