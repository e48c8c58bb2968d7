"""Runtime settings, read once from the environment (the launcher validated them already)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url

APP_LABEL = "fastapi"  # the `app` label of every metric this service records
MAX_BODY_BYTES = 65536
# Layers of ours that FWCAP_BENCH_WITHOUT=name,name switches off, for pricing each one
# (scripts/bench_layers.py); production never sets it. The metrics middleware
# is METRICS_ENABLED=0. poolwait, commandtimeout and statusmodel concern the lean variant only.
BENCH_LAYERS = {
    "bodylimit": "the body-limit middleware (app/body_limit.py)",
    "exactpath": "the exact-path middleware (app/exact_paths.py)",
    "httpprotocol": "our bounded httptools protocol: uvicorn's stock one instead",
    "poolwait": "the 1.5 s limit on waiting for a pooled connection",
    "commandtimeout": "asyncpg's client-side 1.5 s deadline per statement",
    "statusmodel": "the pydantic Status model on /healthz: a plain JSON response instead",
}


def bench_without(raw: str) -> frozenset[str]:
    names = frozenset(name.strip() for name in raw.split(",") if name.strip())
    unknown = sorted(names - BENCH_LAYERS.keys())
    if unknown:
        raise ValueError(
            f"FWCAP_BENCH_WITHOUT={raw!r}: unknown layer {', '.join(unknown)}; expected names "
            f"among {', '.join(BENCH_LAYERS)}"
        )
    return names


@dataclass(frozen=True)
class Settings:
    database_url: str
    db_pool_size: int
    upstream_url: str
    metrics_enabled: bool
    upstream_client: str  # "aiohttp" (the default) or "httpx", for the comparison benchmark
    variant: str  # "idiomatic" (SQLAlchemy ORM) or "lean" (raw asyncpg, app/lean.py)
    bench_without: frozenset[str] = frozenset()  # BENCH_LAYERS switched off, benchmarks only

    @property
    def app_label(self) -> str:
        return APP_LABEL if self.variant == "idiomatic" else f"{APP_LABEL}-{self.variant}"

    @property
    def async_database_url(self) -> URL:
        # The contract's DATABASE_URL is driver-neutral (postgresql://); we talk asyncpg.
        return make_url(self.database_url).set(drivername="postgresql+asyncpg")


def settings_from_env() -> Settings:
    return Settings(
        database_url=os.environ["DATABASE_URL"],
        db_pool_size=int(os.environ.get("DB_POOL_SIZE", "10")),
        upstream_url=os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8099"),
        metrics_enabled=os.environ.get("METRICS_ENABLED", "1") != "0",
        upstream_client=os.environ.get("UPSTREAM_CLIENT", "aiohttp"),
        variant=os.environ.get("SERVICE_VARIANT", "idiomatic"),
        bench_without=bench_without(os.environ.get("FWCAP_BENCH_WITHOUT", "")),
    )


# Every read endpoint also answers HEAD, as the contract's clarifications (and Django) do;
# FastAPI routes declared with @router.get would refuse HEAD with a 405.
READ_METHODS = ["GET", "HEAD"]
