"""Two reports side by side: per framework, scenario and pod shape, did the capacity change?

A change counts only when it is larger than the threshold *and* the two 95% intervals do not
overlap: two runs of the same build on a noisy machine move by several percent (docs/local-run.md),
and a verdict from points alone would call that noise a regression. A series without an interval
(a run with no crossing, or a report from before intervals) is compared by its point alone and
says so. Pure: results in, rows out; the CLI (capacity/commands/compare.py) reads and writes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from capacity.report.schema import Results, Series

Verdict = Literal["regression", "improvement", "no significant change", "not comparable"]

DEFAULT_THRESHOLD = 0.05


@dataclass(frozen=True)
class SeriesKey:
    framework: str
    scenario: str
    cpu: str  # the pod shape measured: a sweep has one series per shape
    workers: int

    def label(self) -> str:
        return f"{self.framework} {self.scenario} ({self.cpu}, {self.workers} worker(s))"


@dataclass(frozen=True)
class Capacity:
    point_rps: float | None
    ci95_rps: tuple[float, float] | None


@dataclass(frozen=True)
class Change:
    key: SeriesKey
    base: Capacity | None  # None: the series is only in the new report
    new: Capacity | None  # None: only in the base report
    verdict: Verdict
    why: str

    @property
    def change(self) -> float | None:
        """new / base - 1, or None when either point is missing."""
        if self.base is None or self.new is None:
            return None
        if self.base.point_rps is None or self.new.point_rps is None:
            return None
        return self.new.point_rps / self.base.point_rps - 1


def _key(s: Series) -> SeriesKey:
    return SeriesKey(s.framework, s.scenario, s.tested_shape.cpu, s.tested_shape.workers)


def _capacity(s: Series) -> Capacity:
    ci = s.capacity_ci95_rps
    return Capacity(
        float(s.capacity_point_rps) if s.capacity_point_rps is not None else None,
        (float(ci[0]), float(ci[1])) if ci is not None else None,
    )


def judge(base: Capacity, new: Capacity, threshold: float) -> tuple[Verdict, str]:
    """The verdict on one series and the reason, in words a pull-request comment can carry."""
    if base.point_rps is None or new.point_rps is None:
        missing = "base" if base.point_rps is None else "new"
        return "not comparable", f"the {missing} report has no capacity point for it"
    change = new.point_rps / base.point_rps - 1
    size = f"{change:+.1%}"
    if abs(change) <= threshold:
        return "no significant change", f"{size}, within the {threshold:.0%} threshold"
    if base.ci95_rps is None or new.ci95_rps is None:
        verdict: Verdict = "regression" if change < 0 else "improvement"
        return verdict, f"{size}, beyond {threshold:.0%} (no 95% interval to check: point only)"
    (base_lo, base_hi), (new_lo, new_hi) = base.ci95_rps, new.ci95_rps
    if change < 0 and new_hi < base_lo:
        return "regression", f"{size}; new 95% interval ends below the base's"
    if change > 0 and new_lo > base_hi:
        return "improvement", f"{size}; new 95% interval starts above the base's"
    return "no significant change", f"{size}, but the 95% intervals overlap"


def compare(base: Results, new: Results, threshold: float = DEFAULT_THRESHOLD) -> list[Change]:
    """One row per series in either report, in the base report's order, new-only series last."""
    if not 0 <= threshold < 1:
        raise ValueError(f"threshold must be in [0, 1), got {threshold!r}")
    olds = {_key(s): _capacity(s) for s in base.series}
    news = {_key(s): _capacity(s) for s in new.series}
    rows: list[Change] = []
    for key in [*olds, *(k for k in news if k not in olds)]:
        b, n = olds.get(key), news.get(key)
        if b is None or n is None:
            where = "new" if b is None else "base"
            rows.append(Change(key, b, n, "not comparable", f"only in the {where} report"))
            continue
        verdict, why = judge(b, n, threshold)
        rows.append(Change(key, b, n, verdict, why))
    return rows


def regressions(rows: Sequence[Change]) -> list[Change]:
    return [r for r in rows if r.verdict == "regression"]


def _rps(c: Capacity | None) -> str:
    if c is None or c.point_rps is None:
        return "-"
    if c.ci95_rps is None:
        return f"{c.point_rps:.1f}"
    return f"{c.point_rps:.1f} [{c.ci95_rps[0]:.1f}, {c.ci95_rps[1]:.1f}]"


def markdown(rows: Sequence[Change], base_name: str, new_name: str, threshold: float) -> str:
    """A summary for a pull-request comment: the verdict first, then the table."""
    bad = regressions(rows)
    if bad:
        head = f"**{len(bad)} regression(s)**: " + "; ".join(r.key.label() for r in bad)
    else:
        head = "**No regression**"
    lines = [
        f"### Capacity: {new_name} against {base_name}",
        "",
        f"{head} (a change counts beyond {threshold:.0%} when the 95% intervals do not overlap).",
        "",
        "| framework | scenario | pod | base req/s per pod [95%] | new | change | verdict |",
        "|---|---|---|---|---|---:|---|",
    ]
    for r in rows:
        change = f"{r.change:+.1%}" if r.change is not None else "-"
        pod = f"{r.key.cpu} x{r.key.workers}"
        lines.append(
            f"| {r.key.framework} | {r.key.scenario} | {pod} | {_rps(r.base)} | {_rps(r.new)} "
            f"| {change} | {r.verdict}: {r.why} |"
        )
    return "\n".join(lines) + "\n"


def junit(rows: Sequence[Change], base_name: str, new_name: str) -> str:
    """JUnit XML: one test case per series, a regression as its failure (CI systems show it)."""
    suite = ET.Element(
        "testsuite",
        name=f"capacity compare {base_name} -> {new_name}",
        tests=str(len(rows)),
        failures=str(len(regressions(rows))),
        errors="0",
        skipped=str(sum(r.verdict == "not comparable" for r in rows)),
    )
    for r in rows:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"capacity.{r.key.framework}",
            name=f"{r.key.scenario} {r.key.cpu} x{r.key.workers}",
        )
        text = f"base {_rps(r.base)}, new {_rps(r.new)} req/s per pod: {r.why}"
        if r.verdict == "regression":
            ET.SubElement(case, "failure", message=f"regression: {r.why}").text = text
        elif r.verdict == "not comparable":
            ET.SubElement(case, "skipped", message=r.why)
        else:
            ET.SubElement(case, "system-out").text = f"{r.verdict}: {text}"
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )
