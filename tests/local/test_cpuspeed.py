"""The CPU speed probe (capacity/target/cpuspeed.py) and what platform.json says of it."""

from __future__ import annotations

import os

import pytest

from capacity.commands.local_run import speed_details
from capacity.target.cpuspeed import CpuSpeed, drift, probe_cpu_speed


def test_the_probe_measures_hashes_per_cpu_second_on_the_cores_it_is_given() -> None:
    speed = probe_cpu_speed([0], samples=3, seconds=0.05)
    assert speed is not None and speed.cpus == (0,)
    assert 0 < speed.low <= speed.median <= speed.high
    # Any CPU this kit runs on hashes 64 bytes more than 50,000 times per CPU-second.
    assert speed.median > 50
    assert speed.text().endswith("on CPU 0")


def test_a_probe_that_cannot_run_gives_none_and_the_run_goes_on() -> None:
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("this OS has no CPU affinity, so no CPU can be refused")
    assert probe_cpu_speed([(os.cpu_count() or 1) + 1000], samples=1, seconds=0.01) is None


def test_drift_and_the_platform_record_name_the_change() -> None:
    start, end = CpuSpeed((0,), 2000, 1900, 2100), CpuSpeed((0,), 1500, 1400, 1600)
    assert drift(start, end) == pytest.approx(-0.25)
    details = speed_details(start, end)
    assert details["cpu_speed_before_first_step"].startswith("2,000 k SHA-256/s")
    assert details["cpu_speed_change"].startswith("-25% over the run")
    assert speed_details(None, end)["cpu_speed_change"] == "unknown"
