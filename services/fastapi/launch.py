"""The FastAPI service's launcher: the container's CMD, also used by tests and the local run.

Reads only environment variables (table in services/CONTRACT.md), then `exec`s uvicorn, so the
server is the process the container (or the test) started and receives its signals directly.

    python launch.py           start the server (SEED=1 first creates the schema and seeds)
    python launch.py migrate   create the schema and exit
    python launch.py seed      wipe and re-create the deterministic rows and exit
    python launch.py migrate seed   both, in one process
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class LaunchError(Exception):
    """A bad environment variable: the message names it, its value and what is accepted."""


@dataclass(frozen=True)
class LaunchConfig:
    database_url: str
    host: str
    port: int
    workers: int
    db_pool_size: int
    multiproc_dir: Path
    seed: bool


def _int_var(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise LaunchError(f"{name}={raw!r} is not an integer; expected >= {minimum}") from None
    if value < minimum:
        raise LaunchError(f"{name}={raw!r} is too small; expected an integer >= {minimum}")
    return value


def derived_workers(cpu_limit_millicores: int) -> int:
    # One server process per core of CPU limit, never os.cpu_count(): inside a container that is
    # the node's core count, not the pod's share.
    return max(1, math.ceil(cpu_limit_millicores / 1000))


def config_from_env(env: Mapping[str, str]) -> LaunchConfig:
    database_url = env.get("DATABASE_URL", "")
    if not database_url.startswith(("postgresql://", "postgres://")):
        raise LaunchError(
            f"DATABASE_URL={database_url!r} is not a PostgreSQL URL; expected "
            "postgresql://user:password@host:port/database"
        )
    port = _int_var(env, "PORT", 8000, 1)
    if port > 65535:
        raise LaunchError(f"PORT={port} is out of range; expected 1..65535")
    cpu_limit_millicores = _int_var(env, "CPU_LIMIT_MILLICORES", 1000, 1)
    seed = env.get("SEED", "0")
    if seed not in ("0", "1"):
        raise LaunchError(f"SEED={seed!r} is not accepted; expected 0 or 1")
    for name, accepted in (("SERVICE_VARIANT", ("idiomatic", "lean")),
                           ("UPSTREAM_CLIENT", ("aiohttp", "httpx"))):  # fmt: skip
        if env.get(name, accepted[0]) not in accepted:
            raise LaunchError(
                f"{name}={env[name]!r} is not accepted; expected one of {', '.join(accepted)}"
            )
    metrics_enabled = env.get("METRICS_ENABLED", "1")
    if metrics_enabled not in ("0", "1"):
        raise LaunchError(f"METRICS_ENABLED={metrics_enabled!r} is not accepted; expected 0 or 1")
    from app.config import bench_without  # benchmarks only: refused here, not in each worker

    try:
        bench_without(env.get("FWCAP_BENCH_WITHOUT", ""))
    except ValueError as exc:
        raise LaunchError(str(exc)) from None
    multiproc_dir = env.get("PROMETHEUS_MULTIPROC_DIR") or str(
        Path(tempfile.gettempdir()) / f"fwcap-metrics-{port}"
    )
    return LaunchConfig(
        database_url=database_url,
        host=env.get("HOST", "0.0.0.0"),  # a container listens on all interfaces
        port=port,
        workers=_int_var(env, "WORKERS", derived_workers(cpu_limit_millicores), 1),
        db_pool_size=_int_var(env, "DB_POOL_SIZE", 10, 1),
        multiproc_dir=Path(multiproc_dir),
        seed=seed == "1",
    )


SERVICE_DIR = Path(__file__).resolve().parent
# services/asgi_server/ (uvicorn hardened, shared with Django's async variant) sits next to this
# directory in the source tree and inside it in the image.
ASGI_SERVER_ROOT = next(
    (d for d in (SERVICE_DIR, SERVICE_DIR.parent) if (d / "asgi_server").is_dir()), SERVICE_DIR
)


def uvicorn_argv(config: LaunchConfig) -> list[str]:
    # asgi_server.serve is uvicorn.run() with uvloop, httptools bounded by asgi_server/http_limits,
    # no access log and a 5 s keep-alive (see there for why not `python -m uvicorn`).
    return [
        sys.executable, "-m", "asgi_server.serve", "app.main:app",
        "--host", config.host,
        "--port", str(config.port),
        "--workers", str(config.workers),
    ]  # fmt: skip


def fresh_dir(path: Path) -> None:
    """Metric files of a previous run would be summed into this one's counts."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


async def _database_task(database_url: str, command: str) -> None:
    from app.seed import migrate, seed
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(make_url(database_url).set(drivername="postgresql+asyncpg"))
    try:
        if command in ("migrate", "all"):
            await migrate(engine)
        if command in ("seed", "all"):
            await seed(engine)
    finally:
        await engine.dispose()


def main(argv: list[str]) -> int:
    try:
        config = config_from_env(os.environ)
    except LaunchError as e:
        print(f"launch.py: {e}", file=sys.stderr)
        return 2
    if argv:
        commands = {("migrate",): "migrate", ("seed",): "seed", ("migrate", "seed"): "all"}
        if tuple(argv) not in commands:
            print(
                f"launch.py: unknown arguments {argv}; expected none, 'migrate', 'seed' or "
                "'migrate seed'",
                file=sys.stderr,
            )
            return 2
        asyncio.run(_database_task(config.database_url, commands[tuple(argv)]))
        return 0
    if config.seed:
        asyncio.run(_database_task(config.database_url, "all"))
    fresh_dir(config.multiproc_dir)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(config.multiproc_dir)
    os.environ["DB_POOL_SIZE"] = str(config.db_pool_size)
    os.environ["PYTHONPATH"] = str(ASGI_SERVER_ROOT)
    argv_ = uvicorn_argv(config)
    os.execv(argv_[0], argv_)  # replaces this process: no wrapper between signals and server


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
