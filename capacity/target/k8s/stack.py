"""Reads a Pulumi stack's outputs: the namespace and in-cluster URLs `capacity report` needs.

The stack's config file (stacks/Pulumi.<name>.yaml, per Pulumi.yaml's stackConfigDir) is checked
first, so a misspelt stack name fails at once, without Pulumi or a cluster. The outputs come from
the Pulumi automation API (a LocalWorkspace on the project, whose Pulumi.yaml sets
stackConfigDir) when the `pulumi` CLI is on PATH (the automation API drives that CLI);
otherwise the error says what is missing and which flags work without Pulumi.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from capacity.errors import ConfigError, TargetError
from capacity.validation import problems

KIT_ROOT = Path(__file__).resolve().parents[3]
PULUMI_INSTALL_HINT = (
    "install the Pulumi CLI (https://www.pulumi.com/docs/iac/download-install/) and log in to the "
    "backend that holds the stack, or skip Pulumi: give --prometheus-url, --locust-url and "
    "--namespace"
)


class _Outputs(BaseModel):
    """The outputs __main__.py exports (camelCase, as Pulumi prints them)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    namespace: str = Field(min_length=1)
    serviceUrls: dict[str, str] = Field(min_length=1)
    prometheusUrl: str = Field(min_length=1)
    locustUrl: str = Field(min_length=1)
    grafanaUrl: str | None = None
    locustWebUser: str | None = None  # the master's web API sits behind Basic auth
    locustWebPassword: str | None = None


@dataclass(frozen=True)
class StackOutputs:
    """What a deployed stack tells `capacity report`: in-cluster URLs, reachable from pods only."""

    stack: str
    namespace: str
    service_urls: dict[str, str]  # framework -> in-cluster Service URL
    prometheus_url: str
    locust_url: str
    grafana_url: str | None
    kube_context: str | None  # the stack's `kubernetes:context`, if it sets one
    locust_auth: tuple[str, str] | None = None  # Basic credentials of the Locust web API


@dataclass(frozen=True)
class StackFile:
    """A stack's config file, found before anything talks to Pulumi or a cluster."""

    name: str
    project_dir: Path
    path: Path
    config: dict[str, Any]

    @property
    def kube_context(self) -> str | None:
        value = self.config.get("kubernetes:context")
        return str(value) if value else None


def find_project_dir(start: Path | None = None) -> Path:
    """The Pulumi project: the current directory (or a parent) with Pulumi.yaml, else the kit's."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "Pulumi.yaml").is_file():
            return d
    if (KIT_ROOT / "Pulumi.yaml").is_file():
        return KIT_ROOT
    raise ConfigError(
        f"--stack needs the kit's Pulumi project (Pulumi.yaml), found none in {here} or its "
        "parents; run from the kit's checkout"
    )


def _stack_config_dir(project_dir: Path) -> Path:
    try:
        project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read {project_dir / 'Pulumi.yaml'}: {e}") from e
    return project_dir / str(project.get("stackConfigDir") or ".")


def find_stack(name: str, project_dir: Path | None = None) -> StackFile:
    """The stack's config file, or a ConfigError naming the stacks that do exist."""
    if not name.strip():
        raise ConfigError(f"--stack {name!r} is not a stack name; give e.g. --stack local")
    project = project_dir or find_project_dir()
    config_dir = _stack_config_dir(project)
    short = name.split("/")[-1]  # "org/project/dev" names the same config file as "dev"
    path = config_dir / f"Pulumi.{short}.yaml"
    if not path.is_file():
        known = sorted(
            p.name.removeprefix("Pulumi.").removesuffix(".yaml")
            for p in config_dir.glob("Pulumi.*.yaml")
        )
        raise ConfigError(
            f"--stack {name}: no such stack; {path} does not exist "
            f"(stacks here: {', '.join(known) or 'none'}; create one with `pulumi stack init`)"
        )
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"--stack {name}: cannot read {path}: {e}") from e
    config = data.get("config") or {} if isinstance(data, dict) else {}
    return StackFile(name, project, path, dict(config))


OutputReader = Callable[[StackFile], Mapping[str, Any]]


def automation_outputs(stack: StackFile) -> Mapping[str, Any]:
    """The stack's outputs through pulumi.automation (which runs the `pulumi` CLI)."""
    if shutil.which("pulumi") is None:
        raise ConfigError(
            f"--stack {stack.name}: reading its outputs needs the `pulumi` CLI, which is not on "
            f"PATH; {PULUMI_INSTALL_HINT}"
        )
    from pulumi import automation as auto  # loads grpc; only when it is needed

    try:
        # The workspace reads Pulumi.yaml in work_dir, whose stackConfigDir the CLI honours.
        selected = auto.select_stack(stack_name=stack.name, work_dir=str(stack.project_dir))
        return {k: v.value for k, v in selected.outputs().items()}
    except auto.StackNotFoundError as e:
        raise ConfigError(
            f"--stack {stack.name}: Pulumi's backend has no such stack (its config file exists; "
            "run `pulumi up` for it first)"
        ) from e
    except auto.CommandError as e:
        first = str(e).strip().splitlines()
        raise TargetError(
            f"--stack {stack.name}: `pulumi stack output` failed: {first[-1] if first else e}"
        ) from e


def read_stack_outputs(stack: StackFile, reader: OutputReader = automation_outputs) -> StackOutputs:
    raw = dict(reader(stack))
    if not raw:
        raise ConfigError(
            f"--stack {stack.name} has no outputs: it was never deployed; run `pulumi up` first"
        )
    try:
        o = _Outputs.model_validate(raw)
    except ValidationError as e:
        missing = ", ".join(dict.fromkeys(p.field for p in problems(e)))
        raise ConfigError(
            f"--stack {stack.name}: its outputs lack or garble {missing} (got keys "
            f"{', '.join(sorted(raw))}); redeploy it with this kit's __main__.py"
        ) from e
    return StackOutputs(
        stack=stack.name,
        namespace=o.namespace,
        service_urls=dict(o.serviceUrls),
        prometheus_url=o.prometheusUrl,
        locust_url=o.locustUrl,
        grafana_url=o.grafanaUrl,
        kube_context=stack.kube_context,
        locust_auth=(
            (o.locustWebUser, o.locustWebPassword)
            if o.locustWebUser and o.locustWebPassword
            else None
        ),
    )
