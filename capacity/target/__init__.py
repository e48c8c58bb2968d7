"""Targets: where the measured pods run (local processes in cgroups, or a Kubernetes cluster).

The public surface, for the benchmarks in scripts/ and anyone driving services outside a run:
PostgreSQL, the services and the upstream stub started through their launchers, inside one
`ProcessGroup` that stops them all. Loaded lazily, so importing one target module (the CLI
does) does not load the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from capacity.target.cgroups import CgroupUnavailable, new_manager
    from capacity.target.cpuspeed import probe_cpu_speed
    from capacity.target.postgres import Postgres, start_postgres
    from capacity.target.process import ProcessGroup, free_port, wait_http_ok
    from capacity.target.services import (
        FRAMEWORKS,
        VARIANTS,
        ServiceHandle,
        run_launcher_command,
        start_service,
        start_stub,
    )

__all__ = [
    "FRAMEWORKS",
    "VARIANTS",
    "CgroupUnavailable",
    "Postgres",
    "ProcessGroup",
    "ServiceHandle",
    "free_port",
    "new_manager",
    "probe_cpu_speed",
    "run_launcher_command",
    "start_postgres",
    "start_service",
    "start_stub",
    "wait_http_ok",
]

_MODULE = {
    "CgroupUnavailable": "cgroups",
    "new_manager": "cgroups",
    "probe_cpu_speed": "cpuspeed",
    "Postgres": "postgres",
    "start_postgres": "postgres",
    "ProcessGroup": "process",
    "free_port": "process",
    "wait_http_ok": "process",
    "FRAMEWORKS": "services",
    "VARIANTS": "services",
    "ServiceHandle": "services",
    "run_launcher_command": "services",
    "start_service": "services",
    "start_stub": "services",
}


def __getattr__(name: str) -> Any:
    if name not in _MODULE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULE[name]}"), name)
