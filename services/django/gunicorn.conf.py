"""gunicorn settings for the Django service. launch.py resolves the environment, then execs
`gunicorn --config gunicorn.conf.py`, so every value below is already validated."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fwcap_django.env import MAX_BODY_BYTES


def _resolved(name: str) -> str:
    try:
        return os.environ[name]
    except KeyError:
        raise SystemExit(
            f"gunicorn.conf.py: {name} is not set; start the service with `python launch.py`"
        ) from None


wsgi_app = "fwcap_django.wsgi:application"
chdir = str(Path(__file__).resolve().parent)

_host = _resolved("HOST")
bind = [f"[{_host}]:{_resolved('PORT')}" if ":" in _host else f"{_host}:{_resolved('PORT')}"]
workers = int(_resolved("WORKERS"))
# gthread: a worker serves THREADS requests at once and keeps idle keep-alive connections
# parked in its poller instead of tying up a thread (the sync worker closes each connection).
# gthread is served by our subclass that reads each request in full before committing a thread
# to it (fwcap_django/buffered_worker.py): slow or never-ending clients cannot pin the threads.
worker_class = {
    "gthread": "fwcap_django.buffered_worker.BufferedThreadWorker",
    "gthread-stock": "gthread",  # for the cost comparison in scripts/bench_services.py only
}.get(_resolved("GUNICORN_WORKER_CLASS"), _resolved("GUNICORN_WORKER_CLASS"))
threads = int(_resolved("THREADS"))
keepalive = 5  # seconds an idle client connection stays open for its next request
timeout = 30  # a worker silent for this long is killed and replaced
# SIGTERM: finish in-flight requests for at most this long. The chart's
# terminationGracePeriodSeconds covers it plus the preStop delay (charts/fwcap-service/values.yaml,
# `shutdown`); services/asgi_server/serve.py gives uvicorn the same 20 s.
graceful_timeout = 20

# The request-head limits both services share (services/CONTRACT.md): the request line up to
# 8190 bytes (gunicorn's maximum; its default 4094 would refuse item ids uvicorn accepts), at
# most 100 header fields of at most 8190 bytes each; the whole head is capped at 32 KiB by the
# buffering worker.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

accesslog = None  # no access log: the metrics count every request
errorlog = "-"
loglevel = "warning"

# The worker heartbeat file lives in memory: a container's disk-backed /tmp can stall it.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# gunicorn's control socket would sit at a fixed path per user: two instances on one machine
# (the local capacity run) would collide, and a read-only root filesystem has no place for it.
control_socket_disable = True


def pre_request(worker: Any, req: Any) -> None:
    """Answer with `Connection: close` when the app may leave part of the body unread.

    A body declared over the limit is refused unread (413), and a chunked body is read only up
    to one byte past the limit. gunicorn drains at most 64 KiB of unread body before reusing a
    connection and otherwise closes it - after having announced keep-alive, so a client that
    sends its next request on it sees a dropped connection. Closing openly avoids that; the
    cost is one reconnect after such a request (chunked uploads are rare for a JSON API).

    The buffering worker knows whether the whole body arrived and closes only when it did not.
    """
    if getattr(worker, "closes_after_unread_bodies", False):
        return
    for name, value in req.headers:
        if name == "TRANSFER-ENCODING" or (
            name == "CONTENT-LENGTH" and value.isdigit() and int(value) > MAX_BODY_BYTES
        ):
            req.force_close()
            return


def child_exit(server: Any, worker: Any) -> None:
    """A worker is gone: drop its live gauge files (its counters and histograms stay summed)."""
    if os.environ.get("METRICS_ENABLED", "1") != "0":
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
