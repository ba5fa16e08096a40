"""``verify``: prove a trail's log files were not deleted, altered or slipped in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from trailscope.cli.base import (
    EXIT_OK,
    AccountOpt,
    JsonOpt,
    LakeEndpointOpt,
    LakeProfileOpt,
    OldRegionOpt,
    RegionFilterOpt,
    SourceEndpointOpt,
    app,
    cell,
    check_time,
    err,
    guard,
    out,
    safe,
)
from trailscope.exitcodes import ExitCode

#: Exit code when verification ran and found problems (documented in --help and docs).
EXIT_PROBLEMS = ExitCode.VERIFY_PROBLEMS
#: Exit code when nothing was wrong but nothing (or, asked for, not all) was authenticated.
EXIT_UNAUTHENTICATED = ExitCode.UNAUTHENTICATED
# (header, by_day column): problems of the same kind share a column to fit a terminal
_DAY_TABLE = (
    ("account", "account"),
    ("region", "region"),
    ("day", "day"),
    ("valid", "validated"),
    ("unsigned", "unsigned"),
    ("modified", "modified"),
    ("missing", "missing"),
    ("unlisted", "not_listed"),
    ("untrusted", "untrusted"),
    ("late", "after_last_digest"),
    ("future", "future_dated"),
    ("digests", "digests"),
    ("bad", "digest_problems"),
    ("breaks", "chain_breaks"),
    ("cut", "chain_ends"),
)
_TEXT = frozenset({"account", "region", "day"})
_LISTED = 20  # problems of each kind printed in the terminal (--json has them all)


@app.command()
def verify(
    source: Annotated[
        str,
        typer.Argument(
            help="The trail: s3://BUCKET/PREFIX or a local copy of the bucket (or its AWSLogs/).",
            show_default=False,
        ),
    ],
    since: Annotated[
        str | None,
        typer.Option(
            callback=check_time,
            help="Only files delivered from this time on (2024-06-01, 7d, ...).",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            callback=check_time, help="Only files delivered up to this time (same forms)."
        ),
    ] = None,
    account: AccountOpt = None,
    region: RegionFilterOpt = None,
    old_region: OldRegionOpt = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--source-profile",
            "--profile",
            help="AWS profile for reading an s3:// trail and for fetching CloudTrail's public "
            "keys (--profile is the same option; the lake's is --lake-profile).",
        ),
    ] = None,
    endpoint_url: SourceEndpointOpt = None,
    lake_profile: LakeProfileOpt = None,
    lake_endpoint_url: LakeEndpointOpt = None,
    public_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--public-key",
            help="Check signatures offline with this PEM key instead of asking CloudTrail "
            "(repeatable, e.g. one per region or per rotation).",
        ),
    ] = None,
    lake: Annotated[
        Path | None,
        typer.Option(
            "--lake",
            "-l",
            envvar="TRAILSCOPE_LAKE",
            help="Use the signatures this lake kept at ingest, and record the results in it "
            "(also read from $TRAILSCOPE_LAKE).",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="When the copy was taken: every digest chain must reach this time (default: "
            "--until, else now for s3://, else the newest file of a local copy).",
        ),
    ] = None,
    require_signatures: Annotated[
        bool,
        typer.Option(
            "--require-signatures",
            help="Exit 6 unless every digest's signature was checked and valid.",
        ),
    ] = False,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Threads reading and hashing files.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate CloudTrail log files against their signed hourly digests.

    Checks that every log file a digest lists exists and has the SHA-256 the digest records,
    that every log file present is listed in a digest, that each account/region's digest chain
    is unbroken (a deleted digest, or several in a row, is found where the chain points at it),
    and each digest's RSA signature with the region's public key: from CloudTrail's
    ListPublicKeys, or --public-key for offline checks.

    Also: that each digest's predecessor is of the same account, region and trail and ends
    where it starts, that no two digests follow the same one, that every chain reaches the end
    of the time checked (--as-of; a chain cut short with its log files is found), that no
    digest or log file is dated after now, and that files after the newest digest are recent.

    Signatures live in S3 object metadata, which a plain local copy loses: they are read from
    S3 when verifying s3://, else from a lake given with --lake (ingest keeps them). Without
    them, hashes and the chain are still checked, but whoever could edit the files could have
    rebuilt the digests too: a run that authenticated no digest ends with exit code 6.
    With --lake the per-file results are recorded in the lake.

    Exit codes: 0 no problem found, 4 problems found, 6 no problem found but nothing
    authenticated (with --require-signatures: not everything), 1 error.

    Examples:

      trailscope verify s3://trail-bucket/AWSLogs/ --since 2024-06-01

      trailscope verify ./trail-copy --lake ./lake --public-key us-east-1.pem

      trailscope verify ./trail-copy --json > integrity.json

      trailscope verify ./copy-of-2024-06-30 --as-of 2024-06-30T18:00Z --require-signatures
    """
    from trailscope.facade import open_lake
    from trailscope.integrity import Outcome, StaticKeys, record_validation, verify_trail
    from trailscope.integrity.signing import read_public_key
    from trailscope.timeparse import parse_time

    def run() -> int:
        keys = StaticKeys([read_public_key(p) for p in public_key]) if public_key else None
        signatures = None
        if lake is not None:
            signatures = open_lake(
                lake, profile=lake_profile, endpoint_url=lake_endpoint_url
            ).digest_signatures()
        with Progress(
            TextColumn("[bold]hashing log files"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=as_json or not err.is_terminal,
        ) as bar:
            task = bar.add_task("hashing", total=None)
            report = verify_trail(
                source,
                since=parse_time(since) if since else None,
                until=parse_time(until, end_of_day=True) if until else None,
                accounts=account or (),
                regions=region or (),
                keys=keys,
                signatures=signatures,
                signature_source="lake",
                profile=profile,
                endpoint_url=endpoint_url,
                workers=workers,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                as_of=parse_time(as_of) if as_of else None,
                require_signatures=require_signatures,
            )
        recorded = None
        if lake is not None:
            recorded = record_validation(
                open_lake(lake, profile=lake_profile, endpoint_url=lake_endpoint_url), report
            )
        if as_json:
            data = report.to_json()
            data["recorded_in_lake"] = recorded
            out.print_json(data=data)
        else:
            _print_report(report, recorded, lake)
        return {
            Outcome.OK: EXIT_OK,
            Outcome.PROBLEMS: EXIT_PROBLEMS,
            Outcome.UNAUTHENTICATED: EXIT_UNAUTHENTICATED,
        }[report.outcome]

    raise typer.Exit(guard(run))


def _print_report(report: Any, recorded: int | None, lake: Path | None) -> None:
    s = report.summary()
    out.print(
        f"[bold]verified[/] {s['log_files']:,} log files and {s['digests']:,} digests of "
        f"{safe(report.source)} in {report.seconds:.1f} s "
        f"({report.bytes_hashed / 1e6:,.1f} MB hashed)",
        highlight=False,
        soft_wrap=True,
    )
    where = (
        f"signatures from {report.signature_source}"
        if report.signature_source != "none"
        else "signatures: none available (S3 keeps them as object metadata; a plain copy loses "
        "them, a lake ingested from S3 keeps them: --lake)"
    )
    if report.key_source:
        where += f", public keys from {report.key_source}"
    out.print(where, markup=False, highlight=False, soft_wrap=True)
    rows = report.by_day()
    # Only columns with something in them: a healthy trail reads valid/digests and nothing else.
    shown = [(h, c) for h, c in _DAY_TABLE if c in _TEXT or any(r[c] for r in rows)]
    table = Table(box=None, pad_edge=False, padding=(0, 1))
    for name, column in shown:
        table.add_column(name, no_wrap=True, justify="left" if column in _TEXT else "right")
    for row in rows:
        table.add_row(*(cell(row[c]) if c in _TEXT else _n(row[c]) for _, c in shown))
    out.print(table)
    _print_problems(report)
    if report.chains:
        newest = max(c.last_end for c in report.chains)
        out.print(
            f"{len(report.chains):,} digest chains, the newest digest ending {newest}"
            + (f"; {len(report.chain_starts):,} chain starts" if report.chain_starts else ""),
            highlight=False,
        )
    for b in report.logging_pauses:
        out.print(
            f"[dim]logging paused[/] {safe(b.account)}/{safe(b.region)}: no digest covers "
            f"{b.gap_start} .. {b.gap_end}; the signed digest {safe(b.at)} continues the chain",
            highlight=False,
            soft_wrap=True,
        )
    if s["signatures"]["unavailable"]:
        out.print(
            f"[yellow]signatures unavailable[/] for {s['signatures']['unavailable']:,} digests: "
            f"their {s['unsigned']:,} files match the digests' hashes and the chain was checked, "
            "but the digests themselves are not proven authentic",
            soft_wrap=True,
        )
    if s["pending"]:
        out.print(f"[dim]{s['pending']:,} recent files are not covered by a digest yet[/]")
    if recorded is not None:
        out.print(f"[dim]recorded {recorded:,} file verdicts in {safe(lake)}[/]")
    checked = f", {s['unsigned']:,} hash-checked only" if s["unsigned"] else ""
    if report.outcome == "ok":
        out.print(
            f"[bold green]OK[/]: no problem found ({s['validated']:,} files validated{checked})"
        )
    elif report.outcome == "unauthenticated":
        what = (
            "no digest signature could be checked"
            if not report.authenticated
            else f"{len(report.digests) - report.authenticated:,} digests are not authenticated "
            "(--require-signatures)"
        )
        out.print(
            f"[bold yellow]UNAUTHENTICATED[/]: no problem found ({s['validated']:,} files "
            f"validated{checked}), but {what}: verify s3:// itself, or a copy with --lake "
            "(a lake ingested from S3 keeps the signatures)",
            soft_wrap=True,
        )
    else:
        kinds = ", ".join(f"{n:,} {k}" for k, n in s["problem_kinds"].items())
        out.print(f"[bold red]PROBLEMS[/]: {report.problems:,} found ({kinds})", soft_wrap=True)


#: Log-file statuses that are problems, in the order the report lists them, with a few words.
_FILE_PROBLEMS = (
    ("modified", "content differs from the digest's hash"),
    ("missing", "listed in a digest, not found"),
    ("not_listed", "in no digest"),
    ("untrusted", "listed in a digest that failed its own checks"),
    ("after_last_digest", "delivered after the newest digest, which should have been followed"),
    ("future_dated", "dated after the time of the check"),
)


def _print_problems(report: Any) -> None:
    for status, meaning in _FILE_PROBLEMS:
        hits = [f for f in report.files if f.status == status]
        if hits:
            out.print(
                f"[bold red]{status.replace('_', ' ')}[/]: {len(hits):,} log files ({meaning})"
            )
            for f in hits[:_LISTED]:
                via = f" (listed in {f.digest})" if f.digest else ""
                out.print(f"  {safe(f.id)}{safe(via)}", highlight=False, soft_wrap=True)
            if len(hits) > _LISTED:
                err.print(f"  ... {len(hits) - _LISTED:,} more (see --json)")
    bad = [d for d in report.digests if not d.ok]
    if bad:
        out.print(f"[bold red]digest problems[/]: {len(bad):,}")
        for d in bad[:_LISTED]:
            why = "; ".join(
                [f"signature {d.signature}", *([d.reason] if d.reason else []), *d.problems]
            )
            out.print(f"  {safe(d.id)}: {safe(why)}", highlight=False, soft_wrap=True)
    for b in report.chain_breaks:
        gap = f", nothing covers {b.gap_start} .. {b.gap_end}" if b.gap_end else ""
        out.print(
            f"[bold red]chain break[/] {safe(b.account)}/{safe(b.region)}: {b.reason} at "
            f"{safe(b.at)} (it names {safe(b.expected_previous)}{gap})",
            highlight=False,
            soft_wrap=True,
        )
    for c in report.chain_ends:
        out.print(
            f"[bold red]chain ends early[/] {safe(c.account)}/{safe(c.region)}: its newest "
            f"digest {safe(c.last_digest)} ends {c.last_end}, {c.hours_short:g} h before "
            f"{c.expected_until} ({safe(c.reference)}): later digests are missing, with the "
            "log files they listed",
            highlight=False,
            soft_wrap=True,
        )


def _n(value: int) -> str:
    return f"{value:,}" if value else "[dim]0[/]"
