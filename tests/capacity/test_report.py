"""`capacity model`'s report: all files, valid JSON against the schema, plots that exist and
are not empty, and every figure recomputable from its recorded derivation alone."""

from __future__ import annotations

import copy
import json
import re
import struct
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from capacity.errors import ConfigError, MeasurementsError, ReportError
from capacity.model import Slo
from capacity.report import build_report
from tests.capacity.derivation_check import evaluate, figures, mismatches

SCHEMA = Path(__file__).resolve().parents[2] / "capacity" / "schemas" / "results.schema.json"
EVERY_KIND = {
    "usd_per_hour",
    "max_pods",
    "memory_capacity_bytes",
    "kube_reserved_cpu_millicores",
    "kube_reserved_memory_bytes",
    "eviction_memory_bytes",
    "allocatable_cpu_millicores",
    "allocatable_memory_bytes",
    "daemonset_cpu_millicores",
    "daemonset_memory_bytes",
    "daemonset_pods",
    "capacity_per_pod_rps",
    "cpu_seconds_per_request",
    "recommended_cpu_millicores",
    "recommended_cpu_limit_millicores",
    "recommended_memory_bytes",
    "pods_by_cpu",
    "pods_by_memory",
    "pods_by_slots",
    "pods_per_node",
    "pods_needed",
    "nodes_needed",
    "monthly_usd",
    "usd_per_million_requests",
    "workload_nodes",
    "addon_nodes",
    "spare_nodes",
    "node_usd_per_hour",
    "pod_cpu_use_cores",
    "pod_idle_cpu_cores",
    "burst_surplus_vcpu",
    "workload_nodes_usd_month",
    "addons_usd_month",
    "spare_nodes_usd_month",
    "burst_usd_month",
    "control_plane_usd_month",
    "control_plane_usd_per_million_requests",
}


