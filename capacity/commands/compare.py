"""`capacity compare BASE NEW`: did a change make a service slower? Exit 1 on a regression.

Reads the capacity point and 95% interval of every series in two reports' results.json (see
capacity/report/compare.py for the rule), prints the table, and can write JUnit XML and a
Markdown summary for CI. Unlike the other commands, exit 1 here is an answer, not a failure of
the kit: it is what a CI job fails on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from capacity.commands.common import out
from capacity.errors import ConfigError
from capacity.report.compare import DEFAULT_THRESHOLD, junit, markdown, regressions
from capacity.report.compare import compare as compare_reports
from capacity.report.schema import Results, first_error

RESULTS_FILE = "results.json"


def read_results(path: Path) -> Results:
    """A report folder (its results.json) or a results.json file, validated."""
    file = path / RESULTS_FILE if path.is_dir() else path
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path} is neither a report folder with a {RESULTS_FILE} nor a results file; give "
            f"a folder written by `capacity report`/`capacity model` or its {RESULTS_FILE}"
        ) from None
    try:
        return Results.model_validate_json(text)
    except ValidationError as exc:
        raise ConfigError(
            f"{file} is not a results.json this kit wrote: {first_error(exc)}"
        ) from None


def compare(
    base: Annotated[Path, typer.Argument(help="The reference report (folder or results.json).")],
    new: Annotated[Path, typer.Argument(help="The report to judge (folder or results.json).")],
    threshold: Annotated[
        float,
        typer.Option(
            help="Smallest change that counts, as a share (0.05 = 5%); it also needs the two "
            "95% intervals not to overlap.",
            min=0.0,
            max=0.99,
        ),
    ] = DEFAULT_THRESHOLD,
    junit_file: Annotated[
        Path | None,
        typer.Option("--junit", help="Write JUnit XML here (one test case per series)."),
    ] = None,
    markdown_file: Annotated[
        Path | None,
        typer.Option("--markdown", help="Write a Markdown summary (a pull-request comment)."),
    ] = None,
) -> None:
    """Compare two reports' capacities per framework, scenario and pod shape; exit 1 on a
    regression beyond --threshold whose 95% intervals do not overlap, 0 otherwise."""
    old, now = read_results(base), read_results(new)
    rows = compare_reports(old, now, threshold)
    summary = markdown(rows, str(base), str(new), threshold)
    out.print(summary, markup=False, highlight=False)
    if markdown_file is not None:
        markdown_file.write_text(summary, encoding="utf-8")
    if junit_file is not None:
        junit_file.write_text(junit(rows, str(base), str(new)), encoding="utf-8")
    if regressions(rows):
        raise typer.Exit(1)
