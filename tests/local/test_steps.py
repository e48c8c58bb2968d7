"""The step plan's arithmetic: users per step, the ladder around the warm-up ceiling, the ETA."""

from __future__ import annotations

import pytest

from capacity.load.steps import eta_s, ladder_rps, scenario_estimate_s, users_for


@pytest.mark.parametrize(
    ("offered", "max_user_rps", "pods", "users", "user_rps"),
    [
        (100.0, 4.0, 1, 25, 4.0),  # exact
        (101.0, 4.0, 1, 26, 101.0 / 26),  # rounds users up, paces each a bit slower
        (3.0, 4.0, 1, 1, 3.0),  # at least one user
        (3.0, 4.0, 2, 2, 1.5),  # at least one user per pod
        (101.0, 4.0, 2, 26, 101.0 / 26),  # a multiple of the pod count
        (90.0, 4.0, 4, 24, 3.75),
    ],
)
def test_users_for_offers_exactly_the_rate_within_the_per_user_cap(
    offered: float, max_user_rps: float, pods: int, users: int, user_rps: float
) -> None:
    got_users, got_rps = users_for(offered, max_user_rps=max_user_rps, pods=pods)
    assert (got_users, got_rps) == (users, pytest.approx(user_rps))
    assert got_users * got_rps == pytest.approx(offered)
    assert got_rps <= max_user_rps
    assert got_users % pods == 0


@pytest.mark.parametrize("bad", [(0.0, 4.0, 1), (10.0, 0.0, 1), (10.0, 4.0, 0)])
def test_users_for_rejects_non_positive_inputs(bad: tuple[float, float, int]) -> None:
    with pytest.raises(ValueError):
        users_for(bad[0], max_user_rps=bad[1], pods=bad[2])


FRACTIONS = (0.5, 0.8, 1.0)


@pytest.mark.parametrize(
    ("step", "expected"),
    [(0, 100.0), (1, 160.0), (2, 200.0), (3, 240.0), (4, 288.0)],  # then x1.2 per step
)
def test_ladder_places_steps_around_the_ceiling_then_grows(step: int, expected: float) -> None:
    got = ladder_rps(step, ceiling_rps=200.0, fractions=FRACTIONS, extend_factor=1.2)
    assert got == pytest.approx(expected)


def test_explicit_steps_replace_the_ladder_and_end() -> None:
    explicit = (10.0, 20.0)
    kw = {"ceiling_rps": 500.0, "fractions": FRACTIONS, "extend_factor": 1.2}
    assert [ladder_rps(i, explicit_rps=explicit, **kw) for i in range(3)] == [10.0, 20.0, None]


def test_ladder_has_no_steps_without_a_ceiling() -> None:
    assert ladder_rps(0, ceiling_rps=0.0, fractions=FRACTIONS, extend_factor=1.2) is None
    with pytest.raises(ValueError):
        ladder_rps(-1, ceiling_rps=1.0, fractions=FRACTIONS, extend_factor=1.2)


def test_eta_counts_the_rest_of_this_scenario_and_the_ones_left() -> None:
    per = scenario_estimate_s(warmup_s=6, step_duration_s=8, expected_steps=5, overhead_s=4)
    assert per == 50
    assert eta_s(remaining_scenarios=2, per_scenario_s=per, current_elapsed_s=20) == 130
    assert eta_s(remaining_scenarios=0, per_scenario_s=per, current_elapsed_s=80) == 0
