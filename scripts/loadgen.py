"""The benchmarks' one load generator: a closed loop of raw HTTP/1.1 keep-alive connections.

N connections over asyncio streams, each sending its next request as soon as the previous
answer arrived (Content-Length or chunked bodies: TechEmpower's Django views answer chunked).
`measure` runs a warm-up, then counts answers and the server's own CPU time over a fixed
duration. Shared by the bench_*.py scripts beside it; the servers come from the target
package's public surface (capacity.target).
"""

from __future__ import annotations

import asyncio
import os
import platform
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import psutil

from capacity.target import ServiceHandle

WARMUP_S = 1.0


async def _connection(
    host: str, port: int, request: bytes, deadline: float, counts: Counter[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            counts[int(head[9:12])] += 1
            lower = head.lower()
            start = lower.find(b"content-length:")
            if start >= 0:
                end = lower.index(b"\r\n", start)
                await reader.readexactly(int(lower[start + 15 : end]))
            elif b"transfer-encoding: chunked" in lower:
                while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                    await reader.readexactly(size + 2)
                await reader.readuntil(b"\r\n")
            if b"connection: close" in lower:
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


async def _load(base_url: str, path: str, connections: int, duration_s: float) -> Counter[int]:
    host, port = base_url.removeprefix("http://").split(":")
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    counts: Counter[int] = Counter()
    deadline = time.monotonic() + duration_s
    await asyncio.gather(
        *(_connection(host, int(port), request, deadline, counts) for _ in range(connections))
    )
    return counts


def server_cpu_s(pid: int) -> float:
    """User + system CPU seconds of the server process and all its workers."""
    root = psutil.Process(pid)
    total = 0.0
    for proc in (root, *root.children(recursive=True)):
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def measure(
    service: ServiceHandle, path: str, connections: int, duration_s: float
) -> tuple[float, float, int]:
    """Requests/s and server CPU microseconds per request over `duration_s` (after a warm-up),
    and how many answers were not 200.

    CPU per request is the steadier figure on a shared machine: other tenants slow the server
    down (fewer requests/s) but barely change what each request costs it.
    """
    asyncio.run(_load(service.base_url, path, connections, WARMUP_S), loop_factory=loop_factory())
    cpu_before = server_cpu_s(service.process.pid)
    started = time.monotonic()
    counts = asyncio.run(
        _load(service.base_url, path, connections, duration_s), loop_factory=loop_factory()
    )
    elapsed = time.monotonic() - started
    cpu_s = server_cpu_s(service.process.pid) - cpu_before
    total = counts.total()
    return total / elapsed, cpu_s / total * 1e6, total - counts[200]


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    # uvloop when installed: the generator then needs less CPU per request than the servers.
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def pin_to(cpus: set[int]) -> Callable[[], None] | None:
    """A preexec_fn (or a call) pinning to `cpus`; None on a one-CPU machine."""
    if len(os.sched_getaffinity(0)) < 2:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, cpus)

    return pin


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, load average {load}"
    )
