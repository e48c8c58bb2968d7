"""How fast this machine's CPUs are right now: a fixed-work probe, for telling runs apart.

A pod's capacity under a CPU quota is the work its CPU-seconds buy, so it moves with the speed
of the core it runs on. On a shared VM that speed is not constant: the host's other tenants and
its frequency scaling change it from one minute to the next (docs/benchmarks.md, "CPU speed of
this machine", measured 2x swings within seconds here). The probe hashes a fixed buffer with
SHA-256 for a fixed CPU time on the given cores, in a child process (so the run's own process
and its children keep their CPU affinity), and reports thousands of hashes per CPU-second. The
run probes the pods' cores before the first step and after the last, and the report states
both: two runs whose probes differ are not comparable in absolute figures, only in ratios
measured within each run.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

# Runs in the child: `samples` probes of `seconds` of CPU time each, as k-hashes per CPU-second.
_PROBE = """
import hashlib, json, os, sys, time
cpus, samples, seconds = json.loads(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
if cpus and hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, cpus)
rates = []
for _ in range(samples):
    block, n, start = b"fwcap" * 12, 0, time.process_time()
    while time.process_time() - start < seconds:
        for _ in range(500):
            block = hashlib.sha256(block).digest()
        n += 500
    rates.append(n / (time.process_time() - start) / 1000)
print(json.dumps(rates))
"""


@dataclass(frozen=True)
class CpuSpeed:
    """k SHA-256 hashes per CPU-second on `cpus`: the median of the samples, and their range."""

    cpus: tuple[int, ...]
    median: float
    low: float
    high: float

    def text(self) -> str:
        where = ",".join(map(str, self.cpus)) if self.cpus else "any"
        return (
            f"{self.median:,.0f} k SHA-256/s (samples {self.low:,.0f}-{self.high:,.0f}) on CPU "
            f"{where}"
        )


def probe_cpu_speed(
    cpus: Sequence[int] = (), samples: int = 5, seconds: float = 0.2, timeout_s: float = 30.0
) -> CpuSpeed | None:
    """Probe `cpus` (all when empty); None if the probe could not run (the run goes on)."""
    try:
        done = subprocess.run(  # fixed argv, no shell
            [sys.executable, "-c", _PROBE, json.dumps(list(cpus)), str(samples), str(seconds)],
            capture_output=True, text=True, timeout=timeout_s, check=True,
        )  # fmt: skip
        rates = [float(r) for r in json.loads(done.stdout)]
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if not rates:
        return None
    return CpuSpeed(tuple(cpus), statistics.median(rates), min(rates), max(rates))


def drift(start: CpuSpeed | None, end: CpuSpeed | None) -> float | None:
    """end / start - 1 of the medians (negative: slower at the end)."""
    if start is None or end is None or start.median <= 0:
        return None
    return end.median / start.median - 1
