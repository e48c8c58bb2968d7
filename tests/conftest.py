"""Session fixtures for tests that talk to live servers.

One real PostgreSQL (one database per framework, migrated and seeded through each launcher), the
upstream stub, and each framework's service started through its launcher on loopback with two
worker processes (so metrics must be summed across processes). Services start lazily, the first
time a test asks for them, so `-k fastapi` never starts Django. Everything is owned by one
`ProcessGroup` and stopped at the end of the session, also on Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import pytest

from capacity.target.postgres import Postgres, start_postgres
from capacity.target.process import ProcessGroup, free_port
from capacity.target.services import (
    FRAMEWORKS,
    ServiceHandle,
    run_launcher_command,
    start_service,
    start_stub,
)

SERVICE_WORKERS = 2
# Set by tests/services/test_no_leftovers.py in a child pytest: once both services are up (at
# the call of a test that uses them), write this file and wait to be interrupted.
HOLD_ENV = "FWCAP_TEST_HOLD_FILE"


def pytest_configure(config: pytest.Config) -> None:
    # A CI runner or `timeout` stops pytest with SIGTERM; turn it into the same orderly
    # interrupt as Ctrl-C so the session fixtures still stop every server they started.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    hold_file = os.environ.get(HOLD_ENV)
    pool = getattr(item, "funcargs", {}).get("live_services")
    if hold_file and isinstance(pool, ServicePool) and set(pool.services) == set(FRAMEWORKS):
        Path(hold_file).write_text(str(os.getpid()))
        time.sleep(600)  # the parent test interrupts us long before this ends
    return (yield)


@dataclass(frozen=True)
class LiveService:
    """A running service and the database it serves."""

    framework: str
    handle: ServiceHandle
    database: str
    database_url: str

    @property
    def base_url(self) -> str:
        return self.handle.base_url

    def url(self, path: str) -> str:
        return self.handle.base_url + path


@dataclass
class ServicePool:
    """Starts each framework's database and service on first use, then hands out the same one."""

    group: ProcessGroup
    postgres: Postgres
    upstream_url: str
    services: dict[str, LiveService] = field(default_factory=dict)

    def database_url(self, framework: str) -> str:
        return self.postgres.url(f"fwcap_{framework}")

    def reseed(self, framework: str) -> None:
        run_launcher_command(framework, "seed", {"DATABASE_URL": self.database_url(framework)})

    def get(self, framework: str) -> LiveService:
        if framework not in self.services:
            database = f"fwcap_{framework}"
            url = self.postgres.create_database(database)
            run_launcher_command(framework, "migrate", {"DATABASE_URL": url})
            run_launcher_command(framework, "seed", {"DATABASE_URL": url})
            handle = start_service(
                self.group, framework, name=framework, port=free_port(), database_url=url,
                upstream_url=self.upstream_url, workers=SERVICE_WORKERS,
            )  # fmt: skip
            self.services[framework] = LiveService(framework, handle, database, url)
        return self.services[framework]


@pytest.fixture(scope="session")
def run_dir() -> Iterator[Path]:
    # Not under pytest's basetemp: every pytest start re-chmods /tmp/pytest-of-<user> to 0700,
    # which would lock the PostgreSQL server (running as its own user when we are root) out of
    # its data directory mid-run whenever another pytest starts on the machine.
    path = Path(tempfile.mkdtemp(prefix="fwcap-live-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def process_group(run_dir: Path) -> Iterator[ProcessGroup]:
    with ProcessGroup(run_dir / "logs") as group:
        yield group


@pytest.fixture(scope="session")
def postgres(process_group: ProcessGroup, run_dir: Path) -> Postgres:
    return start_postgres(process_group, run_dir / "postgres")


@pytest.fixture(scope="session")
def upstream_url(process_group: ProcessGroup) -> str:
    return start_stub(process_group, free_port())


@pytest.fixture(scope="session")
def live_services(
    process_group: ProcessGroup, postgres: Postgres, upstream_url: str
) -> ServicePool:
    return ServicePool(process_group, postgres, upstream_url)


@pytest.fixture(scope="session", params=FRAMEWORKS)
def service(request: pytest.FixtureRequest, live_services: ServicePool) -> LiveService:
    """Each test that takes `service` runs once per framework, against the live server."""
    return live_services.get(request.param)
