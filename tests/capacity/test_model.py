"""Capacity at the SLO, CPU per request, right-sizing, cost, what-if and the claims table."""

from __future__ import annotations

import dataclasses

import pytest

from capacity.catalog import load_catalog
from capacity.errors import ConfigError
from capacity.model import (
    NODES_ONLY,
    AnalysisSettings,
    Margins,
    PodShape,
    Slo,
    Workload,
    analyse,
    capacity_at_slo,
    cheapest,
    check_claims,
    estimate_cost,
    node_allocatable,
    plan_workloads,
    pods_per_node,
    right_size,
)
from tests.capacity import synthetic

MIB = 2**20
CATALOG = load_catalog()


def _series(framework: str, scenario: str, **overrides_by_step: dict[str, object]):  # type: ignore[no-untyped-def]
    return [
        synthetic.record(framework, scenario, i, offered, **overrides_by_step.get(str(i), {}))
        for i, offered in enumerate(synthetic.STEPS)
    ]


def test_capacity_is_fitted_inside_the_grid_bracket_with_its_interval() -> None:
    # fastapi/db-read: max_rps = (0.5 - 0.003) / 0.0016 = 310.6; 253 req/s has 1.5% of
    # requests over 100 ms, 319 req/s is past the knee.
    result = capacity_at_slo(_series("fastapi", "db-read"), Slo(100), "fastapi/db-read")
    assert result.interval_per_pod_rps == (253.269, 319.046)
    point = result.capacity_per_pod_rps.number()
    assert 253.269 < point < 319.046, "the fitted crossing lies in the bracket, not on the grid"
    assert point != pytest.approx((253.269 * 319.046) ** 0.5)
    assert result.capacity_per_pod_rps.formula == "fitted_rps / pods"
    assert result.capacity_ci95_per_pod_rps is not None
    lo, hi = result.capacity_ci95_per_pod_rps
    assert lo <= point <= hi
    assert result.capacity_step is not None and result.capacity_step.record.step == 6
    assert [v.valid for v in result.steps] == [True] * 7 + [False]
    assert "over 100 ms" in result.steps[-1].reasons[0]
    # Measured once at each end and three grid steps apart: not confirmed, and it says so.
    assert not result.confirmed
    assert any("not confirmed" in w for w in result.warnings)


def test_a_confirmed_interval_is_one_grid_step_with_both_ends_measured_twice() -> None:
    lo, hi = synthetic.GRID.rps(51), synthetic.GRID.rps(52)
    records = [
        synthetic.record("fastapi", "db-read", i, offered, attempt=a)
        for i, (offered, a) in enumerate([(lo, 1), (hi, 1), (lo, 2), (hi, 2)])
    ]
    result = capacity_at_slo(records, Slo(100), "x")
    assert result.confirmed and result.interval_per_pod_rps == (lo, hi)
    assert not result.warnings


def test_measurements_at_one_rate_are_pooled_before_deciding() -> None:
    # Two runs at 253 req/s: 3% and 8% over the SLO. Pooled 5.5% > 5%: the rate fails.
    rate = synthetic.GRID.rps(51)
    records = [
        synthetic.record("fastapi", "db-read", 0, synthetic.GRID.rps(48)),
        synthetic.record("fastapi", "db-read", 1, rate, over_slo_ratio=0.03),
        synthetic.record(
            "fastapi", "db-read", 2, rate, over_slo_ratio=0.08, decision="fail", attempt=2
        ),
    ]
    result = capacity_at_slo(records, Slo(100), "x")
    assert result.interval_per_pod_rps == (synthetic.GRID.rps(48), rate)


def test_a_saturated_generator_step_never_counts_as_capacity() -> None:
    records = _series(
        "fastapi", "db-read", **{"6": {"generator_saturated": True, "decision": "fail"}}
    )
    result = capacity_at_slo(records, Slo(100), "x")
    assert result.interval_per_pod_rps == (201.053, 253.269)
    assert any("generator saturated" in r for r in result.steps[6].reasons)


