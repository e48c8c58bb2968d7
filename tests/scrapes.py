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


def raw_counter_rate(
    prometheus_url: str, selector: str, windows: list[tuple[float, float]]
) -> float | None:
    """The summed per-second increase of every series matching `selector` over the measuring
    windows [(from, to), ...] (Unix seconds), from raw samples only: no rate(), no queries.py.

    Each window's rate is each series' slope between its first and last sample in
    (to - round(length), to], the range the run read; an extended step's two windows are
    weighted by their lengths, the gap between them left out. None when no series has two
    samples in any window.
    """
    rates: list[tuple[float, float]] = []
    for since, to in windows:
        slopes = []
        for samples in raw_samples(prometheus_url, selector, max(1, round(to - since)), to):
            if len(samples) >= 2:
                (t0, v0), (t1, v1) = samples[0], samples[-1]
                slopes.append((v1 - v0) / (t1 - t0))
        if slopes:
            rates.append((sum(slopes), to - since))
    if not rates:
        return None
    return sum(rate * length for rate, length in rates) / sum(length for _r, length in rates)


def raw_samples(
    prometheus_url: str, selector: str, window_s: int, at_s: float
) -> list[list[tuple[float, float]]]:
    """Raw samples of every series matching `selector` in (at - window, at]."""
    r = httpx.get(
        f"{prometheus_url}/api/v1/query",
        params={"query": f"{selector}[{window_s}s]", "time": f"{at_s:.3f}"},
        timeout=30,
    )
    body = r.json()
    assert body["status"] == "success", r.text
    assert body["data"]["resultType"] == "matrix"
    return [[(float(t), float(v)) for t, v in s["values"]] for s in body["data"]["result"]]
