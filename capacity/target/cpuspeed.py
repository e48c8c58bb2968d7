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


# Runs in the child: one probe per line read. The work is what a Python request costs the
# interpreter (attribute and dict look-ups, small allocations, f-strings, calls), not a C kernel
# like SHA-256 whose speed need not move with the interpreter's, and half of it reads objects
# scattered over a 300,000-object heap (about 60 MB, as large as a pod's), so that it pays the
# cache misses a service pays: a probe that fits in the core's own cache read flat (38.4-38.6)
# through three runs in which both services sped up 8-16% (2026-12-07). It answers k-rounds
# per CPU-second, the mean over the whole probe (process time, so a core shared with others
# slows the wall clock, not the figure), and the wall/CPU ratio of the probe (above 1:
# something else ran on its core meanwhile).
_INTERPRETER_PROBE = """
import json, os, sys, time
cpus = json.loads(sys.argv[1])
if cpus and hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, cpus)

class Item:
    __slots__ = ("id", "name", "price")
    def __init__(self, i, name, price):
        self.id, self.name, self.price = i, name, price
    def as_dict(self):
        return {"id": self.id, "name": self.name, "price": f"{self.price:.2f}"}

HEAP = [Item(i, f"item-{i}", i * 1.25) for i in range(300_000)]
print("[]", flush=True)  # built: the caller waits for this before the run goes on

def one_round(n, start):
    rows = [Item(i, f"item-{i}", i * 1.25) for i in range(n)]
    out = [r.as_dict() for r in rows if r.id % 3]
    index = {d["name"]: d for d in out}
    # Knuth's multiplicative hash of a counter: a different, scattered object each time.
    far = [HEAP[(start + k) * 2654435761 % 300_000].as_dict() for k in range(n)]
    return sum(len(k) for k in index) + len(sorted(index, key=lambda k: index[k]["id"])) + len(far)

done = 0
def probe(seconds):
    global done
    rounds, cpu0, wall0 = 0, time.process_time(), time.perf_counter()
    while time.process_time() - cpu0 < seconds:
        one_round(40, done)
        rounds += 1
        done += 40
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return rounds / cpu / 1000, wall / cpu

for line in sys.stdin:
    rate, stretch = probe(float(line))
    print(json.dumps([rate, stretch]), flush=True)
"""


@dataclass(frozen=True)
class ProbeReading:
    """One interpreter-bound probe: k-rounds per CPU-second and its wall/CPU stretch."""

    k_rounds_per_cpu_s: float
    wall_per_cpu: float


class InterpreterProbe:
    """A child process pinned to the pods' core(s) that runs an interpreter-bound probe on
    demand (`seconds` of CPU each time), so a run can measure the pods' core speed before every
    step while the pods are idle. Start with `start()`, end with `close()`."""

    def __init__(self, cpus: Sequence[int], seconds: float = 0.1) -> None:
        self.cpus = tuple(cpus)
        self.seconds = seconds
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> InterpreterProbe:
        self._proc = subprocess.Popen(  # fixed argv, no shell
            [sys.executable, "-c", _INTERPRETER_PROBE, json.dumps(list(self.cpus))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        # Building the heap takes ~0.4 s of the pods' core: done before anything is measured.
        if self._proc.stdout is not None:
            self._proc.stdout.readline()
        return self

    def measure(self) -> ProbeReading | None:
        """None when the probe is not running or did not answer (the run goes on without it)."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None or proc.poll() is not None:
            return None
        try:
            proc.stdin.write(f"{self.seconds}\n")
            proc.stdin.flush()
            rate, stretch = json.loads(proc.stdout.readline())
        except (OSError, ValueError):
            return None
        return ProbeReading(float(rate), float(stretch))

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()

    def __enter__(self) -> InterpreterProbe:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()
