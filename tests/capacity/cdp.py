"""Open a page in headless Chromium over the DevTools protocol and collect what went wrong.

Console errors (console.error, failed resource loads, CSP violations) arrive as Log.entryAdded
or Runtime.consoleAPICalled events, uncaught exceptions as Runtime.exceptionThrown; the page's
images are inspected after the load event.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]


@dataclass
class PageCheck:
    errors: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""


def _devtools_port(proc: subprocess.Popen[str], deadline: float) -> int:
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"chromium exited with {proc.returncode} before DevTools started"
                )
            continue
        match = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
        if match:
            return int(match.group(1))
    raise TimeoutError("chromium did not start DevTools in time")


def check_page(chromium: str, page: Path, timeout_s: float = 40.0) -> PageCheck:
    deadline = time.monotonic() + timeout_s
    result = PageCheck()
    # Chromium's helper processes may still be writing the profile as it is removed.
    with tempfile.TemporaryDirectory(prefix="fwcap-chromium-", ignore_cleanup_errors=True) as root:
        profile, tmp = Path(root, "profile"), Path(root, "tmp")
        tmp.mkdir()
        proc = subprocess.Popen(
            [chromium, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            # Chromium puts its singleton socket in $TMPDIR/org.chromium.Chromium.*, which it
            # does not remove when stopped; inside this directory it goes with the profile.
            env={**os.environ, "TMPDIR": str(tmp)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # so stopping it stops its zygote and renderers too
        )
        try:
            port = _devtools_port(proc, deadline)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                targets = json.load(r)
            ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
            with connect(ws_url, max_size=None, open_timeout=10) as ws:
                ids = iter(range(1, 1_000_000))

                def send(method: str, **params: Any) -> int:
                    message_id = next(ids)
                    ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
                    return message_id

                def wait_for(predicate: Any) -> dict[str, Any]:
                    while True:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            raise TimeoutError("page did not finish in time")
                        message = json.loads(ws.recv(timeout=remaining))
                        _collect(message, result)
                        if predicate(message):
                            return message

                for method in ("Runtime.enable", "Log.enable", "Page.enable"):
                    sent = send(method)
                    wait_for(lambda m, sent=sent: m.get("id") == sent)
                send("Page.navigate", url=page.resolve().as_uri())
                wait_for(lambda m: m.get("method") == "Page.loadEventFired")
                sent = send(
                    "Runtime.evaluate",
                    expression="JSON.stringify({title: document.title, images: Array.from("
                    "document.images).map(i => ({src: i.src.slice(0, 40), complete: i.complete,"
                    " width: i.naturalWidth, height: i.naturalHeight}))})",
                    returnByValue=True,
                )
                answer = wait_for(lambda m: m.get("id") == sent)
                page_state = json.loads(answer["result"]["result"]["value"])
                result.images, result.title = page_state["images"], page_state["title"]
                # late errors (timers, lazy images) get a short grace period
                grace = time.monotonic() + 0.5
                while time.monotonic() < grace:
                    try:
                        _collect(json.loads(ws.recv(timeout=grace - time.monotonic())), result)
                    except TimeoutError:
                        break
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    return result


def _collect(message: dict[str, Any], result: PageCheck) -> None:
    method, params = message.get("method"), message.get("params", {})
    if method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        text = details.get("exception", {}).get("description") or details.get("text", "")
        result.errors.append(f"exception: {text}")
    elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        args = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
        result.errors.append(f"console.{params['type']}: {args}")
    elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
        entry = params["entry"]
        result.errors.append(f"log: {entry.get('text', '')} {entry.get('url', '')}".strip())
