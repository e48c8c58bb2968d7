"""Cluster mode leaves no drift: the original scale lives on the objects, so a run killed with
SIGKILL after it scaled is undone by `capacity restore`, and the next run restores it first.

The killed run is a real separate process driving the real Scaler against the fake API server;
`capacity restore` is the real CLI, run in this process through typer's CliRunner (the same
parsing, messages and exit codes, without a Python start-up per call; see
tests/kube/test_cli_cluster_flags.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from capacity.cli import app
from capacity.errors import TargetError
from capacity.target.k8s.kubeapi import KubeAccess
from capacity.target.k8s.scale import ORIGINAL_ANNOTATION, Scaler
from tests.kube.conftest import NS
from tests.kube.fake_api import FakeKube
from tests.kube.test_kube_target import cluster, make  # noqa: F401 (the fixture)

ROOT = Path(__file__).resolve().parents[2]

# A cluster run up to the point where it has scaled both services, then waiting on load.
_RUN = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from capacity.target.k8s.kubeapi import load_kube
    from capacity.target.k8s.scale import Scaler
    scaler = Scaler(load_kube(Path(sys.argv[1]), None).api, "fwcap", poll_s=0.05)
    scaler.scale(scaler.find("service", "django"), 1, timeout_s=10)
    scaler.scale(scaler.find("service", "fastapi"), 2, timeout_s=10)
    print("scaled", flush=True)
    time.sleep(600)
    """
)


def _state(kube: FakeKube) -> dict[str, Any]:
    def deployment(name: str) -> tuple[int, str | None]:
        d = kube.get("deployments", name, NS)
        return d["spec"]["replicas"], (d["metadata"].get("annotations") or {}).get(
            ORIGINAL_ANNOTATION
        )

    spec = kube.get("horizontalpodautoscalers", "django", NS)["spec"]
    return {
        "django": deployment("django"),
        "fastapi": deployment("fastapi"),
        "hpa": (spec.get("minReplicas"), spec["maxReplicas"]),
    }


