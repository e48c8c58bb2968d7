"""The provisioning files resolve, with the environment the local run gives Grafana, to our
Prometheus and our dashboards; without a Grafana binary the local run simply has no Grafana."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from capacity.errors import TargetError
from capacity.target import grafana
from capacity.target.process import ProcessGroup
from tests.grafana.grafana_testlib import DASHBOARDS_DIR, FWCAP_DASHBOARDS, provisioned_dashboards

PROVISIONING = Path(__file__).resolve().parents[2] / "grafana" / "provisioning"
DATASOURCE_FILE = PROVISIONING / "datasources" / "prometheus.yaml"
PROVIDER_FILE = PROVISIONING / "dashboards" / "fwcap.yaml"
_ENV_REF = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def expand_like_grafana(text: str, env: dict[str, str]) -> str:
    """Grafana's provisioning expansion: $VAR and ${VAR} from the environment, unset -> ''."""
    return _ENV_REF.sub(lambda m: env.get(m.group(1) or m.group(2), ""), text)


def env_refs(path: Path) -> set[str]:
    return {a or b for a, b in _ENV_REF.findall(path.read_text())}


def resolved(path: Path, env: dict[str, str]) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(expand_like_grafana(path.read_text(), env))
    return loaded


def test_provisioning_files_refer_only_to_variables_the_local_run_sets(tmp_path: Path) -> None:
    env = grafana.grafana_env(tmp_path, 3000, "http://127.0.0.1:9090")
    refs = env_refs(DATASOURCE_FILE) | env_refs(PROVIDER_FILE)
    assert refs == {"FWCAP_PROMETHEUS_URL", "FWCAP_DASHBOARDS_DIR"}
    assert refs <= set(env)


def test_datasource_resolves_to_the_given_prometheus(tmp_path: Path) -> None:
    env = grafana.grafana_env(tmp_path, 3000, "http://127.0.0.1:41234/")
    (ds,) = resolved(DATASOURCE_FILE, env)["datasources"]
    assert ds["type"] == "prometheus"
    assert ds["url"] == "http://127.0.0.1:41234"
    assert ds["isDefault"] is True
    assert ds["access"] == "proxy"


def test_dashboard_provider_loads_exactly_the_committed_dashboards(tmp_path: Path) -> None:
    env = grafana.grafana_env(tmp_path, 3000, "http://127.0.0.1:9090")
    (provider,) = resolved(PROVIDER_FILE, env)["providers"]
    assert provider["type"] == "file"
    path = Path(provider["options"]["path"])
    assert path == DASHBOARDS_DIR
    assert sorted(p.name for p in path.glob("*.json")) == [
        "capacity-run.json",
        "framework-comparison.json",
    ]
    assert Path(env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]).is_file()
    assert Path(env["GF_PATHS_PROVISIONING"]) == PROVISIONING


def test_grafana_env_keeps_grafana_on_loopback_and_its_state_in_the_workdir(
    tmp_path: Path,
) -> None:
    env = grafana.grafana_env(tmp_path, 3123, "http://127.0.0.1:9090")
    assert env["GF_SERVER_HTTP_ADDR"] == "127.0.0.1"
    assert env["GF_SERVER_HTTP_PORT"] == "3123"
    for key in ("GF_PATHS_DATA", "GF_PATHS_LOGS", "GF_PATHS_PLUGINS"):
        assert Path(env[key]).is_relative_to(tmp_path)
    assert env["GF_SECURITY_ADMIN_PASSWORD"] not in ("", "admin")


def test_dashboard_files_use_no_environment_variables() -> None:
    # Grafana expands ${VAR} in provisioning files but never inside dashboard JSON.
    for f in DASHBOARDS_DIR.glob("*.json"):
        assert "FWCAP_" not in f.read_text(), f


def test_without_a_grafana_binary_the_local_run_starts_no_grafana(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert grafana.find_grafana() is None
    with ProcessGroup(tmp_path / "logs") as group:
        assert grafana.start_grafana(group, tmp_path, "http://127.0.0.1:9090") is None
        assert group.processes == []


def test_a_grafana_binary_without_its_home_is_a_clear_error(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    binary = bindir / "grafana-server"
    binary.write_text("#!/bin/sh\nexit 1\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    if any((home / "conf" / "defaults.ini").is_file() for home in grafana._HOMEPATH_CANDIDATES):
        pytest.skip("a real Grafana home is installed on this machine")
    with pytest.raises(TargetError, match=r"grafana-server but no Grafana home"):
        grafana.find_grafana(search_path=str(bindir))


@pytest.mark.skipif(
    grafana.find_grafana(os.environ.get("PATH")) is None,
    reason="no grafana-server / grafana binary installed (Grafana is not pip-installable)",
)
def test_local_grafana_serves_the_provisioned_dashboards(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path / "logs") as group:
        url = grafana.start_grafana(group, tmp_path, "http://127.0.0.1:9")
        assert url is not None
        assert provisioned_dashboards(url) == FWCAP_DASHBOARDS
