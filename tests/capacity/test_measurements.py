"""The measurement record format: what the load run writes is what the model reads back,
and anything else is refused with the file, the line and the problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capacity.errors import MeasurementsError
from capacity.measurements import SCHEMA_VERSION, MeasurementRecord, append_record, read_records
from tests.capacity import synthetic


def _line(**changes: object) -> str:
    raw = json.loads(synthetic.record("django", "db-read", 0, 20.0).model_dump_json())
    raw.update(changes)
    return json.dumps({k: v for k, v in raw.items() if v != "<drop>"})


def test_appended_records_read_back_equal(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    records = synthetic.run()[:5]
    for record in records:
        append_record(path, record)
    assert read_records(path) == records
    assert len(path.read_text().splitlines()) == 5


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text("\n" + _line() + "\n\n")
    assert len(read_records(path)) == 1


def test_schema_version_is_three_and_two_still_reads(tmp_path: Path) -> None:
    assert SCHEMA_VERSION == 3
    assert synthetic.record("fastapi", "mixed", 1, 40.0).schema_version == 3
    path = tmp_path / "m.jsonl"
    path.write_text(_line(schema_version=2) + "\n")
    (old,) = read_records(path)
    assert old.in_flight_at_start is None and old.batch_requests == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "empty measurements file"),
        ("\n  \n", "empty measurements file"),
        ("{not json\n", ":1: not JSON"),
        ("[1, 2]\n", ":1: expected a JSON object"),
        (_line() + "\n" + _line(framework="flask") + "\n", ":2: invalid record: field 'framework'"),
        (
            _line(offered_rps="<drop>") + "\n",
            ":1: invalid record: field 'offered_rps': Field required",
        ),
        (_line(error_ratio=1.5) + "\n", "field 'error_ratio'"),
        (_line(surprise=1) + "\n", "field 'surprise'"),
        (
            _line(schema_version=1) + "\n",
            "written by an older kit (schema_version 1, closed-loop load",
        ),
        (
            _line(schema_version=4) + "\n",
            "written by a newer kit (schema_version 4); this kit reads 3",
        ),
        (_line(ended_at="2026-11-20T09:00:00Z") + "\n", "is before started_at"),
    ],
)
def test_bad_files_name_the_file_line_and_problem(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(MeasurementsError) as caught:
        read_records(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(MeasurementsError, match="does not exist"):
        read_records(tmp_path / "nope.jsonl")


def test_latency_may_be_null_when_nothing_completed() -> None:
    record = synthetic.record(
        "django",
        "db-read",
        0,
        20.0,
        latency_p50_ms=None,
        latency_p95_ms=None,
        latency_p99_ms=None,
        achieved_rps=0.0,
    )
    assert MeasurementRecord.model_validate_json(record.model_dump_json()).latency_p95_ms is None


def test_append_to_an_unwritable_place_is_a_measurements_error(tmp_path: Path) -> None:
    with pytest.raises(MeasurementsError, match="cannot append"):
        append_record(
            tmp_path / "missing-dir" / "m.jsonl", synthetic.record("django", "db-read", 0, 1.0)
        )
