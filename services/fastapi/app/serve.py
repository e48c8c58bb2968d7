"""`python -m app.serve --host H --port P --workers N`: uvicorn with the bounded HTTP protocol.

The launcher execs this rather than `python -m uvicorn`, whose `--http` option only takes the
names of uvicorn's built-in protocols; everything else is uvicorn's own `run()`, unchanged.
"""

from __future__ import annotations

import argparse

import uvicorn

GRACEFUL_SHUTDOWN_S = 20


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m app.serve")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        "app.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        # httptools' C parser, with the request-read limits uvicorn lacks (app/http_limits.py).
        http="app.http_limits:BoundedHttpToolsProtocol",
        access_log=False,
        # Short keep-alive: long enough for a client's next request, short enough that idle
        # connections behind a load balancer do not pile up.
        timeout_keep_alive=5,
        # SIGTERM: stop listening, finish what is in flight for at most this long, then exit.
        # Unset, uvicorn waits for open connections without end, until the kubelet's SIGKILL at
        # terminationGracePeriodSeconds cuts every request at once. The same 20 s as gunicorn's
        # graceful_timeout (services/django/gunicorn.conf.py); the chart's grace period covers it
        # plus its preStop delay (charts/fwcap-service/values.yaml, `shutdown`).
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )


if __name__ == "__main__":
    main()
