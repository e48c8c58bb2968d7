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
# The headline is `mixed` (a realistic request mix, weights in locustfile.py), and the default
# measures it alone, in five rounds: with three scenarios (mixed, db-read, upstream) in two
# rounds the ratios of three runs spread 10-42% and the run took up to 10 min 43 s (docs/
# local-run.md); the same ten minutes spent on one scenario put five fresh processes per
# framework and more steps next to its knee. `--scenarios mixed,db-read,upstream` measures what
# explains it (the most common request, outbound I/O where async should shine) and the rest.
DEFAULT_SCENARIOS: tuple[str, ...] = ("mixed",)
QUICK_SCENARIOS: tuple[str, ...] = ("mixed",)
