"""The ingest filter options, shared by ``lake settings`` and ``ingest``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from trailscope.cli.base import cell, out
from trailscope.lake.settings import IngestFilters

ExcludeSourceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude-source",
        help="Leave out events of this event source, e.g. s3.amazonaws.com (repeatable, or "
        "comma-separated; * matches any characters).",
        show_default=False,
    ),
]
ExcludeEventOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude-event",
        help="Leave out events of this name, e.g. GetObject or 'Describe*' (repeatable, or "
        "comma-separated).",
        show_default=False,
    ),
]
WhereOpt = Annotated[
    str | None,
    typer.Option(
        "--where",
        help="Keep only events for which this Athena SQL condition holds, over the columns of "
        "the cloudtrail table, e.g. \"useragent = 'console.amazonaws.com' OR eventname = "
        "'ConsoleLogin'\".",
        show_default=False,
    ),
]
RedactOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--redact",
        help="Store this field as NULL, e.g. useridentity.accesskeyid (repeatable, or "
        "comma-separated).",
        show_default=False,
    ),
]


def names(values: list[str] | None) -> list[str] | None:
    """Repeated and comma-separated values as one list (None when the option was not given)."""
    if values is None:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def filters_from_options(
    exclude_source: list[str] | None,
    exclude_event: list[str] | None,
    where: str | None,
    redact: list[str] | None,
) -> IngestFilters:
    return IngestFilters(
        tuple(names(exclude_source) or ()),
        tuple(names(exclude_event) or ()),
        where,
        tuple(names(redact) or ()),
    )


def print_filters(filters: IngestFilters, *, title: str = "ingest filters") -> None:
    """The filters as a two-column table (or a line saying ingest keeps everything)."""
    lines = filters.describe()
    if not lines:
        out.print(f"{title}: none (every event is kept whole)")
        return
    table = Table(show_header=False, box=None, pad_edge=False, title_justify="left")
    for name, value in lines:
        table.add_row(name, cell(value))
    out.print(f"{title}:")
    out.print(table)
