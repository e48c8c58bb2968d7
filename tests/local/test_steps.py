"""The run's small pure helpers: the ETA (a step's counts: tests/capacity/test_slo.py)."""

from __future__ import annotations

from capacity.load.steps import eta_s, scenario_estimate_s


def test_eta_counts_the_rest_of_this_scenario_and_the_ones_left() -> None:
    per = scenario_estimate_s(warmup_s=6, step_duration_s=8, expected_steps=5, overhead_s=4)
    assert per == 50
    assert eta_s(remaining_scenarios=2, per_scenario_s=per, current_elapsed_s=20) == 130
    assert eta_s(remaining_scenarios=0, per_scenario_s=per, current_elapsed_s=80) == 0
