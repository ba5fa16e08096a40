"""How commands print rows: one ``--format`` (with its shortcuts), files, pipes, Excel CSV,
and terminal tables that keep ids, ARNs and timestamps whole."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from trailscope.cli.base import cell, err, out, plain, safe, usage
from trailscope.cli.completion import complete_zone
from trailscope.errors import TrailscopeError

# Result outputs of every command that prints rows (the terminal table is the default);
# --csv, --json, --ndjson, --parquet FILE and --excel are shortcuts for --format.


class Format(StrEnum):
    """What a command prints its rows as (``--format``)."""

    table = "table"
    csv = "csv"
    json = "json"
    ndjson = "ndjson"
    parquet = "parquet"


FormatOpt = Annotated[
    Format | None,
    typer.Option(
        "--format",
        "-F",
        help="table (the default), csv, json, ndjson or parquet; --csv, --json, --ndjson, "
        "--parquet FILE and --excel are shortcuts, and two different ones are a usage error.",
        show_default=False,
    ),
]
CsvOpt = Annotated[bool, typer.Option("--csv", help="Write CSV (RFC 4180) to stdout.")]
JsonOutOpt = Annotated[bool, typer.Option("--json", help="Write a JSON array to stdout.")]
NdjsonOpt = Annotated[bool, typer.Option("--ndjson", help="Write one JSON object per line.")]
ParquetOpt = Annotated[
    Path | None, typer.Option("--parquet", help="Write the result to this Parquet file.")
]
ExcelOpt = Annotated[
    bool,
    typer.Option(
        "--excel",
        help="CSV for Excel: UTF-8 with a byte-order mark (so Japanese and other non-ASCII "
        "text opens correctly) and cells that would start a formula made inert.",
    ),
]
OutputOpt = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write to this file instead of stdout."),
]
TzOpt = Annotated[
    str | None,
    typer.Option(
        "--tz",
        envvar="TRAILSCOPE_TZ",
        help="Show times in this IANA zone (Asia/Tokyo), and read --since/--until written "
        "without a zone in it; default UTC. Exports stay UTC.",
        show_default=False,
        autocompletion=complete_zone,
    ),
]


@dataclass(frozen=True)
class Output:
    """Where and how a command writes its rows, chosen once from its output flags."""

    format: str = "table"
    path: Path | None = None
    excel: bool = False
    max_rows: int = 100
    tz: str | None = None


def choose_output(
    fmt: str | Format | None = None,
    *,
    csv: bool = False,
    json_: bool = False,
    ndjson: bool = False,
    parquet: Path | None = None,
    excel: bool = False,
    output: Path | None = None,
    max_rows: int = 100,
    tz: str | None = None,
) -> Output:
    """The one output a command line asks for; two different ones are a usage error, never a
    silent choice."""
    fmt = None if fmt is None else str(Format(fmt))
    asked: dict[str, str] = {}
    for flag, given, kind in (
        ("--csv", csv, "csv"),
        ("--json", json_, "json"),
        ("--ndjson", ndjson, "ndjson"),
        ("--parquet", parquet is not None, "parquet"),
        ("--excel", excel, "csv"),
        (f"--format {fmt}", fmt is not None, fmt or ""),
    ):
        if given:
            asked.setdefault(kind, flag)
    if len(asked) > 1:
        usage(f"conflicting output options: {' and '.join(asked.values())} (give one)")
    kind = next(iter(asked), "table")
    if parquet is not None and output is not None and parquet != output:
        usage("conflicting output files: --parquet and --output name different files")
    path = parquet or output
    if kind == "table" and path is not None:
        usage(
            "a terminal table is not written to a file: add --format csv, json, ndjson or parquet"
        )
    if kind == "parquet" and path is None and sys.stdout.isatty():
        usage("Parquet is binary: give --output FILE (or --parquet FILE), or pipe stdout")
    if tz is not None:
        from trailscope.timewindow import zone

        try:
            zone(tz)
        except TrailscopeError as exc:
            usage(f"--tz: {exc.message}")
    return Output(kind, path, excel, max_rows, tz)


def emit(reader: Any, output: Output) -> int:
    """Write a result as ``output`` asks; returns the rows written (or shown)."""
    from trailscope import export

    if output.format == "table":
        return print_table(reader, output.max_rows, tz=output.tz)
    if output.excel:
        reader = export.defuse_formulas(reader)
    if output.path is not None:
        try:
            if output.format == "parquet":
                n = export.write_parquet(reader, str(output.path))
            else:
                with output.path.open("wb") as fh:
                    n = _write(export, output, reader, fh)
        except OSError as exc:
            raise TrailscopeError(f"cannot write {output.path}: {exc.strerror}") from None
        err.print(f"wrote {n:,} rows to {safe(output.path)}", highlight=False)
        return n
    n = _write(export, output, reader, sys.stdout.buffer)
    sys.stdout.buffer.flush()
    return n


def _write(export: Any, output: Output, reader: Any, fh: Any) -> int:
    if output.format == "csv":
        if output.excel:
            fh.write(export.UTF8_BOM)
        return int(export.write_csv(reader, fh))
    if output.format == "parquet":
        return int(export.write_parquet(reader, fh))
    writer = export.write_json if output.format == "json" else export.write_ndjson
    return int(writer(reader, fh))


#: A value a reader copies whole: an id, an ARN, a timestamp, an address, a name (no spaces,
#: not JSON); folding one across lines breaks the copy, so such columns never wrap.
_WHOLE = re.compile(r"^[\w:/.@+=,*#-]{1,256}$")
#: What a column that may fold is given at least (a value this short is never folded).
_FOLD_MIN = 12


def _shown(value: object, tz: Any) -> str:
    if tz is not None:
        from trailscope.timewindow import show_time

        if isinstance(value, datetime):
            return show_time(value, tz)
        if isinstance(value, str) and _ISO_UTC.match(value):
            return show_time(value, tz)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S%z").replace("+0000", "Z")
    return "" if value is None else str(value)


def _is_time(value: object) -> bool:
    return isinstance(value, datetime) or (isinstance(value, str) and bool(_ISO_UTC.match(value)))


_ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def table_layout(
    names: list[str],
    rows: list[list[str]],
    width: int,
    times: frozenset[int] = frozenset(),
    drop_first: tuple[int, ...] = (),
    always: frozenset[int] = frozenset(),
) -> tuple[list[int], set[int]]:
    """Which columns a terminal table of ``width`` shows, and which of them are kept whole.

    Columns of ids, ARNs and timestamps never wrap; when they do not all fit, columns are
    dropped from the middle (first the ones that could fold), keeping the first and the last;
    ``drop_first`` names columns to drop before any other, in that order; columns in
    ``always`` are never dropped (they fold when nothing else is left to drop).
    """
    whole: set[int] = set()
    need: dict[int, int] = {}
    for i, name in enumerate(names):
        values = [r[i] for r in rows if r[i]]
        need[i] = max([cell_len(v) for v in values] + [min(cell_len(name), _FOLD_MIN)])
        if values and (i in times or all(_WHOLE.match(v) or len(v) <= _FOLD_MIN for v in values)):
            whole.add(i)
    keep = list(range(len(names)))

    def total() -> int:
        return (
            sum(need[i] if i in whole else min(need[i], _FOLD_MIN) for i in keep)
            + 3 * len(keep)
            + 1
        )

    for i in drop_first:
        if total() <= width:
            break
        keep.remove(i)
    while total() > width and len(keep) > 2:
        middle = [i for i in keep[1:-1] if i not in always]
        if not middle:
            break
        folding = [i for i in middle if i not in whole]
        pool = folding or middle
        keep.remove(pool[len(pool) // 2])
    while total() > width and whole & set(keep):
        # a value wider than the terminal: folded onto more lines, never cut off
        whole.discard(max(whole & set(keep), key=lambda i: need[i]))
    return keep, whole


def print_table(reader: Any, max_rows: int, *, tz: str | None = None) -> int:
    """The first ``max_rows`` rows as a terminal table; returns how many rows there were."""
    zone_ = None
    if tz is not None:
        from trailscope.timewindow import zone

        zone_ = zone(tz)
    names = list(reader.schema.names)
    rows: list[list[str]] = []
    total = 0
    not_times: set[int] = set()
    for batch in reader:
        total += batch.num_rows
        if len(rows) >= max_rows:
            continue  # count the rest without converting it
        for row in batch.slice(0, max_rows - len(rows)).to_pylist():
            values = list(row.values())
            not_times.update(i for i, v in enumerate(values) if v is not None and not _is_time(v))
            rows.append([plain(_shown(v, zone_)) for v in values])
    times = frozenset(range(len(names))) - not_times
    keep, whole = table_layout(names, rows, out.width, times)
    table = Table(show_lines=False)
    for i in keep:
        if i in whole:
            table.add_column(cell(names[i]), no_wrap=True, min_width=need_width(rows, i))
        else:
            table.add_column(cell(names[i]), overflow="fold")
    for r in rows:
        table.add_row(*(Text(r[i]) for i in keep))
    out.print(table)
    more = f" (showing {len(rows)}; use --format csv or json for all)" if total > len(rows) else ""
    err.print(f"[dim]{total:,} rows{more}[/]")
    if len(keep) < len(names):
        hidden = ", ".join(names[i] for i in range(len(names)) if i not in keep)
        err.print(
            f"[dim]not shown to keep ids, ARNs and times whole: {safe(hidden)} "
            "(widen the terminal, select fewer columns, or use --format csv)[/]",
            highlight=False,
            soft_wrap=True,
        )
    return total


def need_width(rows: list[list[str]], i: int) -> int:
    """Terminal cells the widest value of column ``i`` takes (CJK characters take two)."""
    return max(cell_len(r[i]) for r in rows)
