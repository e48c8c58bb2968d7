"""The search for a pod's capacity at the SLO, as pure values: the rate grid, the step decision
and the `Ladder` that says which grid rate to offer next (I/O lives in capacity/run.py).

Like Locust's `LoadTestShape.tick()`, a `Ladder` only answers questions: `next_probe()` names the
next grid index to measure, `record()` takes that step's counts. Nothing here sleeps or talks to
a server, so every path is table-tested (tests/local/test_ladder.py).

- Grid: one absolute geometric grid, r_k = base_rps x ratio^k, shared by both frameworks and by
  every run, so two frameworks (or two runs) are always measured at the same offered rates.
- Decision per step and the interval rule: capacity/slo.py (the one place they are defined).
- Search: climb (or descend) in strides from a starting hint, bisect the bracket down to one
  grid step, then confirm by re-running the last pass and the first fail. A confirmation pools
  its counts with the first measurement; when the pooled verdict flips, the search goes on
  from the new bracket (at most `max_probes` steps in all). A later round's search
  (`confirm=False`) stops at a one-step bracket: the rounds replicate each other instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from capacity.slo import StepCounts, Verdict, bracket, confirmed, decide

__all__ = ["Ladder", "Probe", "Purpose", "RateGrid", "StepCounts", "Verdict", "decide"]

Purpose = Literal["climb", "descend", "bisect", "confirm-pass", "confirm-fail"]


@dataclass(frozen=True)
class RateGrid:
    """r_k = base_rps x ratio^k for k = 0 .. top_index (total offered req/s for the pods)."""

    base_rps: float = 5.0
    ratio: float = 1.08
    top_index: int = 90  # 5 x 1.08^90 ~ 5,100 req/s

    def __post_init__(self) -> None:
        if not self.base_rps > 0 or not self.ratio > 1 or self.top_index < 1:
            raise ValueError(
                f"rate grid needs base_rps > 0, ratio > 1 and top_index >= 1, got "
                f"{self.base_rps!r}, {self.ratio!r}, {self.top_index!r}"
            )

    def rps(self, index: int) -> float:
        if not 0 <= index <= self.top_index:
            raise ValueError(f"grid index {index} is outside 0..{self.top_index}")
        return round(self.base_rps * self.ratio**index, 3)

    def index_at_or_below(self, rps: float) -> int:
        """The highest grid index whose rate is <= `rps` (0 when `rps` is below the grid)."""
        if rps <= self.base_rps:
            return 0
        # The tolerance absorbs the 3-decimal rounding of rps(), so rps(k) maps back to k.
        k = math.floor(math.log(rps / self.base_rps) / math.log(self.ratio) + 1e-3)
        return min(self.top_index, max(0, k))


@dataclass(frozen=True)
class Probe:
    index: int
    purpose: Purpose


@dataclass
class Ladder:
    """The search over one framework x scenario. Feed it with `record(index, counts)`.

    `allowed_ratio` is the share of requests allowed over the SLO latency (0.05 for a p95 SLO).
    """

    grid: RateGrid
    start_index: int
    allowed_ratio: float = 0.05
    stride: int = 4
    max_probes: int = 12
    # False: done once the bracket is one grid step wide (a later round's own short search; its
    # crossing is one of the rounds' estimates, and the rounds replicate each other).
    confirm: bool = True
    counts: dict[int, StepCounts] = field(default_factory=dict)
    runs: dict[int, int] = field(default_factory=dict)  # measurements per grid index
    probes: int = 0
    _pending: Probe | None = None
    _confirming: list[Probe] = field(default_factory=list)
    _confirmed: bool = False

    def __post_init__(self) -> None:
        if self.stride < 1 or self.max_probes < 1:
            raise ValueError(f"stride and max_probes must be >= 1, got {self.stride}, "
                             f"{self.max_probes}")  # fmt: skip
        self.start_index = min(max(0, self.start_index), self.grid.top_index)

    # -- what is known -------------------------------------------------------------------------

    def verdict(self, index: int) -> Verdict | None:
        """The pooled verdict of every measurement at `index` (None when never measured)."""
        if index not in self.counts:
            return None
        return decide(self.counts[index], self.allowed_ratio, final=True)

    def bracket(self) -> tuple[int | None, int | None]:
        """(last pass, first fail) on the pooled verdicts (capacity/slo.py's rule)."""
        return bracket({i: decide(c, self.allowed_ratio, final=True).passed
                        for i, c in self.counts.items()})  # fmt: skip

    @property
    def confirmed(self) -> bool:
        """True when the bracket is one grid step wide and both ends were measured twice."""
        return confirmed(*self.bracket(), self.runs)

    @property
    def done(self) -> bool:
        return self.next_probe() is None

    # -- the search ----------------------------------------------------------------------------

    def next_probe(self) -> Probe | None:
        if self._pending is not None:
            return self._pending
        if self.probes >= self.max_probes:
            return None
        lo, hi = self.bracket()
        if not self.counts:
            probe = Probe(self.start_index, "climb")
        elif hi is None:  # everything passed so far: climb
            assert lo is not None
            if lo >= self.grid.top_index:
                return None  # the grid's top passes: capacity is above what we can offer
            probe = Probe(min(self.grid.top_index, lo + self.stride), "climb")
        elif lo is None:  # everything failed so far: descend
            if hi <= 0:
                return None  # even the grid's bottom fails
            probe = Probe(max(0, hi - self.stride), "descend")
        elif hi - lo > 1:
            probe = Probe((lo + hi) // 2, "bisect")
        elif self.confirmed or not self.confirm:
            return None
        else:
            # Re-run the last pass first, then the first fail (whichever still needs it).
            if self.runs.get(lo, 0) < 2:
                probe = Probe(lo, "confirm-pass")
            else:
                probe = Probe(hi, "confirm-fail")
        self._pending = probe
        return probe

    def record(self, index: int, counts: StepCounts) -> Verdict:
        """Take the measured counts of the pending probe; returns the pooled verdict."""
        pending = self.next_probe()
        if pending is None or pending.index != index:
            raise ValueError(f"expected a measurement at grid index "
                             f"{pending.index if pending else None}, got {index}")  # fmt: skip
        self._pending = None
        self.probes += 1
        self.counts[index] = self.counts[index] + counts if index in self.counts else counts
        self.runs[index] = self.runs.get(index, 0) + 1
        verdict = self.verdict(index)
        assert verdict is not None
        return verdict

    def interval_rps(self) -> tuple[float | None, float | None]:
        lo, hi = self.bracket()
        return (
            None if lo is None else self.grid.rps(lo),
            None if hi is None else self.grid.rps(hi),
        )
