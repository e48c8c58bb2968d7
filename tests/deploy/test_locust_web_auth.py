"""Acceptance: the in-cluster Locust master's web API requires auth. A real Locust master runs on
loopback with the kit's locustfile and the plugin the program ships next to it
(deploy/locust_plugins/web_auth.py), started with the exact flags deploy/specs/locust.py gives the
pod (but bound to 127.0.0.1)."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from capacity.errors import TargetError
from capacity.load.driver import LocustMaster
from capacity.target.process import free_port
from deploy.files import LOCUST_WEB_AUTH_PLUGIN
from deploy.specs.locust import PASSWORD_ENV, USER_ENV, master_args
from tests.deploy.harness import ROOT

PLUGIN = ROOT / LOCUST_WEB_AUTH_PLUGIN
LOCUSTFILE = ROOT / "capacity/load/locustfile.py"
USER, PASSWORD = "fwcap", "s3cret-for-the-test"


def _pod_args_on_loopback(web_port: int, master_port: int) -> list[str]:
    """deploy/specs/locust.py's master arguments, with file paths and addresses for this machine."""
    args = master_args()
    args[args.index("-f") + 1] = f"{LOCUSTFILE},{PLUGIN}"
    for flag, value in (
        ("--web-host", "127.0.0.1"),
        ("--web-port", str(web_port)),
        ("--master-bind-host", "127.0.0.1"),
        ("--master-bind-port", str(master_port)),
    ):
        args[args.index(flag) + 1] = value
    return args


def _start(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    web_port, master_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "locust", *_pod_args_on_loopback(web_port, master_port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, stopped as a whole below
    )
    return process, f"http://127.0.0.1:{web_port}"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_listening(process: subprocess.Popen[bytes], url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            pytest.fail(f"the Locust master exited with {process.returncode}: {stderr[-2000:]}")
        try:
            httpx.get(url + "/export/prometheus", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.3)
    pytest.fail(f"the Locust master did not listen on {url} within {timeout_s} s")


@pytest.fixture(scope="module")
def master() -> Iterator[str]:
    process, url = _start({USER_ENV: USER, PASSWORD_ENV: PASSWORD})
    try:
        _wait_listening(process, url)
        yield url
    finally:
        _stop(process)


@pytest.mark.live  # a real Locust master
@pytest.mark.parametrize("path", ["/", "/stats/requests", "/swarm"])
def test_the_web_ui_and_api_refuse_requests_without_credentials(master: str, path: str) -> None:
    method = "POST" if path == "/swarm" else "GET"
    data = {"user_count": "1", "spawn_rate": "1", "host": "http://127.0.0.1:9"}
    for auth in (None, (USER, "wrong"), ("someone", PASSWORD)):
        response = httpx.request(method, master + path, auth=auth, data=data, timeout=5)
        assert response.status_code == 401, (path, auth)
        assert response.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.live  # a real Locust master
def test_the_right_credentials_open_the_api(master: str) -> None:
    """Positive control: the same requests pass with the Secret's user and password."""
    response = httpx.get(master + "/stats/requests", auth=(USER, PASSWORD), timeout=5)
    assert response.status_code == 200
    assert "stats" in response.json()


@pytest.mark.live  # a real Locust master
def test_the_kits_driver_opens_the_api_with_the_stacks_credentials(master: str) -> None:
    """`capacity report --stack` drives this master through capacity.load.driver.LocustMaster
    with the stack's locustWebUser/locustWebPassword outputs; without them it is refused."""
    with_auth = LocustMaster(master, auth=(USER, PASSWORD))
    without = LocustMaster(master)
    try:
        assert with_auth.stats().state == "ready"
        with pytest.raises(TargetError, match="401"):
            without.stats()
    finally:
        with_auth.close()
        without.close()


@pytest.mark.live  # a real Locust master
def test_prometheus_scrapes_the_load_gauges_without_credentials(master: str) -> None:
    response = httpx.get(master + "/export/prometheus", timeout=5)
    assert response.status_code == 200


@pytest.mark.live  # a real Locust master
def test_a_master_without_credentials_refuses_to_start() -> None:
    process, _url = _start({USER_ENV: "", PASSWORD_ENV: ""})
    try:
        assert process.wait(timeout=60) != 0
        stderr = process.stderr.read().decode() if process.stderr else ""
        assert PASSWORD_ENV in stderr
    finally:
        _stop(process)


def test_the_plugin_reads_the_variables_the_program_sets() -> None:
    """The plugin runs inside the Locust image and cannot import deploy/; its names must match."""
    tree = ast.parse(Path(PLUGIN).read_text())
    constants = {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
    }
    assert constants["USER_ENV"] == USER_ENV
    assert constants["PASSWORD_ENV"] == PASSWORD_ENV
