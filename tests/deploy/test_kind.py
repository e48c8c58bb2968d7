"""The committed kind recipe agrees with the stack it serves: cluster name -> kubeconfig context,
registry port -> the stack's registry, one node -> the scheduling check's cluster, and the script
refuses a Docker smaller than the one the stack is sized for. (Running it needs Docker and kind,
which this machine lacks; docs/deploy.md says so.)"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.deploy.harness import ROOT, stack_values
from tests.deploy.scheduling import KIND_DOCKER_CPU_MILLICORES

KIND_CONFIG = ROOT / "deploy/kind/cluster.yaml"
SCRIPT = ROOT / "scripts/kind-up"


def _script_var(name: str) -> str:
    match = re.search(rf"^{name}=(\S+)", SCRIPT.read_text(), re.MULTILINE)
    assert match, name
    return match.group(1)


def test_kind_config_names_the_cluster_the_local_stack_targets() -> None:
    config = yaml.safe_load(KIND_CONFIG.read_text())
    local = stack_values(ROOT / "stacks/Pulumi.local.yaml")
    assert config["kind"] == "Cluster"
    assert local["kubernetes:context"] == f"kind-{config['name']}"
    assert _script_var("CLUSTER") == config["name"]
    assert [n["role"] for n in config["nodes"]] == ["control-plane"]  # one node, as checked
    assert local["fwcap:clusterNodeType"] == "kind" and local["fwcap:clusterNodes"] == 1


def test_the_script_pushes_where_the_stack_pulls_and_checks_docker_size() -> None:
    local = stack_values(ROOT / "stacks/Pulumi.local.yaml")
    assert local["fwcap:registry"] == f"localhost:{_script_var('REGISTRY_PORT')}"
    assert int(_script_var("MIN_CPUS")) * 1000 == KIND_DOCKER_CPU_MILLICORES


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_the_script_is_valid_bash_and_stops_without_its_tools(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert subprocess.run(["bash", "-n", str(SCRIPT)], check=False).returncode == 0
    # With an empty PATH (but bash itself), the first missing tool is named, nothing else runs.
    result = subprocess.run(
        [shutil.which("bash") or "bash", str(SCRIPT)],
        env={"PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "'docker' is not installed" in result.stderr


def test_the_script_checks_the_kind_subnet_against_the_stacks_cidrs() -> None:
    """kind-up greps the local stack for the exact line it expects; keep the two in step."""
    local = stack_values(ROOT / "stacks/Pulumi.local.yaml")
    [subnet] = local["fwcap:nodeCidrs"]
    assert local["fwcap:apiServerCidrs"] == [subnet]
    assert f'fwcap:nodeCidrs: ["{subnet}"]' in (ROOT / "stacks/Pulumi.local.yaml").read_text()
    assert 'grep -qF "fwcap:nodeCidrs: [\\"$subnet\\"]"' in SCRIPT.read_text()
