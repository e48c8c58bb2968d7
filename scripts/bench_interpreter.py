#!/usr/bin/env python3
"""What the local pods' interpreter build and CPU placement cost, side by side in one run.

Two questions from issue 16, both answered as CPU time per request of the server process tree
(steadier than requests/s on a shared machine) and requests/s, on `/healthz` and
`/api/items/42` of both services, one worker each, behind a closed-loop load (N keep-alive
connections, the next request sent as soon as the answer arrived; the generator of
scripts/bench_metrics_overhead.py):

1. interpreter: the pods' interpreter (this venv's: pyenv's 3.12, no PGO/LTO) against a PGO+LTO
   build like the images' python:3.12-slim (`--candidate-python`, default Debian's
   /usr/bin/python3.11, the only PGO+LTO CPython this machine can install), given exactly the
   same package versions (the lock's export, installed with pip into a venv of its own). All
   servers are pinned to CPU 0 with no quota, the load generator to CPU 1; runs alternate
   A B B A so drift hits both alike.
2. placement: each service in a cgroup with a 500m CFS quota (the default pod), once pinned to
   CPU 0 (what a cpuset gives, as the kubelet's static CPU manager does for exclusive cores) and
   once free to run on every CPU (the kubelet's default `none` policy); interleaved likewise.
3. sniffio: FastAPI's /api/upstream (through the upstream stub) with and without `sniffio`
   installed, the pods' own interpreter on both sides, pinned as in part 1.

    .venv/bin/python scripts/bench_interpreter.py                 # both parts, ~15 minutes
    .venv/bin/python scripts/bench_interpreter.py --part placement --rounds 4
    .venv/bin/python scripts/bench_interpreter.py --candidate-python /opt/py312-pgo/bin/python3

Prints per (part, framework, endpoint) the medians of each side and the median over rounds of
the per-round ratio; results are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
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
    CgroupUnavailable,
    ProcessGroup,
    ServiceHandle,
    free_port,
    new_manager,
    run_launcher_command,
    start_postgres,
    start_service,
    start_stub,
)

DEFAULT_ENDPOINTS = ("/healthz", "/api/items/42")
UPSTREAM = "/api/upstream"
DEFAULT_CANDIDATE = "/usr/bin/python3.11"
QUOTA_MILLICORES = 500
MEMORY_BYTES = 512 * 1024 * 1024
SERVICE_GROUPS = ("django-service", "fastapi-service")


@dataclass(frozen=True)
class Run:
    part: str
    framework: str
    endpoint: str
    side: str
    rps: float
    cpu_us_per_request: float
    errors: int


def interpreter_build(python: str) -> str:
    """Version and CONFIG_ARGS of an interpreter, as the report prints them."""
    code = (
        "import sys, sysconfig; print(sys.version.split()[0], "
        "sysconfig.get_config_var('CONFIG_ARGS'))"
    )
    return subprocess.run(
        [python, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def candidate_venv(python: str, cache: Path, without: tuple[str, ...] = ()) -> str:
    """A venv of `python` holding exactly the lock's versions of both services' packages
    (less the distributions named in `without`)."""
    version = subprocess.run(
        [python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    venv = cache / f"bench-venv-{version}-{hashlib.sha256(python.encode()).hexdigest()[:8]}"
    if without:
        venv = venv.with_name(venv.name + "-without-" + "-".join(without))
    marker = venv / ".fwcap-lock-mtime"
    lock_mtime = str((ROOT / "uv.lock").stat().st_mtime_ns)
    venv_python = str(venv / "bin" / "python")
    if marker.exists() and marker.read_text() == lock_mtime:
        return venv_python
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("`uv` is not on PATH; `make setup` installs it")
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run(
        [uv, "venv", "-q", "--seed", "--no-managed-python", "--python", python, str(venv)],
        cwd=ROOT,
        check=True,
    )
    lines: set[str] = set()
    for group in SERVICE_GROUPS:
        lines |= set(
            subprocess.run(
                [
                    uv,
                    "export",
                    "--frozen",
                    "--only-group",
                    group,
                    "--no-emit-project",
                    "--no-hashes",
                    "--no-header",
                    "--no-annotate",
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.splitlines()
        )
    requirements = venv / "requirements.txt"
    requirements.write_text("\n".join(sorted(lines)) + "\n")
    # The locked hashes are of cp312 wheels; an interpreter of another minor version needs its
    # own wheels of the same versions, and Django 6 declares >= 3.12 (it runs on 3.11 as is).
    print(f"installing the lock's service packages into {venv} ...", flush=True)
    subprocess.run(
        [
            venv_python,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--ignore-requires-python",
            "--no-deps",
            "--only-binary=:all:",
            "-r",
            str(requirements),
        ],
        check=True,
    )
    if without:
        subprocess.run([venv_python, "-m", "pip", "uninstall", "-q", "-y", *without], check=True)
    if sys.version_info[:2] >= (3, 12) and version < "3.12":
        _backport_inspect_markers(venv)
    marker.write_text(lock_mtime)
    return venv_python


# inspect.markcoroutinefunction and the iscoroutinefunction that honours it, as 3.12 has them.
INSPECT_BACKPORT = """\
import functools
import inspect

