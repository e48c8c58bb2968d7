"""Waiting for Prometheus to have scraped every target after a given moment.

A test that reads what Prometheus recorded up to "now" used to sleep a fixed 2-3 s for "the last
scrapes". On a busy machine a scrape can start late or take long, so instead it waits until
every target's latest `up` sample (stamped with its scrape's start) is later than the moment.
"""

from __future__ import annotations

import httpx

from capacity.polling import Pending, poll_until


def wait_for_scrapes_after(prometheus_url: str, moment_s: float, timeout_s: float = 60.0) -> None:
    """Return once each target's last scrape started after `moment_s` (Unix seconds)."""

    def check() -> bool | Pending:
        try:
            r = httpx.get(
                f"{prometheus_url}/api/v1/query", params={"query": "timestamp(up)"}, timeout=10
            )
            result = r.json()["data"]["result"]
        except (httpx.HTTPError, ValueError, KeyError) as e:
            return Pending(f"Prometheus did not answer: {e}")
        if not result:
            return Pending("no target scraped at all")
        behind = [
            f"{s['metric'].get('job', '?')} {s['metric'].get('instance', '?')}"
            for s in result
            if float(s["value"][1]) <= moment_s
        ]
        return not behind or Pending(f"not scraped since {moment_s:.3f}: {', '.join(behind)}")

    poll_until(
        check,
        timeout_s=timeout_s,
        interval_s=0.2,
        on_timeout=lambda last: AssertionError(f"{prometheus_url}, after {timeout_s:.0f}s: {last}"),
    )
