"""The step plan as pure functions: which rates to offer, with how many users, how long it takes.

A scenario starts with a warm-up at full throttle, which also measures the pods' ceiling (the
requests/s they serve when saturated). The fixed-rate ladder is placed around that ceiling, where
the knee is, then climbs geometrically while steps still pass, so a scenario needs a handful of
steps whatever its throughput (a 10 req/s aggregation or a 2000 req/s read). Steps are numbered
from 0, as in the measurement records.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def users_for(offered_rps: float, *, max_user_rps: float, pods: int) -> tuple[int, float]:
    """(users, per-user req/s) offering `offered_rps`, at most `max_user_rps` per user.

    At least one user per pod, and a multiple of the pod count so every pod gets the same share.
    """
    if offered_rps <= 0 or max_user_rps <= 0 or pods < 1:
        raise ValueError(f"need positive rates and pods, got {offered_rps}, {max_user_rps}, {pods}")
    users = max(pods, math.ceil(offered_rps / max_user_rps - 1e-9))
    users = math.ceil(users / pods) * pods
    return users, offered_rps / users


def ladder_rps(
    step: int,
    *,
    ceiling_rps: float,
    fractions: Sequence[float],
    extend_factor: float,
    explicit_rps: Sequence[float] = (),
) -> float | None:
    """The offered rate of `step` (0-based), or None when the ladder has no such step.

    With `explicit_rps` that list is the ladder. Otherwise step i offers fractions[i] x the
    warm-up ceiling, and beyond the fractions each step offers `extend_factor` x the previous
    (the caller stops as soon as a step fails, so the extension runs only while steps pass).
    """
    if step < 0:
        raise ValueError(f"steps are numbered from 0, got {step}")
    if explicit_rps:
        return float(explicit_rps[step]) if step < len(explicit_rps) else None
    if ceiling_rps <= 0 or not fractions:
        return None
    if step < len(fractions):
        return fractions[step] * ceiling_rps
    return fractions[-1] * ceiling_rps * extend_factor ** (step + 1 - len(fractions))


def scenario_estimate_s(
    *, warmup_s: float, step_duration_s: float, expected_steps: int, overhead_s: float = 3.0
) -> float:
    """Expected wall time of one framework x scenario (for the ETA)."""
    return warmup_s + overhead_s + expected_steps * step_duration_s


def eta_s(*, remaining_scenarios: int, per_scenario_s: float, current_elapsed_s: float) -> float:
    """Seconds left: the rest of the current scenario plus the scenarios not started yet."""
    current_left = max(0.0, per_scenario_s - current_elapsed_s)
    return current_left + remaining_scenarios * per_scenario_s
