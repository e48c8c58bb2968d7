"""The upstream stub: a minimal aiohttp server that answers after a requested delay.

    GET /delay?ms=D   sleeps D milliseconds (0..60000), answers {"delay_ms": D}
    GET /healthz      {"status": "ok"}

    python services/upstream_stub.py --host 127.0.0.1 --port 8099

It stands in for a slow dependency so `/api/upstream` makes a real outbound HTTP call.
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web

MAX_DELAY_MS = 60_000


async def delay(request: web.Request) -> web.Response:
    raw = request.query.get("ms", "0")
    try:
        ms = int(raw)
    except ValueError:
        ms = -1
    if not 0 <= ms <= MAX_DELAY_MS:
        return web.json_response(
            {"error": f"ms={raw!r} is not accepted; expected an integer 0..{MAX_DELAY_MS}"},
            status=400,
        )
    await asyncio.sleep(ms / 1000)
    return web.json_response({"delay_ms": ms})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/delay", delay)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args()
    # access_log=None: the stub must not spend the machine's CPU on logging under load.
    web.run_app(make_app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
