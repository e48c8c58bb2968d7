"""The files the cluster gets from the repository (locustfile, Grafana dashboards and
provisioning), read once before any resource is registered, so a missing file fails early."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from capacity.errors import ConfigError

GRAFANA_DIR = "grafana"
# Shipped to the Locust master next to the locustfile: Basic auth on its web API.
LOCUST_WEB_AUTH_PLUGIN = "deploy/locust_plugins/web_auth.py"


@dataclass(frozen=True)
class KitFiles:
    """{file name: text} maps become ConfigMap data as they are."""

    locustfile: str
    locust_web_auth: str  # deploy/locust_plugins/web_auth.py
    dashboards: dict[str, str]
    datasources: dict[str, str]  # grafana/provisioning/datasources/*.yaml
    dashboard_providers: dict[str, str]  # grafana/provisioning/dashboards/*.yaml


def read_files(directory: Path, pattern: str) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.glob(pattern))}


def read_kit_files(project_dir: Path, locustfile_path: str) -> KitFiles:
    # load_settings has checked that the locustfile exists.
    locustfile = project_dir / locustfile_path
    grafana = project_dir / GRAFANA_DIR
    files = KitFiles(
        locustfile=locustfile.read_text(encoding="utf-8"),
        locust_web_auth=(project_dir / LOCUST_WEB_AUTH_PLUGIN).read_text(encoding="utf-8"),
        dashboards=read_files(grafana / "dashboards", "*.json"),
        datasources=read_files(grafana / "provisioning" / "datasources", "*.yaml"),
        dashboard_providers=read_files(grafana / "provisioning" / "dashboards", "*.yaml"),
    )
    missing = [
        f"{GRAFANA_DIR}/{where}"
        for where, found in (
            ("dashboards/*.json", files.dashboards),
            ("provisioning/datasources/*.yaml", files.datasources),
            ("provisioning/dashboards/*.yaml", files.dashboard_providers),
        )
        if not found
    ]
    if missing:
        raise ConfigError(
            f"the project directory {project_dir} lacks {', '.join(missing)}: Grafana would start "
            "without dashboards or datasource; restore them from the repository"
        )
    return files
