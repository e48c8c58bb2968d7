"""A loopback port that reaches a pod's port through the API server (`kubectl port-forward`).

Each accepted local connection gets its own tunnel (`kubernetes.stream.portforward`, a WebSocket
to pods/<pod>/portforward), opened to whichever pod of the Service is ready at that moment. So a
tunnel that drops (API server restart, idle timeout, the pod rescheduled) costs only the
connection that was on it: the next request opens a new tunnel, and `Retrying` repeats the
request that was cut (every call the run makes through a forward is safe to repeat: Prometheus
queries are evaluated at a fixed time, and the Locust calls set absolute values).
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.stream import portforward

from capacity.errors import TargetError
from capacity.target.k8s.kubeapi import api_call
from capacity.target.k8s.retry import RetryingPrometheus, retrying
from capacity.target.k8s.scale import selector_string

__all__ = [
    "PortForward",
    "RetryingPrometheus",
    "pod_port",
    "ready_pod_and_port",
    "retrying",
]


def _ready(pod: Any) -> bool:
    conditions = (pod.status.conditions or []) if pod.status else []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def pod_port(svc: Any, pod: Any, service_port: int) -> int:
    """The pod port behind one of `svc`'s ports, as kube-proxy (and `kubectl port-forward
    svc/...`) resolves it: the targetPort - a number, or the name of a container port, looked up
    on this pod - and the port's own number when no targetPort is set. An existing Prometheus
    whose Service maps 80 to 9090 is thus reached on 9090."""
    ports = list(svc.spec.ports or [])
    for p in ports:
        if p.port != service_port:
            continue
        target = p.target_port
        if target is None or target == "":
            return service_port
        if isinstance(target, int) or str(target).isdigit():
            return int(target)
        for c in pod.spec.containers or []:
            for cp in c.ports or []:
                if cp.name == target:
                    return int(cp.container_port)
        raise TargetError(
            f"service {svc.metadata.name} port {service_port} targets the port named "
            f"{target!r}, which pod {pod.metadata.name} does not declare"
        )
    raise TargetError(
        f"service {svc.metadata.name} in namespace {svc.metadata.namespace} has no port "
        f"{service_port} (its ports: {', '.join(str(p.port) for p in ports) or 'none'}); check "
        "the URL's port"
    )


def ready_pod_and_port(
    api: client.ApiClient, namespace: str, service: str, service_port: int
) -> tuple[str, int]:
    """A ready pod behind `service` and the pod port its `service_port` leads to
    (port-forwards go to pods, as kubectl's do)."""
    core = client.CoreV1Api(api)
    svc: Any = api_call(
        f"get services/{service}",
        namespace,
        lambda: core.read_namespaced_service(service, namespace),
    )
    labels = selector_string(svc.spec.selector or {})
    pods: list[Any] = api_call(
        "list pods",
        namespace,
        lambda: core.list_namespaced_pod(namespace, label_selector=labels),
    ).items
    for p in pods:
        if _ready(p):
            return str(p.metadata.name), pod_port(svc, p, service_port)
    raise TargetError(
        f"service {service} in namespace {namespace} has no ready pod to port-forward to "
        f"({len(pods)} pod(s) match {labels})"
    )


class PortForward:
    """127.0.0.1:<local_port> -> <pod of service>:<the pod port behind service_port>; a context
    manager. `remote_port` is that pod port, resolved from the Service's targetPort per pod."""

    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        service: str,
        service_port: int,
        *,
        pod_of: Callable[[], tuple[str, int]] | None = None,
    ) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.namespace = namespace
        self.service = service
        self.service_port = service_port
        self.remote_port = service_port  # until the first pod is resolved
        self._pod_of = pod_of or (lambda: ready_pod_and_port(api, namespace, service, service_port))
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()  # accepted, not yet closed
        self.tunnels_opened = 0
        self.last_error: str | None = None

    @property
    def local_port(self) -> int:
        assert self._listener is not None
        return int(self._listener.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}"

    def __enter__(self) -> PortForward:
        pod, self.remote_port = self._pod_of()  # fails here, before any load, if none is ready
        self._probe(pod, self.remote_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        accept = threading.Thread(
            target=self._accept_loop,
            daemon=True,
            name=f"port-forward {self.service}:{self.remote_port}",
        )
        accept.start()
        self._threads.append(accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop at once: shutting the sockets down wakes the threads blocked on them (a
        close alone leaves accept() and select() to their timeouts, up to 0.5 s a tunnel)."""
        self._stop.set()
        for sock in [self._listener, *list(self._conns)]:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
        for t in self._threads:
            t.join(timeout=2)

    def _open(self, pod: str, port: int) -> Any:
        return api_call(
            f"create pods/{pod}/portforward",
            self.namespace,
            lambda: portforward(
                self.core.connect_get_namespaced_pod_portforward,
                pod,
                self.namespace,
                ports=str(port),
            ),
        )

    def _probe(self, pod: str, port: int) -> None:
        """Open and close one tunnel, so RBAC or a missing pod is reported up front."""
        try:
            tunnel = self._open(pod, port)
        except TargetError:
            raise
        except Exception as e:  # websocket handshake errors carry the API's status
            raise TargetError(
                f"port-forward to pod {pod} port {port} (service {self.service} port "
                f"{self.service_port}) in namespace {self.namespace} failed: {e}"
            ) from e
        tunnel.close()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads = [x for x in self._threads if x.is_alive()] + [t]

    def _serve(self, conn: socket.socket) -> None:
        self._conns.add(conn)
        try:
            self._forward(conn)
        finally:
            self._conns.discard(conn)

    def _forward(self, conn: socket.socket) -> None:
        try:
            pod, port = self._pod_of()
            tunnel = self._open(pod, port)
            self.tunnels_opened += 1
        except Exception as e:
            self.last_error = str(e)
            conn.close()
            return
        remote = tunnel.socket(port)
        remote.setblocking(True)
        try:
            _pump(conn, remote, self._stop)
        finally:
            with contextlib.suppress(OSError):
                conn.close()
            with contextlib.suppress(Exception):
                tunnel.close()


def _pump(a: socket.socket, b: Any, stop: threading.Event) -> None:
    """Copy bytes both ways until either side closes."""
    while not stop.is_set():
        readable, _, _ = select.select([a, b], [], [], 0.5)
        for src in readable:
            dst = b if src is a else a
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                return
            try:
                dst.sendall(data)
            except OSError:
                return
