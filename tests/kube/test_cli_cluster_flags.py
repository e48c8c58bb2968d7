"""`capacity report` cluster flags, run as the CLI (in-process): bad input gives one clear line
and a non-zero exit before any load or any change to a cluster."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from capacity.cli import app
from capacity.errors import ConfigError
from capacity.target.k8s.stack import StackFile, find_stack, read_stack_outputs
from tests.kube.fake_api import FakeKube

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def capacity(*args: str, home: Path, path: str | None = None) -> CliResult:
    """`capacity report ...` in this process (typer's CliRunner: the same parsing, messages
    and exit codes as the installed command, without a Python start-up per call)."""
    env: dict[str, str | None] = {"KUBECONFIG": None, "HOME": str(home), "COLUMNS": "200"}
    if path is not None:
        env["PATH"] = path
    with contextlib.chdir(ROOT):
        result = CliRunner(env=env).invoke(app, ["report", *args])
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "Traceback (most recent call last):\n" + "".join(
            traceback.format_exception(result.exception)
        )
    return CliResult(result.exit_code, result.stdout, stderr)


def one_error_line(result: CliResult) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_help_documents_the_cluster_mode(tmp_path: Path) -> None:
    result = capacity("--stack", "dev", "--help", home=tmp_path)
    assert result.returncode == 0
    for flag in (
        "--stack",
        "--kubeconfig",
        "--context",
        "--namespace",
        "--prometheus-url",
        "--locust-url",
        "docs/cluster-mode.md",
    ):
        assert flag in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--stack", "nosuch"], "--stack nosuch: no such stack; "),
        (["--kubeconfig", "/nonexistent"], "--kubeconfig /nonexistent: no such file"),
        (["--stack", "local"], "no kubeconfig found"),
        (["--prometheus-url", "http://127.0.0.1:1"], "--locust-url missing"),
        (["--prometheus-url", "http://a:1", "--locust-url", "http://b:2"], "--namespace missing"),
        (["--prometheus-url", "a:1", "--locust-url", "http://b:2"], "is not an http(s) URL"),
    ],
)
def test_bad_cluster_input_is_one_line_and_exit_2_with_nothing_written(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    out = tmp_path / "out"
    result = capacity(*args, "--out", str(out), home=tmp_path)
    assert result.returncode == 2, result.stderr
    assert expected in one_error_line(result)
    assert not out.exists(), "nothing is written before the checks pass"


def test_a_stack_without_the_pulumi_cli_names_what_is_missing_and_touches_no_cluster(
    tmp_path: Path,
) -> None:
    with FakeKube() as kube:
        config = kube.write_kubeconfig(tmp_path / "kubeconfig", context="kind-fwcap")
        no_pulumi = str(Path(sys.executable).parent) + os.pathsep + "/usr/bin:/bin"
        result = capacity(
            "--stack", "local", "--kubeconfig", str(config), home=tmp_path, path=no_pulumi
        )
        assert result.returncode == 2, result.stderr
        line = one_error_line(result)
        assert "--stack local: reading its outputs needs the `pulumi` CLI" in line
        assert "--prometheus-url" in line  # and how to do without it
        assert kube.requests == [], "no API call before the checks pass"


def test_the_stacks_context_missing_from_the_kubeconfig_is_named(tmp_path: Path) -> None:
    with FakeKube() as kube:
        config = kube.write_kubeconfig(tmp_path / "kubeconfig", context="other")
        result = capacity("--stack", "local", "--kubeconfig", str(config), home=tmp_path)
    assert result.returncode == 2
    line = one_error_line(result)
    assert "the kubernetes:context of Pulumi.local.yaml, kind-fwcap: not in kubeconfig" in line


def test_a_context_missing_from_the_kubeconfig_is_named(tmp_path: Path) -> None:
    with FakeKube() as kube:
        config = kube.write_kubeconfig(tmp_path / "kubeconfig", context="kind-fwcap")
        result = capacity(
            "--kubeconfig",
            str(config),
            "--context",
            "eks-prod",
            "--namespace",
            "fwcap",
            home=tmp_path,
        )
    assert result.returncode == 2
    assert "--context eks-prod: not in kubeconfig" in one_error_line(result)
    assert "(contexts: kind-fwcap)" in result.stderr


def stack_file(config: dict[str, str] | None = None) -> StackFile:
    return StackFile("dev", ROOT, ROOT / "stacks/Pulumi.dev.yaml", config or {})


def test_stack_outputs_are_read_and_checked() -> None:
    outputs = read_stack_outputs(
        stack_file({"kubernetes:context": "kind-fwcap"}),
        lambda _s: {
            "namespace": "fwcap",
            "serviceUrls": {"django": "http://django.fwcap.svc:8000"},
            "prometheusUrl": "http://prometheus.fwcap.svc:9090",
            "locustUrl": "http://locust-master.fwcap.svc:8089",
            "grafanaAdminPassword": "x",
            "locustWebUser": "fwcap",
            "locustWebPassword": "pw",
        },
    )
    assert outputs.namespace == "fwcap" and outputs.kube_context == "kind-fwcap"
    assert outputs.locust_auth == ("fwcap", "pw")
    assert outputs.service_urls == {"django": "http://django.fwcap.svc:8000"}


def test_a_stack_never_deployed_or_from_another_program_is_refused() -> None:
    with pytest.raises(ConfigError, match="has no outputs: it was never deployed"):
        read_stack_outputs(stack_file(), lambda _s: {})
    with pytest.raises(ConfigError, match="lack or garble prometheusUrl, locustUrl"):
        read_stack_outputs(stack_file(), lambda _s: {"namespace": "x", "serviceUrls": {"a": "b"}})


def test_the_kits_stacks_are_found_by_their_config_files() -> None:
    assert find_stack("local").kube_context == "kind-fwcap"
    assert find_stack("myorg/fwcap/eks").path.name == "Pulumi.eks.yaml"


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("which", ["--prometheus-url", "--locust-url"])
def test_a_url_that_refuses_fails_within_seconds_naming_it_and_leaves_no_folder(
    tmp_path: Path, which: str
) -> None:
    import time

    import httpx

    refused = f"http://127.0.0.1:{_closed_port()}"
    with FakeKube() as kube:  # any HTTP server answers for the other URL
        answering = kube.url
        urls = {"--prometheus-url": answering, "--locust-url": answering, which: refused}
        out = tmp_path / "out"
        started = time.monotonic()
        result = capacity(
            *[a for flag, url in urls.items() for a in (flag, url)],
            "--namespace",
            "x",
            "--out",
            str(out),
            home=tmp_path,
        )
        took_s = time.monotonic() - started
        assert httpx.get(answering).status_code  # the answering one really answered
    assert result.returncode == 2, result.stderr
    line = one_error_line(result)
    assert f"{which} {refused}: nothing answers there" in line and "refused" in line
    assert took_s < 15, f"a refused connection is an answer: took {took_s:.1f} s"
    assert not out.exists(), "no empty report folder is left behind"


def test_a_cluster_api_that_refuses_fails_fast_and_leaves_no_folder(tmp_path: Path) -> None:
    import time

    with FakeKube() as kube:
        config = kube.write_kubeconfig(tmp_path / "kubeconfig", context="kind-fwcap")
    # The fake API server is stopped: its address now refuses connections.
    out = tmp_path / "out"
    started = time.monotonic()
    result = capacity(
        "--kubeconfig", str(config), "--namespace", "x", "--out", str(out), home=tmp_path
    )
    took_s = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert "did not answer" in result.stderr and "refused" in result.stderr.lower()
    assert took_s < 30, f"took {took_s:.1f} s"
    assert not out.exists(), "no empty report folder is left behind"


@pytest.mark.parametrize("cluster", [["--stack", "dev"], ["--namespace", "x"]])
def test_keep_up_with_a_cluster_is_refused_before_anything_starts(
    tmp_path: Path, cluster: list[str]
) -> None:
    out = tmp_path / "out"
    result = capacity(*cluster, "--keep-up", "--out", str(out), home=tmp_path)
    assert result.returncode == 2, result.stderr
    line = one_error_line(result)
    assert "--keep-up" in line and "drop --keep-up or the cluster options" in line
    assert not out.exists()
