"""The pooled, thread-safe HTTP client for the upstream stub: one per worker process.

Built at import, which happens in each gunicorn worker after the fork (the app is not
preloaded), so no connection is ever shared across processes. One pooled connection per
request thread: a thread never waits for another's connection.
"""

from __future__ import annotations

import json
from typing import Any

import urllib3
from django.conf import settings

from fwcap_django.errors import UpstreamFailed

TIMEOUT_S = 5.0

_http = urllib3.PoolManager(
    maxsize=settings.THREADS,
    timeout=urllib3.Timeout(total=TIMEOUT_S),
    retries=False,  # an upstream failure is reported (502), never hidden by a retry
)


def delay(delay_ms: int) -> Any:
    """The stub's answer to `GET /delay?ms=<delay_ms>`; UpstreamFailed (502) otherwise."""
    try:
        response = _http.request(
            "GET", f"{settings.UPSTREAM_URL}/delay", fields={"ms": str(delay_ms)}
        )
    except urllib3.exceptions.HTTPError as exc:
        raise UpstreamFailed from exc
    if response.status != 200:
        raise UpstreamFailed
    try:
        return json.loads(response.data)
    except ValueError as exc:
        raise UpstreamFailed from exc
