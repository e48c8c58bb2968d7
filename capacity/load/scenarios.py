"""The scenario names users type, and the Locust user class that implements each one.

The same table is in locustfile.py (which must stay importable without the kit); a test keeps
the two equal.
"""

from __future__ import annotations

SCENARIO_CLASSES: dict[str, str] = {
    "db-read": "DbRead",
    "list": "List",
    "write": "Write",
    "stats": "Stats",
    "upstream": "Upstream",
    "cpu": "Cpu",
    "mixed": "Mixed",
}
SCENARIOS: tuple[str, ...] = tuple(SCENARIO_CLASSES)
# The default set covers each workload kind (read, write, aggregation, outbound I/O, CPU) once
# and fits the 10-minute budget of `make report` on a 2-core machine.
DEFAULT_SCENARIOS: tuple[str, ...] = ("db-read", "write", "stats", "upstream", "cpu")
QUICK_SCENARIOS: tuple[str, ...] = ("db-read",)