def test_errors_over_budget_fail_a_step_and_a_fail_below_the_interval_is_flagged() -> None:
    records = _series(
        "fastapi", "db-read",
        **{"6": {"error_ratio": 0.05, "decision": "fail"},
           "3": {"over_slo_ratio": 0.2, "decision": "fail"}},
    )  # fmt: skip
    result = capacity_at_slo(records, Slo(100), "x")
    # The lowest failing rate is step 3 (117 req/s): the interval sits below it.
    assert result.interval_per_pod_rps == (79.841, 117.312)
    assert any("errors" in r for r in result.steps[6].reasons)


def test_the_allowed_share_follows_the_percentile() -> None:
    # p99: at most 1% over 100 ms; 253 req/s has 1.5%, so the interval moves down a rate.
    result = capacity_at_slo(_series("fastapi", "db-read"), Slo(100, "p99"), "x")
    assert result.interval_per_pod_rps == (201.053, 253.269)


def test_no_passing_rate_is_an_answer_with_a_reason() -> None:
    records = [r.model_copy(update={"over_slo_ratio": 0.5, "decision": "fail"})
               for r in _series("django", "mixed")]  # fmt: skip
    result = capacity_at_slo(records, Slo(100), "django/mixed")
    assert result.capacity_per_pod_rps.value is None
    assert "no grid rate of django/mixed met the SLO" in (result.capacity_per_pod_rps.reason or "")
    assert right_size(records, result, Margins(), "x") is None


def test_a_model_run_at_another_slo_than_measured_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"counted requests over 100 ms.*--slo-p95-ms 100"):
        analyse(synthetic.run(), CATALOG.node_types, AnalysisSettings(slo=Slo(50)))


def test_cpu_seconds_per_request_is_the_median_of_the_steps_used() -> None:
    result = capacity_at_slo(_series("fastapi", "db-read"), Slo(100), "x")
    used = [v.record.cpu_seconds_per_request for v in result.steps[:7]]
    assert result.cpu_seconds_per_request.value == pytest.approx(sorted(used)[3])
    assert result.cpu_seconds_per_request.formula == "median(per_step)"
    assert "spread" in result.cpu_seconds_per_request.explanation


def test_a_knee_where_the_database_saturates_is_not_the_pods() -> None:
    records = _series(
        "fastapi", "db-read",
        **{"7": {"pod_cpu_cores": 0.2, "pod_cpu_throttled_ratio": 0.0,
                 "postgres_cpu_cores": 0.97}},
    )  # fmt: skip
    result = capacity_at_slo(records, Slo(100), "x")
    assert result.database_bound is not None and "database" in result.database_bound
    assert any("not the pod's" in w for w in result.warnings)
    plain = capacity_at_slo(_series("fastapi", "db-read"), Slo(100), "x")
    assert plain.database_bound is None


def test_right_sizing_covers_measured_use_with_headroom_and_keeps_the_tested_limit() -> None:
    records = _series("django", "db-read")
    capacity = capacity_at_slo(records, Slo(100), "x")
    sizing = right_size(records, capacity, Margins(cpu_headroom=0.25, memory_buffer=0.25), "x")
    assert sizing is not None
    top = capacity.capacity_step
    assert top is not None
    used_m = top.record.pod_cpu_cores * 1000
    # request: used * 1.25 rounded up to 50m, never above the tested 500m limit
    assert sizing.cpu_millicores.number() >= min(500, used_m * 1.25)
    assert sizing.cpu_millicores.number() % 50 == 0
    assert sizing.cpu_millicores.number() - used_m * 1.25 < 50
    assert sizing.cpu_limit_millicores.value == 500
    peak = max(r.pod_memory_working_set_bytes for r in records)
    assert peak * 1.25 <= sizing.memory_bytes.number() < peak * 1.25 + 32 * MIB
    assert sizing.memory_bytes.number() % (32 * MIB) == 0
    assert any("Memory: peak working set" in line for line in sizing.reasoning)


