"""`python -m asgi_server.serve APP --host H --port P --workers N [--no-lifespan]`: uvicorn with
the bounded HTTP protocol, for every service uvicorn serves (FastAPI, and Django's async variant).

Both launchers exec this rather than `python -m uvicorn`, whose `--http` option only takes the
names of uvicorn's built-in protocols. Everything else is uvicorn's own `run()`, with one change
to its multi-process supervisor: at SIGTERM it closes its copy of the listening socket at once.
uvicorn's supervisor keeps it open until its workers have drained and exited, so the kernel
goes on completing connections into a backlog nobody accepts from any more, and resets them at
exit; closed, a connection made during the drain is refused, which a client (or a load
balancer) retries elsewhere. Each worker closes its own copy as it starts draining.

The last close still resets whatever sits in the backlog at that instant: a client that keeps
connecting through the shutdown met about three resets per SIGTERM. So before any copy closes,
the listening socket stops taking new handshakes (a socket filter that drops every packet; the
client's SYN retry then finds the port closed: refused), and the workers get a moment to accept
and serve what is already queued.

The package sits next to the services in the source tree (services/asgi_server/) and inside each
image that runs uvicorn (deploy/service.py stages it into their build contexts).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import socket
import struct
import sys
import time

import uvicorn
from uvicorn.supervisors import Multiprocess

GRACEFUL_SHUTDOWN_S = 20
BACKLOG_DRAIN_S = 0.1  # at least this long for the workers to accept what is queued, and
BACKLOG_DRAIN_MAX_S = 2.0  # until the accept queue is empty, at most this long: with both cores
# busy (a CI runner) a worker did not run within 0.1 s, and one connection left queued was reset
# when the last copy closed (1 in 3,599, 2026-12-08)
TCPI_UNACKED_OFFSET = 24  # struct tcp_info: 8 bytes of u8 fields, then rto, ato, snd_mss,
# rcv_mss, unacked; on a LISTEN socket Linux reports its current accept queue there
TCP_INFO_BYTES = 104  # enough of struct tcp_info for that field

SO_ATTACH_FILTER = 26  # Linux, <asm-generic/socket.h>; elsewhere the setsockopt fails, harmless
DROP_EVERY_PACKET = struct.pack("HBBI", 0x06, 0, 0, 0)  # classic BPF: BPF_RET | BPF_K, keep 0


def refuse_new_handshakes(sock: socket.socket | asyncio.trsock.TransportSocket) -> None:
    """From now on the listening socket drops every packet: no new connection completes into
    its backlog, while what is already queued can still be accepted."""
    program = ctypes.create_string_buffer(DROP_EVERY_PACKET)
    sock_fprog = struct.pack("HL", 1, ctypes.addressof(program))  # {length, pointer}
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, sock_fprog)


def queued(sock: socket.socket | asyncio.trsock.TransportSocket) -> int:
    """Connections in the listening socket's accept queue (0 where TCP_INFO cannot tell)."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_BYTES)
    except (OSError, AttributeError):
        return 0
    if len(info) < TCPI_UNACKED_OFFSET + 4:
        return 0
    return int(struct.unpack_from("I", info, TCPI_UNACKED_OFFSET)[0])


def backlog_left(socks: list[socket.socket] | list[asyncio.trsock.TransportSocket]) -> bool:
    return any(queued(sock) for sock in socks)


class DrainingMultiprocess(Multiprocess):
    def handle_term(self) -> None:
        self._stop_listening()
        super().handle_term()

    def handle_int(self) -> None:
        self._stop_listening()
        super().handle_int()

    def _stop_listening(self) -> None:
        # The workers share this socket and still accept from it until they are signalled.
        for sock in self.sockets:
            refuse_new_handshakes(sock)
        time.sleep(BACKLOG_DRAIN_S)
        deadline = time.monotonic() + BACKLOG_DRAIN_MAX_S
        while backlog_left(self.sockets) and time.monotonic() < deadline:
            time.sleep(0.02)
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()


class DrainingServer(uvicorn.Server):
    """One process serving alone: the same order at its own shutdown."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        socks = [sock for server in self.servers for sock in server.sockets]
        for sock in socks:
            refuse_new_handshakes(sock)
        await asyncio.sleep(BACKLOG_DRAIN_S)  # the loop accepts and serves what is queued
        deadline = time.monotonic() + BACKLOG_DRAIN_MAX_S
        while backlog_left(socks) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await super().shutdown(sockets)


def config(
    app: str, host: str, port: int, workers: int, lifespan: bool = True, stock_http: bool = False
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        # httptools' C parser, with the request-read limits uvicorn lacks (http_limits.py);
        # uvicorn's stock one only for the layers benchmark (FWCAP_BENCH_WITHOUT=httpprotocol).
        http="httptools" if stock_http else "asgi_server.http_limits:BoundedHttpToolsProtocol",
        # Django has no lifespan protocol: "off" rather than uvicorn probing it at every start.
        lifespan="auto" if lifespan else "off",
        access_log=False,
        # Short keep-alive: long enough for a client's next request, short enough that idle
        # connections behind a load balancer do not pile up.
        timeout_keep_alive=5,
        # SIGTERM: stop listening, finish what is in flight for at most this long, then exit.
        # Unset, uvicorn waits for open connections without end, until the kubelet's SIGKILL at
        # terminationGracePeriodSeconds cuts every request at once. The same 20 s as gunicorn's
        # graceful_timeout (services/django/gunicorn.conf.py); the chart's grace period covers it
        # plus its preStop delay (charts/fwcap-service/values.yaml, `shutdown`).
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m asgi_server.serve")
    parser.add_argument("app", help="the ASGI application, module:attribute")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--no-lifespan", action="store_true")
    args = parser.parse_args()
    # FWCAP_BENCH_WITHOUT=httpprotocol: uvicorn's stock protocol, for the layers benchmark only
    # (each service's own configuration validates the list).
    without = {name.strip() for name in os.environ.get("FWCAP_BENCH_WITHOUT", "").split(",")}
    cfg = config(
        args.app, args.host, args.port, args.workers, lifespan=not args.no_lifespan,
        stock_http="httpprotocol" in without,
    )  # fmt: skip
    if cfg.workers > 1:  # what uvicorn.run() does, with the draining supervisor
        DrainingMultiprocess(cfg, sockets=[cfg.bind_socket()]).run()
    else:
        server = DrainingServer(cfg)
        server.run()  # closes its listening socket itself at SIGTERM
        if not server.started:
            sys.exit(3)  # uvicorn's STARTUP_FAILURE, as uvicorn.run() exits


if __name__ == "__main__":
    main()
