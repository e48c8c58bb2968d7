"""Read the committed dashboards and check them; shared by the tests in tests/grafana/."""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capacity.metrics.queries import ALL_QUERIES, GRAFANA_SCOPE, Query

DASHBOARDS_DIR = Path(__file__).resolve().parents[2] / "grafana" / "dashboards"
DATASOURCE_UID = "${datasource}"

# The values the acceptance test substitutes, as Grafana itself would format them for a
# Prometheus regex matcher (multi-value -> "(a|b)").
CONCRETE_VARIABLES: Mapping[str, str] = {
    "namespace": "local",
    "framework": "(django|fastapi)",
    "pod": ".+",
    "__rate_interval": "15s",
    "slo_ms": "100",
}
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass(frozen=True)
class PanelTarget:
    dashboard: str  # file name
    panel_id: int
    panel_title: str
    ref_id: str
    expr: str

    @property
    def label(self) -> str:
        return f"{self.dashboard}#{self.panel_id} {self.panel_title!r} {self.ref_id}"


def load_dashboards(directory: Path = DASHBOARDS_DIR) -> dict[str, dict[str, Any]]:
    files = sorted(directory.glob("*.json"))
    return {f.name: json.loads(f.read_text()) for f in files}


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, also panels nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def panel_targets(dashboards: Mapping[str, Mapping[str, Any]]) -> list[PanelTarget]:
    return [
        PanelTarget(name, p["id"], p.get("title", ""), t["refId"], t["expr"])
        for name, d in dashboards.items()
        for p in panels(d)
        for t in p.get("targets", [])
    ]


def substitute(expr: str, values: Mapping[str, str] = CONCRETE_VARIABLES) -> str:
    """Replace Grafana variables the way Grafana would; `$1` (label_replace) is not one."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name.isdigit():
            return m.group(0)
        if name not in values:
            raise KeyError(f"unknown Grafana variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(repl, expr)


def query_pattern(query: Query) -> re.Pattern[str]:
    """A regex matching `query` rendered with GRAFANA_SCOPE and any value for its extra fields."""
    scope_fields = {"ns", "fw", "pod", "w"}
    extra = [
        f for _, f, _, _ in string.Formatter().parse(query.template) if f and f not in scope_fields
    ]
    sentinels = {f: f"\x00{f}\x00" for f in extra}
    rendered = re.escape(query.render(GRAFANA_SCOPE, **sentinels))
    for s in sentinels.values():
        rendered = rendered.replace(re.escape(s), r"(?:[0-9.]+|\$\w+)")
    return re.compile(rendered)


def matching_queries(expr: str, queries: tuple[Query, ...] = ALL_QUERIES) -> list[str]:
    return [q.name for q in queries if query_pattern(q).fullmatch(expr)]


def _overlaps(a: Mapping[str, int], b: Mapping[str, int]) -> bool:
    return (
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    )


def structural_problems(dashboard: Mapping[str, Any]) -> list[str]:
    """What would make the dashboard render wrong or query the wrong place; [] when sound."""
    problems: list[str] = []
    all_panels = list(panels(dashboard))
    ids = [p.get("id") for p in all_panels]
    for dup in sorted({i for i in ids if ids.count(i) > 1}, key=str):
        problems.append(f"panel id {dup} is used more than once")
    for i, a in enumerate(all_panels):
        pos = a.get("gridPos")
        if not pos or not all(isinstance(pos.get(k), int) for k in ("x", "y", "w", "h")):
            problems.append(f"panel {a.get('id')} has no complete gridPos")
            continue
        if pos["x"] < 0 or pos["x"] + pos["w"] > 24:
            problems.append(f"panel {a.get('id')} is outside the 24-column grid: {pos}")
        for b in all_panels[i + 1 :]:
            if b.get("gridPos") and _overlaps(pos, b["gridPos"]):
                problems.append(f"panels {a.get('id')} and {b.get('id')} overlap")
    for p in all_panels:
        if p.get("type") == "row":
            continue
        where = f"panel {p.get('id')} {p.get('title')!r}"
        if not p.get("fieldConfig", {}).get("defaults", {}).get("unit"):
            problems.append(f"{where} has no unit")
        if p.get("datasource", {}).get("uid") != DATASOURCE_UID:
            problems.append(f"{where} is not on the datasource variable")
        if not p.get("targets"):
            problems.append(f"{where} has no targets")
        for t in p.get("targets", []):
            if t.get("datasource", {}).get("uid") != DATASOURCE_UID:
                problems.append(f"{where} target {t.get('refId')} is not on {DATASOURCE_UID}")
            for window in re.findall(r"\[([^\]]+)\]", t.get("expr", "")):
                if window != "$__rate_interval":
                    problems.append(f"{where} target {t.get('refId')} hard-codes [{window}]")
    variables = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    for name in ("datasource", "namespace", "framework", "pod"):
        if name not in variables:
            problems.append(f"variable ${name} is missing")
    if "datasource" in variables and variables["datasource"].get("query") != "prometheus":
        problems.append("variable $datasource is not of type prometheus")
    if "framework" in variables and not variables["framework"].get("multi"):
        problems.append("variable $framework is not multi-value")
    return problems


FWCAP_DASHBOARDS = {"fwcap-framework-comparison", "fwcap-capacity-run"}


def provisioned_dashboards(grafana_url: str, timeout_s: float = 60.0) -> set[str]:
    """The uids Grafana lists under the fwcap tag, once both kit dashboards are among them.

    Grafana answers /api/health before its provisioning service has loaded the dashboards (that
    runs beside the HTTP server), so a search right after start-up can come back short on a
    busy machine. Returns the full listing, for the caller to compare exactly; fails after
    `timeout_s` with what was listed.
    """
    import httpx

    from capacity.polling import Pending, poll_until

    def listed() -> set[str] | Pending:
        found = httpx.get(f"{grafana_url}/api/search", params={"tag": "fwcap"}, timeout=10)
        uids = {d["uid"] for d in found.json()}
        return uids if uids >= FWCAP_DASHBOARDS else Pending(f"listed {sorted(uids)}")

    return poll_until(
        listed,
        timeout_s=timeout_s,
        interval_s=0.5,
        on_timeout=lambda last: AssertionError(f"{grafana_url}: after {timeout_s:.0f}s {last}"),
    )
