"""How steady is this machine's CPU? The kit's speed probe, sampled for a while on each core.

    .venv/bin/python scripts/bench_cpu_speed.py --seconds 60

Prints, per core, the k SHA-256 hashes per CPU-second of each 0.2 s sample: min, 10th
percentile, median, 90th percentile, max, and the largest change between consecutive samples.
On a dedicated machine the spread is a few percent; where it is larger, capacity figures move
with it from run to run (docs/benchmarks.md, "CPU speed of this machine").
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time

from capacity.target import probe_cpu_speed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="sampling time per core")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {len(cpus)} CPUs, load {os.getloadavg()}")
    for cpu in cpus:
        rates: list[float] = []
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            speed = probe_cpu_speed([cpu], samples=5, seconds=0.2)
            if speed is None:
                raise SystemExit(f"the probe could not run on CPU {cpu}")
            rates.append(speed.median)
        deciles = statistics.quantiles(rates, n=10)
        jumps = [abs(b / a - 1) for a, b in itertools.pairwise(rates) if a > 0]
        print(
            f"CPU {cpu}: {len(rates)} probes, k SHA-256/s min {min(rates):,.0f} "
            f"p10 {deciles[0]:,.0f} median {statistics.median(rates):,.0f} "
            f"p90 {deciles[-1]:,.0f} max {max(rates):,.0f}; "
            f"max/min {max(rates) / min(rates):.2f}, largest step {max(jumps, default=0):.0%}"
        )


if __name__ == "__main__":
    main()
