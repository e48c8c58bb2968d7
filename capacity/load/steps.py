"""Small pure helpers of the run: the counts a step's record stands for, and the ETA."""

from __future__ import annotations

from typing import Protocol

from capacity.load.ladder import StepCounts, decide


class _Decided(Protocol):
    @property
    def requests(self) -> int: ...
    @property
    def over_slo_ratio(self) -> float: ...
    @property
    def decision(self) -> str: ...


def step_counts(record: _Decided, allowed_ratio: float) -> StepCounts:
    """The counts a measured step adds to its grid rate, for the run's Ladder and the model alike.

    A step that failed for a reason other than latency (errors over budget, a saturated
    generator) counts as wholly over the SLO: it cannot vouch for its rate.
    """
    n = record.requests
    over = min(n, round(record.over_slo_ratio * n))
    if record.decision == "fail" and decide(StepCounts(n, over), allowed_ratio, final=True).passed:
        return StepCounts(max(1, n), max(1, n))
    return StepCounts(n, over)


def scenario_estimate_s(
    *, warmup_s: float, step_duration_s: float, expected_steps: int, overhead_s: float = 3.0
) -> float:
    """Expected wall time of one framework x scenario (for the ETA)."""
    return warmup_s + overhead_s + expected_steps * step_duration_s


def eta_s(*, remaining_scenarios: int, per_scenario_s: float, current_elapsed_s: float) -> float:
    """Seconds left: the rest of the current scenario plus the scenarios not started yet."""
    current_left = max(0.0, per_scenario_s - current_elapsed_s)
    return current_left + remaining_scenarios * per_scenario_s
