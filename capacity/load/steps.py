"""Small pure helpers of the run: the expected wall time of a search, and the ETA."""

from __future__ import annotations


def scenario_estimate_s(
    *, warmup_s: float, step_duration_s: float, expected_steps: int, overhead_s: float = 3.0
) -> float:
    """Expected wall time of one framework x scenario (for the ETA)."""
    return warmup_s + overhead_s + expected_steps * step_duration_s


def eta_s(*, remaining_scenarios: int, per_scenario_s: float, current_elapsed_s: float) -> float:
    """Seconds left: the rest of the current scenario plus the scenarios not started yet."""
    current_left = max(0.0, per_scenario_s - current_elapsed_s)
    return current_left + remaining_scenarios * per_scenario_s
