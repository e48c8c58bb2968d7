#!/usr/bin/env python3
"""Service variants side by side on one core: requests/s and the server's CPU per request.

Each variant is one service started through its launcher with one worker process, pinned to CPU
0; the load generator (the closed-loop asyncio client of loadgen.py: N keep-alive
connections, each sending its next request when the previous answer arrived) runs on CPU 1.
Runs are interleaved (every variant once per round, the order rotated each round), so drift on
a shared machine hits every variant alike; the figures are medians over rounds. CPU per request
is the server processes' own CPU time over the requests completed - the steadier figure when
other tenants share the machine.

    .venv/bin/python scripts/bench_services.py --suite upstream     # outbound HTTP client, threads
    .venv/bin/python scripts/bench_services.py --suite efficiency   # reference vs lean variants
    .venv/bin/python scripts/bench_services.py --suite buffering    # Django's buffering worker cost
    [--rounds 5] [--duration-s 4] [--connections 64] [--techempower-dir /work/scratch/tfb]

Each of our layers priced one at a time, TechEmpower's apps beside them on their pins and on our
packages: scripts/bench_layers.py, which runs its variants through run_all below.

`--techempower-dir` (efficiency suite) adds TechEmpower's FastAPI and Django entries, run beside
ours on the same PostgreSQL, core and load: their `/json` against our `/healthz` (trivial JSON)
and their `/db` against our `/api/items/42` (one row by id). Their code is not part of this
project and is never downloaded at run time: scripts/setup_techempower.sh makes the directory
from a git directory of github.com/TechEmpower/FrameworkBenchmarks at the commit
docs/benchmarks.md cites: `frameworks/Python/{fastapi,django}` (with host, port, user and pool
size read from PG* and TFB_MAX_POOL environment variables: their files hard-code the
`tfb-database` host; the script holds the exact patch) and two virtualenvs made from their
requirement files, `venv-fastapi` (requirements-uvicorn.txt) and `venv-django`
(requirements.txt without mysqlclient, plus gunicorn 23.0.0).

Suites:
- upstream: /api/upstream?delay_ms=50 on FastAPI with aiohttp's and httpx's client, and on
  Django with 4, 8, 16 and 32 gthread threads (the thread-count sweep).
- threads: the same sweep on /api/items/42 and on /api/upstream, for one setting that serves
  both workload kinds.
- efficiency: /healthz (trivial JSON) and /api/items/42 (one row by id) on each reference
  service and its lean variant (FastAPI on raw asyncpg, Django with plain views).
- buffering: /healthz and /api/items/42 on Django with the buffering gthread worker (the
  default) and gunicorn's stock gthread worker: what the slow-client protection costs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import WARMUP_S, machine, measure, pin_to

from capacity.target import (
    VARIANTS,
    ProcessGroup,
    ServiceHandle,
    free_port,
    run_launcher_command,
    start_postgres,
    start_service,
    start_stub,
    wait_http_ok,
)


@dataclass(frozen=True)
class Variant:
    name: str
    service: str  # a name in capacity.target.services.VARIANTS, or "techempower-<framework>"
    env: dict[str, str] = field(default_factory=dict)
    threads: int | None = None
    endpoints: tuple[str, ...] = ()  # measured on these of the suite's endpoints; () = all
    # TechEmpower's entries only: "theirs" (their pinned venv) or "ours" (our .venv's packages)
    packages: str = "theirs"

    def measures(self, endpoint: str) -> bool:
        return not self.endpoints or endpoint in self.endpoints

    def path(self, endpoint: str) -> str:
        return TECHEMPOWER_PATHS.get(endpoint, endpoint) if self.is_techempower else endpoint

    @property
    def is_techempower(self) -> bool:
        return self.service.startswith("techempower-")


# Our endpoint -> the TechEmpower test of the same kind.
TECHEMPOWER_PATHS = {"/healthz": "/json", "/api/items/42": "/db"}
TECHEMPOWER_VARIANTS = (
    Variant("techempower fastapi", "techempower-fastapi"),
    Variant("techempower django", "techempower-django"),
)
# What scripts/setup_techempower.sh makes in the --techempower-dir.
TECHEMPOWER_PARTS = ("frameworks/Python/fastapi", "frameworks/Python/django", "venv-fastapi",
                     "venv-django")  # fmt: skip
# TechEmpower's schema: one table of 10,000 rows, read by a random id per request.
WORLD_SQL = (
    "CREATE TABLE world (id integer PRIMARY KEY, randomnumber integer NOT NULL DEFAULT 0)",
    "INSERT INTO world SELECT i, 1 + floor(random() * 10000)::int FROM generate_series(1, 10000) i",
    "VACUUM ANALYZE world",
)


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
    # The thread count per workload kind (issue 15): the same sweep on a database read and on
    # the outbound call, so one setting can be chosen for a pod that serves both.
    "threads": (
        tuple(Variant(f"django {n} threads", "django", threads=n) for n in (4, 8, 16, 32)),
        ("/api/items/42", "/api/upstream?delay_ms=50"),
    ),
    "efficiency": (
        (
            Variant("fastapi", "fastapi"),
            Variant("fastapi-lean", "fastapi-lean"),
            Variant("django", "django"),
            Variant("django-lean", "django-lean"),
            Variant("django-async", "django-async"),  # async views under uvicorn
            # What the slow-client protection costs: gunicorn's own gthread worker.
            Variant("django stock gthread", "django", {"GUNICORN_WORKER_CLASS": "gthread-stock"}),
        ),
        ("/healthz", "/api/items/42"),
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
    round_: int = 0
    load_before: float = 0.0  # the machine's 1-minute load average around the run
    load_after: float = 0.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", required=True, choices=sorted(SUITES))
    parser.add_argument("--duration-s", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--techempower-dir", type=Path)
    args = parser.parse_args(argv)
    check_args(parser, args, TECHEMPOWER_PARTS)
    return args


def check_args(
    parser: argparse.ArgumentParser, args: argparse.Namespace, techempower_parts: tuple[str, ...]
) -> None:
    """parser.error for a --techempower-dir without one of `techempower_parts`, or a run
    setting that is not > 0."""
    if args.techempower_dir is not None:
        for sub in techempower_parts:
            if not (args.techempower_dir / sub).is_dir():
                parser.error(
                    f"--techempower-dir {args.techempower_dir}: {sub}/ is missing; make it with "
                    "scripts/setup_techempower.sh"
                )
    for name in ("duration_s", "rounds", "connections"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')}={getattr(args, name)} must be > 0")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    variants, endpoints = SUITES[args.suite]
    if args.techempower_dir is not None:
        variants = variants + TECHEMPOWER_VARIANTS
    print(f"machine: {machine()}")
    print(
        f"load: {args.connections} keep-alive connections, {args.duration_s:g} s per run after "
        f"{WARMUP_S:g} s warm-up, {args.rounds} rounds interleaved; servers on CPU 0 (one "
        "worker), load on CPU 1\n"
    )
    report(run_in_scratch(args, variants, endpoints))
    return 0


def run_in_scratch(
    args: argparse.Namespace,
    variants: tuple[Variant, ...],
    endpoints: tuple[str, ...],
    max_connections: int = 200,
) -> list[Run]:
    """run_all in a fresh temporary directory (PostgreSQL's data, the logs), removed after."""
    work = Path(tempfile.mkdtemp(prefix="fwcap-bench-"))
    try:
        return run_all(args, variants, endpoints, work, max_connections)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_all(
    args: argparse.Namespace,
    variants: tuple[Variant, ...],
    endpoints: tuple[str, ...],
    work: Path,
    max_connections: int = 200,
) -> list[Run]:
    runs: list[Run] = []
    with ProcessGroup(work / "logs") as group:
        # Every pool stays open for the whole run: enough for all of them at their size.
        postgres = start_postgres(group, work / "postgres", max_connections=max_connections)
        stub_url = start_stub(group, free_port())
        urls: dict[str, str] = {}
        for framework in dict.fromkeys(
            VARIANTS[v.service][0] for v in variants if not v.is_techempower
        ):
            url = postgres.create_database(f"fwcap_{framework}")
            run_launcher_command(framework, ("migrate", "seed"), {"DATABASE_URL": url})
            urls[framework] = url
        services: dict[str, ServiceHandle] = {}
        if args.techempower_dir is not None:
            postgres.create_database("hello_world")
            for statement in WORLD_SQL:
                postgres.psql(statement, "hello_world")
        for i, variant in enumerate(variants):
            if variant.is_techempower:
                services[variant.name] = start_techempower(
                    group, variant, args.techempower_dir, postgres, work
                )
                continue
            services[variant.name] = start_service(
                group, variant.service, name=f"variant-{i}", port=free_port(),
                database_url=urls[VARIANTS[variant.service][0]], upstream_url=stub_url, workers=1,
                threads=variant.threads, extra_env=variant.env, preexec_fn=pin_to({0}),
            )  # fmt: skip
        pin_load = pin_to({1})
        if pin_load is not None:
            pin_load()
        for endpoint in endpoints:
            measured = tuple(v for v in variants if v.measures(endpoint))
            for round_ in range(args.rounds):
                shift = round_ % len(measured)
                for variant in measured[shift:] + measured[:shift]:
                    load_before = os.getloadavg()[0]
                    rps, cpu_us, errors = measure(
                        services[variant.name], variant.path(endpoint), args.connections,
                        args.duration_s,
                    )  # fmt: skip
                    load_after = os.getloadavg()[0]
                    load = (load_before, load_after)
                    runs.append(Run(variant.name, endpoint, rps, cpu_us, errors, round_, *load))
                    print(
                        f"  {variant.name:36} {endpoint:16} {rps:8.1f} req/s "
                        f"{cpu_us:8.1f} CPU-us/req  non-200: {errors}  "
                        f"load {load_before:.2f}->{load_after:.2f}",
                        flush=True,
                    )
    return runs


def start_techempower(
    group: ProcessGroup, variant: Variant, root: Path, postgres: Any, work: Path
) -> ServiceHandle:
    """TechEmpower's entry as its Dockerfile runs it, with one worker, pinned like ours: on their
    pinned venv, or (packages="ours") on this project's venv, the one running this script, with
    only the modules their code needs and ours lack (root/extras-ours) on PYTHONPATH."""
    framework = variant.service.removeprefix("techempower-")
    ours = variant.packages == "ours"
    port = free_port()
    env = {
        "PGHOST": postgres.host, "PGPORT": str(postgres.port), "PGUSER": "fwcap",
        "PGPASS": "fwcap", "PGDATABASE": "hello_world", "DJANGO_DB": "postgresql",
        # Their pool is 1000 // cpu_count() connections (min half of it) per worker: 250 here.
        "TFB_MAX_POOL": "16",
    }  # fmt: skip
    if ours:
        env["PYTHONPATH"] = str(root / "extras-ours")

    def command(name: str) -> list[str]:
        return (
            [sys.executable, "-m", name] if ours else [str(root / f"venv-{framework}/bin/{name}")]
        )

    if framework == "fastapi":  # fastapi-uvicorn.dockerfile's CMD
        argv = [*command("uvicorn"), "app:app", "--host", "127.0.0.1",
                "--port", str(port), "--workers", "1", "--log-level", "error",
                "--no-access-log", "--no-proxy-headers"]  # fmt: skip
    else:  # django-postgresql.dockerfile's CMD, one worker
        argv = [*command("gunicorn"), "hello.wsgi:application",
                "-c", "gunicorn_conf.py", "--workers", "1", "--bind", f"127.0.0.1:{port}",
                "--pid", str(work / f"tfb-{framework}-{variant.packages}.pid")]  # fmt: skip
    proc = group.start(
        f"{variant.service}-{variant.packages}", argv, env=env,
        cwd=root / "frameworks/Python" / framework, preexec_fn=pin_to({0}),
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    wait_http_ok(base_url + "/json", proc, timeout_s=90)
    return ServiceHandle(
        framework=variant.service, name=variant.service, base_url=base_url,  # type: ignore[arg-type]
        process=proc, port=port, workers=1, multiproc_dir=work,
    )  # fmt: skip


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
