"""Rounding, in one place: tolerant ceil/floor for counts, and the steps sizes round up to.

Counts (pods, nodes) come from divisions of floats such as 1000 / (125 * 0.8), which is
10.000000000000002 in binary floating point; a plain ceil would buy an eleventh pod. The
tolerance is relative (1e-12 of the value), so a tiny positive load still needs one pod. The
same rule is part of the derivation language, so a reader recomputing a figure gets the same.
Right-sized requests round up to the steps below (capacity.model.rightsizing's formulas).
"""

from __future__ import annotations

import math

from capacity.quantity import MIB

RELATIVE_TOLERANCE = 1e-12
CPU_STEP_MILLICORES = 50
MEMORY_STEP_BYTES = 32 * MIB


def ceil(x: float) -> int:
    """Smallest integer >= x, treating x within 1e-12 * |x| of an integer as that integer."""
    return math.ceil(x - abs(x) * RELATIVE_TOLERANCE)


def floor(x: float) -> int:
    """Largest integer <= x, treating x within 1e-12 * |x| of an integer as that integer."""
    return math.floor(x + abs(x) * RELATIVE_TOLERANCE)
