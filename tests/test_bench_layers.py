"""scripts/bench_layers.py's pure logic, and its layer names against the services' switches.

No server is started and nothing is timed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import bench_layers  # noqa: E402


def _fastapi_config() -> ModuleType:
    # Loaded from its file: the FastAPI service's package is called `app`, too generic a name
    # to put on sys.path beside the other tests.
    spec = importlib.util.spec_from_file_location(
        "fwcap_fastapi_config", ROOT / "services/fastapi/app/config.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def _django_env() -> ModuleType:
    sys.path.insert(0, str(ROOT / "services/django"))
    return importlib.import_module("fwcap_django.env")


def keys(layers: tuple[bench_layers.Layer, ...]) -> list[str]:
    return [layer.key for layer in layers]


def test_all_and_framework_names_select_layers_in_table_order() -> None:
    assert keys(bench_layers.parse_layers("all")) == keys(bench_layers.LAYERS)
    fastapi = bench_layers.parse_layers("fastapi")
    assert fastapi and {layer.framework for layer in fastapi} == {"fastapi"}
    assert keys(bench_layers.parse_layers(" django.metrics,fastapi.httpprotocol ")) == [
        "fastapi.httpprotocol",
        "django.metrics",
    ]


@pytest.mark.parametrize("spec", ["fastapi.orm", "metrics", "fastapi,", "flask"])
def test_an_unknown_layer_is_named_with_the_accepted_names(spec: str) -> None:
    with pytest.raises(ValueError) as info:
        bench_layers.parse_layers(spec)
    message = str(info.value)
    assert repr(spec.split(",")[-1].strip()) in message
    assert "fastapi.httpprotocol" in message and "django.buffering" in message


def test_variants_are_the_baseline_each_layer_off_and_techempower_twice() -> None:
    variants = bench_layers.build_variants(bench_layers.parse_layers("django.metrics"))
    assert [(v.name, v.service, v.env, v.packages) for v in variants] == [
        ("django-lean", "django-lean", {}, "theirs"),
        ("django-lean without metrics", "django-lean", {"METRICS_ENABLED": "0"}, "theirs"),
        ("techempower django (theirs)", "techempower-django", {}, "theirs"),
        ("techempower django (ours)", "techempower-django", {}, "ours"),
    ]


def test_a_layer_is_measured_only_on_the_endpoints_it_runs_on() -> None:
    variants = bench_layers.build_variants(bench_layers.parse_layers("fastapi"))
    by_name = {v.name: v for v in variants}
    assert by_name["fastapi-lean"].measures(bench_layers.TRIVIAL)
    assert not by_name["fastapi-lean without poolwait"].measures(bench_layers.TRIVIAL)
    assert by_name["fastapi-lean without poolwait"].measures(bench_layers.ONE_ROW)
    assert not by_name["fastapi-lean without statusmodel"].measures(bench_layers.ONE_ROW)


@pytest.mark.parametrize("framework", ["fastapi", "django"])
def test_every_switch_the_script_sets_is_one_the_service_reads(framework: str) -> None:
    service = _fastapi_config() if framework == "fastapi" else _django_env()
    switched = {
        layer.env["FWCAP_BENCH_WITHOUT"]
        for layer in bench_layers.LAYERS
        if layer.framework == framework and "FWCAP_BENCH_WITHOUT" in layer.env
    }
    assert switched == set(service.BENCH_LAYERS)


def test_the_services_refuse_an_unknown_layer_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown layer nope; expected names among bodylimit"):
        _fastapi_config().bench_without("bodylimit, nope")
    env = _django_env()
    with pytest.raises(env.ConfigError, match=r"unknown layer nope; expected names among framing"):
        env.bench_without({"FWCAP_BENCH_WITHOUT": "nope,framing"})
    assert env.bench_without({"FWCAP_BENCH_WITHOUT": " framing , exactpath"}) == {
        "framing",
        "exactpath",
    }
