"""The generator's own view of one measured step, as the Locust master serves it at /fwcap/steps.

Every request is timed from its *intended* send time (the seeded arrival schedule), so a
server stall shows in these latencies even when the server's own histogram does not see the
queue (coordinated omission; see docs/local-run.md). Latencies arrive as a sparse histogram of
whole milliseconds, rounded up, so "over the SLO" is exact at millisecond resolution.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ValidationError

from capacity.errors import TargetError
from capacity.load.ladder import StepCounts


@dataclass(frozen=True)
class ClientStep:
    """Counts of one step key, summed over the Locust workers."""

    key: str
    scheduled: int  # arrivals in the measuring window (sent, failed or dropped)
    ok: int  # completed with a non-error status
    failed: int  # error status, timeout or connection error
    dropped: int  # not sent: the in-flight cap was reached (counted as failures)
    in_flight: int  # sent, not finished at the last worker report
    first_intended_s: float | None  # wall clock of the first / last arrival in the window
    last_intended_s: float | None
    latency_ms: Mapping[int, int] = field(default_factory=dict)  # ms (rounded up) -> OK count
    # The measured time; pooled windows add up (the untallied gap between them does not count).
    pooled_window_s: float | None = None

    @property
    def window_s(self) -> float:
        if self.pooled_window_s is not None:
            return self.pooled_window_s
        if self.first_intended_s is None or self.last_intended_s is None:
            return 0.0
        # n arrivals span n - 1 gaps; add one mean gap so the window covers all n.
        span = self.last_intended_s - self.first_intended_s
        return span * self.scheduled / max(1, self.scheduled - 1) if span > 0 else 0.0

    @property
    def achieved_rps(self) -> float:
        return self.ok / self.window_s if self.window_s > 0 else 0.0

    @property
    def offered_rps(self) -> float:
        return self.scheduled / self.window_s if self.window_s > 0 else 0.0

    @property
    def error_ratio(self) -> float:
        return (self.failed + self.dropped) / self.scheduled if self.scheduled else 0.0

    def over_slo(self, slo_ms: float) -> int:
        """Late, failed, dropped, or still in flight (counted late: it has not finished)."""
        late = sum(n for ms, n in self.latency_ms.items() if ms > slo_ms)
        return late + self.failed + self.dropped + self.in_flight

    def counts(self, slo_ms: float) -> StepCounts:
        return StepCounts(self.scheduled, min(self.scheduled, self.over_slo(slo_ms)))

    def percentile_ms(self, q: float) -> float | None:
        return percentile_ms(self.latency_ms, q)

    def __add__(self, other: ClientStep) -> ClientStep:
        hist = dict(self.latency_ms)
        for ms, n in other.latency_ms.items():
            hist[ms] = hist.get(ms, 0) + n
        firsts = [t for t in (self.first_intended_s, other.first_intended_s) if t is not None]
        lasts = [t for t in (self.last_intended_s, other.last_intended_s) if t is not None]
        return ClientStep(
            key=f"{self.key}+{other.key}",
            scheduled=self.scheduled + other.scheduled,
            ok=self.ok + other.ok,
            failed=self.failed + other.failed,
            dropped=self.dropped + other.dropped,
            in_flight=self.in_flight + other.in_flight,
            first_intended_s=min(firsts) if firsts else None,
            last_intended_s=max(lasts) if lasts else None,
            latency_ms=hist,
            pooled_window_s=self.window_s + other.window_s,
        )


def percentile_ms(histogram: Mapping[int, int], q: float) -> float | None:
    """The nearest-rank q-quantile (0 < q <= 1) of a whole-millisecond histogram."""
    if not 0 < q <= 1:
        raise ValueError(f"quantile {q!r} must be in (0, 1]")
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = math.ceil(q * total)
    seen = 0
    for ms in sorted(histogram):
        seen += histogram[ms]
        if seen >= rank:
            return float(ms)
    return float(max(histogram))  # pragma: no cover - unreachable: seen reaches total


class _StepPayload(BaseModel):
    """One entry of /fwcap/steps as the locustfile writes it (`Tally.to_json`)."""

    scheduled: int = 0
    ok: int = 0
    failed: int = 0
    dropped: int = 0
    in_flight: int = 0
    first_intended_s: float | None = None
    last_intended_s: float | None = None
    latency_ms: dict[int, int] = {}  # JSON keys are strings: "5" -> 5


def parse_client_step(key: str, payload: Mapping[str, object]) -> ClientStep:
    """One entry of the master's /fwcap/steps JSON (pure, so it is tested on payloads)."""
    try:
        step = _StepPayload.model_validate(payload)
    except ValidationError as e:
        raise TargetError(f"Locust master step {key!r}: {describe_first_error(e)}") from e
    return ClientStep(
        key=key,
        scheduled=step.scheduled,
        ok=step.ok,
        failed=step.failed,
        dropped=step.dropped,
        in_flight=max(0, step.in_flight),
        first_intended_s=step.first_intended_s,
        last_intended_s=step.last_intended_s,
        latency_ms=step.latency_ms,
    )


def describe_first_error(error: ValidationError) -> str:
    """`field: what is wrong (got value)` for the first bad field of a Locust payload."""
    first = error.errors()[0]
    field_path = ".".join(str(p) for p in first["loc"]) or "payload"
    return f"{field_path}: {first['msg']} (got {first['input']!r})"
