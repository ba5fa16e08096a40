"""``synth`` and ``demo``: a sample trail, and the whole product on it in one command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from trailscope.cli.base import (
    EXIT_OK,
    JsonOpt,
    app,
    guard,
    out,
    print_ingest_summary,
    progress,
)

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

    raise typer.Exit(guard(run))


def _synth(dest: Path, *, quiet: bool, **kwargs: Any) -> Any:
    from trailscope.synth import synth_trail

    with progress(quiet=quiet) as prog:
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
        with progress(quiet=False) as prog:
            task = prog.add_task("ingesting", total=None, events=0)
            summary = lk.ingest(
                str(trail),
                progress=lambda d, t, e: prog.update(task, completed=d, total=t, events=e),
            )
        print_ingest_summary(summary)
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

    raise typer.Exit(guard(run))


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
