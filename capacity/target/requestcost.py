"""What one request costs a pod with nothing else in flight: a probe made of requests.

The interpreter-bound core-speed probe (capacity/target/cpuspeed.py) runs code that looks like
a request's. It tracked the services' CPU per request across twelve runs on one host (slope
-0.9 to -1.1 on the log scale, 2026-12-07) and then, on another host, read 31% faster between
two runs in which the services' CPU per request fell 8-9%. This probe asks the service itself:
just before a step, while drained, `count` sequential reads (the scenarios' item and list reads,
alternating, on one keep-alive connection, from the run's own process) to one pod, and the
pods' CPU-seconds they cost (the pods' cgroup counters before and after, summed over every pod:
the other framework's are idle then). Sequential requests meet no queue, so the figure is meant
to move with the machine's speed for this service's code, not with the load. Measured on that
other host it was no steadier than the first probe (docs/local-run.md, "On a new host"): 11-14%
from step to step, and one Django process read double; the repeatability check can normalise
by either (scripts/repeatability.py).
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from urllib.parse import urlsplit

# Read requests every scenario's data has (ids and offsets of the seeded catalogue).
PATHS = ("/api/items/{i}", "/api/items?limit=20&offset={i}")
# The pods' CPU counter is read this long after the last response, so that what the service
# does after sending it (access log, metrics) is inside the figure.
SETTLE_S = 0.02


def request_cost(
    base_url: str, pods_cpu_s: Callable[[], float | None], count: int = 20, timeout_s: float = 2.0
) -> float | None:
    """Pod CPU-seconds per request over `count` sequential reads to `base_url`; None when a
    request failed or the CPU counter is not readable (the run goes on without the figure)."""
    parts = urlsplit(base_url)
    if parts.scheme != "http" or not parts.hostname:
        return None
    before = pods_cpu_s()
    if before is None:
        return None
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout_s)
    try:
        for i in range(count):
            path = PATHS[i % len(PATHS)].format(i=1 + i)
            conn.request("GET", path, headers={"Accept": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                return None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    time.sleep(SETTLE_S)
    after = pods_cpu_s()
    if after is None or after <= before:
        return None
    return (after - before) / count
