"""The machine a measurement ran on, as the report states it.

The measurement run may leave `platform.json` (any flat JSON object) beside the measurements
file; otherwise the report describes the machine the model ran on and says so.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil

from capacity.errors import MeasurementsError

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


def platform_for(measurements: Path, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """{"source": ..., "details": {...}}: given > platform.json beside the file > this machine."""
    if given is not None:
        return {"source": "measurement run", "details": dict(given)}
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
        return {"source": f"measurement run ({sidecar.name})", "details": details}
    return {
        "source": "the machine the model ran on (the measurement run left no platform.json)",
        "details": this_machine(),
    }
