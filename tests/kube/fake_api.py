"""A small in-process Kubernetes API server for the cluster target's tests.

It speaks the real wire format to the real `kubernetes` client: JSON objects (each one checked
against the Kubernetes OpenAPI schema with kubernetes-validate when it is stored), list objects,
`Status` errors with the API's codes and reasons, JSON merge patches, label selectors, and the
port-forward WebSocket (subprotocol v4.channel.k8s.io: per port a data and an error channel,
each opened with a little-endian port frame) relayed to a real loopback server. A tiny
"controller" turns a Deployment's replicas into Pods and status, as the ReplicaSet controller
and the kubelet would; tests switch on the failure paths: RBAC refusals, pods that never become
ready, port-forwards that drop mid-request.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import select
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import kubernetes_validate

K8S_VERSION = "1.31.0"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# resource plural -> (API path prefix, kind, apiVersion, namespaced)
RESOURCES = {
    "deployments": ("/apis/apps/v1", "Deployment", "apps/v1", True),
    "horizontalpodautoscalers": (
        "/apis/autoscaling/v2",
        "HorizontalPodAutoscaler",
        "autoscaling/v2",
        True,
    ),
    "pods": ("/api/v1", "Pod", "v1", True),
    "services": ("/api/v1", "Service", "v1", True),
    "nodes": ("/api/v1", "Node", "v1", False),
    "secrets": ("/api/v1", "Secret", "v1", True),
}
_PATH = re.compile(
    r"^(?P<prefix>/apis?(?:/[a-z.]+)?/v[0-9a-z]+)"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[a-z]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[a-z]+))?$"
)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (the API applies strategic merge like this for plain fields)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def selects(selector: str | None, labels: dict[str, str]) -> bool:
    for term in filter(None, (selector or "").split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


# How often a serving loop checks for shutdown(): serve_forever's default of 0.5 s made every
# test that stops a server wait up to that long for it.
SHUTDOWN_POLL_S = 0.02


class FakeKube:
    """State plus an HTTP server on 127.0.0.1; use as a context manager."""

    def __init__(self) -> None:
        self.store: dict[str, dict[tuple[str, str], dict[str, Any]]] = {r: {} for r in RESOURCES}
        self.forbidden: set[tuple[str, str]] = set()  # (verb, plural): answered 403
        self.never_ready: set[str] = set()  # deployments whose pods stay ImagePullBackOff
        self.backends: dict[tuple[str, int], tuple[str, int]] = {}  # (pod, port) -> real addr
        self.drop_forwards = 0  # the next N port-forward sessions drop after the first request
        self.forward_sessions = 0
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.RLock()
        self._rv = 1000
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_S}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeKube:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def write_kubeconfig(self, path: Path, context: str = "fake") -> Path:
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": context,
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "tester", "user": {"token": "fake-token"}}],
                    "contexts": [
                        {"name": context, "context": {"cluster": "fake", "user": "tester"}}
                    ],
                }
            )
        )
        return path

    # -- objects ---------------------------------------------------------------------------

    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store an object after checking it against the API's published schema."""
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        plural = next(p for p, (_, kind, _, _) in RESOURCES.items() if kind == obj["kind"])
        meta = obj["metadata"]
        with self.lock:
            self._rv += 1
            meta.setdefault("resourceVersion", str(self._rv))
            meta.setdefault("uid", f"uid-{self._rv}")
            self.store[plural][(meta.get("namespace", ""), meta["name"])] = obj
            if obj["kind"] == "Deployment":
                meta.setdefault("generation", 1)
                self._reconcile(obj)
        return obj

    def get(self, plural: str, name: str, namespace: str = "") -> dict[str, Any]:
        return self.store[plural][(namespace, name)]

    def _reconcile(self, d: dict[str, Any]) -> None:
        """What the ReplicaSet controller and kubelets would do for a Deployment."""
        ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
        want = d["spec"].get("replicas", 1)
        labels = d["spec"]["selector"]["matchLabels"]
        mine = sorted(  # by name, which embeds a rising number: a scale-down drops the newest
            k
            for k, p in self.store["pods"].items()
            if k[0] == ns
            and selects(
                ",".join(f"{a}={b}" for a, b in labels.items()), p["metadata"].get("labels", {})
            )
        )
        for key in mine[want:]:
            del self.store["pods"][key]
        ready = name not in self.never_ready
        for i in range(len(mine), want):
            self.add(
                pod(
                    f"{name}-{self._rv}-{i}",
                    ns,
                    labels,
                    ready=ready,
                    owner=("ReplicaSet", f"{name}-rs"),
                    containers=d["spec"]["template"]["spec"]["containers"],
                )
            )
        owned = [
            p
            for (ons, _), p in self.store["pods"].items()
            if ons == ns and p["metadata"]["ownerReferences"][0]["name"] == f"{name}-rs"
        ]
        n_ready = sum(p["status"]["conditions"][0]["status"] == "True" for p in owned)
        d["status"] = {
            "observedGeneration": d["metadata"]["generation"],
            "replicas": want,
            "updatedReplicas": want,
            "readyReplicas": n_ready,
            "availableReplicas": n_ready,
        }
        if not n_ready:
            d["status"].pop("readyReplicas")  # the API omits zero counts

    # -- HTTP ------------------------------------------------------------------------------

    def handle(
        self, verb: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        m = _PATH.match(path)
        if m is None or m["plural"] not in RESOURCES:
            return 404, status_body(404, "NotFound", f"the server could not find {path}")
        plural, ns, name = m["plural"], m["ns"] or "", m["name"]
        prefix, kind, api_version, _namespaced = RESOURCES[plural]
        action = {"GET": "list" if name is None else "get", "PATCH": "patch"}.get(verb, verb)
        self.requests.append((action, plural + (f"/{name}" if name else "")))
        if (action, plural) in self.forbidden:
            user = "system:serviceaccount:default:tester"
            return 403, status_body(
                403,
                "Forbidden",
                f'{plural} is forbidden: User "{user}" cannot {action} resource "{plural}" '
                f'in API group "{prefix.split("/")[2] if prefix.startswith("/apis") else ""}"'
                + (f' in the namespace "{ns}"' if ns else ""),
            )
        with self.lock:
            if action == "list":
                selector = (query.get("labelSelector") or [""])[0]
                items = [
                    o
                    for (ons, _), o in self.store[plural].items()
                    if (not ns or ons == ns) and selects(selector, o["metadata"].get("labels", {}))
                ]
                return 200, {
                    "kind": f"{kind}List",
                    "apiVersion": api_version,
                    "metadata": {"resourceVersion": str(self._rv)},
                    "items": items,
                }
            obj = self.store[plural].get((ns, name or ""))
            if obj is None:
                return 404, status_body(404, "NotFound", f'{plural} "{name}" not found')
            if action == "get":
                return 200, obj
            if action == "patch":
                patched = merge_patch(obj, body)
                if kind == "Deployment" and patched["spec"] != obj["spec"]:
                    patched["metadata"]["generation"] = obj["metadata"]["generation"] + 1
                patched["metadata"].pop("resourceVersion", None)
                return 200, self.add(patched)
        return 405, status_body(405, "MethodNotAllowed", f"{verb} not supported here")


def _handler(kube: FakeKube) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, the body waited for the
        # client's delayed ACK of the headers: 40 ms on every API call.
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, code: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if (
                url.path.endswith("/portforward")
                and self.headers.get("Upgrade", "").lower() == "websocket"
            ):
                self._portforward(url.path, parse_qs(url.query))
                return
            self._answer(*kube.handle("GET", url.path, parse_qs(url.query), None))

        def do_PATCH(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"null")
            if self.headers.get("Content-Type", "").startswith("application/json-patch"):
                self._answer(415, status_body(415, "UnsupportedMediaType", "json-patch unused"))
                return
            self._answer(*kube.handle("PATCH", url.path, parse_qs(url.query), body))

        # -- port-forward over WebSocket --------------------------------------------------

        def _portforward(self, path: str, query: dict[str, list[str]]) -> None:
            parts = path.split("/")  # /api/v1/namespaces/<ns>/pods/<name>/portforward
            pod_name, port = parts[6], int((query.get("ports") or ["0"])[0])
            kube.requests.append(("portforward", f"pods/{pod_name}:{port}"))
            if ("create", "pods/portforward") in kube.forbidden:
                self._answer(403, status_body(403, "Forbidden", "pods/portforward is forbidden"))
                return
            backend = kube.backends.get((pod_name, port))
            if backend is None:
                self._answer(404, status_body(404, "NotFound", f'pods "{pod_name}" not found'))
                return
            # whether this session drops is settled before the handshake is answered: the
            # client may set `drop_forwards` as soon as it has the 101 (an earlier, probing
            # session must not take the drop meant for the next one)
            with kube.lock:
                kube.forward_sessions += 1
                drop = kube.drop_forwards > 0
                kube.drop_forwards -= int(drop)
            key = self.headers["Sec-WebSocket-Key"]
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
            self.send_response(101, "Switching Protocols")
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.send_header("Sec-WebSocket-Protocol", "v4.channel.k8s.io")
            self.end_headers()
            self.wfile.flush()
            ws = self.connection
            port_bytes = struct.pack("<H", port)
            _send(ws, b"\x00" + port_bytes)
            _send(ws, b"\x01" + port_bytes)
            upstream = socket.create_connection(backend)
            try:
                self._relay(ws, upstream, drop)
            finally:
                upstream.close()
                self.close_connection = True

        def _relay(self, ws: socket.socket, upstream: socket.socket, drop: bool) -> None:
            buffered = b""
            while True:
                readable, _, _ = select.select([ws, upstream], [], [], 30)
                if not readable:
                    return
                if ws in readable:
                    chunk = ws.recv(65536)
                    if not chunk:
                        return
                    buffered += chunk
                    while True:
                        frame = _parse(buffered)
                        if frame is None:
                            break
                        opcode, payload, used = frame
                        buffered = buffered[used:]
                        if opcode == 0x8:
                            return
                        if opcode == 0x2 and payload[:1] == b"\x00":
                            if drop:  # the connection breaks as a real tunnel can
                                ws.shutdown(socket.SHUT_RDWR)
                                return
                            upstream.sendall(payload[1:])
                if upstream in readable:
                    data = upstream.recv(65536)
                    if not data:
                        _send(ws, b"", opcode=0x8)
                        return
                    _send(ws, b"\x00" + data)

    return Handler


def _send(sock: socket.socket, payload: bytes, opcode: int = 0x2) -> None:
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    sock.sendall(header + payload)


def _parse(buf: bytes) -> tuple[int, bytes, int] | None:
    """One client frame (masked, as RFC 6455 requires): opcode, payload, bytes used."""
    if len(buf) < 2:
        return None
    opcode, length, pos = buf[0] & 0x0F, buf[1] & 0x7F, 2
    if length == 126:
        if len(buf) < 4:
            return None
        length, pos = struct.unpack("!H", buf[2:4])[0], 4
    elif length == 127:
        if len(buf) < 10:
            return None
        length, pos = struct.unpack("!Q", buf[2:10])[0], 10
    mask = b""
    if buf[1] & 0x80:
        mask, pos = buf[pos : pos + 4], pos + 4
    if len(buf) < pos + length:
        return None
    data = buf[pos : pos + length]
    if mask:
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return opcode, data, pos + length


# -- object builders (every one passes kubernetes-validate in FakeKube.add) -----------------


def deployment(
    name: str,
    ns: str,
    labels: dict[str, str],
    replicas: int,
    cpu: str = "500m",
    memory: str = "512Mi",
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "containers": [
                        {
                            "name": labels.get("app.kubernetes.io/name", name),
                            "image": "fwcap/x:1",
                            "ports": [{"name": "http", "containerPort": 8000}],
                            "resources": {
                                "requests": {"cpu": cpu, "memory": memory},
                                "limits": {"cpu": cpu, "memory": memory},
                            },
                        }
                    ]
                },
            },
        },
    }


