"""``lake info|compact|check|repair``: looking after a lake."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from trailscope.cli.base import EXIT_OK, JsonOpt, LakeOpt, cell, guard, lake_app, out, safe
from trailscope.cli.ingest_filters import (
    ExcludeEventOpt,
    ExcludeSourceOpt,
    RedactOpt,
    WhereOpt,
    names,
    print_filters,
)
from trailscope.exitcodes import ExitCode
from trailscope.lake.settings import IngestFilters


@lake_app.command("info")
def lake_info(
    lake: LakeOpt = "lake",
    quarantine: Annotated[
        int, typer.Option(min=0, help="How many quarantine entries to list.")
    ] = 20,
    as_json: JsonOpt = False,
) -> None:
    """What the lake holds: events, accounts, regions, days, files, bytes, skipped, quarantined."""
    from trailscope.cli.watch import print_watch_health
    from trailscope.facade import open_lake
    from trailscope.watch.health import read_health

    def run() -> int:
        opened = open_lake(lake)
        info = opened.info(quarantine_limit=quarantine)
        health = read_health(opened.storage)
        if as_json:
            out.print_json(data={**info.to_json(), "watch": health and health.to_json()})
            return EXIT_OK
        t = Table(show_header=False, box=None, pad_edge=False)
        t.add_row("lake", cell(info.path))
        t.add_row("events", f"{info.events:,}")
        t.add_row("days", f"{info.first_day} .. {info.last_day} ({info.partitions} partitions)")
        t.add_row("accounts", cell(_list(info.accounts)))
        t.add_row("regions", cell(_list(info.regions)))
        t.add_row(
            "files",
            f"{info.files:,} Parquet, {info.bytes / 1e6:,.1f} MB, "
            f"at most {info.max_files_per_partition} per partition",
        )
        t.add_row("source files", ", ".join(f"{v:,} {k}" for k, v in sorted(info.objects.items())))
        if info.skipped_by_kind:
            t.add_row("skipped", ", ".join(f"{v:,} {k}" for k, v in info.skipped_by_kind.items()))
        t.add_row("commits", f"{info.commits} (last {info.last_commit})")
        for name, value in IngestFilters.from_json(info.ingest_filters).describe():
            t.add_row(name, cell(value))
        out.print(t)
        if health is not None:
            print_watch_health(health)
        n_objects = info.objects.get("quarantined", 0)
        if n_objects or info.quarantined_events:
            out.print(
                f"\n[bold yellow]quarantine[/]: {n_objects:,} files, "
                f"{info.quarantined_events:,} events"
            )
            for entry in info.quarantine:
                where = entry.uri if entry.position is None else f"{entry.uri} #{entry.position}"
                out.print(f"  {safe(where)}: {safe(entry.reason)}", soft_wrap=True, highlight=False)
        return EXIT_OK

    raise typer.Exit(guard(run))


def _list(items: list[str], limit: int = 8) -> str:
    head = ", ".join(items[:limit])
    return f"{head} (+{len(items) - limit} more)" if len(items) > limit else head or "-"


@lake_app.command("compact")
def lake_compact(
    lake: LakeOpt = "lake",
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


@lake_app.command("check")
def lake_check(
    lake: LakeOpt = "lake",
    deep: Annotated[
        bool,
        typer.Option("--deep", help="Read every byte and page (CRCs), not only sizes and footers."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check that every file the log names is there, whole and unchanged, and nothing else.

    Lists missing, truncated, altered and replaced parts, files no commit names, and damaged
    commits or checkpoints. The quick check reads sizes and footers; --deep reads everything.
    Exit code 0 when the lake is whole, 5 when something is wrong.

    Examples:

      trailscope lake check --lake ./lake

      trailscope lake check --lake s3://analytics-bucket/trailscope/ --deep --json
    """
    from trailscope.facade import open_lake

    def run() -> int:
        problems = open_lake(lake).check(deep=deep)
        if as_json:
            out.print_json(data={"problems": [p.to_json() for p in problems]})
        elif not problems:
            out.print("the lake is whole" + (" (every page read)" if deep else ""))
        else:
            for p in problems:
                out.print(
                    f"[bold red]{p.kind}[/]: {escape(p.path)}: {escape(p.detail)}",
                    soft_wrap=True,
                    highlight=False,
                )
            out.print(f"\n{len(problems)} problem(s); 'trailscope lake repair' fixes them")
        return ExitCode.LAKE_PROBLEMS if problems else EXIT_OK

    raise typer.Exit(guard(run))


