"""Kubernetes resource quantities: parse CPU and memory once at the boundary, format them back.

Only Kubernetes notation is accepted, so a value that works here works in a manifest and the
reverse. Anything else raises ConfigError naming the value and the accepted forms.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

from capacity.errors import ConfigError

CPU_FORMS = "millicores like 500m, or cores like 0.5, 1, 2"
MEMORY_FORMS = (
    "bytes like 536870912 or 1e9, binary suffixes Ki Mi Gi Ti Pi Ei (512Mi, 1Gi), "
    "or decimal suffixes k M G T P E (1G)"
)

_CPU_MILLI = re.compile(r"^(\d+)m$")
_CPU_CORES = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)$")
_MEMORY = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E))?$")

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}

MIB = 2**20
GIB = 2**30


def _text(value: str | int | float) -> str:
    # YAML hands us numbers for `cpu: 1` or `memory: 536870912`; treat them as their text.
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return repr(value)
    return value


def parse_cpu_millicores(value: str | int | float) -> int:
    """`500m` -> 500, `0.5` -> 500, `2` -> 2000. Finer than 1m is rejected, not rounded."""
    text = _text(value)
    stripped = text.strip()
    milli = _CPU_MILLI.match(stripped)
    if milli:
        return int(milli.group(1))
    if _CPU_CORES.match(stripped):
        millicores = Decimal(stripped) * 1000
        if millicores != millicores.to_integral_value():
            raise ConfigError(
                f"CPU quantity {text!r} is finer than 1m (one millicore); accepted: {CPU_FORMS}"
            )
        return int(millicores)
    hint = ""
    if stripped.lower().endswith(("mi", "gi", "ki")) or stripped.endswith(("M", "G")):
        hint = " (that looks like a memory quantity)"
    raise ConfigError(f"CPU quantity {text!r} is not valid{hint}; accepted: {CPU_FORMS}")


def parse_memory_bytes(value: str | int | float) -> int:
    """`512Mi` -> 536870912, `1G` -> 10**9, `1e9` -> 10**9. Fractional bytes round up."""
    text = _text(value)
    stripped = text.strip()
    match = _MEMORY.match(stripped)
    if not match:
        hint = ""
        if stripped.endswith("m"):
            hint = (
                f" (`m` means milli, i.e. thousandths of a byte; did you mean {stripped[:-1]}Mi?)"
            )
        elif stripped.upper().endswith(("MB", "GB", "KB", "TB")) or " " in stripped:
            hint = " (write 512Mi or 512M, without B and without spaces)"
        raise ConfigError(f"memory quantity {text!r} is not valid{hint}; accepted: {MEMORY_FORMS}")
    number, exponent, suffix = match.groups()
    try:
        amount = Decimal(number)
        if exponent:
            amount = amount.scaleb(int(exponent[1:]))
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid decimals
        raise ConfigError(
            f"memory quantity {text!r} is not valid; accepted: {MEMORY_FORMS}"
        ) from exc
    if suffix:
        amount *= _BINARY.get(suffix) or _DECIMAL[suffix]
    return math.ceil(amount)


def format_cpu(millicores: int) -> str:
    """2000 -> `2`, 500 -> `500m`: whole cores without a suffix, as `kubectl` prints them."""
    if millicores % 1000 == 0:
        return str(millicores // 1000)
    return f"{millicores}m"


def format_memory(memory_bytes: int) -> str:
    """536870912 -> `512Mi`: the largest binary suffix that divides the value exactly."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = _BINARY[suffix]
        if memory_bytes and memory_bytes % unit == 0:
            return f"{memory_bytes // unit}{suffix}"
    return str(memory_bytes)


def human_bytes(memory_bytes: float) -> str:
    """For people, not manifests: 3.79 GiB, 442 MiB."""
    if abs(memory_bytes) >= GIB:
        return f"{memory_bytes / GIB:.2f} GiB"
    return f"{memory_bytes / MIB:.0f} MiB"
