"""Kubernetes quantities: the accepted notation parses exactly, everything else is refused."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import AfterValidator, BaseModel, ValidationError

from capacity.errors import ConfigError
from capacity.quantity import (
    CpuMillicores,
    CpuQuantity,
    MemoryBytes,
    MemoryQuantity,
    cpu_at_least,
    format_cpu,
    format_memory,
    kubectl_memory,
    parse_cpu_millicores,
    parse_memory_bytes,
)
from capacity.validation import describe_validation_error


@pytest.mark.parametrize(
    ("text", "millicores"),
    [
        ("500m", 500),
        ("0.5", 500),
        ("1", 1000),
        ("2", 2000),
        ("1.5", 1500),
        ("0.001", 1),
        ("250m", 250),
        (" 100m ", 100),
        (1, 1000),
        (0.25, 250),
        ("0", 0),
    ],
)
def test_cpu_quantities_parse_to_millicores(text: str | float, millicores: int) -> None:
    assert parse_cpu_millicores(text) == millicores


@pytest.mark.parametrize(
    "text", ["", "abc", "500M", "512Mi", "-1", "0.0005", "1 core", "1e3", "m", "1.5m", "500mm"]
)
def test_malformed_cpu_is_refused_naming_value_and_forms(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_cpu_millicores(text)
    assert repr(text) in str(caught.value)
    assert "500m" in str(caught.value) and "0.5" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("512Mi", 512 * 2**20),
        ("1Gi", 2**30),
        ("1G", 10**9),
        ("1e9", 10**9),
        ("536870912", 536870912),
        ("1.5Gi", 1536 * 2**20),
        ("128k", 128000),
        ("64Ki", 65536),
        ("1Ti", 2**40),
        (536870912, 536870912),
        ("0", 0),
    ],
)
def test_memory_quantities_parse_to_bytes(text: str | int, expected: int) -> None:
    assert parse_memory_bytes(text) == expected


@pytest.mark.parametrize("text", ["512MB", "1GB", "512 Mi", "500m", "lots", "-1Gi", "1gi", "Mi"])
def test_malformed_memory_is_refused_naming_value_and_forms(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_memory_bytes(text)
    message = str(caught.value)
    assert repr(text) in message and "512Mi" in message and "Gi" in message


def test_lowercase_m_memory_hints_at_mebibytes() -> None:
    with pytest.raises(ConfigError, match="did you mean 500Mi"):
        parse_memory_bytes("500m")


@pytest.mark.parametrize(("millicores", "text"), [(500, "500m"), (2000, "2"), (1500, "1500m")])
def test_cpu_formats_back_to_kubernetes_notation(millicores: int, text: str) -> None:
    assert format_cpu(millicores) == text
    assert parse_cpu_millicores(text) == millicores


@pytest.mark.parametrize(("value", "text"), [(2**29, "512Mi"), (2**30, "1Gi"), (1000, "1000")])
def test_memory_formats_back_to_kubernetes_notation(value: int, text: str) -> None:
    assert format_memory(value) == text
    assert parse_memory_bytes(text) == value


# ---- the pydantic field types: the same parsers at every boundary ----------------------


class _Pod(BaseModel):
    cpu: Annotated[CpuQuantity, AfterValidator(cpu_at_least(10, "too little"))] = "500m"
    memory: Annotated[MemoryQuantity, AfterValidator(kubectl_memory)] = "512Mi"
    cpu_millicores: CpuMillicores = 0
    memory_bytes: MemoryBytes = 0


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"cpu": "250m"}, {"cpu": "250m"}),
        ({"cpu": 1}, {"cpu": "1"}),  # a YAML number keeps its text
        ({"cpu": 0.5}, {"cpu": "0.5"}),
        ({"memory": 536870912}, {"memory": "512Mi"}),
        ({"memory": "1Gi"}, {"memory": "1Gi"}),
        ({"cpu_millicores": "0.5"}, {"cpu_millicores": 500}),
        ({"memory_bytes": "64Ki"}, {"memory_bytes": 65536}),
    ],
)
def test_quantity_fields_parse_kubernetes_notation(
    given: dict[str, object], expected: dict[str, object]
) -> None:
    pod = _Pod.model_validate(given)
    for field, value in expected.items():
        assert getattr(pod, field) == value


@pytest.mark.parametrize(
    ("given", "needles"),
    [
        ({"cpu": "half"}, ["field 'cpu'", "'half'", "500m"]),
        ({"cpu": "5m"}, ["field 'cpu'", "below 10m: too little", "(got '5m')"]),
        ({"cpu": True}, ["field 'cpu'", "text or a number, not bool"]),
        ({"memory": "512MB"}, ["field 'memory'", "'512MB'", "512Mi"]),
        ({"cpu_millicores": "1Gi"}, ["field 'cpu_millicores'", "looks like a memory quantity"]),
        ({"memory_bytes": [1]}, ["field 'memory_bytes'", "not list"]),
    ],
)
def test_a_bad_quantity_field_names_the_field_the_value_and_the_forms(
    given: dict[str, object], needles: list[str]
) -> None:
    with pytest.raises(ValidationError) as caught:
        _Pod.model_validate(given)
    message = describe_validation_error(caught.value)
    for needle in needles:
        assert needle in message, message
    assert "Value error" not in message


def test_validation_errors_are_described_with_their_source_and_a_limit() -> None:
    with pytest.raises(ValidationError) as caught:
        _Pod.model_validate({"cpu": "x", "memory": "y", "cpu_millicores": "z"})
    error = caught.value
    assert describe_validation_error(error, sources={"cpu": "--cpu"}).startswith("cpu (--cpu): ")
    limited = describe_validation_error(error, limit=1)
    assert limited.startswith("field 'cpu': ") and limited.endswith("; and 2 more")
