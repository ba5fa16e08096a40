"""The ``trailscope`` command: a thin shell over the library.

This is the only module that imports the CLI framework. Every command calls a ``Lake`` (or
``synth``) method and only formats what it returns; errors the library raises on purpose are
printed as one line plus a hint, never as a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from trailscope import __version__
from trailscope.errors import TrailscopeError

#: Exit codes, documented in ``--help`` and the README.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_QUARANTINED = 3

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

out = Console()
err = Console(stderr=True)

LakeOpt = Annotated[
    Path,
    typer.Option(
        "--lake",
        "-l",
        envvar="TRAILSCOPE_LAKE",
        help="Lake folder (created by ingest). Also read from $TRAILSCOPE_LAKE.",
        show_default=True,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead.")]
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


# --------------------------------------------------------------------------- ingest


@app.command()
def ingest(
    source: Annotated[
        str,
        typer.Argument(
            help="A local folder (a copy of the trail bucket, its AWSLogs/ folder, or any folder "
            "of CloudTrail JSON files) or s3://BUCKET/PREFIX.",
            show_default=False,
        ),
    ],
    lake: LakeOpt = Path("lake"),
    since: Annotated[
        str | None,
        typer.Option(
            help="Only day folders from this time on (2024-06-01, 2024-06-01T12:00Z, 7d)."
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only day folders up to this time (same forms as --since).")
    ] = None,
    account: Annotated[
        list[str] | None, typer.Option("--account", "-a", help="Only this account (repeatable).")
    ] = None,
    region: Annotated[
        list[str] | None, typer.Option("--region", "-r", help="Only this region (repeatable).")
    ] = None,
    profile: Annotated[
        str | None, typer.Option(help="AWS profile for s3:// sources (default: the AWS chain).")
    ] = None,
    endpoint_url: Annotated[
        str | None, typer.Option(help="S3-compatible endpoint, e.g. http://127.0.0.1:9000.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (default: one per CPU core).")
    ] = None,
    no_compact: Annotated[
        bool, typer.Option("--no-compact", help="Skip merging small files after ingest.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add new and changed CloudTrail files from SOURCE to the lake.

    Safe to re-run (only new or changed files are read) and safe to interrupt (a killed run
    leaves whole batches or nothing; the next run continues). Digest files and objects that
    are not CloudTrail logs are classified and counted, never fatal. Files or events that cannot
    be read are quarantined with a reason: see 'trailscope lake info'.

    --since/--until select day folders (with one day of margin for late delivery); whole files
    are ingested, so events just outside the window can appear.

    Exit codes: 0 ok, 1 error, 3 finished but something was quarantined.

    Examples:

      trailscope ingest ./AWSLogs --lake ./lake

      trailscope ingest s3://my-trail-bucket/AWSLogs/ --profile audit --since 2024-06-01

      trailscope ingest s3://bucket/AWSLogs/o-abc123defg/ -a 111122223333 -r us-east-1
    """
    from trailscope.lake import Lake
    from trailscope.timeparse import parse_time

    def run() -> int:
        lk = Lake(lake)
        with _progress(quiet=as_json) as prog:
            task = prog.add_task("ingesting", total=None, events=0)

            def tick(done: int, total: int, events: int) -> None:
                prog.update(task, completed=done, total=total or None, events=events)

            summary = lk.ingest(
                source,
                since=parse_time(since) if since else None,
                until=parse_time(until, end_of_day=True) if until else None,
                accounts=account,
                regions=region,
                workers=workers,
                compact=not no_compact,
                profile=profile,
                endpoint_url=endpoint_url,
                progress=tick,
            )
        if as_json:
            out.print_json(data=summary.__dict__)
        else:
            _print_ingest_summary(summary)
        return EXIT_QUARANTINED if summary.problems else EXIT_OK

    raise typer.Exit(_guard(run))


def _progress(quiet: bool) -> Progress:
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