if not hasattr(inspect, "markcoroutinefunction"):
    _mark = object()
    _plain = inspect.iscoroutinefunction

    def markcoroutinefunction(func):
        if hasattr(func, "__func__"):
            func = func.__func__
        func._is_coroutine_marker = _mark
        return func

    def iscoroutinefunction(obj):
        if _plain(obj):
            return True
        while inspect.ismethod(obj):
            obj = obj.__func__
        obj = functools._unwrap_partial(obj)
        return getattr(obj, "_is_coroutine_marker", None) is _mark

    inspect.markcoroutinefunction = markcoroutinefunction
    inspect.iscoroutinefunction = iscoroutinefunction
"""


def _backport_inspect_markers(venv: Path) -> None:
    """Django 6 imports inspect.markcoroutinefunction (new in 3.12); on 3.11, add 3.12's pair.

    Marking happens when views, signals and middleware are set up, not per request, so CPU per
    request is untouched. A sitecustomize in
    the candidate venv only, never in the pods' own (a .pth line: Debian's own sitecustomize
    would shadow one of ours).
    """
    (site,) = venv.glob("lib/python3.*/site-packages")
    (site / "fwcap_bench_compat.pth").write_text("import fwcap_bench_compat\n")
    (site / "fwcap_bench_compat.py").write_text(INSPECT_BACKPORT)


def run_interleaved(
    part: str,
    services: dict[tuple[str, str], ServiceHandle],
    sides: tuple[str, str],
    args: argparse.Namespace,
) -> list[Run]:
    runs: list[Run] = []
    for framework in args.frameworks:
        for endpoint in args.endpoints:
            for round_ in range(args.rounds):
                order = sides if round_ % 2 == 0 else sides[::-1]
                for side in order:
                    rps, cpu_us, errors = measure(
                        services[framework, side], endpoint, args.connections, args.duration_s
                    )
                    runs.append(Run(part, framework, endpoint, side, rps, cpu_us, errors))
                    print(
                        f"  {part:11} {framework:8} {endpoint:14} {side:9} {rps:8.1f} req/s "
                        f"{cpu_us:7.1f} CPU-us/req  non-200: {errors}",
                        flush=True,
                    )
    return runs


def interpreter_part(
    args: argparse.Namespace, group: ProcessGroup, urls: dict[str, str], candidate: str
) -> list[Run]:
    pythons = {"local": sys.executable, "pgo-lto": candidate}
    services = {
        (fw, side): start_service(
            group,
            fw,
            name=f"{fw}-{side}",
            port=free_port(),
            database_url=urls[fw],
            upstream_url="http://127.0.0.1:9",
            workers=1,
            preexec_fn=pin_to({0}),
            python=python,
        )
        for fw in args.frameworks
        for side, python in pythons.items()
    }
    return run_interleaved("interpreter", services, ("local", "pgo-lto"), args)


def sniffio_part(
    args: argparse.Namespace, group: ProcessGroup, urls: dict[str, str], stub_url: str
) -> list[Run]:
    """FastAPI's /api/upstream with and without sniffio, the local interpreter on both sides."""
    pythons = {
        "with": candidate_venv(sys.executable, args.cache_dir),
        "without": candidate_venv(sys.executable, args.cache_dir, without=("sniffio",)),
    }
    services = {
        ("fastapi", side): start_service(
            group,
            "fastapi",
            name=f"fastapi-sniffio-{side}",
            port=free_port(),
            database_url=urls["fastapi"],
            upstream_url=stub_url,
            workers=1,
            preexec_fn=pin_to({0}),
            python=python,
        )
        for side, python in pythons.items()
    }
    sub = argparse.Namespace(**{**vars(args), "frameworks": ["fastapi"], "endpoints": [UPSTREAM]})
    return run_interleaved("sniffio", services, ("without", "with"), sub)