def test_a_cpu_bound_pod_keeps_request_equal_to_its_limit() -> None:
    records = _series("fastapi", "mixed")  # at 200 req/s: 0.003 + 0.0019 * 200 = 0.383 cores
    capacity = capacity_at_slo(records, Slo(100), "x")
    sizing = right_size(records, capacity, Margins(cpu_headroom=0.5), "x")
    assert sizing is not None and sizing.cpu_millicores.value == 500
    assert any("CPU is what bounds this pod" in line for line in sizing.reasoning)


def test_cost_for_a_target_load_by_hand() -> None:
    # 500m/512Mi on m6i.large: 3 pods/node. 1000 req/s at 125 req/s per pod with 20% headroom:
    # pods = ceil(1000 / (125 * 0.8)) = 10 (not 11: 10.000000000000002 is 10);
    # nodes = ceil(10 / 3) = 4; monthly = 4 * 0.096 * 730 = 280.32;
    # per million = 280.32 / (1000 * 3600 * 730 / 1e6) = 280.32 / 2628. Nodes only: no spare
    # node, add-ons or control plane (tests/capacity/test_cost.py covers those).
    fit = pods_per_node(node_allocatable(CATALOG.node("m6i.large")), PodShape(500, 512 * MIB))
    cost = estimate_cost(125.0, fit, 1000.0, 0.2, options=NODES_ONLY)
    assert cost.pods_needed.value == 10
    assert cost.nodes_needed.value == 4
    assert cost.monthly_usd.value == pytest.approx(280.32)
    assert cost.usd_per_million_requests.value == pytest.approx(280.32 / 2628.0)
    assert cost.term("burst_usd_month") is not None
    assert cost.term("burst_usd_month").value == 0  # type: ignore[union-attr]


def test_burstable_nodes_pay_for_cpu_above_their_baseline_node_by_node() -> None:
    # t3.medium, same 10 pods placed 3/3/3/1. Measured 2 ms CPU per request, no idle use:
    # 100 req/s per pod -> 0.2 cores per pod; a 3-pod node uses 0.6 against a 0.4 baseline
    # (0.2 x 2 vCPU) -> 0.2 surplus, the 1-pod node none: 3 x 0.2 = 0.6 vCPU;
    # monthly = 4 x 0.0416 x 730 + 0.6 x 0.05 x 730 = 121.472 + 21.9 = 143.372.
    # (Averaging the load over the nodes would give 0.1 per node, 136.072: too low.)
    # Spread (the default), 3/3/2/2: 2 x 0.2 + 2 x 0 = 0.4 vCPU -> 121.472 + 14.6 = 136.072.
    fit = pods_per_node(node_allocatable(CATALOG.node("t3.medium")), PodShape(500, 512 * MIB))
    first_fit = dataclasses.replace(NODES_ONLY, placement="first-fit")
    cost = estimate_cost(125.0, fit, 1000.0, 0.2, 0.002, options=first_fit)
    assert cost.cluster is not None
    surplus = cost.cluster.pools[0].burst_surplus_vcpu
    assert sorted(f.number() for f in surplus) == pytest.approx([0.0, 0.6])
    assert cost.monthly_usd.value == pytest.approx(143.372, abs=0.005)
    spread = estimate_cost(125.0, fit, 1000.0, 0.2, 0.002, options=NODES_ONLY)
    assert spread.monthly_usd.value == pytest.approx(136.072, abs=0.005)
    # without a measured CPU per request the pods are assumed to use their requests:
    # 3 nodes at 1.5 -> 3 x 1.1, one at 0.5 -> 0.1: 3.4 vCPU -> 121.472 + 124.1 = 245.572;
    # spread: 2 x 1.1 + 2 x 0.6 = 3.4 as well (every node above its baseline).
    for options in (first_fit, NODES_ONLY):
        assumed = estimate_cost(125.0, fit, 1000.0, 0.2, options=options)
        assert assumed.monthly_usd.value == pytest.approx(245.572, abs=0.005)


