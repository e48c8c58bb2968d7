"""Kubernetes resource quantities: parse CPU and memory once at the boundary, format them back.

Only Kubernetes notation is accepted, so a value that works here works in a manifest and the
reverse. Anything else raises ConfigError naming the value and the accepted forms. The pydantic
types at the end (`CpuQuantity`, `MemoryQuantity`, `CpuMillicores`, `MemoryBytes`) apply the same
parsers to a model's fields, so the plan, the stack settings and the catalog check alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import BeforeValidator

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


# ---- pydantic field types ----------------------------------------------------------------
# pydantic reports a ValueError at its field (with the value); the parsers' ConfigError would
# escape validation, so each validator below turns it into one with the same message.


def _given(value: object, kind: str) -> str | int | float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"a {kind} quantity is text or a number, not {type(value).__name__}")
    return value


def _parsed(value: str | int | float, parse: Callable[[str | int | float], int]) -> int:
    try:
        return parse(value)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


def field_cpu_millicores(value: object) -> int:
    """A field's CPU quantity in millicores; ValueError naming the value otherwise."""
    return _parsed(_given(value, "CPU"), parse_cpu_millicores)


def field_memory_bytes(value: object) -> int:
    """A field's memory quantity in bytes; ValueError naming the value otherwise."""
    return _parsed(_given(value, "memory"), parse_memory_bytes)


def cpu_text(value: object) -> str:
    """A valid CPU quantity as its text (a YAML number as its text); ValueError otherwise."""
    given = _given(value, "CPU")
    _parsed(given, parse_cpu_millicores)
    return _text(given)


def memory_text(value: object) -> str:
    """A valid memory quantity as its text (a YAML number as its text); ValueError otherwise."""
    given = _given(value, "memory")
    _parsed(given, parse_memory_bytes)
    return _text(given)


def _at_least(
    kind: str, parse: Callable[[str], int], show: Callable[[int], str], minimum: int, why: str
) -> Callable[[str], str]:
    def check(text: str) -> str:
        if parse(text) < minimum:
            reason = f": {why}" if why else ""
            raise ValueError(f"{kind} quantity {text!r} is below {show(minimum)}{reason}")
        return text

    return check


def cpu_at_least(millicores: int, why: str = "") -> Callable[[str], str]:
    """A check for AfterValidator: the CPU quantity is at least `millicores` (`why` says why)."""
    return _at_least("CPU", parse_cpu_millicores, format_cpu, millicores, why)


def memory_at_least(memory_bytes: int, why: str = "") -> Callable[[str], str]:
    """A check for AfterValidator: the memory quantity is at least `memory_bytes`."""
    return _at_least("memory", parse_memory_bytes, format_memory, memory_bytes, why)


def kubectl_cpu(text: str) -> str:
    """`0.5` -> `500m`: a checked CPU quantity in the notation `kubectl` prints."""
    return format_cpu(parse_cpu_millicores(text))


def kubectl_memory(text: str) -> str:
    """`536870912` -> `512Mi`: a checked memory quantity in the notation `kubectl` prints."""
    return format_memory(parse_memory_bytes(text))


# The quantity as written (checked); a field adds AfterValidator(cpu_at_least(...)) or
# AfterValidator(kubectl_cpu) as it needs.
CpuQuantity = Annotated[str, BeforeValidator(cpu_text)]
MemoryQuantity = Annotated[str, BeforeValidator(memory_text)]
# The quantity parsed: what the model computes with.
CpuMillicores = Annotated[int, BeforeValidator(field_cpu_millicores)]
MemoryBytes = Annotated[int, BeforeValidator(field_memory_bytes)]
