"""Drives a Locust master through its web API (never by importing Locust: it monkey-patches).

The same calls drive the local master started by the local target and the in-cluster master
reached through a port-forward.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, NonNegativeInt, ValidationError

from capacity.errors import TargetError
from capacity.load.client_stats import ClientStep, describe_first_error, parse_client_step
from capacity.load.scenarios import SCENARIO_CLASSES
from capacity.polling import Pending, poll_until


@dataclass(frozen=True)
class WorkerStats:
    state: str
    user_count: int
    cpu_percent: float


@dataclass(frozen=True)
class LocustStats:
    """The master's aggregate view (worker reports arrive every few seconds)."""

    state: str
    user_count: int
    num_requests: int
    num_failures: int
    current_rps: float
    current_p95_ms: float | None
    workers: tuple[WorkerStats, ...]

    @property
    def fail_ratio(self) -> float:
        return self.num_failures / self.num_requests if self.num_requests else 0.0


class _Row(BaseModel):
    name: str = ""
    num_requests: int = 0
    num_failures: int = 0


class _Worker(BaseModel):
    state: str = ""
    user_count: int = 0
    cpu_usage: float = 0.0


class _StatsPayload(BaseModel):
    """The fields of a Locust master's /stats/requests that the kit reads (it sends more)."""

    state: str = ""
    user_count: int = 0
    total_rps: float = 0.0
    # None until a request completes
    current_response_time_percentiles: dict[str, float | None] = {}
    stats: list[_Row] = []  # one row per request name, then "Aggregated"
    workers: list[_Worker] = []


def parse_stats(payload: Mapping[str, object]) -> LocustStats:
    """Read /stats/requests JSON (pure, so it is tested on recorded payloads)."""
    try:
        p = _StatsPayload.model_validate(payload)
    except ValidationError as e:
        raise TargetError(f"Locust master /stats/requests: {describe_first_error(e)}") from e
    total = next((row for row in p.stats if row.name == "Aggregated"), _Row())
    return LocustStats(
        state=p.state,
        user_count=p.user_count,
        num_requests=total.num_requests,
        num_failures=total.num_failures,
        current_rps=p.total_rps,
        current_p95_ms=p.current_response_time_percentiles.get("response_time_percentile_0.95"),
        workers=tuple(
            WorkerStats(state=w.state, user_count=w.user_count, cpu_percent=w.cpu_usage)
            for w in p.workers
        ),
    )


@dataclass(frozen=True)
class LoadgenState:
    """The master's /fwcap/state: requests in flight now, from each worker's latest report."""

    in_flight: int  # summed over the workers that have reported
    workers: int  # how many have reported (a worker that quit no longer counts)
    reported_at: float | None  # master wall clock of the oldest latest report (None: none yet)


class _StatePayload(BaseModel):
    in_flight: NonNegativeInt
    workers: NonNegativeInt
    reported_at: float | None


def parse_loadgen_state(payload: object) -> LoadgenState:
    """Read /fwcap/state JSON (pure, so it is tested on payloads)."""
    try:
        p = _StatePayload.model_validate(payload)
    except ValidationError as e:
        raise TargetError(f"Locust master /fwcap/state: {describe_first_error(e)}") from e
    return LoadgenState(in_flight=p.in_flight, workers=p.workers, reported_at=p.reported_at)


class LocustMaster:
    """HTTP client of one Locust master's web UI/API."""

    def __init__(
        self, url: str, client: httpx.Client | None = None, auth: tuple[str, str] | None = None
    ) -> None:
        """`auth`: Basic credentials of a master behind deploy/locust_plugins/web_auth.py (a
        `user:password@` in `url` works too: httpx sends it as Basic auth)."""
        self.url = url.rstrip("/")
        self._client = client or httpx.Client(timeout=10.0, auth=auth)

    def close(self) -> None:
        self._client.close()

    def _post(self, path: str, data: Mapping[str, object] | None = None) -> httpx.Response:
        try:
            r = self._client.post(f"{self.url}{path}", data=dict(data or {}))
        except httpx.HTTPError as e:
            raise TargetError(f"Locust master at {self.url} did not answer {path}: {e}") from e
        if r.status_code >= 400:
            raise TargetError(f"Locust master {path} answered HTTP {r.status_code}: {r.text[:300]}")
        return r

    def stats(self) -> LocustStats:
        try:
            r = self._client.get(f"{self.url}/stats/requests")
            r.raise_for_status()
        except httpx.HTTPError as e:
            raise TargetError(
                f"Locust master at {self.url} did not answer /stats/requests: {e}"
            ) from e
        return parse_stats(r.json())

    def _fwcap_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        """One of the locustfile's own endpoints, as JSON (TargetError when it does not answer)."""
        try:
            r = self._client.get(f"{self.url}{path}", params=params)
            r.raise_for_status()
            return r.json()
        except (httpx.HTTPError, ValueError) as e:
            raise TargetError(
                f"Locust master at {self.url} did not answer {path}: {e}; is it running "
                "capacity/load/locustfile.py?"
            ) from e

    def client_step(self, key: str) -> ClientStep:
        """The workers' tally of one step key, as last reported to the master."""
        payload = self._fwcap_json("/fwcap/steps", {"key": key})
        entry = payload.get(key) if isinstance(payload, dict) else None
        if not isinstance(entry, dict):
            raise TargetError(f"Locust master /fwcap/steps has no entry for key {key!r}")
        return parse_client_step(key, entry)

    def loadgen_state(self) -> LoadgenState:
        """Requests in flight over all workers, as of each one's latest report (once a second)."""
        return parse_loadgen_state(self._fwcap_json("/fwcap/state"))

    def in_flight_now(self) -> int:
        """Requests in flight now, all keys and workers (0 once a step's queue has drained)."""
        return self.loadgen_state().in_flight

    def wait_ready(self, workers: int, timeout_s: float = 60.0) -> None:
        """Until `workers` workers are connected (the master accepts /swarm before that)."""

        def connected() -> bool | Pending:
            try:
                n = len(self.stats().workers)
            except TargetError as e:
                return Pending(str(e))
            return n >= workers or Pending(f"{n} of {workers} workers connected")

        poll_until(
            connected,
            timeout_s=timeout_s,
            interval_s=0.3,
            on_timeout=lambda last: TargetError(
                f"Locust master at {self.url} not ready in {timeout_s:.0f}s: {last}"
            ),
        )

    def swarm(
        self,
        *,
        scenario: str,
        users: int,
        spawn_rate: float,
        host: str,
        options: Mapping[str, str | int | float],
    ) -> None:
        """Start or retarget the load: `users` users of the scenario's class against `host`.

        `options` are the locustfile's own `fwcap_*` arguments (the master forwards them to its
        workers with every spawn message).
        """
        user_class = SCENARIO_CLASSES[scenario]
        data: dict[str, object] = {
            "user_count": users,
            "spawn_rate": spawn_rate,
            "host": host,
            "user_classes": user_class,
            **options,
        }
        answer = self._post("/swarm", data).json()
        if not answer.get("success", False):
            raise TargetError(f"Locust master refused /swarm: {answer.get('message', answer)}")

    def stop(self) -> None:
        self._post("/stop")
