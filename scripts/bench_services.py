#!/usr/bin/env python3
"""Service variants side by side on one core: requests/s and the server's CPU per request.

Each variant is one service started through its launcher with one worker process, pinned to CPU
0; the load generator (the closed-loop asyncio client of bench_metrics_overhead.py: N keep-alive
connections, each sending its next request when the previous answer arrived) runs on CPU 1.
Runs are interleaved (every variant once per round, the order rotated each round), so drift on
a shared machine hits every variant alike; the figures are medians over rounds. CPU per request
is the server processes' own CPU time over the requests completed - the steadier figure when
other tenants share the machine.

    .venv/bin/python scripts/bench_services.py --suite upstream     # outbound HTTP client, threads
    .venv/bin/python scripts/bench_services.py --suite buffering    # Django's buffering worker cost
    [--rounds 5] [--duration-s 4] [--connections 64]

Suites:
- upstream: /api/upstream?delay_ms=50 on FastAPI with aiohttp's and httpx's client, and on
  Django with 4, 8, 16 and 32 gthread threads (the thread-count sweep).
- buffering: /healthz and /api/items/42 on Django with the buffering gthread worker (the
  default) and gunicorn's stock gthread worker: what the slow-client protection costs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_metrics_overhead import WARMUP_S, _pin_to, machine, measure

from capacity.target.postgres import start_postgres
from capacity.target.process import ProcessGroup, free_port
from capacity.target.services import (
    ServiceHandle,
    run_launcher_command,
    start_service,
    start_stub,
)


@dataclass(frozen=True)
class Variant:
    name: str
    framework: str
    env: dict[str, str] = field(default_factory=dict)
    threads: int | None = None


SUITES: dict[str, tuple[tuple[Variant, ...], tuple[str, ...]]] = {
    "upstream": (
        (
            Variant("fastapi aiohttp", "fastapi", {"UPSTREAM_CLIENT": "aiohttp"}),
            Variant("fastapi httpx", "fastapi", {"UPSTREAM_CLIENT": "httpx"}),
            Variant("django 4 threads", "django", threads=4),
            Variant("django 8 threads", "django", threads=8),
            Variant("django 16 threads", "django", threads=16),
            Variant("django 32 threads", "django", threads=32),
        ),
        ("/api/upstream?delay_ms=50",),
    ),
    "buffering": (
        (
            Variant("django buffered gthread", "django", {"GUNICORN_WORKER_CLASS": "gthread"}),
            Variant("django stock gthread", "django", {"GUNICORN_WORKER_CLASS": "gthread-stock"}),
        ),
        ("/healthz", "/api/items/42"),
    ),
}


@dataclass(frozen=True)
class Run:
    variant: str
    endpoint: str
    rps: float
    cpu_us_per_request: float
    errors: int


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", required=True, choices=sorted(SUITES))
    parser.add_argument("--duration-s", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args(argv)
    for name in ("duration_s", "rounds", "connections"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')}={getattr(args, name)} must be > 0")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    variants, endpoints = SUITES[args.suite]
    print(f"machine: {machine()}")
    print(
        f"load: {args.connections} keep-alive connections, {args.duration_s:g} s per run after "
        f"{WARMUP_S:g} s warm-up, {args.rounds} rounds interleaved; servers on CPU 0 (one "
        "worker), load on CPU 1\n"
    )
    work = Path(tempfile.mkdtemp(prefix="fwcap-bench-"))
    try:
        runs = run_all(args, variants, endpoints, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(runs)
    return 0


def run_all(
    args: argparse.Namespace, variants: tuple[Variant, ...], endpoints: tuple[str, ...], work: Path
) -> list[Run]:
    runs: list[Run] = []
    with ProcessGroup(work / "logs") as group:
        postgres = start_postgres(group, work / "postgres")
        stub_url = start_stub(group, free_port())
        urls: dict[str, str] = {}
        for framework in dict.fromkeys(v.framework for v in variants):
            url = postgres.create_database(f"fwcap_{framework}")
            run_launcher_command(framework, "migrate", {"DATABASE_URL": url})
            run_launcher_command(framework, "seed", {"DATABASE_URL": url})
            urls[framework] = url
        services: dict[str, ServiceHandle] = {}
        for i, variant in enumerate(variants):
            services[variant.name] = start_service(
                group, variant.framework, name=f"variant-{i}", port=free_port(),
                database_url=urls[variant.framework], upstream_url=stub_url, workers=1,
                threads=variant.threads, extra_env=variant.env, preexec_fn=_pin_to({0}),
            )  # fmt: skip
        pin_load = _pin_to({1})
        if pin_load is not None:
            pin_load()
        for endpoint in endpoints:
            for round_ in range(args.rounds):
                shift = round_ % len(variants)
                for variant in variants[shift:] + variants[:shift]:
                    rps, cpu_us, errors = measure(
                        services[variant.name], endpoint, args.connections, args.duration_s
                    )
                    runs.append(Run(variant.name, endpoint, rps, cpu_us, errors))
                    print(
                        f"  {variant.name:24} {endpoint:28} {rps:8.1f} req/s "
                        f"{cpu_us:8.1f} CPU-us/req  non-200: {errors}",
                        flush=True,
                    )
    return runs


def report(runs: list[Run]) -> None:
    print("\n| endpoint | variant | req/s (median) | CPU ms/req (median) | non-200 |")
    print("|---|---|---|---|---|")
    for endpoint in dict.fromkeys(r.endpoint for r in runs):
        for variant in dict.fromkeys(r.variant for r in runs):
            pick = [r for r in runs if (r.variant, r.endpoint) == (variant, endpoint)]
            if not pick:
                continue
            rps = statistics.median(r.rps for r in pick)
            cpu_ms = statistics.median(r.cpu_us_per_request for r in pick) / 1000
            errors = sum(r.errors for r in pick)
            print(f"| `{endpoint}` | {variant} | {rps:,.0f} | {cpu_ms:.2f} | {errors} |")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
