"""Stack config -> StackSettings: `load_settings` validates raw stack values or raises
`ConfigError` naming each bad key (as written in the stack file, `fwcap:<key>`) and what it
accepts - before the program registers a single resource; `settings_from_pulumi_config` reads the
running stack's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import get_origin

from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from capacity.errors import ConfigError
from capacity.validation import problems
from deploy import images
from deploy.setting_types import DIGEST_FORMS, REGISTRY_FORMS, image_of
from deploy.settings import PROJECT, StackSettings


def config_key(field_name: str) -> str:
    """`db_pool_size` -> `fwcap:dbPoolSize`, as written in a stack file."""
    return f"{PROJECT}:{to_camel(field_name)}"


def accepted(field_name: str) -> str:
    extra = StackSettings.model_fields[field_name].json_schema_extra
    assert isinstance(extra, dict)
    return str(extra["accepted"])


def _field_for_alias(alias: str) -> str | None:
    for name, field in StackSettings.model_fields.items():
        if field.alias == alias:
            return name
    return None


def _problem(field_name: str, value: object, why: str) -> str:
    return f"{config_key(field_name)} = {value!r}: {why}; accepted: {accepted(field_name)}"


def load_settings(raw: Mapping[str, object], project_dir: Path) -> StackSettings:
    """Validate raw stack values (keys without the `fwcap:` prefix) into StackSettings.

    Raises ConfigError listing every bad key, each with the value and what is accepted.
    """
    unknown = sorted(key for key in raw if _field_for_alias(key) is None)
    if unknown:
        known = ", ".join(f.alias or n for n, f in StackSettings.model_fields.items())
        raise ConfigError(
            "unknown stack config key(s): "
            + ", ".join(f"{PROJECT}:{k}" for k in unknown)
            + f"; accepted keys (each prefixed {PROJECT}:): {known}"
        )
    try:
        settings = StackSettings.model_validate(dict(raw))
    except ValidationError as exc:
        lines = []
        for p in problems(exc):
            name = _field_for_alias(p.field) or p.field
            # The key's own `accepted` text is said once, in place of the validator's.
            why = p.message.partition("; accepted: ")[0]
            # In an object (fwcap:sizing): the nested key, as `pulumi config set --path` spells it.
            inner = [part for part in p.path.split(".")[1:] if part != "[key]"]
            key = ".".join([config_key(name), *inner])
            value = p.value if inner else raw.get(p.field, p.value)
            # A whole object is not repeated: the reason names the values that clash.
            given = "" if isinstance(value, dict) else f" = {value!r}"
            lines.append(f"{key}{given}: {why}; accepted: {accepted(name)}")
        raise ConfigError("bad stack config:\n  " + "\n  ".join(lines)) from None
    _check_combinations(settings, project_dir)
    return settings


def _check_combinations(settings: StackSettings, project_dir: Path) -> None:
    """Rules that span keys; each message names the key to set and what it accepts."""
    problems: list[str] = []
    if settings.ecr and not settings.build_images:
        problems.append(
            f"{config_key('ecr')} = true needs {config_key('build_images')} = true (the "
            "repositories are for the images this program builds); accepted: set one of them"
        )
    if settings.ebs_csi_driver and not (settings.eks_cluster_name and settings.storage_class):
        problems.append(
            f"{config_key('ebs_csi_driver')} = true needs {config_key('eks_cluster_name')} (the "
            f"cluster to add the driver to) and {config_key('storage_class')} (the gp3 class to "
            f"create, e.g. gp3); accepted: {accepted('eks_cluster_name')}"
        )
    if settings.build_images and not settings.registry and not settings.ecr:
        problems.append(
            f"{config_key('registry')} is required when {config_key('build_images')} is true "
            f"(the built images are pushed there); accepted: {REGISTRY_FORMS}; or set "
            f"{config_key('build_images')} false and give prebuilt images"
        )
    if not settings.build_images:
        for name in dict.fromkeys((*map(image_of, settings.frameworks), "upstream")):
            field = f"{name}_image"
            if not getattr(settings, field):
                problems.append(
                    f"{config_key(field)} is required when {config_key('build_images')} is "
                    f"false; accepted: {accepted(field)}"
                )
    if settings.monitoring_mode == "existing" and not settings.existing_prometheus_url:
        problems.append(
            f"{config_key('existing_prometheus_url')} is required when "
            f"{config_key('monitoring_mode')} is existing (capacity report reads that "
            f"Prometheus); accepted: {accepted('existing_prometheus_url')}"
        )
    if settings.hpa_enabled and settings.hpa_max_replicas < settings.replicas:
        problems.append(
            _problem(
                "hpa_max_replicas",
                settings.hpa_max_replicas,
                f"below {config_key('replicas')} = {settings.replicas}",
            )
        )
    if settings.monitoring_mode == "bundled":
        for field in ("node_cidrs", "api_server_cidrs"):
            if not getattr(settings, field):
                problems.append(
                    f"{config_key(field)} is required when {config_key('monitoring_mode')} is "
                    "bundled (the egress of Prometheus and kube-state-metrics names these "
                    "addresses instead of 0.0.0.0/0); find them with `kubectl get nodes -o wide` "
                    'and `kubectl get endpoints kubernetes` (docs/deploy.md, "Egress"); '
                    f"accepted: {accepted(field)}"
                )
    missing = [i for i in settings.third_party_images() if not settings.image_digest(i)]
    if missing:
        problems.append(
            "the stack pins no digest for "
            + ", ".join(i.tag_ref for i in missing)
            + " (every image runs by digest, so a re-pushed tag cannot change what runs); "
            + "resolve each and set it, e.g.\n    "
            + "\n    ".join(
                f"{config_key(f'{i.key}_image_digest')}: {images.resolve_commands(i)}"
                for i in missing
            )
            + f"\n  then `pulumi config set {config_key(f'{missing[0].key}_image_digest')} "
            'sha256:...` (docs/deploy.md, "Image pins"); accepted: ' + DIGEST_FORMS
        )
    locustfile = project_dir / settings.locustfile
    if not locustfile.is_file():
        problems.append(
            _problem("locustfile", settings.locustfile, f"no such file under {project_dir}")
        )
    if problems:
        raise ConfigError("bad stack config:\n  " + "\n  ".join(problems))


def decode_pulumi_value(field_name: str, text: str) -> object:
    """Pulumi hands every config value over as text; lists and objects arrive JSON-encoded."""
    if get_origin(StackSettings.model_fields[field_name].annotation) in (tuple, dict):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text  # a bare word: the validator names what is accepted
    return text


def settings_from_pulumi_config(project_dir: Path) -> StackSettings:
    """The running stack's settings (the program's only read of configuration)."""
    import pulumi  # the engine edge: imported here so the rest stays testable without it
    from pulumi.runtime import config as runtime_config

    config = pulumi.Config(PROJECT)
    raw: dict[str, object] = {}
    for name, field in StackSettings.model_fields.items():
        alias = field.alias or name
        text = config.get(alias)
        if text is not None:
            raw[alias] = decode_pulumi_value(name, text)
    # Keys Pulumi knows but StackSettings lacks are typos; the per-key reads above cannot see them.
    present = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    for key in present:
        namespace, _, alias = key.partition(":")
        if namespace == PROJECT and alias not in raw:
            raw[alias] = config.get(alias)
    return load_settings(raw, project_dir)
