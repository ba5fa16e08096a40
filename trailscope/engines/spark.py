"""Apache Spark as a query engine: the same lake files and saved queries on a cluster.

The ``cloudtrail`` view reads exactly the files the manifest lists as live (never a glob, so a
staged part or one a compaction replaced is never read), with ``basePath`` at the events folder
so ``event_date`` comes from the folder names, and the same compatibility columns as on DuckDB.
The schema is given, not inferred: it is the lake's own (:data:`TABLE_SCHEMA`), so partition
values stay strings and an empty lake still has every column.

The session is the user's (any master: local, standalone, YARN, Kubernetes, Databricks
Connect) or a local one made here. Spark is imported only when this engine is used.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlglot

from trailscope.athena.ddl import hive_type
from trailscope.decode.schema import TABLE_SCHEMA
from trailscope.engines.duckdb import QueryTimeout
from trailscope.errors import TrailscopeError
from trailscope.lake.paths import EVENTS_DIR
from trailscope.sql import COMPAT_COLUMNS, TABLE, QueryError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: Settings for a session made here: UTC as on Athena, small shuffles for one machine.
LOCAL_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.driver.memory": "2g",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def spark_schema_ddl() -> str:
    """The lake's table schema as a Spark DDL string (``name type, ...``)."""
    return ", ".join(f"`{f.name}` {hive_type(f.type)}" for f in TABLE_SCHEMA)


def get_session(master: str | None = None, conf: Mapping[str, str] | None = None) -> SparkSession:
    """The active session (if any and no master is asked), else a new one with ``conf``."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise TrailscopeError(
            "the Spark engine needs PySpark", hint="pip install 'trailscope[spark]'"
        ) from None
    active = SparkSession.getActiveSession()
    if active is not None and master is None and not conf:
        return active
    builder = SparkSession.builder.appName("trailscope").master(master or "local[*]")
    for key, value in {**LOCAL_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def spark_uri(location: str | Path) -> str:
    """Spark's name for a file: s3a:// for S3 (Hadoop's S3 filesystem), paths as they are."""
    text = str(location)
    if text.startswith("s3://"):
        return "s3a://" + text[len("s3://") :]
    return text


class SparkEngine:
    name = "spark"

    def __init__(
        self,
        files: Sequence[str | Path],
        base: str | Path,
        *,
        session: SparkSession | None = None,
        master: str | None = None,
        conf: Mapping[str, str] | None = None,
        tables: Mapping[str, str | Path] | None = None,
    ) -> None:
        """``tables``: the lake's side tables, name -> the Parquet file of the version to
        show (each becomes a view of its name)."""
        self.files = [spark_uri(f) for f in files]
        self.base = spark_uri(base)
        self.spark = session if session is not None else get_session(master, conf)
        self.spark.conf.set("spark.sql.session.timeZone", "UTC")  # eventtime_ts as on Athena
        self._create_view()
        self.tables = {name: spark_uri(path) for name, path in (tables or {}).items()}
        self._side = {name: self.spark.read.parquet(uri) for name, uri in self.tables.items()}
        self._side |= _empty_side_tables(self.spark, set(self.tables))
        self._name_views()

    @classmethod
    def for_lake(cls, lake: Any, **options: Any) -> SparkEngine:
        """Over a :class:`~trailscope.Lake`: its live files, its events folder, its side
        tables, all as of one commit."""
        root = getattr(lake, "uri", None) or lake.root
        base = f"{str(root).rstrip('/')}/{EVENTS_DIR}"
        state = lake.state()
        files = [str(lake.root / rel) for rel in lake.readable_parts(state)]
        tables = {name: lake.root / t.path for name, t in state.tables.items()}
        return cls(files, base, tables=tables, **options)

    def close(self) -> None:
        """The session belongs to the caller (or lives for the process); only drop our view."""
        self.spark.catalog.dropTempView(TABLE)
        for name in self._side:
            self.spark.catalog.dropTempView(name)

    def _create_view(self) -> None:
        schema = spark_schema_ddl()
        if self.files:
            df = self.spark.read.schema(schema).option("basePath", self.base).parquet(*self.files)
        else:
            df = self.spark.createDataFrame([], schema)
        compat = [
            sqlglot.transpile(expr, read="duckdb", write="spark")[0] + f" AS `{name}`"
            for name, expr in COMPAT_COLUMNS.items()
        ]
        self._view = df.selectExpr("*", *compat)
        self._view.createOrReplaceTempView(TABLE)

    def _name_views(self) -> None:
        """Give this engine's events and side tables their names in the session (another
        engine on the same session may have taken or dropped them since)."""
        self._view.createOrReplaceTempView(TABLE)
        for name, frame in self._side.items():
            frame.createOrReplaceTempView(name)

    def query(
        self,
        sql: str,
        *,
        timeout: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> pa.Table:
        """Run Spark SQL (see :func:`trailscope.engines.spark_sql.to_spark`); Arrow back."""
        from py4j.protocol import Py4JJavaError
        from pyspark.errors import PySparkException

        args = _spark_args(params)
        tag = f"trailscope-{uuid.uuid4().hex}"
        sc = self.spark.sparkContext
        sc.setJobGroup(tag, "trailscope query", interruptOnCancel=True)
        timed_out = threading.Event()

        def cancel() -> None:
            timed_out.set()
            sc.cancelJobGroup(tag)

        timer = threading.Timer(timeout, cancel) if timeout else None
        if timer:
            timer.daemon = True
            timer.start()
        try:
            # the session may be shared by several engines (lakes): the names must be ours now
            self._name_views()
            df = self.spark.sql(sql, args=args or None)
            return _to_arrow(df)
        except (PySparkException, Py4JJavaError) as exc:
            if timed_out.is_set():
                raise QueryTimeout(
                    f"query cancelled after {timeout:g} s",
                    hint="narrow the time range or raise --timeout",
                ) from None
            raise QueryError(f"Spark: {_first_line(exc)}") from None
        finally:
            if timer:
                timer.cancel()
            sc.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]  # None clears it

    def reader(
        self,
        sql: str,
        *,
        timeout: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> pa.RecordBatchReader:
        table = self.query(sql, timeout=timeout, params=params)
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())


def _spark_args(params: dict[str, Any] | None) -> dict[str, Any]:
    """Named arguments for ``spark.sql``: NULLs are typed in the SQL by ``to_spark``."""
    return {k: v for k, v in (params or {}).items() if v is not None}


def _to_arrow(df: Any) -> pa.Table:
    if hasattr(df, "toArrow"):  # PySpark 4
        return df.toArrow()
    batches = df._collect_as_arrow()  # PySpark 3.5
    schema = batches[0].schema if batches else pa.schema([])
    return pa.Table.from_batches(batches, schema=schema)


def _first_line(exc: Exception) -> str:
    """Spark's message without the JVM stack trace."""
    text = str(exc).strip()
    if hasattr(exc, "java_exception"):  # a raw Py4JJavaError: the Java exception's message
        text = str(exc.java_exception.getMessage() or text)
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["SparkEngine", "get_session", "spark_schema_ddl"]


def _empty_side_tables(spark: SparkSession, present: set[str]) -> dict[str, Any]:
    """The enrichment tables a lake has not written yet, empty, so a query that joins them
    runs here as it does on DuckDB (and finds no names)."""
    from trailscope.enrich.schemas import empty_tables, spark_ddl

    return {
        name: spark.createDataFrame([], spark_ddl(table.schema))
        for name, table in empty_tables().items()
        if name not in present
    }
