"""``ingest``: getting trail files into a lake (its upkeep is in :mod:`trailscope.cli.lake`)."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from trailscope.cli.base import (
    EXIT_OK,
    EXIT_QUARANTINED,
    AccountOpt,
    JsonOpt,
    LakeEndpointOpt,
    LakeOpt,
    LakeProfileOpt,
    OldRegionOpt,
    RegionFilterOpt,
    SourceEndpointOpt,
    SourceProfileOpt,
    app,
    check_time,
    guard,
    ingest_ticker,
    out,
    print_ingest_summary,
    progress,
)
from trailscope.cli.ingest_filters import (
    ExcludeEventOpt,
    ExcludeSourceOpt,
    RedactOpt,
    WhereOpt,
    filters_from_options,
)
from trailscope.decode.limits import DEFAULT_MAX_OBJECT_BYTES, size_text
from trailscope.errors import TrailscopeError

# --------------------------------------------------------------------------- ingest

_SIZE_RE = re.compile(r"\s*(\d+)\s*(?:([KMG])(?:i?B)?|B)?\s*", re.IGNORECASE)
_UNITS = {None: 0, "K": 10, "M": 20, "G": 30}


def parse_size(text: str) -> int:
    """``256MB``, ``1 GiB``, ``4096`` -> bytes (units are binary, as the limits are shown)."""
    m = _SIZE_RE.fullmatch(text)
    if m is None or int(m[1]) < 1:
        raise typer.BadParameter(f"{text!r} is not a size; write it like 256MB, 1GB or 65536")
    return int(m[1]) << _UNITS[m[2].upper() if m[2] else None]


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
    lake: LakeOpt = "lake",
    since: Annotated[
        str | None,
        typer.Option(
            callback=check_time,
            help="Only day folders from this time on (2024-06-01, 2024-06-01T12:00Z, 7d).",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            callback=check_time, help="Only day folders up to this time (same forms as --since)."
        ),
    ] = None,
    account: AccountOpt = None,
    region: RegionFilterOpt = None,
    old_region: OldRegionOpt = None,
    profile: SourceProfileOpt = None,
    endpoint_url: SourceEndpointOpt = None,
    lake_profile: LakeProfileOpt = None,
    lake_endpoint_url: LakeEndpointOpt = None,
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
    max_object_size: Annotated[
        str,
        typer.Option(
            help="Quarantine, without reading them whole, files larger than this once "
            "decompressed (CloudTrail's own are a few MB).",
        ),
    ] = size_text(DEFAULT_MAX_OBJECT_BYTES).replace(" ", ""),
    exclude_source: ExcludeSourceOpt = None,
    exclude_event: ExcludeEventOpt = None,
    where: WhereOpt = None,
    redact: RedactOpt = None,
    save: Annotated[
        bool,
        typer.Option(
            "--save",
            help="Also save these filters in the lake's settings, for every later ingest "
            "(see 'trailscope lake settings').",
        ),
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

    --exclude-source, --exclude-event, --where and --redact filter this run on top of the
    filters saved in the lake (shown by 'trailscope lake info'); --save keeps them for later
    runs. Events left out are counted in the summary, not quarantined.

    Exit codes: 0 ok, 1 error, 3 finished but something was quarantined.

    Examples:

      trailscope ingest ./AWSLogs --lake ./lake

      trailscope ingest s3://my-trail-bucket/AWSLogs/ --profile audit --since 2024-06-01

      trailscope ingest s3://bucket/AWSLogs/o-abc123defg/ -a 111122223333 -r us-east-1

      trailscope ingest s3://trail/AWSLogs/ --source-profile audit \
          --lake s3://lake/ts/ --lake-profile analytics

      trailscope ingest s3://bucket/AWSLogs/ --lake s3://analytics/trailscope/ --engine spark
    """
    from trailscope.facade import Lake
    from trailscope.timeparse import parse_time

    max_object_bytes = parse_size(max_object_size)
    filters = filters_from_options(exclude_source, exclude_event, where, redact)

    def run() -> int:
        runner = None
        if engine == "spark":
            from trailscope.engines.spark import get_session
            from trailscope.lake.spark_ingest import spark_runner

            runner = spark_runner(get_session(spark_master))
        elif engine != "local":
            raise TrailscopeError(f"unknown engine {engine!r}", hint="use 'local' or 'spark'")
        if save and filters.empty:
            raise TrailscopeError(
                "--save has no filters to save",
                hint="give --exclude-source, --exclude-event, --where or --redact with it",
            )
        lk = Lake(lake, profile=lake_profile, endpoint_url=lake_endpoint_url)
        with progress(quiet=as_json) as prog:
            tick = ingest_ticker(prog, source)
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
                max_object_bytes=max_object_bytes,
                filters=None if filters.empty else filters,
                save_filters=save,
            )
        if as_json:
            out.print_json(data=summary.__dict__)
        else:
            print_ingest_summary(summary)
        return EXIT_QUARANTINED if summary.problems else EXIT_OK

    raise typer.Exit(guard(run))
