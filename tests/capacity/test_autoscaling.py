"""The HPA and VPA-style figures from the knee, recomputed by hand from the synthetic run."""

from __future__ import annotations

import math

import pytest

from capacity.catalog import load_catalog
from capacity.model import AnalysisSettings
from capacity.model.analysis import SeriesAnalysis, analyse
from capacity.model.autoscaling import autoscaler, vertical
from capacity.model.derivation import Figure, evaluate
from tests.capacity import synthetic


def assert_recomputes(figure: Figure) -> None:
    """The recorded value is its formula over its recorded inputs (as results.json is checked)."""
    assert evaluate(figure.formula, figure.inputs) == figure.value, figure


@pytest.fixture(scope="module")
def series() -> list[SeriesAnalysis]:
    analysis = analyse(synthetic.run(), [load_catalog().node("t3.medium")], AnalysisSettings())
    return [s for s in analysis.series if s.sizing is not None]


def test_the_target_utilisation_is_the_cpu_at_capacity_less_headroom_over_the_request(
    series: list[SeriesAnalysis],
) -> None:
    assert series
    for s in series:
        assert s.sizing is not None and s.capacity.capacity_step is not None
        record = s.capacity.capacity_step.record
        per_pod = s.capacity.capacity_per_pod_rps.number()
        hpa = autoscaler(record, s.sizing, per_pod, target_rps=1000, headroom=0.2, zones=3,
                         series=s.name)  # fmt: skip
        request = s.sizing.cpu_millicores.number()
        by_hand = math.floor(record.pod_cpu_cores * 1000 * 0.8 * 100 / request)
        assert hpa.target_cpu_utilization_percent.value == max(1, min(100, by_hand))
        assert hpa.min_replicas.value == 4  # 3 zones + 1
        assert hpa.max_replicas.value == max(4, math.ceil(2000 / (per_pod * 0.8)))
        for figure in (hpa.target_cpu_utilization_percent, hpa.min_replicas, hpa.max_replicas):
            assert_recomputes(figure)


@pytest.mark.parametrize(("headroom", "lower"), [(0.0, True), (0.5, False)])
def test_more_headroom_lowers_the_target(
    series: list[SeriesAnalysis], headroom: float, lower: bool
) -> None:
    s = series[0]
    assert s.sizing is not None and s.capacity.capacity_step is not None
    record, per_pod = s.capacity.capacity_step.record, s.capacity.capacity_per_pod_rps.number()
    base = autoscaler(record, s.sizing, per_pod, target_rps=1000, headroom=0.2, zones=1,
                      series=s.name)  # fmt: skip
    other = autoscaler(record, s.sizing, per_pod, target_rps=1000, headroom=headroom, zones=1,
                       series=s.name)  # fmt: skip
    a, b = (
        base.target_cpu_utilization_percent.number(),
        other.target_cpu_utilization_percent.number(),
    )
    assert (b > a) if lower else (b < a)
    assert other.max_replicas.number() >= 2


def test_vertical_bounds_bracket_the_request(series: list[SeriesAnalysis]) -> None:
    for s in series:
        assert s.sizing is not None and s.capacity.capacity_step is not None
        record, per_pod = s.capacity.capacity_step.record, s.capacity.capacity_per_pod_rps.number()
        hpa = autoscaler(record, s.sizing, per_pod, target_rps=500, headroom=0.2, zones=1,
                         series=s.name)  # fmt: skip
        vpa = vertical(record, s.sizing, hpa, series=s.name)
        for bounds in (vpa.cpu, vpa.memory):
            lo, mid, hi = (
                f.number() for f in (bounds.lower_bound, bounds.target, bounds.upper_bound)
            )
            assert lo <= mid <= hi, (s.name, lo, mid, hi)
            for figure in (bounds.lower_bound, bounds.upper_bound):
                assert_recomputes(figure)
        assert vpa.cpu.upper_bound.value == record.pod_cpu_limit_millicores


def test_a_growth_factor_below_one_is_refused(series: list[SeriesAnalysis]) -> None:
    s = series[0]
    assert s.sizing is not None and s.capacity.capacity_step is not None
    with pytest.raises(ValueError, match=r"growth factor 0\.5"):
        autoscaler(s.capacity.capacity_step.record, s.sizing, 100.0, target_rps=100,
                   headroom=0.2, zones=1, growth_factor=0.5, series=s.name)  # fmt: skip