def test_cheapest_node_type_wins_on_monthly_cost_then_hourly_price() -> None:
    shape = PodShape(500, 512 * MIB)
    fits = [pods_per_node(node_allocatable(n), shape) for n in CATALOG.node_types]
    costs = [estimate_cost(100.0, f, 1000.0, 0.2) for f in fits]
    best = cheapest(costs)
    assert best is not None
    assert best.monthly_usd.number() == min(c.monthly_usd.number() for c in costs)
    ties = [c for c in costs if c.monthly_usd.number() == best.monthly_usd.number()]
    assert best.fit.node.node.usd_per_hour == min(c.fit.node.node.usd_per_hour for c in ties)


def test_bad_headroom_is_refused() -> None:
    fit = pods_per_node(node_allocatable(CATALOG.node("t3.medium")), PodShape(500, 512 * MIB))
    with pytest.raises(ConfigError, match=r"headroom 1\.5"):
        estimate_cost(100.0, fit, 1000.0, 1.5)


def test_whatif_single_workload_matches_pods_per_node() -> None:
    # 7 replicas of 500m/512Mi on t3.medium (3 per node) -> ceil(7/3) = 3 nodes; the
    # continuous lower bound is ceil(3500m / 1750m) = 2
    node = node_allocatable(CATALOG.node("t3.medium"))
    plan = plan_workloads(
        [Workload("api", PodShape(500, 512 * MIB), replicas=7)], [node], options=NODES_ONLY
    )
    option = plan.options[0]
    assert option.total_nodes == 3 and option.cost.pools[0].placement.lower_bound_nodes == 2
    # replicas without a measured CPU line use their requests: 1.5 cores on a 3-pod node
    # (1.1 above the 0.4 baseline), 0.5 on the last (0.1): 3 x 0.0416 x 730 + 2.3 x 0.05 x 730
    assert option.monthly_usd == pytest.approx(3 * 0.0416 * 730 + 2.3 * 0.05 * 730)


def test_whatif_mixes_workloads_and_pools_and_names_the_cheapest() -> None:
    workloads = [
        Workload("fastapi", PodShape(500, 256 * MIB), replicas=6),
        # ceil(900 / (150 * 0.75)) = 8 replicas
        Workload(
            "django",
            PodShape(250, 512 * MIB),
            target_rps=900,
            capacity_per_pod_rps=150,
            headroom=0.25,
        ),
        Workload("batch", PodShape(2000, 4096 * MIB), replicas=2, node_type="c6i.xlarge"),
    ]
    candidates = [node_allocatable(CATALOG.node(n)) for n in ("t3.medium", "m6i.xlarge")]
    pinned = [node_allocatable(CATALOG.node("c6i.xlarge"))]
    plan = plan_workloads(workloads, candidates, pinned, NODES_ONLY)
    assert dict((w.name, r.value) for w, r in plan.replicas) == {
        "fastapi": 6,
        "django": 8,
        "batch": 2,
    }
    for option in plan.options:
        pools = {p.node.node.name: p for p in option.cost.pools}
        # one 2-core pod per 4-vCPU node (3740m free after 180m of daemonsets)
        assert pools["c6i.xlarge"].nodes_total.value == 2
        shared = pools[option.candidate]
        assert shared.nodes_total.number() >= shared.placement.lower_bound_nodes
    assert plan.cheapest is plan.options[0]
    assert plan.options[0].monthly_usd <= plan.options[1].monthly_usd


def test_whatif_reports_a_workload_that_fits_no_node() -> None:
    node = node_allocatable(CATALOG.node("t3.medium"))
    plan = plan_workloads([Workload("huge", PodShape(3000, 256 * MIB), replicas=1)], [node])
    assert plan.options[0].unplaceable == ("huge",) and plan.cheapest is None


