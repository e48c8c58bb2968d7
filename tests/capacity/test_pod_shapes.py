"""The pod-shape sweep (`capacity report --pod-shapes`): the option, the refusal of shapes this
machine cannot hold, the cheapest shape per framework and node type, its table and plot in the
report, and the t3.medium claim on each framework's cheapest shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capacity.catalog import load_catalog
from capacity.commands.local_run import check_shapes_fit
from capacity.errors import ConfigError, MeasurementsError
from capacity.measurements import MeasurementRecord, append_record
from capacity.model import AnalysisSettings, Slo, analyse, check_claims, shape_choices
from capacity.plan import build_plan, sweep_plans
from capacity.pod_shape import SweepShape, parse_pod_shapes
from capacity.report import build_report
from tests.capacity import synthetic
from tests.capacity.test_cli import assert_refused, run

CATALOG = load_catalog()
NODES = [CATALOG.node(n) for n in CATALOG.default_candidates]
SHAPES = ("250m:1", "500m:1", "1000m:1")


def sweep_records() -> list[MeasurementRecord]:
    return synthetic.run_at(250) + synthetic.run() + synthetic.run_at(1000)


# ---- the option --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shapes"),
    [
        ("250m,500m,1000m", [(250, None), (500, None), (1000, None)]),
        ("0.5, 1000m:2", [(500, None), (1000, 2)]),
        ("1", [(1000, None)]),
        ("1000m,1000m:2", [(1000, None), (1000, 2)]),
    ],
)
def test_pod_shapes_parse_cpu_limits_and_optional_workers(
    text: str, shapes: list[tuple[int, int | None]]
) -> None:
    assert [(s.cpu_millicores, s.workers) for s in parse_pod_shapes(text)] == shapes


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("", "names no shape"),
        ("250m,big", "'big' is not a pod shape"),
        ("500m:0", "'500m:0' has workers '0'"),
        ("500m:two", "'500m:two' has workers 'two'"),
        ("1Gi", "'1Gi' is not a pod shape"),
        ("500m,0.5", "'0.5' is given twice"),
        ("250m,,500m", "'' is not a pod shape"),
    ],
)
def test_bad_pod_shapes_are_named_with_what_is_accepted(text: str, named: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_pod_shapes(text)
    assert named in str(raised.value)
    if "twice" not in named:
        assert "CPU:WORKERS, e.g. 250m,500m,1000m" in str(raised.value)


@pytest.mark.parametrize(
    ("cpus", "replicas", "shape", "refused"),
    [
        ({0, 1}, 1, "1000m", False),  # 2 cores: one for the pods
        ({0, 1}, 1, "1001m", True),
        ({0, 1}, 2, "500m", False),
        ({0, 1}, 2, "750m", True),
        ({0}, 1, "1000m", False),  # one core: shared, still one core
        ({0}, 1, "2000m", True),
        ({0, 1, 2, 3}, 1, "3000m", False),
        ({0, 1, 2, 3}, 1, "3500m", True),
    ],
)
def test_a_shape_larger_than_the_pod_cores_is_refused_naming_it_and_the_cores(
    cpus: set[int], replicas: int, shape: str, refused: bool
) -> None:
    shapes = parse_pod_shapes(f"250m,{shape}")
    if not refused:
        check_shapes_fit(shapes, replicas, cpus)
        return
    with pytest.raises(ConfigError) as raised:
        check_shapes_fit(shapes, replicas, cpus)
    message = str(raised.value)
    assert f"--pod-shapes {shape}" in message
    assert f"{max(1, len(cpus) - 1)} pod core(s)" in message


def test_each_shape_plan_keeps_the_plan_and_derives_workers_unless_given() -> None:
    plan = build_plan(cli={"memory": "256Mi", "replicas": 2})
    plans = sweep_plans(plan, parse_pod_shapes("250m,2,1000m:3"))
    assert [(p.cpu, p.workers, p.pod_shape().effective_workers()) for p in plans] == [
        ("250m", None, 1),
        ("2000m", None, 2),
        ("1000m", 3, 3),
    ]
    assert {(p.memory, p.replicas) for p in plans} == {("256Mi", 2)}
    with pytest.raises(ConfigError, match=r"--pod-shapes 5m: cpu \(--pod-shapes\).*below 10m"):
        sweep_plans(plan, (SweepShape(5),))


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--pod-shapes", "250m,lots"], ["'lots' is not a pod shape"]),
        (["--pod-shapes", "1000000m"], ["--pod-shapes 1000000m", "pod core(s)"]),
        (["--pod-shapes", "250m", "--cpu", "1"], ["drop --cpu and --workers"]),
        (["--pod-shapes", "250m", "--stack", "dev"], ["measures local pods only"]),
    ],
)
def test_report_refuses_a_bad_sweep_before_anything_starts(
    args: list[str], named: list[str], tmp_path: Path
) -> None:
    result = run("report", "--out", tmp_path / "out", *args)
    assert_refused(result, *named)
    assert not (tmp_path / "out").exists()


# ---- the model -----------------------------------------------------------------------------


def test_the_cheapest_shape_per_node_type_is_the_least_monthly_cost_of_the_shapes() -> None:
    analysis = analyse(sweep_records(), NODES, AnalysisSettings())
    assert analysis.shapes == list(SHAPES)
    choices = shape_choices(analysis)
    assert len(choices) == 2 * 3 * len(NODES)  # framework x scenario x node type
    for choice in choices:
        assert [o.series.shape for o in choice.options] == list(SHAPES)
        priced = [o for o in choice.options if o.cost and o.cost.monthly_usd.defined]
        assert choice.cheapest is not None and priced
        best = min(o.cost.monthly_usd.number() for o in priced if o.cost)
        assert choice.cheapest.cost is not None
        assert choice.cheapest.cost.monthly_usd.number() == best
        # Ties go to the smaller shape.
        first = next(o for o in priced if o.cost and o.cost.monthly_usd.number() == best)
        assert choice.cheapest is first
    by = {(c.framework, c.scenario, c.node_type): c for c in choices}
    # Synthetic mixed on t3.medium: Django's 1000m pods pack tighter ($305.14 < $306.97 at
    # 500m < $310.62 at 250m); FastAPI's 500m ($248.57) beats 250m ($249.70) and 1000m ($263.75).
    assert by[("django", "mixed", "t3.medium")].cheapest.series.shape == "1000m:1"  # type: ignore[union-attr]
    assert by[("fastapi", "mixed", "t3.medium")].cheapest.series.shape == "500m:1"  # type: ignore[union-attr]


def test_without_a_sweep_there_is_no_shape_choice() -> None:
    analysis = analyse(synthetic.run(), NODES, AnalysisSettings())
    assert analysis.shapes == ["500m:1"] and shape_choices(analysis) == ()


def test_a_sweep_keeps_each_shape_its_own_series_and_comparison() -> None:
    analysis = analyse(sweep_records(), NODES, AnalysisSettings())
    mixed = [s for s in analysis.series if s.scenario == "mixed"]
    assert [(s.framework, s.shape) for s in mixed] == [
        (fw, shape) for fw in ("django", "fastapi") for shape in SHAPES
    ]
    capacities = [s.capacity.capacity_per_pod_rps.number() for s in mixed[:3]]
    assert capacities == sorted(capacities) and capacities[2] > 3 * capacities[0]
    assert {(c.scenario, c.shape) for c in analysis.comparisons} == {
        (sc, shape) for sc in ("db-read", "mixed", "upstream") for shape in SHAPES
    }
    # Without a shape, a framework's series is its cheapest shape's.
    cheapest = min(mixed[:3], key=lambda s: s.cheapest.monthly_usd.number())  # type: ignore[union-attr]
    assert analysis.get("django", "mixed") is cheapest
    assert analysis.get("django", "mixed", "250m:1") is mixed[0]


def test_two_runs_of_one_shape_in_one_file_are_still_refused() -> None:
    records = sweep_records() + synthetic.run()[:1]
    with pytest.raises(MeasurementsError, match=r"django/db-read at 500m:1 .* step\(s\) \[0\]"):
        analyse(records, NODES, AnalysisSettings())


def test_the_t3_medium_claim_uses_each_frameworks_cheapest_shape_and_says_which() -> None:
    swept = analyse(sweep_records(), NODES, AnalysisSettings())
    claim = next(c for c in check_claims(swept, "mixed") if c.id == "t3-medium-pods")
    # Each on its cheapest t3.medium shape: FastAPI 500m (3 pods of 500m), Django 1000m (2 of 650m).
    assert claim.measured.startswith("mixed: FastAPI 3 pods (500m CPU / 160Mi), Django 2 pods")
    assert "ratio 1.50" in claim.measured and claim.verdict == "supported"
    assert "FastAPI 500m:1, Django 1000m:1, of 250m:1, 500m:1, 1000m:1" in claim.measured
    assert (
        "here: mixed, 250m CPU / 1 worker(s), 500m CPU / 1 worker(s), 1000m CPU" in claim.conditions
    )
    single = analyse(synthetic.run(), NODES, AnalysisSettings())
    claim = next(c for c in check_claims(single, "mixed") if c.id == "t3-medium-pods")
    assert "ratio 0.60" in claim.measured and claim.verdict == "not supported"
    assert "one pod shape measured (500m:1)" in claim.measured


# ---- the report ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sweep") / "measurements.jsonl"
    for record in sweep_records():
        append_record(path, record)
    return build_report(path, path.parent / "report", slo=Slo())


def test_the_report_shows_the_sweep_table_with_one_cheapest_per_framework_and_node(
    sweep_report: Path,
) -> None:
    results = json.loads((sweep_report / "results.json").read_text())
    rows = [r for r in results["shape_sweep"] if r["scenario"] == "mixed"]
    assert len(rows) == 2 * len(NODES) * 3
    for fw in ("django", "fastapi"):
        for node in CATALOG.default_candidates:
            mine = [r for r in rows if r["framework"] == fw and r["node_type"] == node]
            assert [r["shape"] for r in mine] == list(SHAPES)
            assert sum(r["cheapest"] for r in mine) == 1
            best = next(r for r in mine if r["cheapest"])
            assert best["monthly_usd"] == min(r["monthly_usd"] for r in mine)
    markdown = (sweep_report / "report.md").read_text()
    section = markdown.split("## Pod shapes: each framework's cheapest (mixed")[1].split("\n## ")[0]
    assert "| django | t3.medium | 1000m:1 | 2 | " in section
    assert "| **$305.14** | cheapest |" in section
    assert "| fastapi | t3.medium | 500m:1 | 3 | " in section
    # Series of different shapes are named apart.
    assert (
        "### django / mixed at 250m:1" in markdown and "### django / mixed at 1000m:1" in markdown
    )
    assert "fastapi / django at 250m:1" in markdown  # the ratio table, per shape
    html = (sweep_report / "report.html").read_text()
    table = html.split("Pod shapes: each framework's cheapest (mixed")[1].split("<h2>")[0]
    assert table.count("<td>cheapest</td>") == 2 * len(NODES)
    plots = {p["file"] for p in results["plots"]}
    assert "plots/cost-vs-shape.png" in plots
    assert (sweep_report / "plots" / "cost-vs-shape.png").stat().st_size > 10_000
    # The per-framework tables and sizing.yaml are each framework's cheapest shape.
    assert [(s["framework"], s["shape"]) for s in results["series"]
            if s["scenario"] == "mixed" and s["cheapest_shape"]] == [
        ("django", "1000m:1"), ("fastapi", "500m:1"),
    ]  # fmt: skip


def test_one_shape_leaves_the_report_without_a_sweep(report_dir: Path) -> None:
    results = json.loads((report_dir / "results.json").read_text())
    assert results["shape_sweep"] == []
    assert "plots/cost-vs-shape.png" not in {p["file"] for p in results["plots"]}
    markdown = (report_dir / "report.md").read_text()
    assert "Pod shapes" not in markdown and " at 500m:1" not in markdown
    assert "Pod shapes" not in (report_dir / "report.html").read_text()
