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
# The headline is `mixed` (a realistic request mix, weights in locustfile.py); db-read and
# upstream explain it (the most common request, and outbound I/O, where async should shine).
# Three scenarios x two frameworks fit the 10-minute budget of `make report` on 2 cores with
# full-length steps; `--scenarios` measures the rest (write, stats, list, cpu).
DEFAULT_SCENARIOS: tuple[str, ...] = ("mixed", "db-read", "upstream")
QUICK_SCENARIOS: tuple[str, ...] = ("mixed",)