def _print_ingest_summary(s: Any) -> None:
    rate = s.events_added / s.seconds if s.seconds else 0
    out.print(
        f"[bold green]ingested[/] {s.events_added:,} events from {s.read:,} files "
        f"in {s.seconds:.1f} s ({rate:,.0f} events/s) into {s.lake}"
    )
    rows = [
        ("files listed", s.listed),
        ("already in the lake", s.already_ingested),
        ("files read", s.read),
        ("empty files", s.empty_objects),
        ("duplicate events dropped", s.duplicates_dropped),
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
            f"{s.quarantined_events:,} events (see 'trailscope lake info --lake {s.lake}')"
        )


# --------------------------------------------------------------------------- query


@app.command()
def query(
    sql: Annotated[
        str | None,
        typer.Argument(
            help="Athena SQL over the table 'cloudtrail' (or use -f FILE).", show_default=False
        ),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Read the SQL from a file ('-': stdin).")
    ] = None,
    lake: LakeOpt = Path("lake"),
    csv: CsvOpt = False,
    json_: JsonOutOpt = False,
    ndjson: NdjsonOpt = False,
    parquet: ParquetOpt = None,
    show_sql: Annotated[
        bool, typer.Option("--show-sql", help="Print the SQL as run on the engine, then run it.")
    ] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="Run it and show the plan with files and rows read.")
    ] = False,
    timeout: Annotated[float, typer.Option(min=0.1, help="Cancel after this many seconds.")] = 300,
    max_rows: Annotated[
        int, typer.Option(min=1, help="Rows shown in the terminal table (exports are complete).")
    ] = 100,
) -> None:
    """Run an Athena-dialect SQL query on the lake.

    Queries written for Athena's CloudTrail table run unchanged: any table name (for example
    "default"."cloudtrail_logs_mytrail" or DATABASE.TABLE) is read from the lake, the
    partition columns of the usual Athena DDLs (date_partition, timestamp, region, ...) exist,
    and time conditions on eventtime read only the days they need.

    Examples:

      trailscope query "SELECT eventname, count(*) FROM cloudtrail GROUP BY 1 ORDER BY 2 DESC"

      trailscope query -f hunt.sql --csv > out.csv

      trailscope query "SELECT * FROM cloudtrail WHERE eventtime >= '2024-07-01'" --show-sql
    """
    from trailscope.lake import open_lake

    def run() -> int:
        text = _read_sql(sql, file)
        lk = open_lake(lake)
        translation = lk.sql_for(text)
        for notice in translation.notices:
            err.print(f"[dim]note: {notice}[/]", highlight=False, soft_wrap=True)
        if show_sql:
            err.print(translation.sql, highlight=False, soft_wrap=True)
        engine = lk.engine()
        try:
            if explain:
                out.print(engine.explain(translation.sql), highlight=False, soft_wrap=True)
                return EXIT_OK
            reader = engine.reader(translation.sql, timeout=timeout)
            _emit(reader, csv=csv, json_=json_, ndjson=ndjson, parquet=parquet, max_rows=max_rows)
        finally:
            engine.close()
        return EXIT_OK

    raise typer.Exit(_guard(run))


queries_app = typer.Typer(help="The saved-query library.", no_args_is_help=True)
app.add_typer(queries_app, name="queries")

QueriesDirOpt = Annotated[
    list[Path] | None,
    typer.Option("--queries-dir", help="Also load saved queries (*.sql) from this folder."),
]


@queries_app.command("list")
def queries_list(extra: QueriesDirOpt = None, as_json: JsonOpt = False) -> None:
    """List the saved queries with their titles and parameters."""
    from trailscope.queries import load_library

    def run() -> int:
        lib = load_library(extra)
        if as_json:
            data = [
                {
                    "name": q.name,
                    "title": q.title,
                    "description": q.description,
                    "params": [p.__dict__ for p in q.params],
                    "chart": q.chart,
                    "sql": q.sql,
                }
                for q in lib.values()
            ]
            out.print_json(data=data)
            return EXIT_OK
        t = Table("name", "title", "parameters", box=None)
        for q in lib.values():
            params = " ".join(
                f"{p.name}" + ("" if p.required else f"={p.default}") for p in q.params
            )
            t.add_row(q.name, q.title, params)
        out.print(t)
        return EXIT_OK

    raise typer.Exit(_guard(run))


