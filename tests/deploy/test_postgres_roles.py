"""The in-cluster PostgreSQL init script (deploy/specs/config_files.py postgres_init_sql), run on
a real PostgreSQL the way the image's entrypoint runs /docker-entrypoint-initdb.d/*.sql (statement
by statement, as the superuser): each service's role owns its database and can migrate it, cannot
connect to the other's, and is no superuser."""

from __future__ import annotations

from urllib.parse import quote

import psycopg
import pytest

from capacity.target.postgres import Postgres
from deploy.specs.config_files import postgres_init_sql

PASSWORDS = {"django": "pw-django-1", "fastapi": "pw-fast'api-2"}  # a quote must be escaped


@pytest.fixture(scope="module")
def roles(postgres: Postgres) -> Postgres:
    for framework in PASSWORDS:
        postgres.psql(f'DROP DATABASE IF EXISTS "{framework}" WITH (FORCE)')
        postgres.psql(f'DROP ROLE IF EXISTS "{framework}"')
    for statement in postgres_init_sql(PASSWORDS).split(";\n"):
        sql = "\n".join(x for x in statement.splitlines() if not x.startswith("--")).strip()
        if sql:
            postgres.psql(sql)
    return postgres


def _url(pg: Postgres, user: str, database: str) -> str:
    return f"postgresql://{user}:{quote(PASSWORDS[user], safe='')}@{pg.host}:{pg.port}/{database}"


def test_each_role_owns_and_can_migrate_its_database(roles: Postgres) -> None:
    for framework in PASSWORDS:
        with psycopg.connect(_url(roles, framework, framework)) as conn:
            conn.execute("CREATE TABLE t (id int)")  # migrations create tables in public
            conn.execute("INSERT INTO t VALUES (1)")
            row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            assert row.fetchone() == (False,)


def test_a_role_cannot_connect_to_the_other_database(roles: Postgres) -> None:
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        psycopg.connect(_url(roles, "django", "fastapi")).close()
