"""`capacity restore`: put back what a killed cluster run left scaled.

A cluster run writes each Deployment's original replicas (and its HPA's bounds) to an annotation
on the Deployment before it scales it (capacity/target/k8s/scale.py). A run that ends in any
way it can handle restores and removes them; one that was SIGKILLed, or whose machine went away,
leaves them - and this command (or the next run, first thing) restores from them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from capacity.commands.common import out
from capacity.errors import ConfigError, TargetError

DEFAULT_NAMESPACE = "fwcap"  # Pulumi.yaml's default fwcap:namespace


def restore(
    stack: Annotated[
        str | None,
        typer.Option(
            help="The Pulumi stack whose namespace to restore (its stack file's fwcap:namespace "
            "and kubernetes:context; no Pulumi CLI needed).",
            show_default=False,
        ),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option(help="The namespace to restore (instead of --stack).", show_default=False),
    ] = None,
    kubeconfig: Annotated[
        Path | None,
        typer.Option(help="Kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)."),
    ] = None,
    context: Annotated[
        str | None,
        typer.Option(help="Kubeconfig context (default: the stack's kubernetes:context)."),
    ] = None,
) -> None:
    """Restore the replicas and HPA bounds a killed `capacity report --stack` run left behind."""
    from capacity.target.k8s.kubeapi import load_kube
    from capacity.target.k8s.scale import ORIGINAL_ANNOTATION, Scaler
    from capacity.target.k8s.stack import find_stack

    if (stack is None) == (namespace is None):
        raise ConfigError("give exactly one of --stack NAME or --namespace NS")
    context_from = "--context"
    if stack is not None:
        stack_file = find_stack(stack)
        namespace = str(stack_file.config.get("fwcap:namespace") or DEFAULT_NAMESPACE)
        if context is None and stack_file.kube_context:
            context, context_from = (
                stack_file.kube_context,
                (f"the kubernetes:context of {stack_file.path.name},"),
            )
    assert namespace is not None
    access = load_kube(kubeconfig, context, context_from)
    scaler = Scaler(access.api, namespace)
    found = scaler.adopt_leftovers()
    if not found:
        out.print(
            f"nothing to restore: no Deployment in namespace {namespace} carries "
            f"{ORIGINAL_ANNOTATION}",
            markup=False,
        )
        return
    records = {name: scaler.originals[name] for name in found}
    problems = scaler.restore()
    if problems:
        raise TargetError("could not restore everything:\n  " + "\n  ".join(problems))
    for name, original in records.items():
        hpa = (
            f", HPA {original.hpa} min {original.hpa_min_replicas} max {original.hpa_max_replicas}"
            if original.hpa
            else ""
        )
        out.print(f"restored deployments/{name}: replicas {original.replicas}{hpa}", markup=False)
