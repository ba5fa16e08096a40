"""``synth`` and ``demo``: a sample trail, and the whole product on it in one command."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from trailscope.cli.base import (
    EXIT_OK,
    JsonOpt,
    app,
    cell,
    err,
    guard,
    ingest_ticker,
    out,
    print_ingest_summary,
    progress,
)
from trailscope.errors import TrailscopeError

# --------------------------------------------------------------------------- synth / demo


def parse_end(text: str, *, now: datetime | None = None) -> date | datetime:
    """``--end`` as typed: ``now``, a date (the trail's last whole day), or a moment."""
    from trailscope.timeparse import parse_time

    value = text.strip()
    if value.lower() == "now":
        return now or datetime.now(UTC)
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return parse_time(value, now=now)
    except (ValueError, TrailscopeError):
        raise typer.BadParameter(
            f"cannot read {text!r}: use now, a moment (2024-07-17T14:30Z, 2h) or a day (2024-07-17)"
        ) from None


def _check_end(value: str | None) -> str | None:
    """Refuse an unreadable ``--end`` as a usage error, before anything is written."""
    if value is not None:
        parse_end(value)
    return value


@app.command()
def synth(
    dest: Annotated[Path, typer.Argument(help="Folder to write the trail into.")],
    events: Annotated[int, typer.Option(min=1, help="Unique events in log files.")] = 200_000,
    seed: Annotated[int, typer.Option(help="Same seed, same bytes.")] = 7,
    accounts: Annotated[int, typer.Option(min=1, help="Number of AWS accounts.")] = 3,
    days: Annotated[int, typer.Option(min=1, help="Number of days, ending on --end.")] = 7,
    end: Annotated[
        str | None,
        typer.Option(
            help="Where the trail ends: 'now', a moment (2024-07-17T14:30Z, or an age such as "
            "2h) or a last day (2024-07-17, the whole day). Default: the day 2024-07-17, so "
            "the same seed always gives the same trail.",
            callback=_check_end,
        ),
    ] = None,
    org_id: Annotated[
        str | None, typer.Option(help="Write an organization trail (AWSLogs/<org-id>/...).")
    ] = None,
    geography: Annotated[
        bool,
        typer.Option(
            "--geography",
            help="People at home in a few countries (real providers' addresses), a sign-in "
            "from a new country and an impossible journey (see 'lake enrich').",
        ),
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing trail in DEST.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a realistic, deterministic sample trail in the real S3 key layout.

    Several accounts and regions, all identity types, console logins (with and without MFA),
    SwitchRole chains, security-group changes, errors, data events, Insight events, digest
    files, re-delivered events and a handful of planted incidents (root console login without
    MFA, a burst of failed logins, a security group opened to the world, StopLogging, an access
    key created for another user).

    Examples:

      trailscope synth ./sample-trail --events 200000 --seed 7

      trailscope synth ./recent --end now --days 2      # a trail whose last events are now

      trailscope synth ./org-trail --org-id o-abc123defg --accounts 5
    """

    def run() -> int:
        report = _synth(
            dest,
            events=events,
            seed=seed,
            accounts=accounts,
            days=days,
            end=parse_end(end) if end else None,
            org_id=org_id,
            overwrite=overwrite,
            quiet=as_json,
            geography=geography,
        )
        if as_json:
            data = {k: v for k, v in report.__dict__.items() if k != "files"}
            data["incidents"] = [asdict(incident) for incident in report.incidents]
            out.print_json(json.dumps(data, default=_json_value))
        else:
            out.print(
                f"[bold green]wrote[/] {report.events:,} events in {report.log_files:,} log files "
                f"(+{report.insight_files} insight, {report.digest_files} digest, "
                f"{report.other_files} other) to {report.root}"
            )
            for inc in report.incidents:
                out.print(f"  planted: {inc.name}: {inc.description}")
        return EXIT_OK

    raise typer.Exit(guard(run))


def _json_value(value: Any) -> str:
    """Dates and times as ISO 8601, anything else as its text."""
    return value.isoformat() if isinstance(value, date) else str(value)


def _events_progress(quiet: bool) -> Progress:
    """Progress in events (the synth reports events, not files)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=quiet or not err.is_terminal,
    )


def _synth(dest: Path, *, quiet: bool, **kwargs: Any) -> Any:
    from trailscope.synth import synth_trail

    with _events_progress(quiet=quiet) as prog:
        task = prog.add_task("generating", total=kwargs["events"])

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
    serve: Annotated[
        bool,
        typer.Option(
            "--serve/--no-serve",
            help="End by serving the dashboards until Ctrl-C (--no-serve for scripts).",
        ),
    ] = True,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 8700,
) -> None:
    """Generate a sample trail, ingest it, ask it questions, and serve its dashboards.

    Everything runs locally with no cloud account: a trail of the last seven days, ending
    now (so windows such as --since 24h find it), is written to DIR/trail, ingested into
    DIR/lake, queried with the embedded engine, checked with the bundled detections, and
    served at http://127.0.0.1:PORT/ (loopback only) until Ctrl-C.
    """
    from trailscope.facade import Lake

    def run() -> int:
        trail = workdir / "trail"
        out.print(f"[bold]1/4[/] writing a sample trail of {events:,} events to {trail}")
        now = datetime.now(UTC)
        report = _synth(
            trail, events=events, seed=seed, end=now, overwrite=True, quiet=False, geography=True
        )
        out.print(f"    {report.events:,} events in {report.log_files:,} files")
        lake_path = workdir / "lake"
        out.print(f"[bold]2/4[/] ingesting into {lake_path}")
        lk = Lake(lake_path)
        with progress(quiet=False) as prog:
            summary = lk.ingest(str(trail), progress=ingest_ticker(prog, str(trail)))
        print_ingest_summary(summary)
        from trailscope.enrich.iptable import enrich_lake

        enriched = enrich_lake(lk)  # the bundled country list: no download
        out.print(f"    enriched {enriched.addresses:,} source addresses (side table ip_info)")
        out.print("[bold]3/4[/] asking the lake")
        _demo_questions(lk)
        out.print("[bold]4/4[/] running the bundled detections")
        _demo_detections(lk)
        out.print(
            f"\nnext: [bold]trailscope queries list[/], then for example\n"
            f"  trailscope run failed-console-logins --since 7d --lake {lake_path}\n"
            f'  trailscope query "SELECT eventname, count(*) FROM cloudtrail GROUP BY 1" '
            f"--lake {lake_path}\n"
            f"  trailscope detect --lake {lake_path}\n"
            f"  trailscope serve --lake {lake_path}",
            soft_wrap=True,
            highlight=False,
        )
        if serve:
            from trailscope.web import serve as serve_lake

            def ready(url: str) -> None:
                out.print(f"\n[bold green]serving[/] {url}  (Ctrl-C to stop)", highlight=False)

            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a user ends it
                serve_lake(lake_path, port=port, on_ready=ready)
            out.print("stopped serving; the trail and the lake stay in " + str(workdir))
        return EXIT_OK

    raise typer.Exit(guard(run))


#: Athena SQL, run through the same translation as 'trailscope query'.
DEMO_QUESTIONS = {
    "Console logins by outcome": """
        SELECT json_extract_scalar(responseelements, '$.ConsoleLogin') AS outcome,
               json_extract_scalar(additionaleventdata, '$.MFAUsed') AS mfa, count(*) AS n
        FROM cloudtrail WHERE eventname = 'ConsoleLogin' GROUP BY 1, 2 ORDER BY n DESC""",
    "What root did": """
        SELECT eventname, sourceipaddress, count(*) AS n FROM cloudtrail
        WHERE useridentity.type = 'Root' GROUP BY 1, 2 ORDER BY n DESC LIMIT 5""",
    "Console sign-ins by country": """
        SELECT coalesce(i.country, '-') AS country, i.kind, count(*) AS n
        FROM cloudtrail c LEFT JOIN ip_info i ON i.ip = c.sourceipaddress
        WHERE c.eventname = 'ConsoleLogin' GROUP BY 1, 2 ORDER BY n DESC LIMIT 8""",
    "Top errors": """
        SELECT errorcode, eventsource, count(*) AS n FROM cloudtrail
        WHERE errorcode IS NOT NULL GROUP BY 1, 2 ORDER BY n DESC LIMIT 5""",
}


def _demo_questions(lk: Any) -> None:
    for title, sql in DEMO_QUESTIONS.items():
        result = lk.query(sql)
        table = Table(*result.column_names, title=title, title_justify="left")
        for row in result.to_pylist():
            table.add_row(*(cell(v) for v in row.values()))
        out.print(table)


def _demo_detections(lk: Any) -> None:
    """One line per rule that fired: the full list is 'trailscope detect'."""
    from trailscope.detect import run_detections

    report = run_detections(lk)
    by_rule: dict[str, list[Any]] = {}
    for finding in report.findings:
        by_rule.setdefault(finding.rule_id, []).append(finding)
    table = Table("severity", "rule", "findings", "events", title="Detections that fired")
    ranked = sorted(by_rule.items(), key=lambda kv: (-kv[1][0].severity, kv[0]))
    for rule_id, findings in ranked:
        events = sum(f.event_count for f in findings)
        table.add_row(findings[0].severity.label, rule_id, str(len(findings)), str(events))
    out.print(table)
