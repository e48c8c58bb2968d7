"""The kit's one root exception; every message names the bad value and how to fix it.

KitError                      the root: the CLI prints its message and exits non-zero
├── ConfigError               bad user input (options, plan/stack files, quantities)
├── MeasurementsError         an empty, corrupt or future-version measurements file
├── TargetError               a target could not start or lost a pod mid-run
└── ReportError               the report could not be written
"""

from __future__ import annotations


class KitError(Exception):
    """Root of the kit's own failures."""


class ConfigError(KitError):
    """Bad user input: names the value and what would be accepted."""


class MeasurementsError(KitError):
    """A measurements file cannot be read as what the model needs."""


class TargetError(KitError):
    """A target (local processes or a cluster) failed to start or lost a pod."""


class ReportError(KitError):
    """A report could not be written."""