@queries_app.command("show")
def queries_show(name: str, extra: QueriesDirOpt = None) -> None:
    """Print one saved query: its description, parameters and SQL."""
    from trailscope.queries import get_query, load_library

    def run() -> int:
        q = get_query(name, load_library(extra))
        out.print(f"[bold]{q.name}[/]: {q.title}\n{q.description}\n", soft_wrap=True)
        for p in q.params:
            default = "required" if p.required else f"default {p.default}"
            out.print(f"  --param {p.name}=... ({p.type}, {default}) {p.description}")
        out.print(f"\n{q.sql}", highlight=False, soft_wrap=True)
        return EXIT_OK

    raise typer.Exit(_guard(run))


@app.command("run")
def run_saved(
    name: Annotated[str, typer.Argument(help="A saved query (see 'trailscope queries list').")],
    lake: LakeOpt = Path("lake"),
    since: Annotated[str | None, typer.Option(help="Shortcut for --param since=...")] = None,
    until: Annotated[str | None, typer.Option(help="Shortcut for --param until=...")] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE (repeatable).")
    ] = None,
    extra: QueriesDirOpt = None,
    csv: CsvOpt = False,
    json_: JsonOutOpt = False,
    ndjson: NdjsonOpt = False,
    parquet: ParquetOpt = None,
    show_sql: Annotated[bool, typer.Option("--show-sql", help="Print the SQL as run.")] = False,
    timeout: Annotated[float, typer.Option(min=0.1, help="Cancel after this many seconds.")] = 300,
    max_rows: Annotated[int, typer.Option(min=1, help="Rows shown in the terminal.")] = 100,
) -> None:
    """Run a saved query from the library, with parameters.

    Examples:

      trailscope run failed-console-logins --since 24h --lake ./lake --csv

      trailscope run iam-user-activity --param user=alice --since 2024-07-01 --until 2024-07-17
    """
    from trailscope.lake import open_lake
    from trailscope.queries import get_query, load_library
    from trailscope.sql import translate

    def run() -> int:
        values: dict[str, str] = {}
        for item in param or []:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise TrailscopeError(f"--param needs NAME=VALUE, got {item!r}")
            values[key.strip()] = value
        for key, value in (("since", since), ("until", until)):
            if value is not None:
                values[key] = value
        saved = get_query(name, load_library(extra))
        bound = saved.bind(values)
        translation = translate(saved.sql, params=bound)
        if show_sql:
            err.print(translation.sql, highlight=False, soft_wrap=True)
            err.print(f"[dim]parameters: {bound}[/]", highlight=False, soft_wrap=True)
        engine = open_lake(lake).engine()
        try:
            reader = engine.reader(translation.sql, timeout=timeout, params=bound)
            _emit(reader, csv=csv, json_=json_, ndjson=ndjson, parquet=parquet, max_rows=max_rows)
        finally:
            engine.close()
        return EXIT_OK

    raise typer.Exit(_guard(run))


