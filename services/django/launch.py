"""The Django service's launcher and its container's CMD; configured by environment only.

    python launch.py            serve: resolve the environment, then exec gunicorn (or uvicorn,
                                for SERVICE_VARIANT=async)
    python launch.py migrate    apply the migrations and exit
    python launch.py seed       replace all rows with the deterministic seed and exit
    python launch.py migrate seed   both, in one process (one Django start-up instead of two)

The variables and their defaults are the table in services/CONTRACT.md. Worker processes are
derived from the pod's CPU limit, never from the machine's core count: a container sees every
core of its node, but its CPU quota is what it can use.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fwcap_django import env

SERVICE_DIR = Path(__file__).resolve().parent
# gthread is served by fwcap_django.buffered_worker (gunicorn.conf.py); gthread-stock is
# gunicorn's own gthread worker, kept selectable only to measure what the buffering costs.
WORKER_CLASSES = ("gthread", "sync", "gthread-stock")
USAGE = "usage: python launch.py [migrate | seed | migrate seed]"
# services/asgi_server/ (uvicorn hardened as the FastAPI service runs it) sits next to this
# directory in the source tree and inside it in the image.
ASGI_SERVER_ROOT = next(
    (d for d in (SERVICE_DIR, SERVICE_DIR.parent) if (d / "asgi_server").is_dir()), SERVICE_DIR
)


class DatabaseUnreachable(RuntimeError):
    """`migrate` or `seed` could not reach PostgreSQL at DATABASE_URL."""


@dataclass(frozen=True)
class ServerConfig:
    host: str
    port: int
    variant: str
    workers: int
    worker_class: str
    threads: int
    db_pool_size: int
    metrics_dir: Path
    metrics_enabled: bool
    seed: bool


def derived_workers(cpu_limit_millicores: int) -> int:
    """One gunicorn worker process per started core of the CPU limit."""
    return max(1, math.ceil(cpu_limit_millicores / 1000))


def server_config(environ: Mapping[str, str]) -> ServerConfig:
    """The server's settings from the environment; ConfigError names any bad value."""
    port = env.positive_int(environ, "PORT", 8000)
    if port > 65535:
        raise env.ConfigError(f"PORT={port} is not a TCP port (1..65535)")
    worker_class = environ.get("GUNICORN_WORKER_CLASS", "").strip() or "gthread"
    if worker_class not in WORKER_CLASSES:
        raise env.ConfigError(
            f"GUNICORN_WORKER_CLASS={worker_class!r} is not accepted: use one of "
            + ", ".join(WORKER_CLASSES)
        )
    env.bench_without(environ)  # refused here, once, rather than in every worker
    cpu_limit_millicores = env.positive_int(environ, "CPU_LIMIT_MILLICORES", 1000)
    workers = env.positive_int(environ, "WORKERS", derived_workers(cpu_limit_millicores))
    # gunicorn silently switches `sync` to gthread when threads > 1, so sync means one thread.
    threads = env.threads(environ) if worker_class.startswith("gthread") else 1
    return ServerConfig(
        host=environ.get("HOST", "").strip() or "0.0.0.0",
        port=port,
        variant=env.variant(environ),  # refused here, once, rather than in every worker
        workers=workers,
        worker_class=worker_class,
        threads=threads,
        db_pool_size=env.positive_int(environ, "DB_POOL_SIZE", threads),
        metrics_dir=Path(
            environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
            or Path(tempfile.gettempdir()) / f"fwcap-metrics-{port}"
        ),
        metrics_enabled=env.flag(environ, "METRICS_ENABLED", True),
        seed=env.flag(environ, "SEED", False),
    )


def server_environ(config: ServerConfig) -> dict[str, str]:
    """The resolved values, exported for gunicorn.conf.py and the Django settings."""
    return {
        "DJANGO_SETTINGS_MODULE": "fwcap_django.settings",
        "HOST": config.host,
        "PORT": str(config.port),
        "WORKERS": str(config.workers),
        "GUNICORN_WORKER_CLASS": config.worker_class,
        "THREADS": str(config.threads),
        "DB_POOL_SIZE": str(config.db_pool_size),
        "PROMETHEUS_MULTIPROC_DIR": str(config.metrics_dir),
        "METRICS_ENABLED": "1" if config.metrics_enabled else "0",
        **({"PYTHONPATH": str(ASGI_SERVER_ROOT)} if config.variant == "async" else {}),
    }


def empty_metrics_dir(path: Path) -> None:
    """Create the multiprocess metrics directory, or clear a previous run's metric files."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()


def manage(argv: Sequence[str]) -> None:
    """Run a Django management command in this process."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fwcap_django.settings")
    from django.conf import settings
    from django.core.management import execute_from_command_line
    from django.db import OperationalError

    # The serving limits (2 s per statement, 2 s per client wait) are for requests; the seed's
    # bulk inserts and VACUUM legitimately take longer.
    options = settings.DATABASES["default"]["OPTIONS"]
    options.pop("options", None)
    options["pool"].pop("connection_class", None)
    try:
        execute_from_command_line(["launch.py", *argv])
    except OperationalError as exc:
        raise DatabaseUnreachable(f"{argv[0]}: no database at DATABASE_URL ({exc})") from exc


def serve(environ: dict[str, str]) -> None:
    config = server_config(environ)
    # Fail here, once and readably, rather than in every worker's settings import.
    env.database_settings(environ.get("DATABASE_URL", ""), pool_size=config.db_pool_size)
    environ.update(server_environ(config))
    empty_metrics_dir(config.metrics_dir)
    if config.seed:
        subprocess.run(
            [sys.executable, str(SERVICE_DIR / "launch.py"), "migrate", "seed"],
            check=True,
            cwd=SERVICE_DIR,
            env=environ,
        )
    os.chdir(SERVICE_DIR)
    os.execve(sys.executable, server_argv(config), environ)


def server_argv(config: ServerConfig) -> list[str]:
    """gunicorn with its config; for the async variant, uvicorn as the FastAPI service runs it
    (services/asgi_server: the same request limits, keep-alive and shutdown)."""
    if config.variant == "async":
        return [
            sys.executable, "-m", "asgi_server.serve", "fwcap_django.asgi:application",
            "--host", config.host, "--port", str(config.port),
            "--workers", str(config.workers), "--no-lifespan",
        ]  # fmt: skip
    return [sys.executable, "-m", "gunicorn", "--config", str(SERVICE_DIR / "gunicorn.conf.py")]


def main(argv: Sequence[str]) -> int:
    try:
        match list(argv):
            case []:
                serve(dict(os.environ))
            case ["migrate"]:
                manage(["migrate", "--no-input"])
            case ["seed"]:
                manage(["seed"])
            case ["migrate", "seed"]:
                manage(["migrate", "--no-input"])
                manage(["seed"])
            case _:
                print(f"launch.py: unknown arguments {' '.join(argv)!r}\n{USAGE}", file=sys.stderr)
                return 2
    except env.ConfigError as exc:
        print(f"launch.py: {exc}", file=sys.stderr)
        return 2
    except DatabaseUnreachable as exc:
        print(f"launch.py: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(f"launch.py: {' '.join(exc.cmd[2:])} failed (exit {exc.returncode})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
