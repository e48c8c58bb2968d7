"""The ASGI application: routers, shared clients created in the lifespan, middleware, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from app import lean, metrics
from app.body_limit import BodyLimitMiddleware
from app.config import MAX_BODY_BYTES, Settings, settings_from_env
from app.db import DB_WAIT_S, make_engine, make_sessionmaker
from app.errors import install_error_handlers
from app.exact_paths import ExactPathMiddleware
from app.routers import health, items, stats, work
from app.upstream import CLIENTS


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One engine (connection pool) and one HTTP client per worker process, shared by all
        # requests: connections are reused, never opened per request.
        client = CLIENTS[settings.upstream_client](settings.upstream_url)
        app.state.upstream = client
        if settings.variant == "lean":
            app.state.pg = await lean.create_pool(settings)
            app.state.pg_wait_s = None if "poolwait" in settings.bench_without else DB_WAIT_S
        else:
            engine = make_engine(settings)
            app.state.engine = engine
            app.state.sessionmaker = make_sessionmaker(engine)
        try:
            yield
        finally:
            await client.aclose()
            if settings.variant == "lean":
                await app.state.pg.close()
            else:
                await engine.dispose()

    app = FastAPI(
        title="fwcap FastAPI service",
        lifespan=lifespan,
        redirect_slashes=False,  # contract: exact paths, /api/items/ is a 404
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # the contract's document is services/openapi.yaml
    )
    methods_by_path: dict[str, set[str]] = {}
    # The lean variant's routes come first, so its /readyz is the one matched.
    plain_health = (lean.plain_health,) if "statusmodel" in settings.bench_without else ()
    routers = (
        (lean.router, *plain_health, health.router, work.router)
        if settings.variant == "lean"
        else (health.router, items.router, stats.router, work.router)
    )
    for router in routers:
        app.include_router(router)
        for route in router.routes:
            if isinstance(route, APIRoute):
                methods_by_path.setdefault(route.path, set()).update(route.methods)
    app.state.methods_by_path = methods_by_path  # the 405's Allow header (app/errors.py)
    install_error_handlers(app)
    if "bodylimit" not in settings.bench_without:
        app.add_middleware(BodyLimitMiddleware, max_body_bytes=MAX_BODY_BYTES)
    if "exactpath" not in settings.bench_without:
        app.add_middleware(ExactPathMiddleware)
    if settings.metrics_enabled:
        app.include_router(metrics.router)
        # Added last, so it is the outermost: it also times 404s, 405s and 413s.
        app.add_middleware(metrics.MetricsMiddleware, app_label=settings.app_label)
    return app


app = create_app(settings_from_env())
