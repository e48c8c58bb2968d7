"""Acceptance 4: Ctrl-C at any point, or a pod crashing mid-run, leaves no process and no cgroup,
keeps every finished step in the JSONL, and exits with a clear message and code.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from capacity.measurements import read_records
from tests.local.cli_harness import CliRun, cgroups_of_run, start_cli, wait_no_processes

pytestmark = [pytest.mark.live, pytest.mark.timeout(240)]

# One framework, one scenario, short steps: the first step finishes about 35 s after start.
SHORT_RUN = [
    "--frameworks", "django", "--scenarios", "db-read", "--step-duration", "5", "--warmup", "4",
    "--quick",
]  # fmt: skip
STEP_LINE = r"django\s+db-read\s+step\s+0 "


def _assert_nothing_left(run: CliRun) -> None:
    left = wait_no_processes(run.marker)
    assert not left, "processes left behind:\n" + "\n".join(left)
    run_id = run.run_id()
    if run_id is not None:
        assert cgroups_of_run(run_id) == [], "cgroups left behind"
        manifest = run.manifest()
        for d in manifest.get("cgroup_dirs", []):  # type: ignore[union-attr]
            assert not Path(d).exists(), d
        assert not Path(str(manifest["workdir"])).exists(), "the work dir must be removed"


@pytest.mark.parametrize(
    ("when", "signum"),
    [
        pytest.param(r"starting PostgreSQL", signal.SIGINT, id="sigint-while-postgres-starts"),
        pytest.param(r"starting pods", signal.SIGINT, id="sigint-while-pods-start"),
        pytest.param(r"starting PostgreSQL", signal.SIGTERM, id="sigterm-while-postgres-starts"),
    ],
)
def test_interrupt_during_start_up_stops_everything(tmp_path: Path, when: str, signum: int) -> None:
    run = start_cli(SHORT_RUN, tmp_path / "out")
    run.wait_for_line(when, timeout_s=90)
    run.signal(signum)
    code = run.finish()
    assert code == 128 + signum, run.output
    assert f"interrupted ({signal.Signals(signum).name})" in run.output
    assert "every process was stopped and every cgroup removed" in run.output
    assert "0 finished step(s) kept" in run.output
    assert run.run_id() is not None
    _assert_nothing_left(run)


def test_ctrl_c_mid_step_keeps_the_finished_steps(tmp_path: Path) -> None:
    run = start_cli(SHORT_RUN, tmp_path / "out")
    run.wait_for_line(STEP_LINE, timeout_s=150)  # step 0 is on disk, step 1 is running
    run.signal(signal.SIGINT)
    code = run.finish()
    assert code == 130, run.output
    assert "interrupted (SIGINT)" in run.output
    records = read_records(tmp_path / "out" / "measurements.jsonl")
    assert len(records) >= 1 and records[0].step == 0 and records[0].framework == "django"
    assert f"{len(records)} finished step(s) kept" in run.output
    assert not (tmp_path / "out" / "results.json").exists(), "no report from an interrupted run"
    _assert_nothing_left(run)


def test_a_pod_killed_mid_run_is_named_with_its_log_and_the_run_stops(tmp_path: Path) -> None:
    run = start_cli(SHORT_RUN, tmp_path / "out")
    run.wait_for_line(STEP_LINE, timeout_s=150)
    pod = next(p for p in run.manifest()["pods"] if p["name"] == "django-0")  # type: ignore[attr-defined]
    os.kill(int(pod["pid"]), signal.SIGKILL)
    code = run.finish()
    assert code == 1, run.output
    assert "pod django-0 crashed" in run.output
    assert "exited with code -9" in run.output
    assert "last log lines" in run.output and "django-0.log" in run.output
    records = read_records(tmp_path / "out" / "measurements.jsonl")
    assert records and records[0].step == 0
    assert f"{len(records)} finished step(s) kept" in run.output
    assert (tmp_path / "out" / "logs" / "django-0.log").is_file(), "the pod's log is kept"
    _assert_nothing_left(run)