def hpa(name: str, ns: str, target: str, min_replicas: int, max_replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }


def pod(
    name: str,
    ns: str,
    labels: dict[str, str],
    *,
    ready: bool = True,
    owner: tuple[str, str] = ("ReplicaSet", "rs"),
    node: str = "node-a",
    containers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    containers = containers or [{"name": "c", "image": "x:1"}]
    statuses = [
        {
            "name": c["name"],
            "image": c["image"],
            "imageID": "",
            "ready": ready,
            "restartCount": 0,
            "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
            if ready
            else {
                "waiting": {
                    "reason": "ImagePullBackOff",
                    "message": f'Back-off pulling image "{c["image"]}"',
                }
            },
        }
        for c in containers
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": dict(labels),
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": owner[0],
                    "name": owner[1],
                    "uid": f"uid-{owner[1]}",
                }
            ],
        },
        "spec": {"nodeName": node, "containers": copy.deepcopy(containers)},
        "status": {
            "phase": "Running" if ready else "Pending",
            "podIP": f"10.244.0.{sum(map(ord, name)) % 250 + 2}",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": statuses,
        },
    }


def node(
    name: str,
    *,
    cpu: str,
    memory: str,
    alloc_cpu: str,
    alloc_memory: str,
    pods: int,
    instance_type: str | None,
    zone: str | None,
    unschedulable: bool = False,
) -> dict[str, Any]:
    labels = {"kubernetes.io/hostname": name}
    if instance_type:
        labels["node.kubernetes.io/instance-type"] = instance_type
    if zone:
        labels["topology.kubernetes.io/zone"] = zone
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"unschedulable": unschedulable},
        "status": {
            "capacity": {"cpu": cpu, "memory": memory, "pods": str(pods)},
            "allocatable": {"cpu": alloc_cpu, "memory": alloc_memory, "pods": str(pods)},
        },
    }


def service(name: str, ns: str, selector: dict[str, str], port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": dict(selector), "ports": [{"name": "web", "port": port}]},
    }
