"""``query``, ``queries list|show`` and ``run``: asking the lake in Athena SQL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from trailscope.cli.base import (
    EXIT_OK,
    CsvOpt,
    JsonOpt,
    JsonOutOpt,
    LakeOpt,
    NdjsonOpt,
    ParquetOpt,
    app,
    emit,
    err,
    guard,
    out,
    read_sql,
)
from trailscope.errors import TrailscopeError

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
        text = read_sql(sql, file)
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
            emit(reader, csv=csv, json_=json_, ndjson=ndjson, parquet=parquet, max_rows=max_rows)
        finally:
            engine.close()
        return EXIT_OK

    raise typer.Exit(guard(run))


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

    raise typer.Exit(guard(run))


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

    raise typer.Exit(guard(run))


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
            emit(reader, csv=csv, json_=json_, ndjson=ndjson, parquet=parquet, max_rows=max_rows)
        finally:
            engine.close()
        return EXIT_OK

    raise typer.Exit(guard(run))
