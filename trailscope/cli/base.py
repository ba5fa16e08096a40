"""What every command shares: the app, the consoles, common options and progress (rows are
printed by ``output``).

Commands call the library and only format what it returns; errors the library raises on
purpose are printed as one line plus a hint, never as a traceback (see ``guard``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from trailscope import __version__
from trailscope.errors import QueryInterrupted, TrailscopeError
from trailscope.exitcodes import DESCRIPTIONS, ExitCode

try:  # typer 0.2x carries its own copy of click; older ones use click itself
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover
    from click.exceptions import UsageError  # type: ignore[assignment]

#: Exit codes, documented in ``--help`` and the README (the table: ``trailscope.exitcodes``).
EXIT_OK = ExitCode.OK
EXIT_ERROR = ExitCode.ERROR
EXIT_QUARANTINED = ExitCode.QUARANTINED


class _Group(TyperGroup):
    """The root command: a command line that cannot run as typed exits with
    :attr:`ExitCode.USAGE` (64), not click's 2, which means "findings" here."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except UsageError as exc:
            _as_usage(exc)
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            _as_usage(exc)
            raise


def _as_usage(exc: Exception) -> None:
    exc.exit_code = int(ExitCode.USAGE)  # type: ignore[attr-defined]


def exit_codes_text() -> str:
    """The exit-code table as ``--help`` shows it (one line per code)."""
    return "\n".join(f"* {int(code)}: {text}" for code, text in DESCRIPTIONS.items())


app = typer.Typer(
    cls=_Group,
    epilog="**Exit codes**\n\n" + exit_codes_text(),
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
# Which part of a trail to read (ingest, verify). These filter the trail's folders; they are
# not the AWS CLI's --region (the region an API is called in), hence their own names.
AccountOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--only-account",
        "--account",
        "-a",
        help="Read only this account's logs (repeatable; --account is the same option).",
    ),
]
RegionFilterOpt = Annotated[
    list[str] | None,
    typer.Option("--only-region", "-r", help="Read only this region's logs (repeatable)."),
]


def _old_region(value: list[str] | None) -> list[str] | None:
    if value:
        raise typer.BadParameter(
            "here --region would be ambiguous: to read only a region's logs write "
            f"-r/--only-region {value[0]}; an s3:// source's client region is found by itself"
        )
    return value


#: ``--region`` on a command that reads a trail: refused with the way to say it (it filtered
#: before the options were named as in the AWS CLI; a silent change of meaning would be worse).
OldRegionOpt = Annotated[
    list[str] | None, typer.Option("--region", hidden=True, callback=_old_region)
]
# Where a command touches two places, each has its own AWS options (as the AWS CLI's --profile
# and --endpoint-url, one set per place); --profile/--endpoint-url name the source's.
SourceProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--source-profile",
        "--profile",
        help="AWS profile for reading an s3:// source (default: the AWS credential chain); "
        "--profile is the same option. The lake's is --lake-profile.",
    ),
]
SourceEndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--source-endpoint-url",
        "--endpoint-url",
        help="S3-compatible endpoint of the source, e.g. http://127.0.0.1:9000; "
        "--endpoint-url is the same option. The lake's is --lake-endpoint-url.",
    ),
]
LakeProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--lake-profile",
        envvar="TRAILSCOPE_LAKE_PROFILE",
        help="AWS profile for an s3:// lake (default: the AWS credential chain, $AWS_PROFILE).",
    ),
]
LakeEndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--lake-endpoint-url",
        help="S3-compatible endpoint of an s3:// lake (default: $AWS_ENDPOINT_URL_S3).",
    ),
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
    """A progress display on stderr (off with ``quiet`` or when stderr is not a terminal)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=quiet or not err.is_terminal,
    )


def ingest_ticker(prog: Progress, source: str) -> Any:
    """An ingest's progress callback that says what it does: "listing SOURCE" until the
    listing is done, then "ingesting" with files done of files to read, and events added."""
    task = prog.add_task(f"listing {escape(plain(source))}", total=None, detail="")

    def tick(done: int, total: int, events: int) -> None:
        prog.update(
            task,
            description="ingesting",
            completed=done,
            total=total or None,
            detail=f"{done:,}/{total:,} files  {events:,} events",
        )

    return tick


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


def check_time(value: str | None) -> str | None:
    """``--since``/``--until`` that cannot be read are a usage error (64), said before any
    work starts; the value is kept as typed (ages resolve when the command runs)."""
    if value is not None:
        from trailscope.timeparse import parse_time

        try:
            parse_time(value)
        except TrailscopeError as exc:
            raise typer.BadParameter(f"{exc.message}: {exc.hint}") from None
    return value


def usage(message: str) -> NoReturn:
    """Refuse a command line that cannot run as typed (exit code 64)."""
    raise UsageError(message)


def read_sql(sql: str | None, file: Path | None) -> str:
    """The SQL as given: an argument, ``-f FILE``, or ``-`` (either way) for stdin."""
    if sql is None and file is None and not sys.stdin.isatty():
        sql = "-"  # 'echo "SELECT ..." | trailscope query', as sqlite3 and duckdb read it
    if (sql is None) == (file is None):
        usage("give the SQL as an argument, with -f FILE, or '-' to read it from stdin")
    if file is None:
        text = sys.stdin.read() if sql == "-" else sql or ""
        if not text.strip():
            usage("no SQL given (stdin was empty)" if sql != "" else "the SQL is empty")
        return text
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
