"""Acceptance 5: a bad stack config fails before any resource is registered, with a message naming
the config key and what is accepted - through the settings loader and through the real program
under Pulumi's mocks."""

from __future__ import annotations

from typing import Any

import pytest

from capacity.errors import ConfigError
from deploy.stack_config import load_settings
from tests.deploy.harness import (
    ROOT,
    RecordingMocks,
    pulumi_config,
    raw_from_stack_values,
    run_program,
    stack_values,
)

LOCAL = stack_values(ROOT / "stacks" / "Pulumi.local.yaml")

# (what is wrong, the stack values that change, the key the message must name, text of what is
# accepted that the message must carry)
BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("malformed CPU quantity", {"fwcap:cpu": "half a core"}, "fwcap:cpu", "millicores like 500m"),
    ("memory suffix on a CPU", {"fwcap:cpu": "1.5Gi"}, "fwcap:cpu", "cores like 0.5"),
    ("malformed memory", {"fwcap:memory": "512MB"}, "fwcap:memory", "512Mi"),
    ("replicas below 1", {"fwcap:replicas": 0}, "fwcap:replicas", "an integer >= 1"),
    ("replicas not a number", {"fwcap:replicas": "two"}, "fwcap:replicas", "an integer >= 1"),
    (
        "unknown framework",
        {"fwcap:frameworks": ["django", "flask"]},
        "fwcap:frameworks",
        "django, fastapi",
    ),
    ("no framework", {"fwcap:frameworks": []}, "fwcap:frameworks", "django, fastapi"),
    (
        "unknown monitoring mode",
        {"fwcap:monitoringMode": "prometheus-operator"},
        "fwcap:monitoringMode",
        "bundled or existing",
    ),
    (
        "missing registry while building images",
        {"fwcap:registry": "", "fwcap:buildImages": True},
        "fwcap:registry",
        "host[:port][/path]",
    ),
    (
        "prebuilt images without references",
        {"fwcap:buildImages": False},
        "fwcap:djangoImage",
        "repository:tag",
    ),
    ("moving image tag", {"fwcap:imageTag": "latest"}, "fwcap:imageTag", "never 'latest'"),
    (
        "existing monitoring without its URL",
        {"fwcap:monitoringMode": "existing"},
        "fwcap:existingPrometheusUrl",
        "http(s) URL",
    ),
    ("misspelt key", {"fwcap:replica": 2}, "fwcap:replica", "replicas"),
    ("missing locustfile", {"fwcap:locustfile": "load/nope.py"}, "fwcap:locustfile", ".py file"),
]


@pytest.mark.parametrize(("what", "change", "key", "accepted"), BAD, ids=[b[0] for b in BAD])
def test_settings_loader_names_the_key_and_what_is_accepted(
    what: str, change: dict[str, Any], key: str, accepted: str
) -> None:
    values = {**LOCAL, **change}
    with pytest.raises(ConfigError) as caught:
        load_settings(raw_from_stack_values(values), ROOT)
    message = str(caught.value)
    assert key in message, message
    assert accepted in message, message


@pytest.mark.parametrize(("what", "change", "key", "accepted"), BAD, ids=[b[0] for b in BAD])
def test_program_stops_before_registering_any_resource(
    what: str, change: dict[str, Any], key: str, accepted: str
) -> None:
    mocks = RecordingMocks()
    with pytest.raises(ConfigError) as caught:
        run_program(pulumi_config({**LOCAL, **change}), stack="bad", mocks=mocks)
    assert key in str(caught.value)
    assert accepted in str(caught.value)
    assert mocks.registered == []


def test_every_problem_is_reported_at_once() -> None:
    values = {**LOCAL, "fwcap:cpu": "x", "fwcap:replicas": 0, "fwcap:monitoringMode": "y"}
    with pytest.raises(ConfigError) as caught:
        load_settings(raw_from_stack_values(values), ROOT)
    for key in ("fwcap:cpu", "fwcap:replicas", "fwcap:monitoringMode"):
        assert key in str(caught.value)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("cpu", "0.5", "500m"),
        ("cpu", 2, "2"),
        ("cpu", "1500m", "1500m"),
        ("memory", "1G", "1000000000"),
        ("memory", "0.5Gi", "512Mi"),
    ],
)
def test_quantities_are_normalised_to_kubernetes_notation(
    key: str, value: object, expected: str
) -> None:
    settings = load_settings({**raw_from_stack_values(LOCAL), key: value}, ROOT)
    assert getattr(settings, key) == expected


def test_a_good_config_loads() -> None:
    settings = load_settings(raw_from_stack_values(LOCAL), ROOT)
    assert settings.registry == "localhost:5001"
    assert settings.frameworks == ("django", "fastapi")
    assert settings.cpu == "500m"
