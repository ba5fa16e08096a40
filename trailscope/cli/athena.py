"""``athena ddl|setup``: the lake as an Athena table, with partition projection."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trailscope.cli.base import EXIT_OK, LakeOpt, app, err, guard, out
from trailscope.errors import TrailscopeError

athena_app = typer.Typer(
    help="Query the lake with Amazon Athena: the table's DDL and its setup.",
    no_args_is_help=True,
)
app.add_typer(athena_app, name="athena")

DatabaseOpt = Annotated[str, typer.Option("--database", "-d", help="Glue database of the table.")]
LocationOpt = Annotated[
    str | None,
    typer.Option(
        "--location",
        help="Where the lake is on S3 (s3://BUCKET/PREFIX/), when --lake is a local copy of it.",
    ),
]
LayoutOpt = Annotated[
    str,
    typer.Option(
        help="symlink: partitions read the manifests of live files (safe while writers run); "
        "parts: partitions read the part folders (see docs/scale.md)."
    ),
]
SinceOpt = Annotated[
    str | None,
    typer.Option(help="First day of the projection (YYYY-MM-DD); default: the lake's first day."),
]


def _lake_and_location(lake: Path | str, location: str | None) -> tuple[object, str, str]:
    """The opened lake, its S3 location, and the first day of its events."""
    from trailscope.athena.ddl import normalize_uri
    from trailscope.facade import open_lake

    text = str(lake)
    if text.startswith("s3:/") and not text.startswith("s3://"):
        text = "s3://" + text[len("s3:/") :]
    lk = open_lake(text)
    uri = normalize_uri(location or text)
    days = sorted(lk.state().parts_by_partition())
    if not days:
        raise TrailscopeError(
            "the lake has no events yet",
            hint="ingest first: the projection starts at the lake's first day",
        )
    return lk, uri, days[0]


@athena_app.command("ddl")
def athena_ddl(
    database: DatabaseOpt,
    lake: LakeOpt = "lake",
    location: LocationOpt = None,
    layout: LayoutOpt = "symlink",
    since: SinceOpt = None,
) -> None:
    """Print the Athena DDL for the lake (CREATE DATABASE and CREATE EXTERNAL TABLE).

    The table uses partition projection on event_date, so new days need no crawler and no
    MSCK REPAIR TABLE. Columns and types are those of the lake's Parquet files.

    Examples:

      trailscope athena ddl --lake s3://analytics-bucket/trailscope/ --database security

      trailscope athena ddl --lake ./lake --location s3://analytics-bucket/trailscope/ -d security
    """
    from trailscope.athena.ddl import create_database_ddl, create_table_ddl, side_table_ddl

    def run() -> int:
        lk, uri, first = _lake_and_location(lake, location)
        out.print(create_database_ddl(database) + ";\n", highlight=False, soft_wrap=True)
        ddl = create_table_ddl(uri, database=database, first_day=since or first, layout=layout)
        out.print(ddl + ";", highlight=False, soft_wrap=True)
        for name, table in lk.side_tables(committed=True).items():  # type: ignore[attr-defined]
            side = side_table_ddl(uri, database=database, name=name, schema=table.schema)
            out.print("\n" + side + ";", highlight=False, soft_wrap=True)
        return EXIT_OK

    raise typer.Exit(guard(run))


@athena_app.command("setup")
def athena_setup(
    database: DatabaseOpt,
    lake: LakeOpt = "lake",
    location: LocationOpt = None,
    layout: LayoutOpt = "symlink",
    since: SinceOpt = None,
    workgroup: Annotated[str, typer.Option(help="Athena workgroup.")] = "primary",
    output_location: Annotated[
        str | None,
        typer.Option(help="S3 folder for query results (unless the workgroup sets one)."),
    ] = None,
    region: Annotated[str | None, typer.Option(help="AWS region of Athena.")] = None,
    profile: Annotated[str | None, typer.Option(help="AWS profile to use.")] = None,
    replace: Annotated[
        bool, typer.Option(help="Drop and re-create the table (the data is not touched).")
    ] = False,
) -> None:
    """Create the Athena database and table for the lake (and its symlink manifests).

    Safe to run again: it creates what is missing. Use --replace after an upgrade that changed
    the table's columns, or to move the projection's first day.

    Examples:

      trailscope athena setup --lake s3://analytics-bucket/trailscope/ --database security

      trailscope athena setup -d security --workgroup analysts --output-location s3://results/
    """
    import orjson

    from trailscope.athena.ddl import (
        DEFAULT_TABLE,
        create_database_ddl,
        create_table_ddl,
        side_table_ddl,
    )
    from trailscope.athena.symlinks import write_manifests
    from trailscope.engines.athena import AthenaEngine
    from trailscope.lake.paths import ATHENA_SETTINGS

    def run() -> int:
        lk, uri, first = _lake_and_location(lake, location)
        engine = AthenaEngine(
            database=database,
            workgroup=workgroup,
            output_location=output_location,
            region=region,
            profile=profile,
        )
        if layout == "symlink":
            n = write_manifests(lk.storage, lk.state(), uri)  # type: ignore[attr-defined]
            # From now on every commit keeps the manifests of the days it touches current.
            lk.storage.write_atomic(ATHENA_SETTINGS, orjson.dumps({"location": uri}))  # type: ignore[attr-defined]
            err.print(f"wrote {n:,} partition manifests")
        engine.run_statement(create_database_ddl(database), database="default")
        if replace:
            engine.run_statement(f"DROP TABLE IF EXISTS `{database}`.`{DEFAULT_TABLE}`")
        ddl = create_table_ddl(uri, database=database, first_day=since or first, layout=layout)
        engine.run_statement(ddl)
        for name, table in lk.side_tables(committed=True).items():  # type: ignore[attr-defined]
            if replace:
                engine.run_statement(f"DROP TABLE IF EXISTS `{database}`.`{name}`")
            engine.run_statement(
                side_table_ddl(uri, database=database, name=name, schema=table.schema)
            )
        out.print(
            f"table {database}.{DEFAULT_TABLE} is ready on {uri} (layout {layout})", soft_wrap=True
        )
        return EXIT_OK

    raise typer.Exit(guard(run))
