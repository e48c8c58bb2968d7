#!/usr/bin/env python3
"""Each of our layers priced on the lean variants, with TechEmpower's apps beside them (issue 27).

For FastAPI lean and Django lean, on trivial JSON (our /healthz, TechEmpower's /json) and one
row by id (our /api/items/42, TechEmpower's /db): the lean variant as it is, then with each of
our layers switched off one at a time (LAYERS below; the services read the switches at start:
METRICS_ENABLED, GUNICORN_WORKER_CLASS and FWCAP_BENCH_WITHOUT, which production never sets),
and TechEmpower's entry twice: on its own pinned requirements and on our packages (this
project's .venv). Everything runs as scripts/bench_services.py runs it: one worker pinned to
CPU 0, the load generator on CPU 1, every variant once per round, the order rotated each round,
one PostgreSQL. Prints one table per framework and endpoint: req/s and server CPU per request
(median, and min-max over rounds), both against TechEmpower on our packages, and the machine's
1-minute load average around each round.

    scripts/setup_techempower.sh /work/.mirror/TechEmpower+FrameworkBenchmarks/repo
    .venv/bin/python scripts/bench_layers.py --techempower-dir /work/scratch/tfb
    [--layers all | fastapi | django.metrics,fastapi.httpprotocol,...] [--rounds 5]
    [--duration-s 4] [--connections 32]

Run it on a quiet machine: it warns when the load average is above 1 before it starts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_services
from bench_services import Run, Variant
from loadgen import WARMUP_S, machine

TRIVIAL = "/healthz"
ONE_ROW = "/api/items/42"
ENDPOINTS = (TRIVIAL, ONE_ROW)
FRAMEWORKS = ("fastapi", "django")
QUIET_LOAD = 1.0
# Every variant's pool stays open for the whole run: ours up to 16 (Django, one per thread) or
# 10 (FastAPI) connections each, TechEmpower's up to 16 (FastAPI) or 4 (Django); 200 was short.
MAX_CONNECTIONS = 400


@dataclass(frozen=True)
class Layer:
    framework: str
    name: str
    what: str
    env: dict[str, str] = field(default_factory=dict)
    endpoints: tuple[str, ...] = ENDPOINTS  # where the layer runs at all

    @property
    def key(self) -> str:
        return f"{self.framework}.{self.name}"


def _without(name: str) -> dict[str, str]:
    return {"FWCAP_BENCH_WITHOUT": name}


# The names after FWCAP_BENCH_WITHOUT are the services' BENCH_LAYERS (services/fastapi/app/
# config.py, services/django/fwcap_django/env.py); tests/test_bench_layers.py keeps them equal.
LAYERS = (
    Layer("fastapi", "metrics", "metrics middleware", {"METRICS_ENABLED": "0"}),
    Layer("fastapi", "bodylimit", "body-limit middleware", _without("bodylimit")),
    Layer("fastapi", "exactpath", "exact-path middleware", _without("exactpath")),
    Layer(
        "fastapi",
        "httpprotocol",
        "bounded httptools protocol (uvicorn's stock one)",
        _without("httpprotocol"),
    ),
    Layer("fastapi", "poolwait", "pool-wait timeout", _without("poolwait"), (ONE_ROW,)),
    Layer(
        "fastapi",
        "commandtimeout",
        "asyncpg command timeout",
        _without("commandtimeout"),
        (ONE_ROW,),
    ),
    Layer("fastapi", "statusmodel", "pydantic Status model", _without("statusmodel"), (TRIVIAL,)),
    Layer("django", "metrics", "metrics middleware", {"METRICS_ENABLED": "0"}),
    Layer(
        "django",
        "buffering",
        "buffering gthread worker (gunicorn's stock gthread)",
        {"GUNICORN_WORKER_CLASS": "gthread-stock"},
    ),
    Layer("django", "framing", "response-framing middleware", _without("framing")),
    Layer("django", "exactpath", "exact-path middleware", _without("exactpath")),
    Layer("django", "bodylimit", "chunked body-limit WSGI wrapper", _without("bodylimit")),
    Layer(
        "django",
        "commanddeadline",
        "psycopg command deadline",
        _without("commanddeadline"),
        (ONE_ROW,),
    ),
)


def parse_layers(spec: str) -> tuple[Layer, ...]:
    """`all`, or a comma list of framework names (all of that framework's layers) and
    framework.layer names; the result keeps LAYERS' order. ValueError names what is unknown."""
    chosen: set[str] = set()
    for item in (part.strip() for part in spec.split(",")):
        if item == "all":
            chosen.update(layer.key for layer in LAYERS)
        elif item in FRAMEWORKS:
            chosen.update(layer.key for layer in LAYERS if layer.framework == item)
        elif item in {layer.key for layer in LAYERS}:
            chosen.add(item)
        else:
            raise ValueError(
                f"unknown layer {item!r}; accepted: all, {', '.join(FRAMEWORKS)}, "
                + ", ".join(layer.key for layer in LAYERS)
            )
    return tuple(layer for layer in LAYERS if layer.key in chosen)


def baseline_name(framework: str) -> str:
    return f"{framework}-lean"


def techempower_name(framework: str, packages: str) -> str:
    return f"techempower {framework} ({packages})"


def build_variants(layers: tuple[Layer, ...]) -> tuple[Variant, ...]:
    """Per framework with a chosen layer: the lean variant, one variant per layer switched off,
    and TechEmpower's entry on its pins and on our packages."""
    variants: list[Variant] = []
    for framework in FRAMEWORKS:
        own = [layer for layer in layers if layer.framework == framework]
        if not own:
            continue
        service = baseline_name(framework)
        variants.append(Variant(service, service))
        variants.extend(
            Variant(
                f"{service} without {layer.name}", service, layer.env, endpoints=layer.endpoints
            )
            for layer in own
        )
        variants.extend(
            Variant(
                techempower_name(framework, packages), f"techempower-{framework}", packages=packages
            )
            for packages in ("theirs", "ours")
        )
    return tuple(variants)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--techempower-dir", type=Path, required=True)
    parser.add_argument("--layers", default="all")
    parser.add_argument("--duration-s", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args(argv)
    try:
        args.layers = parse_layers(args.layers)
    except ValueError as exc:
        parser.error(f"--layers: {exc}")
    bench_services.check_args(parser, args, (*bench_services.TECHEMPOWER_PARTS, "extras-ours"))
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    load = os.getloadavg()[0]
    print(f"1-minute load average before the run: {load:.2f}")
    if load > QUIET_LOAD:
        print(
            f"\n*** WARNING: load average {load:.2f} > {QUIET_LOAD:g}: this machine is not quiet;"
            " the figures below are not fit to be recorded ***\n",
            flush=True,
        )
    variants = build_variants(args.layers)
    print(f"machine: {machine()}")
    print(
        f"load: {args.connections} keep-alive connections, {args.duration_s:g} s per run after "
        f"{WARMUP_S:g} s warm-up, {args.rounds} rounds interleaved; servers on CPU 0 (one "
        "worker), load on CPU 1\n"
    )
    runs = bench_services.run_in_scratch(args, variants, ENDPOINTS, MAX_CONNECTIONS)
    for framework in FRAMEWORKS:
        for endpoint in ENDPOINTS:
            print(report(runs, framework, endpoint))
    print(f"1-minute load average after the run: {os.getloadavg()[0]:.2f}")
    return 0


def report(runs: list[Run], framework: str, endpoint: str) -> str:
    """One markdown table: the framework's variants on one endpoint, against TechEmpower on our
    packages; then the load average around each round."""
    mine = [r for r in runs if r.endpoint == endpoint and _framework(r.variant) == framework]
    if not mine:
        return ""
    reference = [r for r in mine if r.variant == techempower_name(framework, "ours")]
    ref_rps = statistics.median(r.rps for r in reference) if reference else None
    ref_cpu = statistics.median(r.cpu_us_per_request for r in reference) if reference else None
    lines = [
        f"\n{framework}, {endpoint} (TechEmpower: {bench_services.TECHEMPOWER_PATHS[endpoint]})\n",
        "| variant | req/s (median) | CPU µs/req (median) | CPU µs/req (min-max) "
        "| req/s / TE-ours | CPU / TE-ours | non-200 |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant in dict.fromkeys(r.variant for r in mine):
        pick = [r for r in mine if r.variant == variant]
        rps = statistics.median(r.rps for r in pick)
        cpu = [r.cpu_us_per_request for r in pick]
        lines.append(
            f"| {variant} | {rps:,.0f} | {statistics.median(cpu):,.0f} "
            f"| {min(cpu):,.0f}-{max(cpu):,.0f} | {_ratio(rps, ref_rps)} "
            f"| {_ratio(statistics.median(cpu), ref_cpu)} | {sum(r.errors for r in pick)} |"
        )
    lines.append(
        "\n1-minute load average per round (before the round's first run -> after its last):"
    )
    for round_ in sorted({r.round_ for r in mine}):
        in_round = [r for r in runs if r.endpoint == endpoint and r.round_ == round_]
        lines.append(
            f"  round {round_ + 1}: {in_round[0].load_before:.2f} -> {in_round[-1].load_after:.2f}"
        )
    return "\n".join(lines)


def _framework(variant: str) -> str:
    return next(f for f in FRAMEWORKS if variant.startswith((f, f"techempower {f}")))


def _ratio(value: float, reference: float | None) -> str:
    return "-" if not reference else f"{value / reference:.2f}"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
