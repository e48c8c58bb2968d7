"""The machine a measurement ran on, as the report states it.

That includes what the pods ran on: the interpreter build (CONFIG_ARGS: is it PGO+LTO like the
images'?) and the CPU placement (pinned by a cpuset, or free under the quota).

The measurement run may leave `platform.json` (any flat JSON object) beside the measurements
file; otherwise the report describes the machine the model ran on and says so.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

from capacity.errors import MeasurementsError
from capacity.report.schema import Platform

PLATFORM_FILE = "platform.json"


def this_machine() -> dict[str, Any]:
    cgroup = (
        "v2"
        if Path("/sys/fs/cgroup/cgroup.controllers").exists()
        else ("v1" if Path("/sys/fs/cgroup/cpu").exists() else "none")
    )
    return {
        "os": platform.system(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
        "python": sys.version.split()[0],
        "cgroup": cgroup,
    }


def platform_for(measurements: Path, given: Mapping[str, Any] | None) -> Platform:
    """The report's platform section: given > platform.json beside the file > this machine."""
    if given is not None:
        return Platform(source="measurement run", details=dict(given))
    sidecar = Path(measurements).with_name(PLATFORM_FILE)
    if sidecar.exists():
        try:
            details = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise MeasurementsError(
                f"{sidecar}: not a JSON object describing the machine: {exc}"
            ) from exc
        if not isinstance(details, dict):
            raise MeasurementsError(
                f"{sidecar}: expected a JSON object, got {type(details).__name__}"
            )
        return Platform(source=f"measurement run ({sidecar.name})", details=details)
    return Platform(
        source="the machine the model ran on (the measurement run left no platform.json)",
        details=this_machine(),
    )


# -- what the pods ran on: interpreter build and CPU placement ----------------------------------

# The images' interpreter (python:3.12-slim) is configured with these; a build without them
# costs more CPU per request (docs/benchmarks.md, "Interpreter build and CPU placement").
PGO_LTO_FLAGS = ("--enable-optimizations", "--with-lto")
# Measured by scripts/bench_interpreter.py on the machine and date docs/benchmarks.md names.
NON_PGO_NOTE = (
    "built without PGO/LTO (not in CONFIG_ARGS), unlike the images' python:3.12-slim: a PGO+LTO "
    "build used {healthz} less CPU per request on /healthz and {db_read} less on /api/items/42 "
    "with the same packages, so CPU figures in this report overstate the image's (and "
    "capacities understate it) by about that much (docs/benchmarks.md, Interpreter build)"
)
# Two interleaved runs of scripts/bench_interpreter.py, both services (docs/benchmarks.md).
PGO_LTO_SAVING = {"healthz": "10-17%", "db_read": "0-17%"}

# The packages whose versions are part of what a comparison measured: the same TechEmpower
# FastAPI app costs 85% more CPU per request on trivial JSON on FastAPI 0.165 / Starlette 1.10
# than on its 0.126 / 0.50 pins (docs/benchmarks.md, "Layer by layer").
FRAMEWORK_PACKAGES = (
    "fastapi", "starlette", "pydantic", "uvicorn", "sqlalchemy", "asyncpg",
    "django", "djangorestframework", "gunicorn", "psycopg",
)  # fmt: skip
_BUILD_PROBE = (
    "import json, sys, sysconfig\n"
    "from importlib import metadata\n"
    "def v(name):\n"
    "    try:\n"
    "        return metadata.version(name)\n"
    "    except metadata.PackageNotFoundError:\n"
    "        return None\n"
    "print(json.dumps({'version': sys.version.split()[0], "
    "'implementation': sys.implementation.name, "
    "'config_args': sysconfig.get_config_var('CONFIG_ARGS') or '', "
    f"'packages': {{n: v(n) for n in {FRAMEWORK_PACKAGES!r}}}}}))"
)


def interpreter_build(python: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """The pods' interpreter as the report states it: path, version, CONFIG_ARGS, PGO/LTO."""
    try:
        done = subprocess.run(  # fixed argv, no shell
            [python, "-c", _BUILD_PROBE], capture_output=True, text=True, timeout=timeout_s,
            check=True,
        )  # fmt: skip
        probe = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError) as exc:
        return {"pod_python": python, "pod_python_build": f"unknown: cannot run it ({exc})"}
    config_args = str(probe["config_args"])
    optimised = all(flag in config_args for flag in PGO_LTO_FLAGS)
    return {
        "pod_python": python,
        "pod_python_version": f"{probe['implementation']} {probe['version']}",
        "pod_python_config_args": config_args or "(none recorded)",
        "pod_framework_packages": ", ".join(
            f"{name} {version}" for name, version in probe.get("packages", {}).items() if version
        )
        or "none found",
        "pod_python_pgo_lto": (
            "yes: " + " ".join(PGO_LTO_FLAGS) + ", like the images' python:3.12-slim"
            if optimised
            else NON_PGO_NOTE.format(**PGO_LTO_SAVING)
        ),
    }


def cpu_placement(pod_pids: Sequence[int], all_cpus: int | None = None) -> str:
    """How the pods' CPUs were placed, read from the pods' own affinity masks (a cpuset shows
    there), in the kubelet's terms."""
    getaffinity = getattr(os, "sched_getaffinity", None)
    if getaffinity is None or not pod_pids:
        return "unknown (no pods, or this OS has no CPU affinity)"
    total = all_cpus or os.cpu_count() or 1
    masks = []
    for pid in pod_pids:
        try:
            masks.append(sorted(getaffinity(pid)))
        except OSError:
            return f"unknown (pod pid {pid} had exited)"
    if all(len(mask) >= total for mask in masks):
        return (
            f"free: each pod may run on any of the {total} CPUs, held only by its CFS quota "
            "(as the kubelet's default `none` CPU manager policy)"
        )
    cpus = "; ".join(",".join(map(str, mask)) for mask in masks)
    return (
        f"pinned (cpuset): pods on CPU(s) {cpus} of {total}, other processes elsewhere (as the "
        "kubelet's static CPU manager for Guaranteed pods with whole CPUs)"
    )
