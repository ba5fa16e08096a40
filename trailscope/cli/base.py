"""What every command shares: the app, the consoles, common options, progress and output.

Commands call the library and only format what it returns; errors the library raises on
purpose are printed as one line plus a hint, never as a traceback (see ``guard``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from trailscope import __version__
from trailscope.errors import QueryInterrupted, TrailscopeError
from trailscope.exitcodes import ExitCode

#: Exit codes, documented in ``--help`` and the README (the table: ``trailscope.exitcodes``).
EXIT_OK = ExitCode.OK
EXIT_ERROR = ExitCode.ERROR
EXIT_QUARANTINED = ExitCode.QUARANTINED

app = typer.Typer(
    name="trailscope",
    help=(
        "Turn AWS CloudTrail logs into answers.\n\n"
        "Ingest trail files (a local copy or s3://) into an incremental Parquet lake, then "
        "inspect it. Start with 'trailscope demo' to see it work on a generated sample trail."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)
lake_app = typer.Typer(help="Inspect and maintain a lake.", no_args_is_help=True)
app.add_typer(lake_app, name="lake")

# No emoji codes anywhere: ':100:' in an IPv6 address or a user agent is data, not a picture.
out = Console(emoji=False)
err = Console(stderr=True, emoji=False)

#: What Ctrl-C means for a command that only reads (the default fits commands that write).
INTERRUPTED_READING = "interrupted: " + QueryInterrupted.message
INTERRUPTED_WRITING = "interrupted: whatever was committed stays; run the command again to continue"

LakeOpt = Annotated[
    str,
    typer.Option(
        "--lake",
        "-l",
        envvar="TRAILSCOPE_LAKE",
        help="Lake folder or s3://bucket/prefix/ (created by ingest). Also read from "
        "$TRAILSCOPE_LAKE; S3 lakes use the AWS credential chain ($AWS_PROFILE) and "
        "$AWS_ENDPOINT_URL_S3 for S3-compatible stores.",
        show_default=True,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead.")]
# Which part of a trail to read (ingest, verify).
AccountOpt = Annotated[
    list[str] | None, typer.Option("--account", "-a", help="Only this account (repeatable).")
]
RegionFilterOpt = Annotated[
    list[str] | None, typer.Option("--region", "-r", help="Only this region (repeatable).")
]
# Result outputs shared by 'query' and 'run' (the terminal table is the default).
CsvOpt = Annotated[bool, typer.Option("--csv", help="Write CSV (RFC 4180) to stdout.")]
JsonOutOpt = Annotated[bool, typer.Option("--json", help="Write a JSON array to stdout.")]
NdjsonOpt = Annotated[bool, typer.Option("--ndjson", help="Write one JSON object per line.")]
ParquetOpt = Annotated[
    Path | None, typer.Option("--parquet", help="Write the result to this Parquet file.")
]


def _version(value: bool) -> None:
    if value:
        out.print(f"trailscope {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """Turn AWS CloudTrail logs into answers."""


# --------------------------------------------------------------------------- shared helpers


def progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files  {task.fields[events]:,} events"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=quiet or not err.is_terminal,
    )


def print_ingest_summary(s: Any) -> None:
    rate = s.events_added / s.seconds if s.seconds else 0
    out.print(
        f"[bold green]ingested[/] {s.events_added:,} events from {s.read:,} files "
        f"in {s.seconds:.1f} s ({rate:,.0f} events/s) into {safe(s.lake)}"
    )
    rows = [
        ("files listed", s.listed),
        ("already in the lake", s.already_ingested),
        ("files read", s.read),
        ("empty files", s.empty_objects),
        ("duplicate events dropped", s.duplicates_dropped),
        ("events left out by the lake's filters", getattr(s, "filtered_events", 0)),
        ("unknown fields kept in 'extra'", s.unknown_fields),
        ("values coerced", s.coerced_values),
        ("partitions compacted", s.compacted_partitions),
    ]
    for kind, n in sorted(s.skipped.items()):
        rows.append((f"skipped ({kind})", n))
    table = Table(show_header=False, box=None, pad_edge=False)
    for label, n in rows:
        if n:
            table.add_row(f"  {label}", f"{n:,}")
    out.print(table)
    if s.took_over_lock:
        out.print("[yellow]note:[/] took over the lock of a writer that no longer runs")
    if s.problems:
        out.print(
            f"[bold yellow]quarantined:[/] {s.quarantined_objects:,} files and "
            f"{s.quarantined_events:,} events (see 'trailscope lake info --lake {safe(s.lake)}')"
        )


def emit(
    reader: Any, *, csv: bool, json_: bool, ndjson: bool, parquet: Path | None, max_rows: int
) -> None:
    from trailscope import export

    if parquet is not None:
        n = export.write_parquet(reader, str(parquet))
        err.print(f"wrote {n:,} rows to {parquet}")
    elif csv or json_ or ndjson:
        writer = export.write_csv if csv else export.write_json if json_ else export.write_ndjson
        writer(reader, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    else:
        print_table(reader, max_rows)


def read_sql(sql: str | None, file: Path | None) -> str:
    if (sql is None) == (file is None):
        raise TrailscopeError("give the SQL as an argument or with -f FILE (one of the two)")
    if file is None:
        return sql or ""
    if str(file) == "-":
        return sys.stdin.read()
    try:
        return file.read_text()
    except OSError as exc:
        raise TrailscopeError(f"cannot read {file}: {exc.strerror}") from None


# --------------------------------------------------------------------------- text from the logs

# C0 and C1 control characters (ESC starts every ANSI sequence; U+009B is a one-character CSI),
# DEL, line and paragraph separators, and the bidirectional overrides and isolates that make
# a terminal show characters in another order than they are ("Trojan Source").
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def plain(value: object) -> str:
    """A value from the logs as one line of inert text: every character that could move the
    cursor, recolour or clear the terminal, start a new line or reorder what is shown is
    written as a visible escape (``\\x1b``, ``\\n``, ``\\u202e``) instead."""
    return _UNSAFE.sub(_visible, str(value))


def cell(value: object) -> Text:
    """A table cell holding a value from the logs: shown exactly, never read as Rich markup
    (``[hidden]...[/hidden]``) or emoji codes (``2001:db8::100:7``)."""
    return Text("" if value is None else plain(value))


def safe(value: object) -> str:
    """A value from the logs to put inside a message that uses Rich markup."""
    return escape(plain(value))


def print_table(reader: Any, max_rows: int) -> None:
    table = Table(show_lines=False)
    for name in reader.schema.names:
        table.add_column(cell(name))
    shown = total = 0
    for batch in reader:
        total += batch.num_rows
        if shown >= max_rows:
            continue  # count the rest without converting it
        for row in batch.slice(0, max_rows - shown).to_pylist():
            table.add_row(*(cell(v) for v in row.values()))
            shown += 1
    out.print(table)
    more = f" (showing {shown}; use --csv or --json for all)" if total > shown else ""
    err.print(f"[dim]{total:,} rows{more}[/]")


# --------------------------------------------------------------------------- plumbing


def guard(fn: Any, *, interrupted: str = INTERRUPTED_WRITING) -> int:
    """Run a command body; turn the library's deliberate errors into one clear message.

    :param interrupted: what to say on Ctrl-C (:data:`INTERRUPTED_READING` for commands that
        only read); a query stopped by Ctrl-C always says so.
    """
    try:
        return int(fn())
    except TrailscopeError as exc:
        err.print(f"[bold red]error:[/] {safe(exc.message)}", highlight=False, soft_wrap=True)
        if exc.hint:
            err.print(f"[dim]hint:[/] {safe(exc.hint)}", highlight=False, soft_wrap=True)
        return EXIT_ERROR
    except QueryInterrupted:
        err.print(INTERRUPTED_READING, highlight=False, soft_wrap=True)
        return ExitCode.INTERRUPTED
    except KeyboardInterrupt:
        err.print(interrupted, highlight=False, soft_wrap=True)
        return ExitCode.INTERRUPTED
