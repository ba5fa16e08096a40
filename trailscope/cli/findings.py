"""``findings``: the findings the lake remembers, and what a person decides about them."""

from __future__ import annotations

import csv
import sys
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from trailscope.cli.base import (
    EXIT_OK,
    INTERRUPTED_READING,
    LakeOpt,
    app,
    cell,
    err,
    guard,
    out,
    safe,
)
from trailscope.errors import TrailscopeError
from trailscope.exitcodes import ExitCode

findings_app = typer.Typer(
    help="Findings the lake remembers (recorded by 'watch' and 'detect --new'): list, show, "
    "acknowledge, close, suppress.",
    invoke_without_command=True,
)
app.add_typer(findings_app, name="findings")

FORMATS = ("table", "json", "csv")
CSV_COLUMNS = (
    "finding_id",
    "status",
    "severity",
    "rule_id",
    "principal",
    "source_ip",
    "account",
    "region",
    "first_seen",
    "last_seen",
    "event_count",
    "alert_seq",
    "note",
)
SUPPRESSION_COLUMNS = (
    "suppression_id",
    "rule",
    "account",
    "principal",
    "source_ip",
    "created_at",
    "expires_at",
    "removed_at",
    "note",
)
_SEVERITY_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}
NoteOpt = Annotated[str | None, typer.Option("--note", "-n", help="Why (kept with the finding).")]
FormatOpt = Annotated[str, typer.Option("--format", "-F", help="table, json or csv.")]


def _usage(message: str, hint: str | None = None) -> int:
    err.print(f"[bold red]error:[/] {safe(message)}", highlight=False, soft_wrap=True)
    if hint:
        err.print(f"[dim]hint:[/] {safe(hint)}", highlight=False, soft_wrap=True)
    return ExitCode.USAGE


def _open(lake: str) -> Any:
    from trailscope.facade import open_lake

    return open_lake(lake)


@findings_app.callback()
def findings(
    ctx: typer.Context,
    lake: LakeOpt = "lake",
    status: Annotated[
        str | None,
        typer.Option(
            help="Only findings with this status: open, acknowledged, suppressed, closed."
        ),
    ] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule's findings.")] = None,
    fmt: FormatOpt = "table",
) -> None:
    """List the findings the lake remembers, most severe first.

    Examples:

      trailscope findings --lake ./lake --status open

      trailscope findings ack 3f9a1c2d4e5b6a70 --note "rotation pipeline"

      trailscope findings suppress --principal 'arn:aws:iam::*:user/ci-*' --for 30d --note "CI"

      trailscope findings show 3f9a1c2d
    """
    if ctx.invoked_subcommand is not None:
        return
    from trailscope.findings.manage import STATUSES, list_findings

    def run() -> int:
        if fmt not in FORMATS:
            return _usage(f"unknown format {fmt!r}", "one of: " + ", ".join(FORMATS))
        if status is not None and status not in STATUSES:
            return _usage(f"unknown status {status!r}", "one of: " + ", ".join(STATUSES))
        rows = list_findings(_open(lake), status=status, rule=rule)
        _write(rows, fmt)
        if fmt == "table":
            err.print(f"[dim]{len(rows)} findings[/]", highlight=False)
        return EXIT_OK

    raise typer.Exit(guard(run, interrupted=INTERRUPTED_READING))


