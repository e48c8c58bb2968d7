#!/usr/bin/env python3
"""How much a service's CPU per request varies between fresh processes, against within one.

A capacity run starts each framework's pod once and measures every step against that one
process. If a fresh process of the same code on the same machine costs a different CPU per
request (hash randomisation, address-space layout: pyperf spawns many worker processes for this
reason), one run samples that once, and two runs disagree by it whatever their steps do.

For each framework, `--processes` fresh service processes (one worker, pinned to CPU 1 as the
local pods are; the load generator on CPU 0), started in turn, frameworks alternating
(A B B A ...); each measured `--windows` times for `--duration-s` under a closed-loop load
(scripts/bench_metrics_overhead.py's generator). Reports, per framework, the CPU-us per request
of each process, the within-process and between-process coefficients of variation (one-way
variance components), and whether fixing PYTHONHASHSEED removes the between part
(`--hash-seed random,0`).

    .venv/bin/python scripts/bench_process_variance.py                      # ~6 minutes
    .venv/bin/python scripts/bench_process_variance.py --processes 8 --hash-seed random
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from loadgen import machine, measure, pin_to  # noqa: E402

from capacity.target import (  # noqa: E402
    FRAMEWORKS,
    ProcessGroup,
    free_port,
    run_launcher_command,
    start_postgres,
    start_service,
)


@dataclass(frozen=True)
class Window:
    framework: str
    hash_seed: str
    process: int
    cpu_us_per_request: float
    rps: float


def variance_components(groups: list[list[float]]) -> tuple[float, float, float]:
    """Grand mean, within-process SD and between-process SD (one-way random effects, method of
    moments: var(process means) - within variance / windows, floored at 0)."""
    windows = len(groups[0])
    means = [statistics.fmean(g) for g in groups]
    within = statistics.fmean(statistics.variance(g) for g in groups) if windows > 1 else 0.0
    between = max(0.0, statistics.variance(means) - within / windows) if len(groups) > 1 else 0.0
    return statistics.fmean(means), math.sqrt(within), math.sqrt(between)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=6, help="fresh processes per framework")
    parser.add_argument("--windows", type=int, default=3, help="measurements per process")
    parser.add_argument("--duration-s", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--endpoint", default="/api/items/42")
    parser.add_argument("--framework", action="append", dest="frameworks", choices=FRAMEWORKS)
    parser.add_argument(
        "--hash-seed",
        default="random,0",
        help="comma-separated PYTHONHASHSEED settings to compare ('random' or an integer)",
    )
    args = parser.parse_args(argv)
    for name in ("processes", "windows", "duration_s", "connections"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')}={getattr(args, name)} must be > 0")
    if args.processes < 2 or args.windows < 2:
        parser.error("--processes and --windows must each be at least 2 to separate the two")
    seeds = [s.strip() for s in args.hash_seed.split(",") if s.strip()]
    for s in seeds:
        if s != "random" and not s.isdigit():
            parser.error(f"--hash-seed {s!r}: each setting must be 'random' or an integer >= 0")
    args.hash_seeds = seeds
    args.frameworks = args.frameworks or list(FRAMEWORKS)
    return args


def run_all(args: argparse.Namespace, work: Path) -> list[Window]:
    windows: list[Window] = []
    with ProcessGroup(work / "logs") as group:
        postgres = start_postgres(group, work / "postgres")
        urls = {}
        for fw in args.frameworks:
            urls[fw] = postgres.create_database(f"fwcap_{fw}")
            run_launcher_command(fw, ("migrate", "seed"), {"DATABASE_URL": urls[fw]})
        pin_load = pin_to({0})
        if pin_load is not None:
            pin_load()
        for seed in args.hash_seeds:
            for p in range(args.processes):
                order = args.frameworks if p % 2 == 0 else args.frameworks[::-1]
                for fw in order:
                    env = {"PYTHONHASHSEED": seed} if seed != "random" else {}
                    handle = start_service(
                        group, fw, name=f"{fw}-{seed}-{p}", port=free_port(),
                        database_url=urls[fw], upstream_url="http://127.0.0.1:9", workers=1,
                        extra_env=env, preexec_fn=pin_to({1}),
                    )  # fmt: skip
                    cpu = []
                    for _ in range(args.windows):
                        rps, cpu_us, errors = measure(
                            handle, args.endpoint, args.connections, args.duration_s
                        )
                        if errors:
                            raise SystemExit(f"{fw} answered {errors} non-200s; stopping")
                        windows.append(Window(fw, seed, p, cpu_us, rps))
                        cpu.append(cpu_us)
                    handle.process.stop()
                    print(
                        f"  hash seed {seed:6} {fw:8} process {p}: CPU-us/req "
                        + " ".join(f"{c:6.1f}" for c in cpu),
                        flush=True,
                    )
    return windows


def report(windows: list[Window], args: argparse.Namespace) -> None:
    print(
        "\nhash seed framework   mean CPU-us/req  within-process CV  between-process CV  "
        "process means (min-max)"
    )
    for seed in args.hash_seeds:
        for fw in args.frameworks:
            groups = [
                [w.cpu_us_per_request for w in windows if (w.framework, w.hash_seed, w.process)
                 == (fw, seed, p)]
                for p in range(args.processes)
            ]  # fmt: skip
            mean, within, between = variance_components(groups)
            means = [statistics.fmean(g) for g in groups]
            print(
                f"{seed:9} {fw:10} {mean:14.1f} {100 * within / mean:17.1f}% "
                f"{100 * between / mean:18.1f}%  {min(means):.1f}-{max(means):.1f} "
                f"(span {100 * (max(means) / min(means) - 1):.0f}%)"
            )


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    print(f"machine: {machine()}")
    print(
        f"{args.processes} processes x {args.windows} windows of {args.duration_s:g} s per "
        f"framework and hash-seed setting, {args.connections} keep-alive connections on "
        f"{args.endpoint}\n",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="fwcap-bench-procvar-") as work:
        windows = run_all(args, Path(work))
    report(windows, args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
