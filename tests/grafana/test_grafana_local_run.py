"""How the local run wires Grafana in: found on PATH, started on loopback with the kit's
provisioning (anonymous read-only viewer, random admin password), its URL logged, stopped
with the run; without it, one line says how to get it and what the report shows instead.

No Grafana binary exists on this machine or on any registry the kit installs from (not on PyPI,
not in Debian, not on npm), so the wiring is checked with a stand-in `grafana-server`: a small
HTTP server laid out like Grafana's tarball (bin/ next to conf/defaults.ini) that records the
command line and environment it was given. Where a real Grafana is installed,
tests/grafana/test_grafana_provisioning.py and test_grafana_live.py run against it.
"""

from __future__ import annotations

import json
import logging
import stat
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from capacity.target import grafana
from capacity.target.process import ProcessGroup

STAND_IN = """#!{python}
import http.server, json, os, sys
port = int(os.environ["GF_SERVER_HTTP_PORT"])
host = os.environ["GF_SERVER_HTTP_ADDR"]
with open({record!r}, "w") as f:
    json.dump({{"argv": sys.argv, "env": dict(os.environ), "cwd": os.getcwd()}}, f)
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b'{{"database": "ok"}}')
    def log_message(self, *args):
        pass
http.server.HTTPServer((host, port), Health).serve_forever()
"""


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `grafana-server` on PATH (tarball layout); returns where it records how it was run."""
    home = tmp_path / "grafana-home"
    (home / "conf").mkdir(parents=True)
    (home / "conf" / "defaults.ini").write_text("[server]\n")
    (home / "bin").mkdir()
    record = tmp_path / "started-with.json"
    binary = home / "bin" / "grafana-server"
    binary.write_text(STAND_IN.format(python=sys.executable, record=str(record)))
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{home / 'bin'}:/usr/bin:/bin")
    return record


def test_the_local_run_starts_grafana_on_loopback_with_the_kits_provisioning(
    stand_in: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="capacity")
    workdir = tmp_path / "work"
    with ProcessGroup(tmp_path / "logs") as group:
        url = grafana.local_grafana(group, workdir, "http://127.0.0.1:41234/")
        assert url is not None and url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/api/health", timeout=5).status_code == 200
        (proc,) = group.processes
    assert not proc.alive(), "Grafana stops with the run's process group"
    assert caplog.messages == [
        f"Grafana {url} (dashboards: {url}/dashboards/f/?tag=fwcap; anonymous read-only viewer)"
    ]
    started = json.loads(stand_in.read_text())
    env = started["env"]
    assert started["argv"][1:] == ["--homepath", str(tmp_path / "grafana-home")]
    assert env["GF_SERVER_HTTP_ADDR"] == "127.0.0.1"
    assert (env["GF_AUTH_ANONYMOUS_ENABLED"], env["GF_AUTH_ANONYMOUS_ORG_ROLE"]) == (
        "true",
        "Viewer",
    )
    assert len(env["GF_SECURITY_ADMIN_PASSWORD"]) >= 16, "no default admin password"
    assert Path(env["GF_PATHS_DATA"]).is_relative_to(workdir)
    # The provisioning Grafana was pointed at names our Prometheus and our dashboards.
    provisioning = Path(env["GF_PATHS_PROVISIONING"])
    datasource = (provisioning / "datasources" / "prometheus.yaml").read_text()
    assert "${FWCAP_PROMETHEUS_URL}" in datasource
    assert env["FWCAP_PROMETHEUS_URL"] == "http://127.0.0.1:41234"
    provider = yaml.safe_load((provisioning / "dashboards" / "fwcap.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] == "${FWCAP_DASHBOARDS_DIR}"
    dashboards = sorted(p.name for p in Path(env["FWCAP_DASHBOARDS_DIR"]).glob("*.json"))
    assert dashboards == ["capacity-run.json", "framework-comparison.json"]


def test_without_grafana_the_run_says_in_one_line_how_to_get_it_and_what_the_report_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="capacity")
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with ProcessGroup(tmp_path / "logs") as group:
        assert grafana.local_grafana(group, tmp_path, "http://127.0.0.1:9") is None
        assert group.processes == []
    (line,) = caplog.messages
    assert "\n" not in line
    assert "grafana-server" in line and "install Grafana" in line
    assert "report's plots" in line
