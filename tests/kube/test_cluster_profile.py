"""The cluster plan profile: steps long enough for the kubelet's cAdvisor refresh, measured
from sample counts when there are data, and a step set too short refused before any load."""

from __future__ import annotations

from typing import Any

import pytest

from capacity.errors import ConfigError
from capacity.plan import build_plan
from capacity.target.k8s.profile import (
    ClusterTiming,
    cluster_plan,
    measure_refresh,
    refresh_from_counts,
    refresh_from_timestamps,
    scrape_interval_of,
)


@pytest.mark.parametrize(
    ("series", "scrape_s", "refresh_s"),
    [
        ([(25, 12)], 5, 10.0),  # kubelet: a new value every other 5 s scrape
        ([(61, 60)], 1, 1.0),  # the local pod exporter: a new value every scrape
        ([(25, 12), (25, 8), (25, 12)], 5, 10.0),  # the median, not the idle pod's 15 s
        ([(25, 0), (1, 0)], 5, None),  # an idle counter or a single sample says nothing
        ([], 5, None),
    ],
)
def test_refresh_from_sample_counts(
    series: list[tuple[float, float]], scrape_s: float, refresh_s: float | None
) -> None:
    assert refresh_from_counts(series, scrape_s) == refresh_s


@pytest.mark.parametrize(
    ("refresh_s", "scrape_s", "step_s", "wait_s"),
    [
        (10, 5, 32, 10),  # the kubelet default: 2 s settle + 3 x 10 s
        (10, 15, 47, 15),  # a slow scrape binds instead
        (1, 1, None, 1),  # the local exporter: the plan's own steps already suffice
    ],
)
def test_an_unset_step_is_raised_to_what_the_refresh_needs(
    refresh_s: float, scrape_s: float, step_s: float | None, wait_s: int
) -> None:
    default = build_plan()
    plan = cluster_plan(default, ClusterTiming(refresh_s, scrape_s, True), step_given=False)
    assert plan.step_duration_s == (step_s or default.step_duration_s)
    assert plan.scrape_interval_s == wait_s
    assert plan.warmup_s >= plan.settle_s + 2 * wait_s


def test_a_step_set_too_short_is_refused_naming_the_minimum() -> None:
    with pytest.raises(ConfigError) as e:
        cluster_plan(
            build_plan(cli={"step_duration_s": 10}),
            ClusterTiming(10, 5, measured=False),
            step_given=True,
        )
    assert str(e.value).startswith("--step-duration 10 is too short for a cluster")
    assert "(the kubelet default: not measurable" in str(e.value)
    assert "--step-duration 32" in str(e.value)


def test_a_long_enough_step_is_kept() -> None:
    plan = cluster_plan(
        build_plan(cli={"step_duration_s": 60}), ClusterTiming(10, 5, True), step_given=True
    )
    assert plan.step_duration_s == 60


@pytest.mark.parametrize(
    ("series", "refresh_s"),
    [
        ([[0, 10, 20, 30]], 10.0),  # a kubelet: one sample per refresh, busy or idle
        ([[0, 10, 10, 20]], 10.0),  # a repeated timestamp is one sample
        ([[0, 1, 2, 3], [0, 10, 20], [5, 15, 25]], 10.0),  # the median over series
        ([[0]], None),  # one sample says nothing
        ([], None),
    ],
)
def test_refresh_from_sample_timestamps(series: list[list[float]], refresh_s: float | None) -> None:
    assert refresh_from_timestamps(series) == refresh_s


class RecordedPrometheus:
    """Answers the two refresh queries with fixed series (raw samples, then changes())."""

    def __init__(self, samples: list[list[tuple[float, float]]], changes: list[float]) -> None:
        self.samples, self.changes = samples, changes

    def custom_query(self, query: str, params: Any = None, timeout: Any = None) -> Any:
        if query.startswith("changes("):
            return [
                {"metric": {"pod": f"p{i}"}, "value": [0, str(c)]}
                for i, c in enumerate(self.changes)
            ]
        return [
            {"metric": {"pod": f"p{i}"}, "values": [[t, str(v)] for t, v in s]}
            for i, s in enumerate(self.samples)
        ]


def test_idle_counters_are_measured_from_their_timestamps() -> None:
    # Idle pods on a kubelet: the value never changes, the timestamps still step by 10 s.
    idle = [[(1000.0 + 10 * i, 3.5) for i in range(12)] for _ in range(2)]
    reading = measure_refresh(RecordedPrometheus(idle, [0, 0]), "ns", scrape_s=5)
    assert reading.refresh_s == 10
    assert "timestamps" in reading.reason


def test_jittered_stamps_of_a_busy_machine_read_as_whole_scrapes() -> None:
    # The local exporter stamps each value when it reads it: under load the gaps are 1.02 s,
    # not 1 s, and a refresh of 1.02 s would round the plan's wait up to 2 s.
    jittered = [[(1000.0 + 1.02 * i + (0.05 if i % 3 else 0.0), 3.5) for i in range(30)]]
    reading = measure_refresh(RecordedPrometheus(jittered, [0]), "ns", scrape_s=1)
    assert reading.refresh_s == 1


@pytest.mark.parametrize("refresh_s", [1.0, 1.02, 1.4, 2.6, 10.0])
def test_the_minimum_step_always_makes_a_valid_plan(refresh_s: float) -> None:
    timing = ClusterTiming(refresh_s, 1, True)
    step = timing.min_step_s(build_plan().settle_s)
    plan = cluster_plan(build_plan(cli={"step_duration_s": step}), timing, step_given=True)
    assert plan.step_duration_s == step


def test_samples_stamped_at_scrape_time_fall_back_to_value_changes() -> None:
    # honor_timestamps: false: a sample every 5 s scrape, the value new every other one.
    busy = [[(1000.0 + 5 * i, float(i // 2)) for i in range(25)]]
    reading = measure_refresh(RecordedPrometheus(busy, [12]), "ns", scrape_s=5)
    assert reading.refresh_s == 10
    assert "change" in reading.reason


def test_no_series_is_not_measurable_and_says_why() -> None:
    reading = measure_refresh(RecordedPrometheus([], []), "shop", scrape_s=5)
    assert reading.refresh_s is None
    assert "'shop'" in reading.reason and "cAdvisor" in reading.reason


def test_scrape_interval_is_read_from_the_targets() -> None:
    assert scrape_interval_of([{"scrapeInterval": "5s"}, {"scrapeInterval": "1m"}]) == 60
    assert scrape_interval_of([{"scrapeInterval": "500ms"}, {}]) is None