def _results(report_dir: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((report_dir / "results.json").read_text())


def test_model_writes_all_three_files_and_the_plots(report_dir: Path) -> None:
    for name in ("results.json", "report.md", "report.html"):
        assert (report_dir / name).stat().st_size > 1000, name
    assert not [p for p in report_dir.iterdir() if p.name.startswith(".")], "temp dir left"


def test_every_plot_is_a_non_empty_png_and_every_reference_exists(report_dir: Path) -> None:
    results = _results(report_dir)
    files = [p["file"] for p in results["plots"]]
    expected = {
        "plots/cpu-per-request.png",
        "plots/pods-per-node.png",
        "plots/cost-vs-target.png",
        "plots/knee-db-read.png",
        "plots/knee-mixed.png",
        "plots/knee-upstream.png",
    }
    assert expected <= set(files)
    for name in files:
        data = (report_dir / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        width, height = struct.unpack(">II", data[16:24])
        assert width > 300 and height > 200 and len(data) > 10_000, name
    markdown = (report_dir / "report.md").read_text()
    referenced = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert sorted(referenced) == sorted(files)
    assert all((report_dir / ref).is_file() for ref in referenced)
    html = (report_dir / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == len(files)


def test_results_validate_against_the_schema_in_the_repo(report_dir: Path) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    results = _results(report_dir)
    jsonschema.Draft202012Validator(schema).validate(results)
    assert results["schema_version"] == 1


def test_the_schema_rejects_a_figure_without_its_derivation(report_dir: Path) -> None:
    schema = json.loads(SCHEMA.read_text())
    broken = _results(report_dir)
    del broken["nodes"][0]["figures"]["max_pods"]["formula"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
    undefined_without_reason = _results(report_dir)
    undefined_without_reason["series"][0]["capacity_per_pod_rps"]["value"] = None
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(undefined_without_reason, schema)


def test_every_figure_recomputes_from_its_recorded_derivation(report_dir: Path) -> None:
    results = _results(report_dir)
    kinds = {f["kind"] for _, f in figures(results) if f["value"] is not None}
    assert kinds >= EVERY_KIND, EVERY_KIND - kinds
    assert mismatches(results) == []


def test_the_recomputation_catches_a_tampered_figure(report_dir: Path) -> None:
    results = _results(report_dir)
    tampered = copy.deepcopy(results)
    tampered["costs"][0]["nodes_needed"]["value"] += 1
    tampered["nodes"][0]["figures"]["allocatable_memory_bytes"]["inputs"][
        "eviction_memory_bytes"
    ] = 0
    problems = mismatches(tampered)
    assert len(problems) == 2
    assert any("nodes_needed" in p for p in problems) and any(
        "allocatable_memory" in p for p in problems
    )


def test_chained_figures_copy_their_inputs_from_the_figures_they_name(report_dir: Path) -> None:
    results = _results(report_dir)
    for node in results["nodes"]:
        f = node["figures"]
        alloc = f["allocatable_memory_bytes"]["inputs"]
        assert alloc["memory_capacity_bytes"] == f["memory_capacity_bytes"]["value"]
        assert alloc["kube_reserved_memory_bytes"] == f["kube_reserved_memory_bytes"]["value"]
        assert alloc["eviction_memory_bytes"] == f["eviction_memory_bytes"]["value"]
    fits = {(x["framework"], x["scenario"], x["node_type"]): x for x in results["fits"]}
    for cost in results["costs"]:
        fit = fits[(cost["framework"], cost["scenario"], cost["node_type"])]
        if cost["nodes_needed"]["value"] is not None:
            per_node = cost["workload_nodes"]["inputs"]["pods_per_node"]
            assert per_node == fit["pods_per_node"]["value"]
            total = cost["nodes_needed"]["inputs"]
            assert total["workload_nodes"] == cost["workload_nodes"]["value"]
            assert total["spare_nodes"] == cost["spare_nodes"]["value"]
            assert total["addon_nodes"] == cost["addons"]["nodes"]["value"]


def test_worked_example_in_the_markdown_matches_the_figures(report_dir: Path) -> None:
    results = _results(report_dir)
    t3 = next(n for n in results["nodes"] if n["name"] == "t3.medium")
    figure = t3["figures"]["allocatable_memory_bytes"]
    assert evaluate(figure["formula"], figure["inputs"]) == 3404516556
    assert "3404516556" in (report_dir / "report.md").read_text()


def test_report_states_slo_machine_limits_fairness_and_claims(report_dir: Path) -> None:
    markdown = (report_dir / "report.md").read_text()
    for text in (
        "p95 <= 100 ms",
        "## The machine",
        "Limits enforced: **yes**",
        "## Fairness conditions",
        "Load generator never CPU-saturated",
        "10 FastAPI pods but only 6 Django pods",
        "not measured by this run",
    ):
        assert text in markdown, text
    results = _results(report_dir)
    assert results["platform"]["source"].startswith("the machine the model ran on")
    assert len(results["claims"]) >= 6


def test_platform_json_beside_the_measurements_is_used(
    measurements_file: Path, tmp_path: Path
) -> None:
    copy_path = tmp_path / "measurements.jsonl"
    copy_path.write_bytes(measurements_file.read_bytes())
    (tmp_path / "platform.json").write_text(json.dumps({"cpu_model": "Test CPU", "cores": 2}))
    out = build_report(copy_path, tmp_path, slo=Slo(), node_types=["t3.medium"])
    results = _results(out)
    assert results["platform"]["details"]["cpu_model"] == "Test CPU"
    assert results["platform"]["source"].startswith("measurement run")
    # the report went beside the measurements, which are untouched
    assert copy_path.read_bytes() == measurements_file.read_bytes()


@pytest.mark.parametrize("optimised", [False, True])
def test_every_cpu_and_capacity_column_carries_the_interpreter_caveat_when_it_applies(
    measurements_file: Path, tmp_path: Path, optimised: bool
) -> None:
    """Issue 16: pods on a build without PGO/LTO overstate CPU per request; each table that
    prints CPU per request or capacity marks those columns and says by how much."""
    from capacity.report.platform import NON_PGO_NOTE, PGO_LTO_SAVING

    copy_path = tmp_path / "measurements.jsonl"
    copy_path.write_bytes(measurements_file.read_bytes())
    build = "yes: --enable-optimizations --with-lto" if optimised else NON_PGO_NOTE
    (tmp_path / "platform.json").write_text(json.dumps({"pod_python_pgo_lto": build}))
    out = build_report(copy_path, tmp_path, slo=Slo(), node_types=["t3.medium"])
    for name in ("report.md", "report.html"):
        text = (out / name).read_text()
        marked = text.count("CPU per request\u2020") + text.count("[95% interval]\u2020")
        assert marked == (0 if optimised else 4), name
        assert (f"{PGO_LTO_SAVING['healthz']} less CPU per request" in text) is not optimised


def test_an_existing_report_is_not_overwritten_unless_asked(
    report_dir: Path, measurements_file: Path
) -> None:
    before = (report_dir / "results.json").read_bytes()
    with pytest.raises(ReportError, match="already holds a report"):
        build_report(measurements_file, report_dir, slo=Slo())
    assert (report_dir / "results.json").read_bytes() == before


def test_bad_input_leaves_nothing_behind(tmp_path: Path, measurements_file: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(MeasurementsError):
        build_report(empty, tmp_path / "a", slo=Slo())
    with pytest.raises(ConfigError, match="known node types"):
        build_report(measurements_file, tmp_path / "b", slo=Slo(), node_types=["t2.nano"])
    with pytest.raises(ConfigError, match="measured: db-read, mixed, upstream"):
        build_report(measurements_file, tmp_path / "c", slo=Slo(), scenario="nope")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.jsonl"]


def test_a_failure_while_writing_leaves_no_partial_report(
    tmp_path: Path, measurements_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import capacity.report as report

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(report, "_render", explode)
    with pytest.raises(ReportError, match="disk full"):
        build_report(measurements_file, tmp_path / "out", slo=Slo(), node_types=["t3.medium"])
    assert list(tmp_path.iterdir()) == []


def test_a_run_where_one_side_never_met_the_slo_still_reports(tmp_path: Path) -> None:
    # Every django/mixed step had 20% of its requests over the SLO; FastAPI met it as usual.
    # Only the mixed scenario, only FastAPI sized.
    from capacity.measurements import append_record
    from tests.capacity import synthetic

    path = tmp_path / "measurements.jsonl"
    for record in synthetic.run():
        if record.scenario == "mixed":
            if record.framework == "django":
                record = record.model_copy(update={"over_slo_ratio": 0.2, "decision": "fail"})
            append_record(path, record)
    out = build_report(path, tmp_path / "out", slo=Slo(100), node_types=["t3.medium"])
    results = _results(out)
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(results)
    assert mismatches(results) == []
    django = next(s for s in results["series"] if s["framework"] == "django")
    assert django["capacity_per_pod_rps"]["value"] is None and django["recommended"] is None
    assert "no grid rate of django/mixed met the SLO" in django["capacity_per_pod_rps"]["reason"]
    assert django["capacity_interval_rps"] == [None, 19.98]
    assert [c["framework"] for c in results["cheapest"]] == ["fastapi"]
    assert "none within SLO" in (out / "report.md").read_text()


def _mixed_report_with(tmp_path: Path, variants: list[str]) -> tuple[Path, dict[str, Any]]:
    """The synthetic run's mixed scenario plus `variants` measured beside it, reported and
    checked against the results schema."""
    from capacity.measurements import append_record
    from tests.capacity import synthetic

    path = tmp_path / "measurements.jsonl"
    records = [r for r in synthetic.run() if r.scenario == "mixed"]
    records += [
        synthetic.record(fw, "mixed", step, offered)
        for fw in variants
        for step, offered in enumerate(synthetic.STEPS)
    ]
    for record in records:
        append_record(path, record)
    out = build_report(path, tmp_path / "out", slo=Slo(100), node_types=["t3.medium"])
    results = _results(out)
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(results)
    return out, results


def test_lean_variants_measured_beside_their_frameworks_get_their_own_rows(
    tmp_path: Path,
) -> None:
    """`--frameworks django,fastapi,django-lean,fastapi-lean`: every variant is sized and costed
    like a framework, in every table and plot (issue 15: framework vs ORM/serializer layer)."""
    from tests.capacity import synthetic

    out, results = _mixed_report_with(tmp_path, list(synthetic.LEAN_PROFILE))
    assert mismatches(results) == []
    names = ["django", "fastapi", "django-lean", "fastapi-lean"]
    assert sorted(s["framework"] for s in results["series"]) == sorted(names)
    capacity = {s["framework"]: s["capacity_per_pod_rps"]["value"] for s in results["series"]}
    # The synthetic lean FastAPI spends half the CPU per request: it must sustain more.
    assert capacity["fastapi-lean"] > capacity["fastapi"] > 0
    markdown = (out / "report.md").read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| node type |"))
    assert [c.strip() for c in header.split("|") if "pods/node" in c] == [
        f"{fw} pods/node" for fw in names
    ]
    row = next(line for line in markdown.splitlines() if line.startswith("| t3.medium"))
    assert row.count("|") == header.count("|")
    summary = [line for line in markdown.splitlines() if line.startswith("| fastapi-lean |")]
    assert summary, "the lean variant has no summary row"


def test_django_async_beside_django_and_fastapi_names_which_django_each_ratio_compares(
    tmp_path: Path,
) -> None:
    """`--frameworks django,django-async,fastapi`: two Djangos are measured, so no heading or
    claim says "FastAPI vs Django" without naming which one (issue 27, item 4)."""
    out, results = _mixed_report_with(tmp_path, ["django-async"])
    assert [(c["numerator"], c["denominator"]) for c in results["comparisons"]] == [
        ("fastapi", "django"),
        ("fastapi", "django-async"),
    ]
    markdown = (out / "report.md").read_text()
    assert markdown.startswith("# Django (django, django-async) vs FastAPI:")
    assert "(fastapi vs django, fastapi vs django-async), at the SLO" in markdown
    assert "| mixed | fastapi / django-async |" in markdown
    assert any(line.startswith("| django-async |") for line in markdown.splitlines())
    for claim in results["claims"]:
        assert "Django here is the `django` service" in claim["conditions"], claim["id"]
    html = (out / "report.html").read_text()
    assert "<title>Django (django, django-async) vs FastAPI:" in html
    # Its sizing applies to a stack that enables it: uvicorn has no threads to set.
    from pydantic import TypeAdapter

    from deploy.sizing import Sizing

    written = yaml.safe_load((out / "sizing.yaml").read_text())["config"]["fwcap:sizing"]
    parsed = TypeAdapter(Sizing).validate_python(written)
    assert parsed["django-async"].threads is None and parsed["django"].threads == 4


COST_TERMS = (
    "workload_nodes_usd_month",
    "addons_usd_month",
    "spare_nodes_usd_month",
    "burst_usd_month",
    "control_plane_usd_month",
)


def test_every_cost_row_is_the_sum_of_its_terms_and_says_what_it_survives(
    report_dir: Path,
) -> None:
    results = _results(report_dir)
    priced = [c for c in results["costs"] if c["monthly_usd"]["value"] is not None]
    assert priced
    for cost in priced:
        terms = {k: cost[k]["value"] for k in COST_TERMS}
        assert cost["monthly_usd"]["value"] == pytest.approx(sum(terms.values()), abs=1e-9)
        assert cost["monthly_usd"]["inputs"] == terms
        assert cost["addons"]["usd_month"] == cost["addons_usd_month"]
        assert cost["spare_nodes"]["value"] == results["inputs"]["cost_options"]["spare_nodes"]
        assert cost["control_plane_usd_month"]["value"] > 0  # every provider's default tier
        assert "survives the loss of any 1 node" in cost["survives"]
    markdown = (report_dir / "report.md").read_text()
    assert "What the month is made of" in markdown


def test_what_the_late_share_was_made_of_at_the_knee_is_reported_per_request(
    tmp_path: Path,
) -> None:
    # Steps 1-50% late are the knee's: there the upstream call (15% of arrivals) is most of the
    # late requests. A calm step and a collapsed one say nothing about which requests go first.
    from capacity.measurements import append_record
    from capacity.report.results import late_at_knee
    from tests.capacity import synthetic

    knee = {"/api/items/{id}": (850, 10), "/api/upstream": (150, 30)}
    records = [r for r in synthetic.run() if r.scenario == "mixed"]
    records = [
        r.model_copy(
            update={
                "over_slo_by_request": (
                    knee if 0.01 <= r.over_slo_ratio <= 0.5
                    else {"/api/items/{id}": (850, 850), "/api/upstream": (150, 0)}
                )
            }
        )
        for r in records
    ]  # fmt: skip
    near = [r for r in records if 0.01 <= r.over_slo_ratio <= 0.5]
    assert near and len(near) < len(records), "the synthetic run has knee steps and others"
    rows = late_at_knee(records)
    assert [q.request for q in rows] == ["/api/upstream", "/api/items/{id}"]
    upstream = rows[0]
    assert upstream.arrivals_share == pytest.approx(0.15)
    assert upstream.late_share == pytest.approx(0.75)
    assert upstream.late_ratio == pytest.approx(0.2)
    assert late_at_knee([r for r in records if r not in near]) == []
    path = tmp_path / "measurements.jsonl"
    for record in records:
        append_record(path, record)
    out = build_report(path, tmp_path / "out", slo=Slo(100), node_types=["t3.medium"])
    results = _results(out)
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(results)
    assert any(s["late_at_knee"] for s in results["series"])
    md = (out / "report.md").read_text()
    assert (
        "Late at the knee (steps 1-50% late, pooled): /api/upstream 75% of the late (15% of "
        "arrivals, 20.0% of its own late); /api/items/{id} 25% of the late"
    ) in md
    assert "/api/upstream 75% of the late" in (out / "report.html").read_text()
