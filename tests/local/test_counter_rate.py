"""The two counters the model divides (pod CPU-seconds, requests served) are read as raw samples
and turned into rates by their slope between the first and last sample of the step's window."""

from __future__ import annotations

from typing import Any

import pytest

from capacity.metrics.client import counter_rate, read_step


def test_a_steady_counter_gives_its_slope() -> None:
    samples = [(100.0 + t, 3.0 + 0.45 * t) for t in range(7)]
    assert counter_rate(samples) == pytest.approx(0.45)


def test_scrapes_missed_at_the_windows_edge_do_not_bias_the_rate() -> None:
    # A 6 s window whose first two 1 s scrapes were missed: the samples cover 4 s of it.
    # rate() would divide an increase extrapolated by half an interval by all 6 s (0.45 x 4.5/6
    # = 0.34); the slope over the covered span is the pod's real 0.45 cores.
    samples = [(102.0 + t, 10.0 + 0.45 * t) for t in range(5)]
    assert counter_rate(samples) == pytest.approx(0.45)


def test_a_reset_counts_the_new_value_as_the_increase() -> None:
    samples = [(0.0, 0.0), (1.0, 10.0), (2.0, 20.0), (3.0, 5.0), (4.0, 15.0)]
    assert counter_rate(samples) == pytest.approx((10 + 10 + 5 + 10) / 4)


@pytest.mark.parametrize("samples", [[], [(1.0, 5.0)], [(1.0, 5.0), (1.0, 6.0)]])
def test_no_rate_without_two_samples_apart(samples: list[tuple[float, float]]) -> None:
    assert counter_rate(samples) is None


class MatrixProm:
    """Answers the two raw-sample queries with matrices, everything else with one value."""

    def custom_query(
        self, query: str, params: dict[str, Any] | None = None, timeout: int | None = None
    ) -> list[dict[str, Any]]:
        t = float((params or {})["time"])
        if query.startswith("container_cpu_usage_seconds_total"):
            return [
                {"metric": {"pod": "django-0"}, "values": [[t - 5, "10"], [t, "12"]]},  # 0.4
                # django-1 missed its first three scrapes: 0.3 cores over the 2 s it covers.
                {
                    "metric": {"pod": "django-1"},
                    "values": [[t - 2, "7"], [t - 1, "7.3"], [t, "7.6"]],
                },
            ]
        if query.startswith("http_server_request_duration_seconds_count"):
            items_0 = {"pod": "django-0", "http_route": "/api/items"}
            items_1 = {"pod": "django-1", "http_route": "/api/items"}
            stats_1 = {"pod": "django-1", "http_route": "/api/stats"}
            return [
                {"metric": items_0, "values": [[t - 5, "100"], [t, "350"]]},
                {"metric": items_1, "values": [[t - 5, "0"], [t, "250"]]},
                {"metric": stats_1, "values": [[t, "1"]]},
            ]
        return [{"metric": {}, "value": [t, "1"]}]


def test_a_step_reads_pod_cpu_and_requests_from_the_raw_samples() -> None:
    m = read_step(MatrixProm(), namespace="local", framework="django", end_s=1000.0, window_s=6)
    assert m.pod_cpu_cores == pytest.approx((0.4 + 0.3) / 2)
    assert m.pod_cpu_cores_max == pytest.approx(0.4)
    assert m.achieved_rps == pytest.approx(50 + 50)  # a series with one sample has no rate yet
