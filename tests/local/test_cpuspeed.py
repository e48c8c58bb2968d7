"""The CPU speed probes (capacity/target/cpuspeed.py) and what platform.json says of them."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from capacity.measure import speed_details
from capacity.target.cpuspeed import InterpreterProbe, probe_cpu_speed
from tests.capacity.synthetic import record


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


def test_the_platform_record_summarises_the_per_step_probe_and_warns_on_drift() -> None:
    steady = [record("fastapi", "mixed", i, 100.0, cpu_speed=36.0 + (i % 2)) for i in range(8)]
    details = speed_details(steady)
    assert details["cpu_speed"].startswith("36.5 k-rounds/CPU-s, median of 8 steps")
    assert "range 36.0-37.0" in details["cpu_speed"]
    assert "cpu_speed_warning" not in details
    slowing = [record("fastapi", "mixed", i, 100.0, cpu_speed=40.0 - 2 * i) for i in range(8)]
    details = speed_details(slowing)
    # first three 40, 38, 36 (median 38); last three 30, 28, 26 (median 28): -26%
    assert details["cpu_speed_change"].startswith("-26% from the first 3 steps to the last 3")
    assert "slower at the last steps" in details["cpu_speed_warning"]
    assert "support_cpu_speed" not in details
    both = [
        record("fastapi", "mixed", i, 100.0, cpu_speed=36.0, support_cpu_speed=20.0 + i)
        for i in range(3)
    ]
    assert speed_details(both)["support_cpu_speed"].startswith(
        "21.0 k-rounds/CPU-s on the other cores"
    )
    assert speed_details([record("fastapi", "mixed", 0, 100.0, cpu_speed=None)]) == {
        "cpu_speed": "not probed"
    }


def test_the_interpreter_probe_answers_on_demand_and_sees_a_shared_core() -> None:
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("this OS has no CPU affinity, so the probe cannot share a core on purpose")
    with InterpreterProbe([0], seconds=0.05) as probe:
        alone = [probe.measure() for _ in range(3)]
        assert all(r is not None and r.k_rounds_per_cpu_s > 1 for r in alone)
        # A busy process on the same core: the probe's CPU-time rate holds, its wall clock
        # stretches (the step records that core's foreign load from the same reading).
        busy = subprocess.Popen(  # fixed argv, no shell
            [sys.executable, "-c", "import os\nos.sched_setaffinity(0, [0])\nwhile True: pass"]
        )
        try:
            time.sleep(0.2)
            shared = probe.measure()
        finally:
            busy.kill()
            busy.wait()
    assert shared is not None and shared.wall_per_cpu > 1.5
    assert probe.measure() is None  # closed: the run goes on without it
