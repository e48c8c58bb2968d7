"""The kit's one root exception; every message names the bad value and how to fix it.

KitError                      the root: the CLI prints its message and exits non-zero
├── ConfigError               bad user input (options, plan/stack files, quantities)
├── MeasurementsError         an empty, corrupt or future-version measurements file
├── TargetError               a target could not start or lost a pod mid-run
└── ReportError               the report could not be written

Each class carries the exit code the `capacity` command ends with when it escapes a command
(capacity/commands/common.py applies the rule, `capacity --help` lists it): 2 for input the user
can correct and rerun, 1 for anything else the kit reports.
"""

from __future__ import annotations


class KitError(Exception):
    """Root of the kit's own failures."""

    exit_code: int = 1


class ConfigError(KitError):
    """Bad user input: names the value and what would be accepted."""

    exit_code = 2


class MeasurementsError(KitError):
    """A measurements file cannot be read as what the model needs."""

    exit_code = 2


class TargetError(KitError):
    """A target (local processes or a cluster) failed to start or lost a pod."""

    exit_code = 1


class ReportError(KitError):
    """A report could not be written."""

    exit_code = 1