def placement_part(
    args: argparse.Namespace, group: ProcessGroup, urls: dict[str, str]
) -> list[Run]:
    try:
        manager = new_manager(f"bench-{os.getpid()}")
    except CgroupUnavailable as e:
        print(f"placement part skipped: cgroups cannot be used here ({e})")
        return []
    all_cpus = set(range(os.cpu_count() or 1))
    try:
        services = {}
        for fw in args.frameworks:
            for side, cpus in (("pinned", {0}), ("free", all_cpus)):
                cg = manager.create(
                    f"{fw}-{side}", cpu_millicores=QUOTA_MILLICORES, memory_bytes=MEMORY_BYTES
                )
                enter = cg.preexec_fn()

                def preexec(enter=enter, cpus=cpus) -> None:  # type: ignore[no-untyped-def]
                    enter()
                    os.sched_setaffinity(0, cpus)

                services[fw, side] = start_service(
                    group,
                    fw,
                    name=f"{fw}-{side}",
                    port=free_port(),
                    database_url=urls[fw],
                    upstream_url="http://127.0.0.1:9",
                    cpu_limit_millicores=QUOTA_MILLICORES,
                    preexec_fn=preexec,
                )
        runs = run_interleaved("placement", services, ("pinned", "free"), args)
        for handle in services.values():
            handle.process.stop()
        return runs
    finally:
        problems = manager.remove_all()
        if problems:
            print("warning: could not remove cgroups: " + "; ".join(problems))


def report(runs: list[Run]) -> None:
    print(
        "\npart        framework endpoint       side      req/s  CPU-us/req | ratio of CPU/req "
        "(median of per-round ratios)"
    )
    for part in dict.fromkeys(r.part for r in runs):
        for framework in dict.fromkeys(r.framework for r in runs if r.part == part):
            for endpoint in dict.fromkeys(r.endpoint for r in runs if r.part == part):
                pick = [
                    r
                    for r in runs
                    if (r.part, r.framework, r.endpoint) == (part, framework, endpoint)
                ]
                sides = list(dict.fromkeys(r.side for r in pick))
                by_side = {s: [r for r in pick if r.side == s] for s in sides}
                for s in sides:
                    print(
                        f"{part:11} {framework:9} {endpoint:14} {s:8} "
                        f"{statistics.median(r.rps for r in by_side[s]):7.1f} "
                        f"{statistics.median(r.cpu_us_per_request for r in by_side[s]):10.1f}"
                    )
                if len(sides) == 2:
                    a, b = (by_side[s] for s in sides)
                    ratio = statistics.median(
                        y.cpu_us_per_request / x.cpu_us_per_request
                        for x, y in zip(a, b, strict=True)
                    )
                    rps_ratio = statistics.median(y.rps / x.rps for x, y in zip(a, b, strict=True))
                    print(
                        f"{'':36}{sides[1]}/{sides[0]}: CPU/req x{ratio:.3f} "
                        f"({(ratio - 1) * 100:+.1f}%), req/s x{rps_ratio:.3f}"
                    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--part", choices=("interpreter", "placement", "sniffio", "all"), default="all"
    )
    parser.add_argument(
        "--candidate-python",
        default=DEFAULT_CANDIDATE,
        help="a PGO+LTO interpreter to compare against (default: %(default)s)",
    )
    parser.add_argument("--duration-s", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--endpoint", action="append", dest="endpoints")
    parser.add_argument("--framework", action="append", dest="frameworks", choices=FRAMEWORKS)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path.home() / ".cache" / "fwcap",
        help="where the candidate's venv is kept between runs",
    )
    args = parser.parse_args(argv)
    for name in ("duration_s", "rounds", "connections"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')}={getattr(args, name)} must be > 0")
    for endpoint in args.endpoints or ():
        if not endpoint.startswith("/"):
            parser.error(f"--endpoint {endpoint!r} must be a path starting with '/'")
    if args.part in ("interpreter", "all") and not (
        os.path.isfile(args.candidate_python) and os.access(args.candidate_python, os.X_OK)
    ):
        parser.error(f"--candidate-python {args.candidate_python!r} is not an executable file")
    args.endpoints = args.endpoints or list(DEFAULT_ENDPOINTS)
    args.frameworks = args.frameworks or list(FRAMEWORKS)
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    print(f"machine: {machine()}")
    print(f"local pods' interpreter: {interpreter_build(sys.executable)}")
    candidate = ""
    if args.part in ("interpreter", "all"):
        print(f"candidate: {interpreter_build(args.candidate_python)}")
        candidate = candidate_venv(args.candidate_python, args.cache_dir)
    print(
        f"load: {args.connections} keep-alive connections, {args.duration_s:g} s per run, "
        f"{args.rounds} rounds, interleaved\n",
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix="fwcap-bench-interp-"))
    runs: list[Run] = []
    try:
        with ProcessGroup(work / "logs") as group:
            postgres = start_postgres(group, work / "postgres")
            urls = {}
            for fw in args.frameworks:
                urls[fw] = postgres.create_database(f"fwcap_{fw}")
                run_launcher_command(fw, ("migrate", "seed"), {"DATABASE_URL": urls[fw]})
            pin_load = pin_to({1})
            if pin_load is not None:
                pin_load()
            if args.part in ("interpreter", "all"):
                runs += interpreter_part(args, group, urls, candidate)
            if args.part in ("placement", "all"):
                runs += placement_part(args, group, urls)
            if args.part in ("sniffio", "all") and "fastapi" in args.frameworks:
                runs += sniffio_part(args, group, urls, start_stub(group, free_port()))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
