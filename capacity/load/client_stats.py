"""The generator's own view of one measured step, as the Locust master serves it at /fwcap/steps.

Every request is timed from its *intended* send time (the seeded arrival schedule), so a
server stall shows in these latencies even when the server's own histogram does not see the
queue (coordinated omission; see docs/local-run.md). Latencies arrive as a sparse histogram of
whole milliseconds, rounded up, so "over the SLO" is exact at millisecond resolution.

Per wall-clock second the step also carries [scheduled, on_time, completed_ok] (`batches`): what
arrived, what was answered within the SLO (both by intended second) and what completed OK (by
completion second). The first two feed the capacity fit one second at a time; the third counts
only what the server finished inside the step's window, which `ok` (finished at any time) does
not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, NonNegativeInt, ValidationError, model_validator

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
    # From the intended time to just before the HTTP call, ms (rounded up) -> sent requests.
    send_lag_ms: Mapping[int, int] = field(default_factory=dict)
    # wall second -> (scheduled, on_time, completed_ok); see the module docstring
    batches: Mapping[int, tuple[int, int, int]] = field(default_factory=dict)
    slo_ms: float | None = None  # what on_time was judged against (None: no SLO given)
    # OK completions inside each pooled window, summed (each window is its own interval).
    pooled_completed_in_window: float | None = None
    # request name -> (scheduled, over the SLO: late, failed or dropped; in flight at the end
    # not counted): which requests a step's late share is made of
    by_name: Mapping[str, tuple[int, int]] = field(default_factory=dict)

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
    def achieved_in_window_rps(self) -> float:
        """OK completions *inside* [first intended, last intended + one mean gap] per second.

        Unlike `achieved_rps` (every OK, whenever it finished), a queue the server works off
        after the window does not count, so an overloaded step does not look as if it achieved
        what was offered.
        """
        return self._completed_in_own_window() / self.window_s if self.window_s > 0 else 0.0

    def _completed_in_own_window(self) -> float:
        if self.pooled_completed_in_window is not None:
            return self.pooled_completed_in_window
        if self.first_intended_s is None or self.window_s <= 0:
            return 0.0
        start, end = self.first_intended_s, self.first_intended_s + self.window_s
        last_second = math.floor(end)
        whole = self.completed_in_window(start, last_second - 1) if last_second > start else 0
        # The window ends inside its last second: count the part of that second's completions
        # the window covers (as if spread evenly over the part of it after the first arrival),
        # else a healthy step would show more achieved than offered.
        second_from = max(start, last_second)
        share = (end - second_from) / (last_second + 1 - second_from)
        return whole + share * self.completed_in_window(last_second, last_second)

    def completed_in_window(self, start_s: float, end_s: float) -> int:
        """OK completions whose completion second lies in [floor(start_s), floor(end_s)]."""
        lo, hi = math.floor(start_s), math.floor(end_s)
        return sum(b[2] for second, b in self.batches.items() if lo <= second <= hi)

    def per_second(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(requests, over the SLO) per second with arrivals, in time order.

        Over = scheduled - on_time, so failed, dropped and unfinished requests count as over,
        as in `over_slo`. With no SLO given (`slo_ms` None) nothing is on time.
        """
        seconds = sorted(s for s, b in self.batches.items() if b[0] > 0)
        requests = tuple(self.batches[s][0] for s in seconds)
        over = tuple(self.batches[s][0] - self.batches[s][1] for s in seconds)
        return requests, over

    @property
    def send_lag_p99_ms(self) -> float | None:
        """None when no request was sent (all dropped, or none scheduled)."""
        return percentile_ms(self.send_lag_ms, 0.99)

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
        batches = dict(self.batches)
        for second, b in other.batches.items():
            mine = batches.get(second, (0, 0, 0))
            batches[second] = (mine[0] + b[0], mine[1] + b[1], mine[2] + b[2])
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
            latency_ms=_add_histograms(self.latency_ms, other.latency_ms),
            pooled_window_s=self.window_s + other.window_s,
            send_lag_ms=_add_histograms(self.send_lag_ms, other.send_lag_ms),
            batches=batches,
            # Two SLOs make the pooled on_time counts incomparable: say so rather than pick one.
            slo_ms=self.slo_ms if self.slo_ms == other.slo_ms else None,
            pooled_completed_in_window=(
                self._completed_in_own_window() + other._completed_in_own_window()
            ),
            by_name={
                name: (
                    self.by_name.get(name, (0, 0))[0] + other.by_name.get(name, (0, 0))[0],
                    self.by_name.get(name, (0, 0))[1] + other.by_name.get(name, (0, 0))[1],
                )
                for name in {**self.by_name, **other.by_name}
            },
        )


def _add_histograms(a: Mapping[int, int], b: Mapping[int, int]) -> dict[int, int]:
    total = dict(a)
    for ms, n in b.items():
        total[ms] = total.get(ms, 0) + n
    return total


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
    send_lag_ms: dict[int, NonNegativeInt] = {}
    slo_ms: float | None = None
    # "1700000000" -> (scheduled, on_time, completed_ok)
    batches: dict[int, tuple[NonNegativeInt, NonNegativeInt, NonNegativeInt]] = {}
    by_name: dict[str, tuple[NonNegativeInt, NonNegativeInt]] = {}  # name -> (scheduled, over)

    @model_validator(mode="after")
    def _on_time_were_scheduled(self) -> _StepPayload:
        # on_time is counted in the same second and under the same key as the arrival, and a
        # worker reports an arrival no later than its answer: more would be a locustfile bug.
        for second, (scheduled, on_time, _) in sorted(self.batches.items()):
            if on_time > scheduled:
                raise ValueError(
                    f"batches.{second}: on_time {on_time} exceeds scheduled {scheduled}"
                )
        return self


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
        send_lag_ms=step.send_lag_ms,
        batches=step.batches,
        slo_ms=step.slo_ms,
        by_name=step.by_name,
    )


def describe_first_error(error: ValidationError) -> str:
    """`field: what is wrong (got value)` for the first bad field of a Locust payload."""
    first = error.errors()[0]
    field_path = ".".join(str(p) for p in first["loc"]) or "payload"
    if first["type"] == "value_error":
        # A check across fields: its message names what is wrong; the input is the whole model.
        return f"{field_path}: {first['msg']}"
    return f"{field_path}: {first['msg']} (got {first['input']!r})"
