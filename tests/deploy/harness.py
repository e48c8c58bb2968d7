"""Run the real Pulumi program (__main__.py) under `pulumi.runtime.set_mocks`, render the chart
through the real Helm engine, and turn both into plain Kubernetes manifest dicts.

The mocks record every resource the program registers (type, name, inputs) and answer with the
inputs plus the few outputs the program reads (a generated password, an image digest).
"""

from __future__ import annotations

import json
import math
import runpy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python as helm
import pulumi
import yaml
from pulumi.runtime import settings as runtime_settings
from pydantic.alias_generators import to_camel

from deploy import images

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "charts" / "fwcap-service"
STACKS_DIR = ROOT / "stacks"
PROJECT_FILE = ROOT / "Pulumi.yaml"
MOCK_PASSWORD = "mock-password-0123456789abcdef"
MOCK_DIGEST = "sha256:" + "ab" * 32
MOCK_ECR_REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
MOCK_ECR_TOKEN = "mock-ecr-token"
KUBERNETES_VERSION = "1.35"  # a current release that kubernetes-validate ships schemas for

# Pulumi's wire marker for a secret value.
_SECRET_SIG = "4dabf18193072939515e22adb298388d"


@dataclass(frozen=True)
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    custom: bool


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.registered: list[Registered] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = plain(args.inputs)
        self.registered.append(Registered(args.typ, args.name, inputs, bool(args.custom)))
        outputs = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = MOCK_PASSWORD
        if args.typ == "aws:ecr/repository:Repository":
            outputs["repositoryUrl"] = f"{MOCK_ECR_REGISTRY}/{args.inputs['name']}"
            outputs["registryId"] = MOCK_ECR_REGISTRY.split(".", 1)[0]
        if args.typ == "aws:iam/role:Role":
            outputs["arn"] = f"arn:aws:iam::123456789012:role/{args.name}"
            outputs["name"] = args.name
        if args.typ == "docker-build:index:Image":
            outputs["digest"] = MOCK_DIGEST
            outputs["ref"] = f"{args.inputs['tags'][0]}@{MOCK_DIGEST}"
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        # A bare dict: this SDK's mocks iterate a tuple's second item, so (result, None) breaks.
        self.calls.append((args.token, plain(args.args)))
        if args.token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            return {"userName": "AWS", "password": MOCK_ECR_TOKEN, "id": "mock"}
        return {}


@dataclass
class ProgramRun:
    registered: list[Registered]
    exports: dict[str, Any]
    secret_exports: set[str] = field(default_factory=set)

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.registered if r.type == typ]

    def one(self, typ: str, name: str) -> Registered:
        found = [r for r in self.registered if r.type == typ and r.name == name]
        assert len(found) == 1, f"expected one {typ} named {name!r}, found {len(found)}"
        return found[0]

    def manifests(self) -> list[dict[str, Any]]:
        """Every registered Kubernetes object (not components like helm.v4.Chart) as a manifest."""
        return [
            r.inputs
            for r in self.registered
            if r.custom and r.type.startswith("kubernetes:") and "kind" in r.inputs
        ]


def plain(value: Any) -> Any:
    """Mock inputs -> manifest-shaped data: secrets unwrapped, whole floats back to ints."""
    if isinstance(value, dict):
        if value.get(_SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270":
            return plain(value["value"])
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def project_defaults() -> dict[str, Any]:
    project = yaml.safe_load(PROJECT_FILE.read_text())
    return {f"fwcap:{key}": spec["default"] for key, spec in project["config"].items()}


# What a user adds to a stack before its first `pulumi up` (docs/deploy.md, "Image pins"): the
# digest of each third-party image. The committed stack files cannot carry real ones (no registry
# was reachable where they were written), so the tests pin made-up digests, one per image.
MOCK_IMAGE_PINS = {
    f"fwcap:{to_camel(image.key)}ImageDigest": "sha256:" + f"{n:02d}" * 32
    for n, image in enumerate(images.ALL, start=1)
}


def committed_stack_values(stack_file: Path) -> dict[str, Any]:
    """The stack file's `config:` exactly as committed."""
    return dict(yaml.safe_load(stack_file.read_text())["config"])


def stack_values(stack_file: Path) -> dict[str, Any]:
    """The stack file's config once its user has pinned the third-party images' digests."""
    return {**MOCK_IMAGE_PINS, **committed_stack_values(stack_file)}


def pulumi_config(values: dict[str, Any]) -> dict[str, str]:
    """What the engine hands the program: project defaults overlaid by the stack, all as text
    (structured values JSON-encoded, booleans lowercase), like the CLI does."""
    merged = {**project_defaults(), **values}
    return {key: _as_config_text(value) for key, value in merged.items()}


def _as_config_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def stack_files() -> list[Path]:
    return sorted(STACKS_DIR.glob("Pulumi.*.yaml"))


def run_program(
    config: dict[str, str], stack: str = "test", mocks: RecordingMocks | None = None
) -> tuple[RecordingMocks, ProgramRun]:
    """Run __main__.py under mocks with `config`; exceptions from the program propagate (pass
    your own `mocks` to inspect what was registered before one)."""
    mocks = mocks if mocks is not None else RecordingMocks()
    runtime_settings.ROOT.set(None)  # a fresh root Stack per run
    pulumi.runtime.set_mocks(mocks, project="fwcap", stack=stack, preview=False)
    pulumi.runtime.set_all_config(config, [])
    exports: dict[str, Any] = {}
    secret: set[str] = set()

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
        root = runtime_settings.get_root_resource()
        outputs = dict(getattr(root, "outputs", {}))

        flags = {
            name: pulumi.Output.from_input(value.is_secret())
            for name, value in outputs.items()
            if isinstance(value, pulumi.Output)
        }

        def collect(args: list[dict[str, Any]]) -> None:
            values, secret_flags = args
            exports.update(values)
            secret.update(name for name, is_secret in secret_flags.items() if is_secret)

        return pulumi.Output.all(pulumi.Output.all(**outputs), pulumi.Output.all(**flags)).apply(
            collect
        )

    program()
    return mocks, ProgramRun(mocks.registered, exports, secret)


def render_chart(values: dict[str, Any], release: str, namespace: str) -> list[dict[str, Any]]:
    """charts/fwcap-service rendered by the real Helm engine -> manifests (NOTES.txt dropped)."""
    with helm.Chart.load(str(CHART_DIR)) as chart:
        rendered = chart.render(values, name=release, namespace=namespace, is_install=True)
    manifests: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        manifests += [doc for doc in yaml.safe_load_all(text) if doc]
    return manifests


def alone(framework: str) -> dict[str, Any]:
    """The least a `helm install` of the chart without Pulumi needs: an image by tag and digest."""
    return {
        "framework": framework,
        "image": {
            "repository": f"localhost:5001/fwcap-{framework}",
            "tag": "0.1.0",
            "digest": MOCK_DIGEST,
        },
    }


def raw_from_stack_values(values: Mapping[str, object]) -> dict[str, object]:
    """A stack file's `config:` mapping -> raw values for load_settings (only `fwcap:` keys)."""
    raw: dict[str, object] = {}
    for key, value in values.items():
        namespace, _, name = key.partition(":")
        if namespace == "fwcap" and name:
            raw[name] = value
    return raw
