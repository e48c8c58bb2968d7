"""Start a local Grafana with the kit's dashboards, when a Grafana binary is installed.

Optional in the local run: Grafana is not a pip package, so when neither `grafana-server` nor
`grafana` is on PATH the run goes on without it. The same provisioning files as the cluster
deployment are used; Grafana fills their `${FWCAP_*}` fields from the environment set here.
"""

from __future__ import annotations

import logging
import secrets
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from capacity.errors import TargetError
from capacity.target.process import ProcessError, ProcessGroup, free_port, wait_http_ok

log = logging.getLogger(__name__)


def _grafana_dir() -> Path:
    """The kit's provisioning and dashboards: a wheel carries a copy inside the package (see
    pyproject's force-include); a checkout reads grafana/, the same files the cluster gets."""
    packaged = Path(str(resources.files("capacity"))) / "grafana"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "grafana"


GRAFANA_DIR = _grafana_dir()
PROVISIONING_DIR = GRAFANA_DIR / "provisioning"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"
HOME_DASHBOARD = DASHBOARDS_DIR / "framework-comparison.json"
_HOMEPATH_CANDIDATES = (Path("/usr/share/grafana"), Path("/opt/grafana"))


@dataclass(frozen=True)
class GrafanaInstall:
    """Where Grafana is and how to start its server."""

    argv: tuple[str, ...]  # e.g. ("/usr/sbin/grafana-server",) or ("/usr/bin/grafana", "server")
    homepath: Path  # holds conf/defaults.ini and public/


def find_grafana(search_path: str | None = None) -> GrafanaInstall | None:
    """The installed Grafana, or None when there is none (the caller then skips Grafana)."""
    for name, argv_tail in (("grafana-server", ()), ("grafana", ("server",))):
        found = shutil.which(name, path=search_path)
        if found is None:
            continue
        binary = Path(found).resolve()
        # Tarball installs keep bin/ next to conf/; the Debian/RPM packages use /usr/share/grafana.
        for home in (binary.parent.parent, *_HOMEPATH_CANDIDATES):
            if (home / "conf" / "defaults.ini").is_file():
                return GrafanaInstall(argv=(str(binary), *argv_tail), homepath=home)
        raise TargetError(
            f"found {binary} but no Grafana home (conf/defaults.ini) next to it or in "
            f"{', '.join(map(str, _HOMEPATH_CANDIDATES))}; reinstall Grafana or remove it from PATH"
        )
    return None


def grafana_env(workdir: Path, port: int, prometheus_url: str) -> dict[str, str]:
    """Grafana's settings for the local run: loopback only, state in `workdir`, our files."""
    state = workdir / "grafana"
    return {
        "GF_SERVER_HTTP_ADDR": "127.0.0.1",
        "GF_SERVER_HTTP_PORT": str(port),
        "GF_PATHS_DATA": str(state / "data"),
        "GF_PATHS_LOGS": str(state / "logs"),
        "GF_PATHS_PLUGINS": str(state / "plugins"),
        "GF_PATHS_PROVISIONING": str(PROVISIONING_DIR),
        "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH": str(HOME_DASHBOARD),
        # Viewing needs no login; the admin password is random so nobody else on the host can
        # log in as admin/admin while the run lasts.
        "GF_AUTH_ANONYMOUS_ENABLED": "true",
        "GF_AUTH_ANONYMOUS_ORG_ROLE": "Viewer",
        "GF_SECURITY_ADMIN_PASSWORD": secrets.token_urlsafe(16),
        "GF_ANALYTICS_REPORTING_ENABLED": "false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
        "GF_NEWS_NEWS_FEED_ENABLED": "false",
        # Read by grafana/provisioning/*.yaml.
        "FWCAP_PROMETHEUS_URL": prometheus_url.rstrip("/"),
        "FWCAP_DASHBOARDS_DIR": str(DASHBOARDS_DIR),
    }


def start_grafana(
    group: ProcessGroup, workdir: Path, prometheus_url: str, *, timeout_s: float = 60.0
) -> str | None:
    """Start Grafana in `group` and return its URL, or None when Grafana is not installed."""
    install = find_grafana()
    if install is None:
        return None
    port = free_port()
    env = grafana_env(workdir, port, prometheus_url)
    for key in ("GF_PATHS_DATA", "GF_PATHS_LOGS", "GF_PATHS_PLUGINS"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
    proc = group.start(
        "grafana",
        [*install.argv, "--homepath", str(install.homepath)],
        env=env,
        cwd=install.homepath,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http_ok(f"{url}/api/health", proc, timeout_s=timeout_s)
    return url


GRAFANA_MISSING_HINT = (
    "Grafana: no `grafana-server` (or `grafana`) binary on PATH, so no live dashboards; install "
    "Grafana from grafana.com/grafana/download (it is not on PyPI or in Debian) to get them. The "
    "report's plots show the same panels as static images."
)


def local_grafana(group: ProcessGroup, workdir: Path, prometheus_url: str) -> str | None:
    """The local run's hook: start Grafana if installed and say where it is, or say in one
    line how to get it and what the report shows instead. Returns its URL or None."""
    try:
        url = start_grafana(group, workdir, prometheus_url)
    except ProcessError as e:
        raise TargetError(f"Grafana did not start: {e}") from e
    if url is None:
        log.info(GRAFANA_MISSING_HINT)
    else:
        log.info(
            "Grafana %s (dashboards: %s; anonymous read-only viewer)", url, dashboards_url(url)
        )
    return url


def dashboards_url(grafana_url: str) -> str:
    return f"{grafana_url.rstrip('/')}/dashboards/f/?tag=fwcap"
