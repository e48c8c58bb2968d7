"""The run's small pure helpers: the counts a step stands for, and the ETA."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from capacity.load.ladder import StepCounts
from capacity.load.steps import eta_s, scenario_estimate_s, step_counts


@dataclass(frozen=True)
class _Step:
    requests: int
    over_slo_ratio: float
    decision: str


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (_Step(1000, 0.02, "pass"), StepCounts(1000, 20)),
        (_Step(1000, 0.20, "fail"), StepCounts(1000, 200)),
        # Failed for another reason (errors over budget, saturated generator) with few late
        # requests: it cannot vouch for its rate, so it counts as wholly over the SLO.
        (_Step(1000, 0.01, "fail"), StepCounts(1000, 1000)),
        # Nothing scheduled is no evidence: it adds nothing (alone, no requests is a fail).
        (_Step(0, 1.0, "fail"), StepCounts(0, 0)),
    ],
)
def test_a_step_adds_its_counts_or_a_whole_fail(step: _Step, expected: StepCounts) -> None:
    assert step_counts(step, 0.05) == expected


def test_eta_counts_the_rest_of_this_scenario_and_the_ones_left() -> None:
    per = scenario_estimate_s(warmup_s=6, step_duration_s=8, expected_steps=5, overhead_s=4)
    assert per == 50
    assert eta_s(remaining_scenarios=2, per_scenario_s=per, current_elapsed_s=20) == 130
    assert eta_s(remaining_scenarios=0, per_scenario_s=per, current_elapsed_s=80) == 0
