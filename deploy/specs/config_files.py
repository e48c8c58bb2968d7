"""The text of the files pods read: PostgreSQL's init script, the in-cluster Prometheus config,
and each service's database URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from capacity.metrics.prometheus_config import render_prometheus_config
from deploy.specs.names import POSTGRES_PORT


def database_url(password: str, *, user: str, host: str, database: str) -> str:
    return f"postgresql://{user}:{quote(password, safe='')}@{host}:{POSTGRES_PORT}/{database}"


def database_secret_name(framework: str) -> str:
    return f"fwcap-db-{framework}"


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def postgres_init_sql(role_passwords: Mapping[str, str]) -> str:
    """Run once by the postgres image's entrypoint on an empty volume: per framework a login role
    (not a superuser) that owns one database; nobody else may connect to it."""
    statements: list[str] = []
    for framework, password in sorted(role_passwords.items()):
        statements += [
            f'CREATE ROLE "{framework}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE '
            f"PASSWORD {_sql_literal(password)};",
            f'CREATE DATABASE "{framework}" OWNER "{framework}";',
            f'REVOKE ALL ON DATABASE "{framework}" FROM PUBLIC;',
        ]
    return (
        "-- One role and one database per framework service (deploy/postgres.py).\n"
        + "\n".join(statements)
        + "\n"
    )


def prometheus_config(namespace: str, scrape_interval_s: int) -> str:
    """The in-cluster Prometheus config: the same template the local run renders."""
    return render_prometheus_config(
        mode="kubernetes",
        namespace=namespace,
        scrape_interval_s=scrape_interval_s,
    )