def _write(rows: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow(csv_value(row.get(c)) for c in CSV_COLUMNS)
    else:
        _table(rows)
    sys.stdout.flush()


def csv_value(value: object) -> str:
    """A cell a spreadsheet shows as text: values that would start a formula get a quote."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _table(rows: list[dict[str, Any]]) -> None:
    wide = out.width >= 140
    table = Table(box=None)
    names = ["id", "status", "severity", "rule", "principal"]
    if wide:
        names += ["source ip", "account", "last seen"]
    for name in names:
        table.add_column(name, no_wrap=name != "principal", overflow="fold")
    table.add_column("events", justify="right", no_wrap=True)
    for r in rows:
        label = r["severity"]
        cells: list[Any] = [cell(r["finding_id"]), cell(r["status"])]
        cells.append(f"[{_SEVERITY_STYLE.get(label, '')}]{safe(label)}[/]")
        cells += [cell(r["rule_id"]), cell(r["principal"])]
        if wide:
            cells += [cell(r["source_ip"]), cell(r["account"]), cell(r["last_seen"])]
        table.add_row(*cells, f"{r['event_count'] or 0:,}")
    if rows:
        out.print(table)


@findings_app.command("show")
def show(
    finding_id: Annotated[str, typer.Argument(help="The finding's id (or 6+ first characters).")],
    lake: LakeOpt = "lake",
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one finding: every field and its events."""
    from trailscope.findings.manage import get_finding

    def run() -> int:
        row = get_finding(_open(lake), finding_id)
        if json_:
            sys.stdout.write(orjson.dumps(row, option=orjson.OPT_INDENT_2).decode() + "\n")
            return EXIT_OK
        table = Table(box=None, show_header=False)
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        for name, value in row.items():
            if name == "event_ids":
                value = " ".join(value or ())
            table.add_row(name, cell(value))
        out.print(table)
        return EXIT_OK

    raise typer.Exit(guard(run, interrupted=INTERRUPTED_READING))


def _set(lake: str, finding_id: str, status: str, note: str | None, verb: str) -> None:
    from trailscope.findings.manage import set_status

    def run() -> int:
        row = set_status(_open(lake), finding_id, status, note=note)
        err.print(f"{verb} finding {safe(row['finding_id'])} ({safe(row['rule_id'])})")
        return EXIT_OK

    raise typer.Exit(guard(run))


@findings_app.command("ack")
def ack(
    finding_id: Annotated[str, typer.Argument(help="The finding's id (or 6+ first characters).")],
    lake: LakeOpt = "lake",
    note: NoteOpt = None,
) -> None:
    """Acknowledge a finding: someone looked; it alerts again only if its severity rises."""
    _set(lake, finding_id, "acknowledged", note, "acknowledged")


@findings_app.command("close")
def close(
    finding_id: Annotated[str, typer.Argument(help="The finding's id (or 6+ first characters).")],
    lake: LakeOpt = "lake",
    note: NoteOpt = None,
) -> None:
    """Close a finding (new activity of the same kind opens it again)."""
    _set(lake, finding_id, "closed", note, "closed")


@findings_app.command("reopen")
def reopen(
    finding_id: Annotated[str, typer.Argument(help="The finding's id (or 6+ first characters).")],
    lake: LakeOpt = "lake",
    note: NoteOpt = None,
) -> None:
    """Open an acknowledged or closed finding again."""
    _set(lake, finding_id, "open", note, "reopened")


@findings_app.command("suppress")
def suppress(
    lake: LakeOpt = "lake",
    rule: Annotated[str | None, typer.Option(help="Rule id (a glob: 'console-*').")] = None,
    principal: Annotated[
        str | None, typer.Option(help="Principal ARN glob: 'arn:aws:iam::*:user/ci-*'.")
    ] = None,
    account: Annotated[str | None, typer.Option(help="Account id (a glob).")] = None,
    source_ip: Annotated[
        str | None, typer.Option("--source-ip", help="Source address or CIDR network.")
    ] = None,
    finding: Annotated[
        str | None,
        typer.Option(help="Suppress findings like this one (its rule, account and principal)."),
    ] = None,
    for_: Annotated[
        str | None, typer.Option("--for", help="How long: 12h, 30d, 2w (default: for ever).")
    ] = None,
    note: NoteOpt = None,
) -> None:
    """Stop alerting on findings that match every criterion given, for a while or for ever.

    Matching open findings become 'suppressed' at once; new ones are recorded as suppressed
    and do not alert. 'trailscope findings unsuppress ID' ends it.
    """
    from trailscope.findings.manage import suppress as add
    from trailscope.findings.suppressions import parse_duration

    def run() -> int:
        try:
            duration = parse_duration(for_) if for_ is not None else None
        except TrailscopeError as exc:
            return _usage(exc.message, exc.hint)
        if not any((rule, principal, account, source_ip, finding)):
            return _usage(
                "a suppression needs at least one of --rule, --principal, --account, "
                "--source-ip, --finding",
                "a suppression without criteria would silence every finding",
            )
        suppression, count = add(
            _open(lake),
            rule=rule,
            account=account,
            principal=principal,
            source_ip=source_ip,
            finding=finding,
            duration=duration,
            note=note,
        )
        until = suppression["expires_at"] or "for ever"
        err.print(
            f"suppression {safe(suppression['suppression_id'])} added (until {safe(until)}); "
            f"{count} open findings suppressed",
            highlight=False,
        )
        out.print(suppression["suppression_id"], highlight=False)
        return EXIT_OK

    raise typer.Exit(guard(run))


@findings_app.command("unsuppress")
def unsuppress(
    suppression_id: Annotated[str, typer.Argument(help="The suppression's id (s-...).")],
    lake: LakeOpt = "lake",
) -> None:
    """End a suppression; the findings only it covered are open again."""
    from trailscope.findings.manage import unsuppress as remove

    def run() -> int:
        _, count = remove(_open(lake), suppression_id)
        err.print(f"suppression {safe(suppression_id)} ended; {count} findings open again")
        return EXIT_OK

    raise typer.Exit(guard(run))


@findings_app.command("suppressions")
def suppressions(
    lake: LakeOpt = "lake",
    all_: Annotated[bool, typer.Option("--all", help="Also those that ended.")] = False,
    fmt: FormatOpt = "table",
) -> None:
    """List the suppressions in force (with --all, also those that ended)."""
    from trailscope.findings.manage import list_suppressions

    def run() -> int:
        if fmt not in FORMATS:
            return _usage(f"unknown format {fmt!r}", "one of: " + ", ".join(FORMATS))
        rows = list_suppressions(_open(lake), include_ended=all_)
        columns = SUPPRESSION_COLUMNS
        if fmt == "json":
            sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        elif fmt == "csv":
            writer = csv.writer(sys.stdout, lineterminator="\r\n")
            writer.writerow(columns)
            for row in rows:
                writer.writerow(csv_value(row.get(c)) for c in columns)
        else:
            table = Table(*columns, box=None)
            for row in rows:
                table.add_row(*(cell(row.get(c)) for c in columns))
            out.print(table)
        return EXIT_OK

    raise typer.Exit(guard(run, interrupted=INTERRUPTED_READING))