def _killed_run(kubeconfig: Path) -> None:
    run = subprocess.Popen(
        [sys.executable, "-c", _RUN, str(kubeconfig)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert run.stdout is not None
        line = run.stdout.readline()
        assert line.strip() == "scaled", (line, run.stderr.read() if run.stderr else "")
        os.kill(run.pid, signal.SIGKILL)  # no handler, no finally: what a lost machine leaves
        run.wait(timeout=10)
    finally:
        if run.poll() is None:
            run.kill()


def _capacity(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """`capacity ...` in this process; an uncaught exception's traceback ends up on stderr."""
    with contextlib.chdir(cwd):
        result = CliRunner(env={"KUBECONFIG": None}).invoke(app, list(args))
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "Traceback (most recent call last):\n" + "".join(
            traceback.format_exception(result.exception)
        )
    return subprocess.CompletedProcess(["capacity", *args], result.exit_code, result.stdout, stderr)


def test_a_killed_run_leaves_its_record_and_capacity_restore_puts_everything_back(
    kube: FakeKube, kubeconfig: Path
) -> None:
    _killed_run(kubeconfig)
    drifted = _state(kube)
    assert drifted["django"][0] == 1 and drifted["fastapi"][0] == 2 and drifted["hpa"] == (1, 1)
    assert json.loads(drifted["django"][1]) == {
        "replicas": 3, "hpa": "django", "hpaMinReplicas": 2, "hpaMaxReplicas": 6,
    }  # fmt: skip
    assert json.loads(drifted["fastapi"][1]) == {"replicas": 3}

    done = _capacity("restore", "--namespace", NS, "--kubeconfig", str(kubeconfig))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "restored deployments/django: replicas 3, HPA django min 2 max 6" in done.stdout
    assert "restored deployments/fastapi: replicas 3" in done.stdout
    assert _state(kube) == {"django": (3, None), "fastapi": (3, None), "hpa": (2, 6)}

    again = _capacity("restore", "--namespace", NS, "--kubeconfig", str(kubeconfig))
    assert again.returncode == 0 and "nothing to restore" in again.stdout


def test_restore_by_stack_reads_the_namespace_and_context_from_the_stack_file(
    kube: FakeKube, kubeconfig: Path, tmp_path: Path
) -> None:
    _killed_run(kubeconfig)
    project = tmp_path / "project"
    (project / "stacks").mkdir(parents=True)
    (project / "Pulumi.yaml").write_text("name: fwcap\nruntime: python\nstackConfigDir: stacks\n")
    (project / "stacks" / "Pulumi.dev.yaml").write_text(
        f"config:\n  kubernetes:context: fake\n  fwcap:namespace: {NS}\n"
    )
    done = _capacity("restore", "--stack", "dev", "--kubeconfig", str(kubeconfig), cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _state(kube) == {"django": (3, None), "fastapi": (3, None), "hpa": (2, 6)}


def test_restore_needs_exactly_one_of_stack_or_namespace() -> None:
    done = _capacity("restore")
    assert done.returncode == 2 and "exactly one of --stack NAME or --namespace NS" in done.stderr


@pytest.mark.usefixtures("cluster")  # Prometheus and Locust stand-ins behind the port-forwards
def test_a_run_that_finds_an_earlier_runs_record_restores_it_first(
    kube: FakeKube, access: KubeAccess, kubeconfig: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    _killed_run(kubeconfig)
    caplog.set_level(logging.INFO, logger="capacity")
    with make(access):
        # This run's own record holds the true originals, not the earlier run's drift.
        record = kube.get("deployments", "django", NS)["metadata"]["annotations"]
        assert json.loads(record[ORIGINAL_ANNOTATION])["replicas"] == 3
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("earlier run was stopped before it restored" in w for w in warned), warned
    assert _state(kube) == {"django": (3, None), "fastapi": (3, None), "hpa": (2, 6)}


def test_a_record_that_is_not_the_kits_is_named_with_the_manual_fix(
    kube: FakeKube, access: KubeAccess
) -> None:
    d = kube.get("deployments", "django", NS)
    d["metadata"]["annotations"] = {ORIGINAL_ANNOTATION: "three"}
    with pytest.raises(TargetError, match=r"kubectl annotate deployment django .*-"):
        Scaler(access.api, NS).adopt_leftovers()


_GROUPS = {"deployments": "apps", "horizontalpodautoscalers": "autoscaling"}


def _documented_rbac() -> set[tuple[str, str, str, str]]:
    """(apiGroup, resource, verb, resourceName or '') from docs/cluster-mode.md's YAML."""
    text = (ROOT / "docs" / "cluster-mode.md").read_text()
    section = text.split("## RBAC the kubeconfig's user needs", 1)[1].split("\n## ", 1)[0]
    block = section.split("```yaml", 1)[1].split("```", 1)[0]
    allowed = set()
    for doc in yaml.safe_load_all(block):
        for rule in doc["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        for name in rule.get("resourceNames") or [""]:
                            allowed.add((group, resource, verb, name))
    return allowed


def _as_rbac(action: str, path: str) -> tuple[str, str, str, str]:
    if action == "portforward":  # the fake records the tunnel; the API authorizes `create`
        return ("", "pods/portforward", "create", "")
    plural, _, name = path.partition("/")
    return (_GROUPS.get(plural, ""), plural, action, name)


def _covered(request: tuple[str, str, str, str], allowed: set[tuple[str, str, str, str]]) -> bool:
    group, resource, verb, name = request
    return (group, resource, verb, "") in allowed or (group, resource, verb, name) in allowed


@pytest.mark.usefixtures("cluster")
def test_the_documented_rbac_covers_every_call_a_run_and_a_restore_make(
    kube: FakeKube, access: KubeAccess, kubeconfig: Path
) -> None:
    allowed = _documented_rbac()
    assert ("", "secrets", "get", "locust-web-auth") in allowed
    assert not any(r[1] == "secrets" and r[3] == "" for r in allowed), "no blanket secret read"
    _killed_run(kubeconfig)
    kube.requests.clear()
    with make(access):  # restores the leftovers first, scales, port-forwards, restores
        pass
    done = _capacity("restore", "--namespace", NS, "--kubeconfig", str(kubeconfig))
    assert done.returncode == 0, done.stderr
    made = {_as_rbac(action, path) for action, path in kube.requests}
    assert made, "the fake recorded the calls"
    assert sorted(r for r in made if not _covered(r, allowed)) == []
    # The policy is not wider than what runs: every namespaced rule of the kit's Role is used.
    used = {(g, res, v) for g, res, v, _ in made}
    assert {
        ("apps", "deployments", "patch"),
        ("autoscaling", "horizontalpodautoscalers", "patch"),
    } <= used
