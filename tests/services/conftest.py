"""The lean variants (services/*, SERVICE_VARIANT=lean) as live services for the contract suite.

Each runs from its reference service's directory against that service's database (same schema,
same seed), started on first use and stopped with the session's process group.
"""

from __future__ import annotations

from typing import Any

import pytest

from capacity.target.process import free_port
from capacity.target.services import VARIANTS, start_service

LEAN_VARIANTS = tuple(name for name in VARIANTS if name.endswith("-lean"))
_started: dict[str, Any] = {}


@pytest.fixture(scope="session", params=LEAN_VARIANTS)
def lean_service(request: pytest.FixtureRequest, live_services: Any) -> Any:
    from tests.conftest import LiveService, wait_until_a_request_is_counted

    name = request.param
    if name not in _started:
        reference = live_services.get(VARIANTS[name][0])
        handle = start_service(
            live_services.group, name, name=name, port=free_port(),
            database_url=reference.database_url, upstream_url=live_services.upstream_url,
            workers=2,
        )  # fmt: skip
        wait_until_a_request_is_counted(handle)
        _started[name] = LiveService(name, handle, reference.database, reference.database_url)
    return _started[name]
