"""`capacity catalog`: the node catalog's prices, their dates and sources."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import typer

from capacity.catalog import STALE_AFTER_DAYS, load_catalog
from capacity.commands.common import out
from capacity.commands.options import CatalogOption
from capacity.errors import ConfigError

app = typer.Typer(name="catalog", no_args_is_help=True, add_completion=False)


@app.callback()
def catalog() -> None:
    """The node catalog: prices, dates and sources."""


@app.command("check")
def catalog_check(
    catalog: CatalogOption = None,
    max_age_days: Annotated[
        int, typer.Option(help="A price older than this many days is stale.")
    ] = STALE_AFTER_DAYS,
    today: Annotated[
        str | None, typer.Option(help="Check as of this date (YYYY-MM-DD) [today, UTC].")
    ] = None,
) -> None:
    """List every catalog price older than --max-age-days; exit 1 when there is one."""
    if today is None:
        on = datetime.now(UTC).date()
    else:
        try:
            on = date.fromisoformat(today)
        except ValueError:
            raise ConfigError(
                f"--today {today!r} is not a date; give YYYY-MM-DD, e.g. 2026-12-01"
            ) from None
    if max_age_days < 0:
        raise ConfigError(f"--max-age-days {max_age_days} must be 0 or more (default 180)")
    nodes = load_catalog(catalog)
    stale = nodes.stale_prices(on, max_age_days)
    for line in stale:
        out.print(line, markup=False, highlight=False, soft_wrap=True)
    out.print(
        f"{len(stale)} price(s) in {nodes.path} older than {max_age_days} days on "
        f"{on.isoformat()}" + ("; re-check them before budgeting" if stale else ""),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if stale:
        raise typer.Exit(1)
