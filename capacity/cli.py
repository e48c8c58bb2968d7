"""The `capacity` command line: the app, its exit codes, and the commands it loads on demand.

Each command lives in its own module under capacity/commands/ and is imported only when it
runs (or its own --help is asked for), so `capacity --help` loads no model, report or load
code. A new command is one module plus one line in COMMANDS.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import typer
from typer import _click as click  # typer vendors click: the Command and Context types
from typer.core import TyperCommand, TyperGroup

EXIT_CODES = (
    "Exit codes: 0 done; 1 the kit failed (a target did not start or lost a pod, the report "
    "could not be written; `catalog check`: a stale price); 2 bad input, named with the fix "
    "(options, quantities, plan, stack, catalog or what-if files, an empty, corrupt or "
    "future-version measurements file); 130 Ctrl-C and 143 SIGTERM (a run keeps its finished "
    "steps)."
)


@dataclass(frozen=True)
class Lazy:
    """A command by where it lives: `module:attribute`, a function or a typer.Typer group."""

    target: str
    summary: str  # the first paragraph of the command's help (a test keeps them equal)

    def load(self, name: str) -> click.Command:
        module, attribute = self.target.split(":")
        found: Any = getattr(importlib.import_module(module), attribute)
        if not isinstance(found, typer.Typer):
            single = typer.Typer(add_completion=False)
            single.command(name)(found)
            found = single
        return typer.main.get_command(found)


# In the order `capacity --help` lists them.
COMMANDS: dict[str, Lazy] = {
    "fit": Lazy(
        "capacity.commands.fit:fit",
        "How many pods of one shape fit on a node: allocatable, max pods, the binding constraint.",
    ),
    "model": Lazy(
        "capacity.commands.model:model",
        "Turn measurements into results.json, report.md and report.html with plots.",
    ),
    "whatif": Lazy(
        "capacity.commands.whatif:whatif",
        "Pack several workloads onto each candidate node type (or pinned pools): nodes and "
        "cost, priced by the report's own cost model.",
    ),
    "report": Lazy(
        "capacity.commands.report:report",
        "Measure both frameworks here (real pods in cgroups, real load), then write the report.",
    ),
    "compare": Lazy(
        "capacity.commands.compare:compare",
        "Compare two reports' capacities per framework, scenario and pod shape; exit 1 on a "
        "regression beyond --threshold whose 95% intervals do not overlap, 0 otherwise.",
    ),
    "restore": Lazy(
        "capacity.commands.restore:restore",
        "Restore the replicas and HPA bounds a killed `capacity report --stack` run left behind.",
    ),
    "catalog": Lazy(
        "capacity.commands.catalog:app", "The node catalog: prices, dates and sources."
    ),
}


class LazyGroup(TyperGroup):
    """Lists COMMANDS by their summaries; imports a command's module only to run it (or show
    its own help). Every command runs inside the one error rule (commands/common.kit_errors)."""

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        lazy = COMMANDS.get(cmd_name)
        if lazy is None:
            return None
        if self._listing:
            return TyperCommand(cmd_name, help=lazy.summary)
        return lazy.load(cmd_name)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def invoke(self, ctx: click.Context) -> Any:
        from capacity.commands.common import kit_errors

        with kit_errors():
            return super().invoke(ctx)


app = typer.Typer(
    name="capacity",
    cls=LazyGroup,
    help="Measure Django and FastAPI pods; turn measurements into pods per node, nodes and cost.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main() -> None:
    """Runs before every command: its diagnostic lines go through `logging` to the terminal."""
    from capacity.commands.common import show_diagnostics

    show_diagnostics()
