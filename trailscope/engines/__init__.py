"""Query engines over the same lake: DuckDB in-process, Athena and Spark at scale.

Every engine takes the same Athena SQL and the same saved queries. :func:`prepare` rewrites a
query for one engine (DuckDB rules, Trino for Athena, Spark SQL), :func:`open_engine` makes the
engine, and :func:`reader` runs it; the engines are imported only when used, so the CLI starts
fast and PySpark and boto3's Athena model load only for those who use them.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from trailscope.errors import TrailscopeError
from trailscope.sql import Translation

ENGINES = ("duckdb", "athena", "spark")


def check_engine(name: str) -> str:
    if name not in ENGINES:
        raise TrailscopeError(f"unknown engine {name!r}", hint="use one of: " + ", ".join(ENGINES))
    return name


def prepare(
    name: str,
    athena_sql: str,
    *,
    params: dict[str, Any] | None = None,
    types: dict[str, str] | None = None,
) -> Translation:
    """The SQL as it will run on engine ``name``, with notices about the rewriting."""
    from trailscope.sql import translate

    check_engine(name)
    if name == "spark":
        from trailscope.engines.spark_sql import to_spark

        return to_spark(athena_sql, params=params, types=types)
    if name == "athena":
        return translate(athena_sql, dialect="athena", params=params)
    return translate(athena_sql, params=params)


def open_engine(name: str, lake: Any = None, **options: Any) -> Any:
    """An engine: ``duckdb`` and ``spark`` read ``lake``; ``athena`` reads its table.

    Options: athena: ``database`` (required), ``workgroup``, ``output_location``, ``region``,
    ``profile``, ``client``; spark: ``master``, ``conf``, ``session``.
    """
    check_engine(name)
    if name == "athena":
        from trailscope.engines.athena import AthenaEngine

        if not options.get("database"):
            raise TrailscopeError(
                "--database is required with --engine athena",
                hint="the Glue database of the table made by 'trailscope athena setup'",
            )
        return AthenaEngine(**options)
    if lake is None:
        raise TrailscopeError(f"the {name} engine reads a lake: give --lake")
    if name == "spark":
        from trailscope.engines.spark import SparkEngine

        return SparkEngine.for_lake(lake, **options)
    return lake.engine()


def reader(
    engine: Any,
    sql: str,
    *,
    timeout: float | None = None,
    params: dict[str, Any] | None = None,
    types: dict[str, str] | None = None,
) -> pa.RecordBatchReader:
    """Run prepared SQL on any engine; Athena also needs the parameter types (for NULLs)."""
    if engine.name == "athena":
        return engine.reader(sql, timeout=timeout, params=params, types=types)
    return engine.reader(sql, timeout=timeout, params=params)