def _emit(
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
        _print_table(reader, max_rows)


def _read_sql(sql: str | None, file: Path | None) -> str:
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


def _print_table(reader: Any, max_rows: int) -> None:
    table = Table(*reader.schema.names, show_lines=False)
    shown = total = 0
    for batch in reader:
        total += batch.num_rows
        for row in batch.to_pylist():
            if shown >= max_rows:
                break
            table.add_row(*("" if v is None else str(v) for v in row.values()))
            shown += 1
    out.print(table)
    more = f" (showing {shown}; use --csv or --json for all)" if total > shown else ""
    err.print(f"[dim]{total:,} rows{more}[/]")


# --------------------------------------------------------------------------- lake


@lake_app.command("info")
def lake_info(
    lake: LakeOpt = Path("lake"),
    quarantine: Annotated[
        int, typer.Option(min=0, help="How many quarantine entries to list.")
    ] = 20,
    as_json: JsonOpt = False,
) -> None:
    """What the lake holds: events, accounts, regions, days, files, bytes, skipped, quarantined."""
    from trailscope.lake import open_lake

    def run() -> int:
        info = open_lake(lake).info(quarantine_limit=quarantine)
        if as_json:
            out.print_json(data=info.to_json())
            return EXIT_OK
        t = Table(show_header=False, box=None, pad_edge=False)
        t.add_row("lake", info.path)
        t.add_row("events", f"{info.events:,}")
        t.add_row("days", f"{info.first_day} .. {info.last_day} ({info.partitions} partitions)")
        t.add_row("accounts", _list(info.accounts))
        t.add_row("regions", _list(info.regions))
        t.add_row(
            "files",
            f"{info.files:,} Parquet, {info.bytes / 1e6:,.1f} MB, "
            f"at most {info.max_files_per_partition} per partition",
        )
        t.add_row("source files", ", ".join(f"{v:,} {k}" for k, v in sorted(info.objects.items())))
        if info.skipped_by_kind:
            t.add_row("skipped", ", ".join(f"{v:,} {k}" for k, v in info.skipped_by_kind.items()))
        t.add_row("commits", f"{info.commits} (last {info.last_commit})")
        out.print(t)
        n_objects = info.objects.get("quarantined", 0)
        if n_objects or info.quarantined_events:
            out.print(
                f"\n[bold yellow]quarantine[/]: {n_objects:,} files, "
                f"{info.quarantined_events:,} events"
            )
            for entry in info.quarantine:
                where = entry.uri if entry.position is None else f"{entry.uri} #{entry.position}"
                out.print(f"  {where}: {entry.reason}", soft_wrap=True, highlight=False)
        return EXIT_OK

    raise typer.Exit(_guard(run))


def _list(items: list[str], limit: int = 8) -> str:
    head = ", ".join(items[:limit])
    return f"{head} (+{len(items) - limit} more)" if len(items) > limit else head or "-"


@lake_app.command("compact")
def lake_compact(
    lake: LakeOpt = Path("lake"),
    full: Annotated[
        bool, typer.Option("--full", help="Merge every small file, not just enough to stay at 4.")
    ] = False,
) -> None:
    """Merge small Parquet files so each day partition stays a few files.

    Ingest already does this for the days it touched; run it by hand after changing settings or
    with --full before archiving a lake.
    """
    from trailscope.lake import open_lake

    def run() -> int:
        changed = open_lake(lake).compact(full=full)
        out.print(f"compacted {changed} partition(s)")
        return EXIT_OK

    raise typer.Exit(_guard(run))


# --------------------------------------------------------------------------- synth / demo


@app.command()
def synth(
    dest: Annotated[Path, typer.Argument(help="Folder to write the trail into.")],
    events: Annotated[int, typer.Option(min=1, help="Unique events in log files.")] = 200_000,
    seed: Annotated[int, typer.Option(help="Same seed, same bytes.")] = 7,
    accounts: Annotated[int, typer.Option(min=1, help="Number of AWS accounts.")] = 3,
    days: Annotated[int, typer.Option(min=1, help="Number of days, ending on --end.")] = 7,
    end: Annotated[
        str | None, typer.Option(help="Last day (YYYY-MM-DD); default 2024-07-17.")
    ] = None,
    org_id: Annotated[
        str | None, typer.Option(help="Write an organization trail (AWSLogs/<org-id>/...).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing trail in DEST.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a realistic, deterministic sample trail in the real S3 key layout.

    Several accounts and regions, all identity types, console logins (with and without MFA),
    SwitchRole chains, security-group changes, errors, data events, Insight events, digest
    files, re-delivered events and a handful of planted incidents (root console login without
    MFA, a burst of failed logins, a security group opened to the world, StopLogging, an access
    key created for another user).
    """
    from datetime import date

    def run() -> int:
        report = _synth(
            dest,
            events=events,
            seed=seed,
            accounts=accounts,
            days=days,
            end=date.fromisoformat(end) if end else None,
            org_id=org_id,
            overwrite=overwrite,
            quiet=as_json,
        )
        if as_json:
            data = {k: v for k, v in report.__dict__.items() if k != "files"}
            out.print_json(json.dumps(data, default=str))
        else:
            out.print(
                f"[bold green]wrote[/] {report.events:,} events in {report.log_files:,} log files "
                f"(+{report.insight_files} insight, {report.digest_files} digest, "
                f"{report.other_files} other) to {report.root}"
            )
            for inc in report.incidents:
                out.print(f"  planted: {inc.name}: {inc.description}")
        return EXIT_OK

    raise typer.Exit(_guard(run))


def _synth(dest: Path, *, quiet: bool, **kwargs: Any) -> Any:
    from trailscope.synth import synth_trail

    with _progress(quiet=quiet) as prog:
        task = prog.add_task("generating", total=kwargs["events"], events=0)

        def tick(n: int) -> None:
            prog.advance(task, n)

        return synth_trail(dest, progress=tick, **kwargs)


@app.command()
def demo(
    workdir: Annotated[
        Path, typer.Option("--dir", help="Where to put the sample trail and the lake.")
    ] = Path("trailscope-demo"),
    events: Annotated[int, typer.Option(min=1000, help="Size of the sample trail.")] = 200_000,
    seed: Annotated[int, typer.Option(help="Seed of the sample trail.")] = 7,
) -> None:
    """Generate a sample trail, ingest it, and answer a few questions from it.

    Everything runs locally with no cloud account: a trail is written to DIR/trail, ingested
    into DIR/lake, and queried with the embedded engine.
    """
    from trailscope.lake import Lake

    def run() -> int:
        trail = workdir / "trail"
        out.print(f"[bold]1/3[/] writing a sample trail of {events:,} events to {trail}")
        report = _synth(trail, events=events, seed=seed, overwrite=True, quiet=False)
        out.print(f"    {report.events:,} events in {report.log_files:,} files")
        lake_path = workdir / "lake"
        out.print(f"[bold]2/3[/] ingesting into {lake_path}")
        lk = Lake(lake_path)
        with _progress(quiet=False) as prog:
            task = prog.add_task("ingesting", total=None, events=0)
            summary = lk.ingest(
                str(trail),
                progress=lambda d, t, e: prog.update(task, completed=d, total=t, events=e),
            )
        _print_ingest_summary(summary)
        out.print("[bold]3/3[/] asking the lake")
        _demo_questions(lk)
        out.print(
            f"\nnext: [bold]trailscope queries list[/], then for example\n"
            f"  trailscope run failed-console-logins --since 2024-07-01 --lake {lake_path}\n"
            f'  trailscope query "SELECT eventname, count(*) FROM cloudtrail GROUP BY 1" '
            f"--lake {lake_path}\n"
            f"  trailscope lake info --lake {lake_path}",
            soft_wrap=True,
            highlight=False,
        )
        return EXIT_OK

    raise typer.Exit(_guard(run))


def _demo_questions(lk: Any) -> None:
    import duckdb

    files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in lk.files())
    con = duckdb.connect()
    con.execute(
        f"CREATE VIEW cloudtrail AS SELECT * FROM read_parquet([{files}], "
        "hive_partitioning = true, hive_types = {'event_date': VARCHAR})"
    )
    questions = {
        "Console logins by outcome": """
            SELECT json_extract_string(responseelements, '$.ConsoleLogin') AS outcome,
                   json_extract_string(additionaleventdata, '$.MFAUsed') AS mfa, count(*) AS n
            FROM cloudtrail WHERE eventname = 'ConsoleLogin' GROUP BY ALL ORDER BY n DESC""",
        "What root did": """
            SELECT eventname, sourceipaddress, count(*) AS n FROM cloudtrail
            WHERE useridentity.type = 'Root' GROUP BY ALL ORDER BY n DESC LIMIT 5""",
        "Top errors": """
            SELECT errorcode, eventsource, count(*) AS n FROM cloudtrail
            WHERE errorcode IS NOT NULL GROUP BY ALL ORDER BY n DESC LIMIT 5""",
    }
    for title, sql in questions.items():
        rel = con.sql(sql)
        table = Table(*rel.columns, title=title, title_justify="left")
        for row in rel.fetchall():
            table.add_row(*("" if v is None else str(v) for v in row))
        out.print(table)


# --------------------------------------------------------------------------- plumbing


def _guard(fn: Any) -> int:
    """Run a command body; turn the library's deliberate errors into one clear message."""
    try:
        return int(fn())
    except TrailscopeError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
        if exc.hint:
            err.print(f"[dim]hint:[/] {exc.hint}", highlight=False, soft_wrap=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        err.print("interrupted: whatever was committed stays; run the command again to continue")
        return 130


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
