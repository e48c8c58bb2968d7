"""The committed dashboards: generated from code, built from queries.py, structurally sound,
and every query valid PromQL for promtool. (Their live check is in test_grafana_live.py.)"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from capacity.metrics import queries
from grafana import generate
from tests.grafana.grafana_testlib import (
    DASHBOARDS_DIR,
    load_dashboards,
    matching_queries,
    panel_targets,
    panels,
    structural_problems,
    substitute,
)

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
needs_promtool = pytest.mark.skipif(
    not Path(PROMTOOL).exists(), reason="promtool is not installed (apt-get install prometheus)"
)
REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "grafana" / "generate.py"


@pytest.fixture(scope="module")
def committed() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = load_dashboards()
    assert set(found) == set(generate.DASHBOARDS), f"unexpected files in {DASHBOARDS_DIR}"
    return found


# --- 3. regenerating produces exactly the committed JSON -------------------------------------


def test_regenerating_from_code_gives_exactly_the_committed_json() -> None:
    for name, text in generate.render_all().items():
        committed_text = (DASHBOARDS_DIR / name).read_text()
        assert committed_text == text, (
            f"{name} drifted from grafana/generate.py; run `python grafana/generate.py`"
        )


def test_check_mode_fails_on_a_drifted_file_and_passes_on_the_committed_ones(
    tmp_path: Path,
) -> None:
    def check(out: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(GENERATOR), "--check", "--out", str(out)],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )

    assert check(DASHBOARDS_DIR).returncode == 0
    for name, text in generate.render_all().items():
        (tmp_path / name).write_text(text)
    drifted = tmp_path / "capacity-run.json"
    drifted.write_text(drifted.read_text().replace("Capacity run", "Capacity walk"))
    result = check(tmp_path)
    assert result.returncode == 1
    assert "capacity-run.json is out of date" in result.stdout
    assert "framework-comparison.json" not in result.stdout


# --- every panel query is a render of a Query in queries.py (drift either way fails) ---------


def test_every_panel_query_equals_a_render_of_a_query_in_the_queries_module(
    committed: dict[str, dict[str, Any]],
) -> None:
    unmatched = [t.label for t in panel_targets(committed) if not matching_queries(t.expr)]
    assert unmatched == [], f"panel queries not rendered from queries.py: {unmatched}"


def test_a_query_changed_in_either_place_no_longer_matches() -> None:
    rendered = queries.ACHIEVED_RPS.render(queries.GRAFANA_SCOPE)
    assert matching_queries(rendered) == ["achieved_rps"]
    # Edited on the dashboard side...
    assert matching_queries(rendered.replace("sum by (app)", "sum by (pod)")) == []
    # ...or on the module side (the JSON keeps the old text, the module has a new one).
    changed = queries.Query(
        "achieved_rps", "x", queries.Unit.RPS, "max" + queries.ACHIEVED_RPS.template[3:]
    )
    assert matching_queries(rendered, (changed,)) == []


def test_quantile_targets_keep_their_quantile_in_the_legend(
    committed: dict[str, dict[str, Any]],
) -> None:
    seen = 0
    for d in committed.values():
        for p in panels(d):
            for t in p.get("targets", []):
                if t["expr"].startswith("histogram_quantile("):
                    q = t["expr"].removeprefix("histogram_quantile(").split(",", 1)[0]
                    assert t["legendFormat"].endswith(f" p{round(float(q) * 100)}"), t
                    seen += 1
    assert seen >= 7  # 3 per framework + 3 by route + the p95 against the SLO


def test_each_panel_unit_is_the_unit_its_queries_declare(
    committed: dict[str, dict[str, Any]],
) -> None:
    by_name = {q.name: q for q in queries.ALL_QUERIES}
    for d in committed.values():
        for p in panels(d):
            for t in p.get("targets", []):
                (name,) = matching_queries(t["expr"])
                assert p["fieldConfig"]["defaults"]["unit"] == by_name[name].unit.value, p["title"]


def test_the_dashboards_show_what_the_issue_asks_for(committed: dict[str, dict[str, Any]]) -> None:
    def shown(name: str) -> set[str]:
        return {m for t in panel_targets({name: committed[name]}) for m in matching_queries(t.expr)}

    assert shown("framework-comparison.json") >= {
        "achieved_rps",
        "rps_by_route",
        "latency_quantile",
        "latency_quantile_by_route",
        "error_ratio",
        "error_ratio_by_route",
        "pod_cpu_cores",
        "pod_cpu_limit_cores",
        "pod_memory_working_set_bytes",
        "pod_memory_limit_bytes",
        "pod_cpu_throttled_ratio",
        "rps_per_core",
        "pod_count",
    }
    assert shown("capacity-run.json") >= {
        "offered_rps",
        "achieved_rps",
        "loadgen_step",
        "latency_quantile",
        "slo_latency",
        "generator_cpu_cores",
    }
    slo = next(
        v for v in committed["capacity-run.json"]["templating"]["list"] if v["name"] == "slo_ms"
    )
    assert slo["type"] == "textbox" and slo["query"] == "100"


# --- 2. structure ------------------------------------------------------------------------------


def test_committed_dashboards_are_structurally_sound(committed: dict[str, dict[str, Any]]) -> None:
    for name, d in committed.items():
        assert structural_problems(d) == [], name
        assert any("$__rate_interval" in t.expr for t in panel_targets({name: d}))


def _first_panel(d: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in d["panels"] if p["type"] != "row")


def _dup_id(d: dict[str, Any]) -> None:
    _first_panel(d)["id"] = d["panels"][0]["id"]


def _overlap(d: dict[str, Any]) -> None:
    _first_panel(d)["gridPos"]["y"] -= 1  # slides up into its row header


def _fixed_datasource(d: dict[str, Any]) -> None:
    _first_panel(d)["targets"][0]["datasource"] = {"type": "prometheus", "uid": "prom-1"}


def _no_unit(d: dict[str, Any]) -> None:
    del _first_panel(d)["fieldConfig"]["defaults"]["unit"]


def _fixed_window(d: dict[str, Any]) -> None:
    t = _first_panel(d)["targets"][0]
    t["expr"] = t["expr"].replace("$__rate_interval", "5m")


def _no_framework_variable(d: dict[str, Any]) -> None:
    d["templating"]["list"] = [v for v in d["templating"]["list"] if v["name"] != "framework"]


@pytest.mark.parametrize(
    ("break_it", "problem"),
    [
        (_dup_id, "used more than once"),
        (_overlap, "overlap"),
        (_fixed_datasource, "is not on ${datasource}"),
        (_no_unit, "has no unit"),
        (_fixed_window, "hard-codes [5m]"),
        (_no_framework_variable, "$framework is missing"),
    ],
)
def test_structural_check_catches(
    committed: dict[str, dict[str, Any]], break_it: Any, problem: str
) -> None:
    d = copy.deepcopy(committed["framework-comparison.json"])
    break_it(d)
    assert any(problem in p for p in structural_problems(d)), structural_problems(d)


# --- 2. promtool -------------------------------------------------------------------------------


def _promtool_check(tmp_path: Path, exprs: list[str]) -> subprocess.CompletedProcess[str]:
    rules = {
        "groups": [
            {
                "name": "fwcap_dashboard_panels",
                "rules": [
                    {"record": f"fwcap:panel_query_{i}", "expr": e} for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "panels.rules.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    return subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )


@needs_promtool
def test_every_panel_query_parses_with_promtool_as_a_recording_rule(
    committed: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    exprs = [substitute(t.expr) for t in panel_targets(committed)]
    result = _promtool_check(tmp_path, exprs)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


@needs_promtool
def test_every_query_the_kit_runs_parses_for_every_framework_name(tmp_path: Path) -> None:
    """The kit's own rendering (Scope.concrete): a name with a hyphen (django-async-0, the
    variants) is a regex literal PromQL accepts; re.escape's `\\-` alone is refused."""
    from capacity.frameworks import ALL

    exprs = [
        query.render(
            queries.Scope.concrete(namespace="local", framework=fw, pod=f"{fw}-0"),
            q="0.95",
            slo_ms="100",
        )
        for fw in ALL
        for query in vars(queries).values()
        if isinstance(query, queries.Query)
    ]
    result = _promtool_check(tmp_path, exprs)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_check_rejects_a_broken_query(tmp_path: Path) -> None:
    result = _promtool_check(tmp_path, ["sum by (app) (rate(x[15s])"])
    assert result.returncode != 0


def test_substitution_leaves_label_replace_groups_and_rejects_unknown_variables() -> None:
    assert substitute('label_replace(x, "app", "$1", "c", "(.*)")') == (
        'label_replace(x, "app", "$1", "c", "(.*)")'
    )
    assert substitute('x{app=~"$framework"}[$__rate_interval]') == 'x{app=~"(django|fastapi)"}[15s]'
    with pytest.raises(KeyError, match=r"\$nope"):
        substitute('x{a="$nope"}')
