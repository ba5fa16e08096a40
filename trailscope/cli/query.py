"""``query``, ``queries list|show`` and ``run``: asking the lake in Athena SQL."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.markup import escape
from rich.table import Table

from trailscope.cli.base import (
    EXIT_OK,
    INTERRUPTED_READING,
    LakeOpt,
    app,
    cell,
    check_time,
    err,
    guard,
    out,
    read_sql,
    safe,
)
from trailscope.cli.completion import complete_engine, complete_param, complete_saved_query
from trailscope.cli.ddl import explain_ddl
from trailscope.cli.output import (
    CsvOpt,
    ExcelOpt,
    FormatOpt,
    JsonOutOpt,
    NdjsonOpt,
    Output,
    OutputOpt,
    ParquetOpt,
    TzOpt,
    choose_output,
    emit,
)
from trailscope.cli.windows import WINDOW_RULE, in_zone, report_window
from trailscope.errors import TrailscopeError
from trailscope.timewindow import WindowWarning

# --------------------------------------------------------------------------- engines

EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        "-e",
        help="Where the query runs: duckdb (this machine, the default), athena or spark.",
        autocompletion=complete_engine,
    ),
]
EstimateOpt = Annotated[
    bool,
    typer.Option(
        "--estimate",
        help="Do not run: print the bytes Athena would scan and what that costs ($5/TB), "
        "from the lake's Parquet footers.",
    ),
]
DatabaseOpt = Annotated[
    str | None, typer.Option("--database", help="Athena: the Glue database of the table.")
]
WorkgroupOpt = Annotated[str, typer.Option("--workgroup", help="Athena: the workgroup.")]
OutputLocationOpt = Annotated[
    str | None,
    typer.Option("--output-location", help="Athena: S3 folder for results (s3://...)."),
]
RegionOpt = Annotated[
    str | None,
    typer.Option(
        "--region", help="Athena: the AWS region Athena is called in (as in the AWS CLI)."
    ),
]
ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="The AWS profile of every AWS call, as in the AWS CLI: reading an s3:// lake, "
        "and Athena with --engine athena (default: the AWS credential chain, $AWS_PROFILE).",
    ),
]
SparkMasterOpt = Annotated[
    str | None,
    typer.Option("--spark-master", help="Spark: master URL (default: a local session)."),
]
SparkConfOpt = Annotated[
    list[str] | None,
    typer.Option("--spark-conf", help="Spark: KEY=VALUE session setting (repeatable)."),
]


def _engine_options(
    engine: str,
    *,
    database: str | None,
    workgroup: str,
    output_location: str | None,
    region: str | None,
    profile: str | None,
    spark_master: str | None,
    spark_conf: list[str] | None,
) -> dict[str, object]:
    if engine == "athena":
        if not database:
            raise TrailscopeError(
                "--database is required with --engine athena",
                hint="the Glue database of the table made by 'trailscope athena setup'",
            )
        return {
            "database": database,
            "workgroup": workgroup,
            "output_location": output_location,
            "region": region,
            "profile": profile,
        }
    if engine == "spark":
        conf: dict[str, str] = {}
        for item in spark_conf or []:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise TrailscopeError(f"--spark-conf needs KEY=VALUE, got {item!r}")
            conf[key.strip()] = value
        return {"master": spark_master, "conf": conf}
    return {}


def _print_estimate(estimate: object, as_json: bool) -> None:
    from trailscope.athena.estimate import ScanEstimate

    assert isinstance(estimate, ScanEstimate)
    if as_json:
        out.print_json(data=estimate.to_json())
        return
    out.print(
        f"Athena would scan {estimate.bytes:,} bytes ({estimate.bytes / 1024**2:,.1f} MB) "
        f"in {estimate.partitions} of {estimate.partitions_total} partitions, "
        f"{estimate.files} files: ${estimate.dollars:.6f} "
        f"(billed {estimate.billed_bytes / 1024**2:,.0f} MB at $5/TB, 10 MB minimum)",
        highlight=False,
        soft_wrap=True,
    )


def _run_on_engine(
    engine_name: str,
    lake: str,
    sql: str,
    *,
    saved: str | None = None,
    library: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    types: dict[str, str] | None = None,
    timeout: float,
    options: dict[str, object],
    show_sql: bool,
    output: Output,
    profile: str | None = None,
    tz: str | None = None,
) -> int:
    """Run on any engine through the Python API (``Lake.query_batches``/``run_batches``):
    print the rewriting notes (and a saved query's window), stream the rows out, report
    Athena's bill."""
    from trailscope.engines import check_engine
    from trailscope.facade import EngineName, Lake, open_lake

    name = cast(EngineName, check_engine(engine_name))
    # Athena reads its own table: the lake need not be on this machine.
    lk = Lake(lake, profile=profile) if name == "athena" else open_lake(lake, profile=profile)
    translation = lk.sql_for(sql, engine=name, params=params, types=types)
    _print_notices(translation.notices)
    if show_sql:
        err.print(translation.sql, markup=False, highlight=False, soft_wrap=True)
        if saved is not None:
            err.print(f"[dim]parameters: {safe(params)}[/]", highlight=False, soft_wrap=True)
    if saved is not None:
        report_window(lk, params or {}, tz)
    engine = lk.open_engine(name, **options)
    try:
        if saved is not None:
            with warnings.catch_warnings():  # the window was printed above, in --tz
                warnings.simplefilter("ignore", WindowWarning)
                result = lk.run_batches(
                    saved, engine=engine, timeout=timeout, library=library, **(params or {})
                )
        else:
            result = lk.query_batches(sql, engine=engine, timeout=timeout)
        _print_notices(getattr(engine, "notices", []))
        emit(result, output)
    finally:
        engine.close()
        lk.close()
        stats = getattr(engine, "last", None)
        if stats is not None:
            err.print(f"[dim]{safe(stats.summary())}[/]", highlight=False, soft_wrap=True)
    return EXIT_OK


def _print_notices(notices: list[str]) -> None:
    """Notes about the rewriting; they quote the query's own names, so never as markup."""
    for notice in notices:
        err.print(f"[dim]note: {safe(notice)}[/]", highlight=False, soft_wrap=True)


# --------------------------------------------------------------------------- query


@app.command()
def query(
    sql: Annotated[
        str | None,
        typer.Argument(
            help="Athena SQL over the table 'cloudtrail'; '-' (or a pipe) reads it from stdin, "
            "-f FILE from a file.",
            show_default=False,
        ),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Read the SQL from a file ('-': stdin).")
    ] = None,
    lake: LakeOpt = "lake",
    fmt: FormatOpt = None,
    csv: CsvOpt = False,
    json_: JsonOutOpt = False,
    ndjson: NdjsonOpt = False,
    parquet: ParquetOpt = None,
    excel: ExcelOpt = False,
    output_file: OutputOpt = None,
    tz: TzOpt = None,
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
    engine_name: EngineOpt = "duckdb",
    estimate: EstimateOpt = False,
    database: DatabaseOpt = None,
    workgroup: WorkgroupOpt = "primary",
    output_location: OutputLocationOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    spark_master: SparkMasterOpt = None,
    spark_conf: SparkConfOpt = None,
    columns: Annotated[
        bool,
        typer.Option(
            "--columns",
            help="Do not run a query: list the table's columns with their types, and the JSON "
            "paths found in the lake's JSON columns (requestparameters, responseelements, ...), "
            "from a sample of --sample events of each event source and name.",
        ),
    ] = False,
    sample: Annotated[
        int | None,
        typer.Option(
            "--sample", min=1, help="With --columns: events read per event name [default: 50]."
        ),
    ] = None,
) -> None:
    """Run an Athena-dialect SQL query on the lake.

    Queries written for Athena's CloudTrail table run unchanged: any table name (for example
    "default"."cloudtrail_logs_mytrail" or DATABASE.TABLE) is read from the lake, the
    partition columns of the usual Athena DDLs (date_partition, timestamp, region, ...) exist,
    and time conditions on eventtime read only the days they need.

    Examples:

      trailscope query "SELECT eventname, count(*) FROM cloudtrail GROUP BY 1 ORDER BY 2 DESC"

      trailscope query -f hunt.sql --csv > out.csv       # or --format csv; --excel for Excel

      echo "SELECT count(*) FROM cloudtrail" | trailscope query -

      trailscope query "SELECT * FROM cloudtrail WHERE eventtime >= '2024-07-01'" --show-sql

      trailscope query "SELECT ..." --estimate           # Athena bytes and dollars, not run

      trailscope query "SELECT ..." --engine athena --database security --output-location s3://r/

      trailscope query "SELECT ..." --engine spark --spark-master spark://host:7077

      trailscope query --columns                 # what a query can name, JSON paths too
    """
    from trailscope.engines import check_engine
    from trailscope.facade import open_lake

    def run() -> int:
        if columns:
            if sql is not None or file is not None:
                raise TrailscopeError(
                    "--columns lists the columns and runs no query",
                    hint="drop the SQL, or drop --columns",
                )
            return _print_columns(open_lake(lake, profile=profile), sample, json_)
        text = read_sql(sql, file)
        if explain_ddl(text, lake):
            return EXIT_OK
        check_engine(engine_name)
        if estimate:
            from trailscope.athena.estimate import estimate_scan

            _print_estimate(estimate_scan(open_lake(lake, profile=profile).files(), text), json_)
            return EXIT_OK
        output = choose_output(
            fmt,
            csv=csv,
            json_=json_,
            ndjson=ndjson,
            parquet=parquet,
            excel=excel,
            output=output_file,
            max_rows=max_rows,
            tz=tz,
        )
        if explain:
            if engine_name != "duckdb":
                raise TrailscopeError("--explain works with the duckdb engine only")
            lk = open_lake(lake, profile=profile)
            translation = lk.sql_for(text)
            _print_notices(translation.notices)
            engine = lk.engine()
            try:
                plan = engine.explain(translation.sql)
            finally:
                engine.close()
            out.print(plan, markup=False, highlight=False, soft_wrap=True)
            return EXIT_OK
        options = _engine_options(
            engine_name,
            database=database,
            workgroup=workgroup,
            output_location=output_location,
            region=region,
            profile=profile,
            spark_master=spark_master,
            spark_conf=spark_conf,
        )
        return _run_on_engine(
            engine_name,
            lake,
            text,
            timeout=timeout,
            options=options,
            show_sql=show_sql,
            output=output,
            profile=profile,
        )

    raise typer.Exit(guard(run, interrupted=INTERRUPTED_READING))


def _print_columns(lk: object, sample: int | None, as_json: bool) -> int:
    """``query --columns``: the schema's columns, and the JSON paths this lake's events hold."""
    from trailscope.engines.columns import PER_EVENT, json_paths, table_columns

    per_event = sample or PER_EVENT
    engine = lk.engine()  # type: ignore[attr-defined]
    try:
        paths = json_paths(engine, per_event=per_event)
    finally:
        engine.close()
    cols = table_columns()
    if as_json:
        out.print_json(
            data={
                "columns": [c.__dict__ for c in cols],
                "json_paths": [p.to_json() for p in paths],
                "sample_per_event_name": per_event,
            }
        )
        return EXIT_OK
    t = Table("column", "type", "", box=None, title="columns of cloudtrail", title_justify="left")
    for c in cols:
        t.add_row(cell(c.name), cell(c.type), cell(c.note))
    out.print(t)
    t = Table(
        "column",
        "JSON path",
        "type",
        "events",
        "event names",
        box=None,
        title=f"JSON paths in {safe(lk.location)} "  # type: ignore[attr-defined]
        f"(up to {per_event} events of each event name read)",
        title_justify="left",
    )
    for p in paths:
        names = ", ".join(p.event_names[:3])
        if len(p.event_names) > 3:
            names += f" +{len(p.event_names) - 3}"
        t.add_row(
            cell(p.column), cell(p.path), cell("/".join(p.types)), f"{p.events:,}", cell(names)
        )
    out.print(t)
    err.print(
        "[dim]read one: json_extract_scalar(requestparameters, '$.bucketName'); "
        "[0] stands for any element of an array[/]",
        highlight=False,
    )
    return EXIT_OK


queries_app = typer.Typer(help="The saved-query library.", no_args_is_help=True)
app.add_typer(queries_app, name="queries")

QueriesDirOpt = Annotated[
    list[Path] | None,
    typer.Option("--queries-dir", help="Also load saved queries (*.sql) from this folder."),
]


@queries_app.command("list")
def queries_list(
    extra: QueriesDirOpt = None,
    fmt: FormatOpt = None,
    csv: CsvOpt = False,
    as_json: JsonOutOpt = False,
    ndjson: NdjsonOpt = False,
    excel: ExcelOpt = False,
) -> None:
    """List the saved queries with their titles and parameters."""
    import pyarrow as pa

    from trailscope.queries import load_library

    def run() -> int:
        output = choose_output(fmt, csv=csv, json_=as_json, ndjson=ndjson, excel=excel)
        lib = load_library(extra)
        if output.format != "table":
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
            emit(pa.Table.from_pylist(data).to_reader(), output)
            return EXIT_OK
        t = Table("name", "title", "parameters", box=None)
        for q in lib.values():
            params = " ".join(
                f"{p.name}" + ("" if p.required else f"={p.default}") for p in q.params
            )
            t.add_row(cell(q.name), cell(q.title), cell(params))
        out.print(t)
        return EXIT_OK

    raise typer.Exit(guard(run, interrupted=INTERRUPTED_READING))


@queries_app.command("show")
def queries_show(
    name: Annotated[
        str, typer.Argument(help="A saved query.", autocompletion=complete_saved_query)
    ],
    extra: QueriesDirOpt = None,
) -> None:
    """Print one saved query: its description, parameters and SQL."""
    from trailscope.queries import get_query, load_library

    def run() -> int:
        q = get_query(name, load_library(extra))
        out.print(
            f"[bold]{safe(q.name)}[/]: {safe(q.title)}\n{escape(q.description)}\n", soft_wrap=True
        )
        for p in q.params:
            default = "required" if p.required else f"default {p.default}"
            line = f"  --param {p.name}=... ({p.type}, {default}) {p.description}"
            out.print(line, markup=False, highlight=False)
        out.print(f"\n{q.sql}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_OK

    raise typer.Exit(guard(run, interrupted=INTERRUPTED_READING))


@app.command("run")
def run_saved(
    name: Annotated[
        str,
        typer.Argument(
            help="A saved query (see 'trailscope queries list').",
            autocompletion=complete_saved_query,
        ),
    ],
    lake: LakeOpt = "lake",
    since: Annotated[
        str | None,
        typer.Option(
            callback=check_time,
            help="Shortcut for --param since=...: 7d, 1h30m, now, 2024-07-01, an ISO time or "
            "epoch seconds/milliseconds. " + WINDOW_RULE,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            callback=check_time, help="Shortcut for --param until=... (a date means its end)."
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", "-p", help="NAME=VALUE (repeatable).", autocompletion=complete_param
        ),
    ] = None,
    extra: QueriesDirOpt = None,
    fmt: FormatOpt = None,
    csv: CsvOpt = False,
    json_: JsonOutOpt = False,
    ndjson: NdjsonOpt = False,
    parquet: ParquetOpt = None,
    excel: ExcelOpt = False,
    output_file: OutputOpt = None,
    tz: TzOpt = None,
    show_sql: Annotated[bool, typer.Option("--show-sql", help="Print the SQL as run.")] = False,
    timeout: Annotated[float, typer.Option(min=0.1, help="Cancel after this many seconds.")] = 300,
    max_rows: Annotated[int, typer.Option(min=1, help="Rows shown in the terminal.")] = 100,
    engine_name: EngineOpt = "duckdb",
    estimate: EstimateOpt = False,
    database: DatabaseOpt = None,
    workgroup: WorkgroupOpt = "primary",
    output_location: OutputLocationOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    spark_master: SparkMasterOpt = None,
    spark_conf: SparkConfOpt = None,
) -> None:
    """Run a saved query from the library, with parameters.

    Time windows: ages such as 7d, 24h or 1h30m count back from now (the wall clock); the
    resolved window is printed on stderr, and a window that misses the lake or covers only part
    of it is reported with the lake's first and last event. --tz ZONE shows times in a zone.

    Examples:

      trailscope run failed-console-logins --since 24h --lake ./lake --csv

      trailscope run iam-user-activity --param user=alice --since 2024-07-01 --until 2024-07-17

      trailscope run failed-console-logins --since 7d --engine athena --database security --csv

      trailscope run root-activity --since 30d --estimate
    """
    from trailscope.engines import check_engine
    from trailscope.facade import open_lake
    from trailscope.queries import get_query, load_library

    def run() -> int:
        values: dict[str, str | None] = {}
        for item in param or []:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise TrailscopeError(f"--param needs NAME=VALUE, got {item!r}")
            values[key.strip()] = value
        for key, given in (("since", since), ("until", until)):
            if given is not None:
                values[key] = in_zone(given, tz, end=key == "until")
        check_engine(engine_name)
        library = load_library(extra)
        saved = get_query(name, library)
        bound = saved.bind(values)
        output = choose_output(
            fmt,
            csv=csv,
            json_=json_,
            ndjson=ndjson,
            parquet=parquet,
            excel=excel,
            output=output_file,
            max_rows=max_rows,
            tz=tz,
        )
        if estimate:
            from trailscope.athena.estimate import estimate_scan

            files = open_lake(lake, profile=profile).files()
            _print_estimate(estimate_scan(files, saved.sql, params=bound), json_)
            return EXIT_OK
        options = _engine_options(
            engine_name,
            database=database,
            workgroup=workgroup,
            output_location=output_location,
            region=region,
            profile=profile,
            spark_master=spark_master,
            spark_conf=spark_conf,
        )
        return _run_on_engine(
            engine_name,
            lake,
            saved.sql,
            saved=name,
            library=library,
            params=bound,
            types={p.name: p.type for p in saved.params},
            timeout=timeout,
            options=options,
            show_sql=show_sql,
            output=output,
            profile=profile,
            tz=tz,
        )

    raise typer.Exit(guard(run, interrupted=INTERRUPTED_READING))
