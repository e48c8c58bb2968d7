"""Run only by tests/services/test_no_leftovers.py in a child pytest (the file name keeps it out
of normal collection): bring both services up, say so through a file, and wait for the parent's
Ctrl-C, so the parent interrupts a session whose every server is known to be running.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from capacity.target.services import FRAMEWORKS
from tests.conftest import ServicePool

HOLD_ENV = "FWCAP_TEST_HOLD_FILE"
HOLD_LIMIT_S = 240.0  # the parent signals within seconds; past this the parent has died


def test_hold_both_services_until_interrupted(live_services: ServicePool) -> None:
    for framework in FRAMEWORKS:
        live_services.get(framework)
    Path(os.environ[HOLD_ENV]).write_text(str(os.getpid()))
    # Ctrl-C raises KeyboardInterrupt out of this wait, which is what the parent checks.
    threading.Event().wait(HOLD_LIMIT_S)
    raise AssertionError(f"no Ctrl-C from the parent test within {HOLD_LIMIT_S:.0f} s")
