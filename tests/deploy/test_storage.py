"""Storage: Prometheus' retention bounded by its volume as well as by time, PostgreSQL protected
from voluntary eviction, and the optional pg_dumpall CronJob (off by default)."""

from __future__ import annotations

import gzip
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from capacity.quantity import MIB, parse_memory_bytes
from capacity.target.postgres import PG_PASSWORD, PG_USER, Postgres, _bin_dir
from deploy.specs.monitoring import PROMETHEUS_EMPTYDIR_SIZE, retention_size
from deploy.specs.postgres import BACKUP_SCRIPT
from tests.deploy.conftest import Deployed
from tests.deploy.policy import violations


def _one(case: Deployed, kind: str, name: str) -> dict[str, Any]:
    [found] = [
        m for m in case.all_manifests() if m["kind"] == kind and m["metadata"]["name"] == name
    ]
    return found


@pytest.mark.parametrize(
    ("volume", "flag"), [("2Gi", "1638MB"), ("10Gi", "8192MB"), ("8Gi", "6553MB")]
)
def test_retention_size_is_four_fifths_of_the_volume(volume: str, flag: str) -> None:
    assert retention_size(volume) == flag
    assert int(flag[:-2]) * MIB <= parse_memory_bytes(volume) * 0.8


def test_prometheus_retains_by_size_matching_its_volume(case: Deployed) -> None:
    if case.settings.monitoring_mode != "bundled":
        pytest.skip("no bundled Prometheus")
    args = _one(case, "Deployment", "prometheus")["spec"]["template"]["spec"]["containers"][0][
        "args"
    ]
    volume = case.settings.prometheus_storage or PROMETHEUS_EMPTYDIR_SIZE
    assert f"--storage.tsdb.retention.size={retention_size(volume)}" in args
    assert f"--storage.tsdb.retention.time={case.settings.prometheus_retention}" in args


def test_postgresql_has_a_disruption_budget(case: Deployed) -> None:
    pdb = _one(case, "PodDisruptionBudget", "postgres")
    assert pdb["spec"]["minAvailable"] == 1
    labels = _one(case, "StatefulSet", "postgres")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_the_backup_cronjob_exists_only_when_scheduled_and_meets_the_policy(
    case: Deployed,
) -> None:
    cronjobs = [m for m in case.all_manifests() if m["kind"] == "CronJob"]
    if not case.settings.postgres_backup_schedule:
        assert cronjobs == []  # off by default: the committed stacks have none
        return
    [cron] = cronjobs
    assert cron["spec"]["schedule"] == case.settings.postgres_backup_schedule
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert violations(cron) == []
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [dump] = pod["containers"]
    assert "pg_dumpall" in dump["command"][-1] and '.partial"' in dump["command"][-1]
    assert "@sha256:" in dump["image"]
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    ]
    assert claims == ["postgres-backup"]
    assert _one(case, "PersistentVolumeClaim", "postgres-backup")


def test_the_backup_script_dumps_a_real_postgresql_and_keeps_the_newest(
    postgres: Postgres, tmp_path: Path
) -> None:
    """The CronJob's shell script, run by sh against the embedded PostgreSQL (the image's
    pg_dumpall and sh are the same tools): three runs, KEEP=2, the newest dump restores the
    databases' definitions."""
    postgres.create_database("fwcap_backup_demo")
    backup = tmp_path / "backup"
    backup.mkdir()
    port = postgres.url("x").rsplit(":", 1)[1].split("/")[0]
    env = {
        **os.environ,
        "PATH": f"{_bin_dir()}:{os.environ['PATH']}",
        "PGHOST": "127.0.0.1", "PGPORT": port, "PGUSER": PG_USER, "PGPASSWORD": PG_PASSWORD,
        "KEEP": "2",
    }  # fmt: skip
    script = BACKUP_SCRIPT.replace("/backup", str(backup))
    for _ in range(3):
        done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        time.sleep(1.05)  # the file name has a one-second resolution
    dumps = sorted(backup.iterdir())
    assert [d.suffixes[-2:] for d in dumps] == [[".sql", ".gz"]] * 2
    with gzip.open(dumps[-1]) as f:
        text = f.read().decode()
    assert "fwcap_backup_demo" in text, (done.stderr, text[:3000])
