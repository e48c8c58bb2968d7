"""Session fixtures for tests that talk to live servers.

One real PostgreSQL (one database per framework, migrated and seeded through each launcher), the
upstream stub, and each framework's service started through its launcher on loopback with two
worker processes (so metrics must be summed across processes). Services start lazily, the first
time a test asks for them, so `-k fastapi` never starts Django. Everything is owned by one
`ProcessGroup` and stopped at the end of the session, also on Ctrl-C and SIGTERM. Under
pytest-xdist every test that uses them runs on one worker, so they start once per run.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import tempfile
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
# The services the live suites hold to the contract: the reference ones and Django's async
# variant (its own server, uvicorn, and its own middleware path); the lean variants have theirs
# in tests/services/conftest.py.
SERVICES = (*FRAMEWORKS, "django-async")
# Shared by every xdist worker so all of them draw the same random instants
# (tests/local/test_interrupts.py); the controller draws it, the workers inherit it.
INTERRUPT_SEED_ENV = "FWCAP_INTERRUPT_SEED"


def pytest_configure(config: pytest.Config) -> None:
    # A CI runner or `timeout` stops pytest with SIGTERM; turn it into the same orderly
    # interrupt as Ctrl-C so the session fixtures still stop every server they started.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    if not os.environ.get(INTERRUPT_SEED_ENV):
        os.environ[INTERRUPT_SEED_ENV] = str(random.SystemRandom().randrange(10**6))


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# Every session server (PostgreSQL, the stub, the services) is started into this fixture's group.
SESSION_SERVERS = "process_group"


# tryfirst: xdist's worker turns `xdist_group` marks into group suffixes of the node ids in its
# own collection hook, registered after this conftest, so it would run first and see no marks
# (each module's expensive fixture then ran once per worker: 2 x 90 s for the e2e runs).
# pytest 9.2 breaks the grouping on xdist's side (pytest-xdist#1386), hence pytest<9.2 in
# pyproject.toml; `pytest_collection_finish` below stops the run if the grouping is lost again.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark `live` every test on the session's servers; keep tests that share an expensive
    fixture on one xdist worker (`--dist loadgroup`).

    A test whose fixtures reach `process_group` (the session's PostgreSQL, stub or services,
    started on first use) is `live` whatever its module says: pytest deselects by mark after
    this hook (tryfirst), so `make test-fast` never starts a server for it.

    A module whose tests share a module-scoped fixture (one real run, one batch of CLI calls)
    stays whole. Every other test is spread over the workers one by one, including those on the
    session servers (`live_services`): each worker starts its own (about 30 s), which costs
    less than holding every contract, fuzz and limit test on one worker (measured: 16 min with
    them grouped, against 13-14 min spread).
    """
    for item in items:
        fixtureinfo = getattr(item, "_fixtureinfo", None)
        if fixtureinfo is None:
            continue
        names = set(fixtureinfo.names_closure)
        if SESSION_SERVERS in names:
            item.add_marker(pytest.mark.live)
        scopes = {
            d.scope
            for name in names
            for d in fixtureinfo.name2fixturedefs.get(name, ())
            if d.baseid  # fixtures of our own test files and conftests, not pytest's
        }
        if "module" in scopes:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


LOST_GROUPS = pytest.StashKey[str]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Notice when `--dist loadgroup` would not keep a group on one worker.

    xdist marks a grouped test by appending `@<group>` to its node id on each worker; when that
    silently stops working (pytest 9.2 with pytest-xdist 3.8), every module's real capacity run
    is made once per worker: the suite still passes, minutes slower. Checked on every run; each
    grouped test then fails with this message before its fixtures start anything.
    """
    config = session.config
    if not hasattr(config, "workerinput") or not config.getvalue("loadgroup"):
        return
    lost = [
        item.nodeid
        for item in session.items
        if item.get_closest_marker("xdist_group") is not None and "@" not in item.nodeid
    ]
    if lost:
        config.stash[LOST_GROUPS] = (
            f"--dist loadgroup lost the xdist_group of {len(lost)} test(s): pytest-xdist no "
            "longer tags their node ids (pytest-xdist#1386, pytest 9.2), so each worker would "
            "set up their shared fixture; pin pytest<9.2, or run serially with PYTEST_PARALLEL="
        )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    lost = item.config.stash.get(LOST_GROUPS, None)
    if lost is not None and item.get_closest_marker("xdist_group") is not None:
        pytest.fail(lost, pytrace=False)


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
        run_launcher_command(framework, ("seed",), {"DATABASE_URL": self.database_url(framework)})

    def get(self, framework: str) -> LiveService:
        if framework not in self.services:
            database = f"fwcap_{framework}"
            url = self.postgres.create_database(database)
            run_launcher_command(framework, ("migrate", "seed"), {"DATABASE_URL": url})
            handle = start_service(
                self.group, framework, name=framework, port=free_port(), database_url=url,
                upstream_url=self.upstream_url, workers=SERVICE_WORKERS,
            )  # fmt: skip
            wait_until_a_request_is_counted(handle)
            self.services[framework] = LiveService(framework, handle, database, url)
        return self.services[framework]


def wait_until_a_request_is_counted(handle: ServiceHandle) -> None:
    """Hand a service out once its /metrics counts the readiness probe's request.

    /metrics shows the contract histogram only once a request is counted, and the FastAPI
    service counts one after its response has gone out; a test whose first request is /metrics
    (the contract row) would otherwise race the probe's observation on a busy machine.
    """
    from tests.services.live_support import HISTOGRAM, metrics_when

    metrics_when(handle.base_url, lambda text: HISTOGRAM in text, "the readiness probe counted")


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


@pytest.fixture(scope="session", params=SERVICES)
def service(request: pytest.FixtureRequest, live_services: ServicePool) -> LiveService:
    """Each test that takes `service` runs once per service in SERVICES, against the live server."""
    return live_services.get(request.param)
