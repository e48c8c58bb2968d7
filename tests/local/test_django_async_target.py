"""The local target runs django-async as a pod like any framework: its own cgroup and CPU quota,
uvicorn serving the Django project, and Prometheus reading both its request histogram and its
cAdvisor-named series under its own name (what the model and the report select by)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

import httpx
import psutil
import pytest

from capacity.polling import Pending, poll_until
from capacity.target.base import PodShape
from capacity.target.local import LocalTarget

pytestmark = [pytest.mark.live, pytest.mark.timeout(300)]


def _series(prometheus_url: str, expr: str) -> list[object] | Pending:
    body = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": expr}, timeout=10).json()
    result: list[object] = body["data"]["result"]
    return result or Pending(f"no series for {expr}")


def test_the_local_target_starts_django_async_as_a_uvicorn_pod_that_prometheus_scrapes() -> None:
    # Not under pytest's basetemp (PostgreSQL runs as its own user when we are root;
    # tests/conftest.py `run_dir`).
    workdir = Path(tempfile.mkdtemp(prefix="fwcap-django-async-"))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)  # after the target stopped
        endpoints = cleanup.enter_context(
            LocalTarget(
                ["django-async"],
                1,
                PodShape(500, 512 * 2**20),
                workdir,
                scrape_interval_s=1,
                locust_workers=1,
            )
        )
        [pod] = endpoints.pods
        assert (pod.name, pod.framework) == ("django-async-0", "django-async")
        assert pod.pid is not None
        server = psutil.Process(pod.pid).cmdline()
        assert "asgi_server.serve" in server and "fwcap_django.asgi:application" in server, server
        [url] = endpoints.service_urls["django-async"]
        assert httpx.get(f"{url}/api/items/1").json()["name"] == "item-00001"
        for expr in (
            'http_server_request_duration_seconds_count{app="django-async"}',
            'container_cpu_usage_seconds_total{container="django-async", pod="django-async-0"}',
        ):
            poll_until(
                lambda expr=expr: _series(endpoints.prometheus_url, expr),
                timeout_s=60,
                interval_s=1,
                on_timeout=AssertionError,
            )