@lake_app.command("repair")
def lake_repair(lake: LakeOpt = "lake", as_json: JsonOpt = False) -> None:
    """Repair what 'lake check' finds, so the lake checks clean again.

    Damaged parts are rebuilt from the source files their events came from (the commit log
    knows them); a part whose sources are gone or changed is dropped, and the log records
    which events were lost. A damaged commit cuts the log there (the next ingest reads those
    files again); damaged checkpoints are replaced; files no commit names are deleted.

    Examples:

      trailscope lake repair --lake ./lake
    """
    from trailscope.facade import open_lake

    def run() -> int:
        report = open_lake(lake).repair()
        if as_json:
            out.print_json(data=report.to_json())
            return EXIT_OK
        for rel in report.rebuilt:
            out.print(f"rebuilt {escape(rel)} from its source files", soft_wrap=True)
        for rel in report.dropped:
            out.print(
                f"[yellow]dropped[/] {escape(rel)}: its source files are gone", soft_wrap=True
            )
        if report.lost_events:
            out.print(f"[bold yellow]{report.lost_events:,} events lost[/] (recorded in the log)")
        if report.cut_commits:
            first, last = report.cut_commits[0], report.cut_commits[-1]
            out.print(
                f"cut the log at damaged commit {first} (commits {first}-{last} moved aside); "
                "ingest again to read their source files"
            )
        if report.removed_files:
            out.print(f"deleted {len(report.removed_files)} file(s) no commit names")
        if report.checkpoints_removed:
            out.print(f"replaced {len(report.checkpoints_removed)} damaged checkpoint file(s)")
        if not any(report.to_json().values()):
            out.print("nothing to repair")
        return EXIT_OK

    raise typer.Exit(guard(run))


@lake_app.command("purge")
def lake_purge(
    before: Annotated[
        str,
        typer.Option(
            "--before",
            help="Remove every day before this one (2024-01-01, or 400d for 400 days ago).",
            show_default=False,
        ),
    ],
    lake: LakeOpt = "lake",
    as_json: JsonOpt = False,
) -> None:
    """Remove whole days of events for good (retention), in one crash-safe commit.

    Later ingests never write those days again, even from files still in the source.

    Examples:

      trailscope lake purge --before 2024-01-01 --lake ./lake

      trailscope lake purge --before 400d --lake s3://analytics-bucket/trailscope/
    """
    from trailscope.facade import open_lake

    def run() -> int:
        report = open_lake(lake).purge(before)
        if as_json:
            out.print_json(data=report.to_json())
        elif report.days:
            out.print(
                f"purged {len(report.days)} day(s) before {report.before} "
                f"({report.days[0]} .. {report.days[-1]}): {report.events:,} events, "
                f"{report.files} files, {report.bytes / 1e6:,.1f} MB"
            )
        else:
            out.print(f"no events before {report.before}; ingest will not write any")
        return EXIT_OK

    raise typer.Exit(guard(run))


@lake_app.command("retention")
def lake_retention(
    days: Annotated[
        str | None,
        typer.Argument(help="Days of events to keep, or 'off'; without it, show the setting."),
    ] = None,
    lake: LakeOpt = "lake",
) -> None:
    """Show or set how many days of events the lake keeps; every ingest purges older days.

    Examples:

      trailscope lake retention 400 --lake ./lake

      trailscope lake retention off --lake ./lake
    """
    from trailscope.errors import TrailscopeError
    from trailscope.facade import open_lake

    def run() -> int:
        lk = open_lake(lake)
        if days is not None:
            if days != "off" and not days.isdigit():
                raise TrailscopeError(
                    f"not a number of days: {days!r}", hint="give a whole number, or 'off'"
                )
            lk.set_retention(None if days == "off" else int(days))
        keep = lk.retention()
        out.print(f"keeps the last {keep} days" if keep else "keeps every day")
        return EXIT_OK

    raise typer.Exit(guard(run))


@lake_app.command("settings")
def lake_settings(
    lake: LakeOpt = "lake",
    exclude_source: ExcludeSourceOpt = None,
    exclude_event: ExcludeEventOpt = None,
    where: WhereOpt = None,
    redact: RedactOpt = None,
    clear: Annotated[
        bool,
        typer.Option("--clear", help="Remove every filter first (then set the options given)."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show or set the ingest filters every later ingest (and watch) applies.

    Each option given replaces that setting (--where '' removes the condition; --clear
    removes them all). Events already in the lake are not changed, and events left out
    before are not brought back: their files are recorded as read.

    Examples:

      trailscope lake settings --exclude-source s3.amazonaws.com --exclude-event GetObject

      trailscope lake settings --where "useragent = 'console.amazonaws.com' OR eventname =
      'ConsoleLogin'" --redact useridentity.accesskeyid

      trailscope lake settings --clear
    """
    from trailscope.errors import LakeError
    from trailscope.facade import Lake, open_lake
    from trailscope.lake.settings import changed

    def run() -> int:
        change = clear or any(v is not None for v in (exclude_source, exclude_event, where, redact))
        lk = Lake(lake) if change else open_lake(lake)
        try:
            before = lk.ingest_filters()
        except LakeError:
            if not clear:
                raise
            before = None  # damaged: --clear replaces them
        after = before or IngestFilters()
        if change:
            after = changed(
                after,
                exclude_sources=names(exclude_source),
                exclude_events=names(exclude_event),
                where=where,
                redact=names(redact),
                clear=clear,
            )
            if after != before:
                lk.set_ingest_filters(after)
        if as_json:
            out.print_json(data={"ingest_filters": after.to_json(), "changed": after != before})
            return EXIT_OK
        print_filters(after)
        if after != before:
            events = sum(p.rows for p in lk.state().parts.values())
            out.print(
                "saved: every later ingest applies them (to files it has not read yet)."
                + (
                    f"\nThe {events:,} events already in the lake are not changed, and events "
                    "left out before are not brought back (their files are recorded as read); "
                    "to apply new filters to everything, ingest the source into a new lake."
                    if events
                    else ""
                ),
                highlight=False,
            )
        elif change:
            out.print("unchanged", highlight=False)
        return EXIT_OK

    raise typer.Exit(guard(run))
