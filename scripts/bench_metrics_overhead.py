#!/usr/bin/env python3
"""Requests/s of each service with and without its metrics middleware, side by side in one run.

Starts PostgreSQL and four services (Django and FastAPI, each with METRICS_ENABLED=1 and 0, one
worker each) through their launchers, then drives the same endpoints with a fixed-duration
closed-loop load: N keep-alive connections, each sending its next request as soon as the
previous answer arrived. Runs are interleaved A B A B ... (metrics on, off, on, off, with the
order flipped every other round) so drift on a shared machine hits both sides alike. The
servers are pinned to CPU 0 and the load generator to CPU 1 when the machine has two or more.

    .venv/bin/python scripts/bench_metrics_overhead.py [--duration-s 3] [--rounds 6]
        [--connections 16] [--endpoint /healthz --endpoint /api/items/42]

Prints, per (framework, endpoint), requests/s and the servers' CPU time per request with and
without metrics, and each overhead in percent: the median over rounds of the on/off ratio,
each round's two runs being back to back.
Target: overhead under 5%.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import WARMUP_S, machine, measure, pin_to

from capacity.target import (
    FRAMEWORKS,
    ProcessGroup,
    ServiceHandle,
    free_port,
    run_launcher_command,
    start_postgres,
    start_service,
)

DEFAULT_ENDPOINTS = ("/api/items/42", "/healthz")


@dataclass(frozen=True)
class Run:
    framework: str
    endpoint: str
    metrics: bool
    rps: float
    cpu_us_per_request: float
    errors: int


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--endpoint", action="append", dest="endpoints")
    parser.add_argument("--framework", action="append", dest="frameworks", choices=FRAMEWORKS)
    args = parser.parse_args(argv)
    for name in ("duration_s", "rounds", "connections"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')}={getattr(args, name)} must be > 0")
    for endpoint in args.endpoints or ():
        if not endpoint.startswith("/"):
            parser.error(f"--endpoint {endpoint!r} must be a path starting with '/'")
    args.endpoints = args.endpoints or list(DEFAULT_ENDPOINTS)
    args.frameworks = args.frameworks or list(FRAMEWORKS)
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    print(f"machine: {machine()}")
    print(f"load: {args.connections} keep-alive connections, {args.duration_s:g} s per run "
          f"after {WARMUP_S:g} s warm-up, {args.rounds} rounds, interleaved on/off\n")  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="fwcap-bench-"))
    try:
        runs = run_all(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(runs)
    return 0


def run_all(args: argparse.Namespace, work: Path) -> list[Run]:
    runs: list[Run] = []
    with ProcessGroup(work / "logs") as group:
        postgres = start_postgres(group, work / "postgres")
        services: dict[tuple[str, bool], ServiceHandle] = {}
        for framework in args.frameworks:
            url = postgres.create_database(f"fwcap_{framework}")
            run_launcher_command(framework, ("migrate", "seed"), {"DATABASE_URL": url})
            for metrics in (True, False):
                services[framework, metrics] = start_service(
                    group, framework, name=f"{framework}-metrics-{int(metrics)}",
                    port=free_port(), database_url=url, upstream_url="http://127.0.0.1:9",
                    workers=1, extra_env={"METRICS_ENABLED": "1" if metrics else "0"},
                    preexec_fn=pin_to({0}),
                )  # fmt: skip
        pin_load = pin_to({1})
        if pin_load is not None:
            pin_load()
        for framework in args.frameworks:
            for endpoint in args.endpoints:
                for round_ in range(args.rounds):
                    order = (True, False) if round_ % 2 == 0 else (False, True)
                    for metrics in order:
                        rps, cpu_us, errors = measure(
                            services[framework, metrics], endpoint, args.connections,
                            args.duration_s,
                        )  # fmt: skip
                        runs.append(Run(framework, endpoint, metrics, rps, cpu_us, errors))
                        print(f"  {framework:8} {endpoint:16} metrics={'on ' if metrics else 'off'}"
                              f" {rps:9.1f} req/s {cpu_us:7.1f} CPU-us/req  non-200: {errors}",
                              flush=True)  # fmt: skip
    return runs


def _median_overhead_pct(on: list[float], off: list[float], higher_is_better: bool) -> float:
    if higher_is_better:
        return statistics.median((1 - a / b) * 100 for a, b in zip(on, off, strict=True))
    return statistics.median((a / b - 1) * 100 for a, b in zip(on, off, strict=True))


def report(runs: list[Run]) -> None:
    """Medians per side, and overheads from adjacent on/off pairs.

    Each round's on and off runs are back to back, so their ratio is barely touched by what the
    rest of a shared machine does; the median of those per-round ratios is the overhead.
    """
    print("\nframework endpoint         req/s on   req/s off  overhead | CPU-us/req on   off"
          "  overhead")  # fmt: skip
    for framework in dict.fromkeys(r.framework for r in runs):
        for endpoint in dict.fromkeys(r.endpoint for r in runs):
            pick = [r for r in runs if (r.framework, r.endpoint) == (framework, endpoint)]
            on = [r for r in pick if r.metrics]
            off = [r for r in pick if not r.metrics]
            if not on or not off:
                continue
            rps_on, rps_off = [r.rps for r in on], [r.rps for r in off]
            cpu_on = [r.cpu_us_per_request for r in on]
            cpu_off = [r.cpu_us_per_request for r in off]
            print(f"{framework:9} {endpoint:16} {statistics.median(rps_on):9.1f} "
                  f"{statistics.median(rps_off):11.1f} "
                  f"{_median_overhead_pct(rps_on, rps_off, True):8.1f}% | "
                  f"{statistics.median(cpu_on):13.1f} {statistics.median(cpu_off):5.1f} "
                  f"{_median_overhead_pct(cpu_on, cpu_off, False):8.1f}%")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