def test_whatif_needs_replicas_or_a_target() -> None:
    node = node_allocatable(CATALOG.node("t3.medium"))
    with pytest.raises(ConfigError, match="needs replicas"):
        plan_workloads([Workload("x", PodShape(100, MIB))], [node])


def test_analysis_keeps_a_step_of_another_pod_shape_in_its_own_series() -> None:
    records = synthetic.run()
    records[0] = synthetic.record("django", "db-read", 0, 20.0, cpu_millicores=1000)
    analysis = analyse(records, CATALOG.node_types, AnalysisSettings())
    db_read = [s for s in analysis.series if s.framework == "django" and s.scenario == "db-read"]
    assert [(s.shape, len(s.records)) for s in db_read] == [("500m:1", 7), ("1000m:1", 1)]


def test_claims_table_has_a_verdict_per_claim() -> None:
    analysis = analyse(synthetic.run(), CATALOG.node_types, AnalysisSettings())
    claims = {c.id: c for c in check_claims(analysis, "mixed")}
    assert claims["latency-10k-users"].verdict == "not measured by this run"
    # synthetic mixed, fitted points (each inside its bracket, fastapi [201.1, 253.3), django
    # [79.8, 117.3)): 202.6 and 109.5 req/s per worker -> 1.85x, short of 3.6x
    assert claims["django-4-workers"].verdict == "not supported"
    assert "ratio 1.85" in claims["django-4-workers"].measured
    # upstream CPU per request (median of the passing steps, idle included): about half
    assert claims["io-cpu-40-percent"].verdict == "supported"
    # 500m pods and no I/O-free scenario: not the claim's conditions, so not judged.
    assert claims["fastapi-1-worker-5000"].verdict == "not measured by this run"
    assert "--cpu 1 --workers 1" in claims["fastapi-1-worker-5000"].measured
    assert all(c.conditions for c in claims.values()), "every claim states its conditions"
    assert "100 concurrent users" in claims["latency-light-load"].conditions
    assert "Django needs 1.8 workers" in claims["django-4-workers"].measured
    assert {c.verdict for c in claims.values()} <= {
        "supported",
        "not supported",
        "not measured by this run",
    }


def _light_load_claim(records: list[object]) -> object:
    analysis = analyse(records, CATALOG.node_types, AnalysisSettings())  # type: ignore[arg-type]
    return {c.id: c for c in check_claims(analysis, "mixed")}["latency-light-load"]


def test_light_load_is_never_judged_at_a_rate_past_one_frameworks_capacity() -> None:
    steps = list(synthetic.STEPS)
    django = [synthetic.record("django", "mixed", i, r) for i, r in enumerate(steps)]
    fastapi = [synthetic.record("fastapi", "mixed", i, r) for i, r in enumerate(steps)]
    d_fail = [r.offered_rps for r in django if r.decision == "fail"]
    f_pass = [r.offered_rps for r in fastapi if r.decision == "pass"]
    shared = min(set(d_fail) & set(f_pass))  # Django is past its knee, FastAPI is not
    # The only rate both ran is one Django failed: the old rule judged the claim there.
    only_django_below = [r for r in django if r.offered_rps < shared][:1]
    d = [*only_django_below, *(r for r in django if r.offered_rps >= shared)]
    f = [r for r in fastapi if r.offered_rps >= shared]
    claim = _light_load_claim([*d, *f])
    assert claim.verdict == "not measured by this run"  # type: ignore[attr-defined]
    assert "met the SLO" in claim.measured  # type: ignore[attr-defined]
    # With the full runs there are rates both passed: the claim is judged at the lowest.
    claim = _light_load_claim([*django, *fastapi])
    assert claim.verdict in ("supported", "not supported")  # type: ignore[attr-defined]
    lowest = min(set(r.offered_rps for r in django if r.decision == "pass")
                 & set(f_pass))  # fmt: skip
    assert f"at {lowest:,.0f} req/s" in claim.measured  # type: ignore[attr-defined]
