"""What every command shares: the consoles, the one error-to-exit-code rule, and the log display.

The rule (`kit_errors`, applied to every command by capacity/cli.py): a KitError prints
`error: <message>` (and any notes the command added) on stderr and exits with its class's
`exit_code` (capacity/errors.py); Ctrl-C or SIGTERM prints what was kept and exits 128 + the
signal (130, 143). Nothing the kit reports itself shows a traceback.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console, ConsoleRenderable
from rich.logging import RichHandler
from rich.text import Text

from capacity.errors import KitError
from capacity.interrupts import Interrupted

if TYPE_CHECKING:
    from rich.traceback import Traceback

out = Console()  # answers: tables, JSON, where the report went
if not out.is_terminal:
    out.width = 200  # piped output: keep table rows on one line each instead of 80 columns
# A run's narration: its progress, the log lines of the targets; soft wrap keeps each one line.
narration = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@contextmanager
def kit_errors() -> Iterator[None]:
    """The kit's errors and Ctrl-C become a message and an exit code (see the module doc)."""
    try:
        yield
    except KitError as exc:
        err.print(f"error: {exc}", markup=False)
        for note in getattr(exc, "__notes__", ()):
            err.print(note, markup=False)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt as exc:  # Interrupted (a handled signal) or a bare Ctrl-C
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        notes = getattr(exc, "__notes__", None) or [f"interrupted ({signal.Signals(signum).name})"]
        for note in notes:
            err.print(note, markup=False)
        raise typer.Exit(128 + signum) from None


class DiagnosticHandler(RichHandler):
    """Each record as one dim line (`warning: ` before warnings), without time, level or path
    columns: the lines narrate a run whose files keep the timing. Printed through the run's
    console, so they land above the live progress table."""

    def render_message(self, record: logging.LogRecord, message: str) -> ConsoleRenderable:
        prefix = f"{record.levelname.lower()}: " if record.levelno >= logging.WARNING else ""
        return Text(prefix + message, style="dim")

    def render(
        self,
        *,
        record: logging.LogRecord,
        traceback: Traceback | None,
        message_renderable: ConsoleRenderable,
    ) -> ConsoleRenderable:
        if traceback is not None:
            return super().render(
                record=record, traceback=traceback, message_renderable=message_renderable
            )
        return message_renderable


def show_diagnostics(console: Console = narration) -> None:
    """Send the kit's INFO and louder records (logger `capacity`) to `console`, once."""
    logger = logging.getLogger("capacity")
    logger.setLevel(logging.INFO)
    if not any(isinstance(h, DiagnosticHandler) for h in logger.handlers):
        logger.addHandler(DiagnosticHandler(console=console, markup=False))
