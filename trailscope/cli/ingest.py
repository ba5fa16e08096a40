"""``ingest`` and ``lake info|compact``: getting trail files into a lake and looking after it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from trailscope.cli.base import (
    EXIT_OK,
    EXIT_QUARANTINED,
    AccountOpt,
    JsonOpt,
    LakeOpt,
    RegionFilterOpt,
    app,
    guard,
    lake_app,
    out,
    print_ingest_summary,
    progress,
)
from trailscope.errors import TrailscopeError

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
    account: AccountOpt = None,
    region: RegionFilterOpt = None,
    profile: Annotated[
        str | None, typer.Option(help="AWS profile for s3:// sources (default: the AWS chain).")
    ] = None,
    endpoint_url: Annotated[
        str | None, typer.Option(help="S3-compatible endpoint, e.g. http://127.0.0.1:9000.")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Worker processes (default: one per CPU core; a run of one batch, about "
            "10 MB of new files, is decoded in-process).",
        ),
    ] = None,
    no_compact: Annotated[
        bool, typer.Option("--no-compact", help="Skip merging small files after ingest.")
    ] = False,
    engine: Annotated[
        str,
        typer.Option(
            help="Where batches run: 'local' (worker processes) or 'spark' (tasks of a Spark "
            "session; the source and the lake must be reachable from every executor)."
        ),
    ] = "local",
    spark_master: Annotated[
        str | None, typer.Option(help="Spark master URL for --engine spark (default: local[*]).")
    ] = None,
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

      trailscope ingest s3://bucket/AWSLogs/ --lake s3://analytics/trailscope/ --engine spark
    """
    from trailscope.facade import Lake
    from trailscope.timeparse import parse_time

    def run() -> int:
        runner = None
        if engine == "spark":
            from trailscope.engines.spark import get_session
            from trailscope.lake.spark_ingest import spark_runner

            runner = spark_runner(get_session(spark_master))
        elif engine != "local":
            raise TrailscopeError(f"unknown engine {engine!r}", hint="use 'local' or 'spark'")
        lk = Lake(lake)
        with progress(quiet=as_json) as prog:
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
                runner=runner,
            )
        if as_json:
            out.print_json(data=summary.__dict__)
        else:
            print_ingest_summary(summary)
        return EXIT_QUARANTINED if summary.problems else EXIT_OK

    raise typer.Exit(guard(run))


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
    from trailscope.facade import open_lake

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

    raise typer.Exit(guard(run))


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
    from trailscope.facade import open_lake

    def run() -> int:
        changed = open_lake(lake).compact(full=full)
        out.print(f"compacted {changed} partition(s)")
        return EXIT_OK

    raise typer.Exit(guard(run))
