"""Kubernetes quantities: the accepted notation parses exactly, everything else is refused."""

from __future__ import annotations

import pytest

from capacity.errors import ConfigError
from capacity.quantity import format_cpu, format_memory, parse_cpu_millicores, parse_memory_bytes


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
