"""Spark gives the same answers as DuckDB: every saved query, every row, on one real lake.

A real local SparkSession (PySpark, ``local[2]``) is started once for this module. Each saved
query runs through the Spark engine (sqlglot's transpilation plus trailscope's rules) and
through ``Lake.run`` (DuckDB); the rows must be the same. Types differ between the engines in
harmless ways (a timestamp's time zone, Decimal vs int), so values are normalized before the
comparison, and rows are compared as sorted lists since ties in ORDER BY may come out in
either order.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from trailscope import Lake
from trailscope.cli import app
from trailscope.engines import open_engine, prepare
from trailscope.engines.duckdb import QueryTimeout
from trailscope.engines.spark import SparkEngine
from trailscope.queries import load_library
from trailscope.sql import QueryError
from trailscope.synth import synth_trail

pytestmark = pytest.mark.slow

SINCE = "2024-07-01"
DAY_SINCE, DAY_UNTIL = "2024-07-16T06:00:00Z", "2024-07-16"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    root = tmp_path_factory.mktemp("spark-lake")
    synth_trail(root / "trail", events=12_000, seed=5, days=3)
    lk = Lake(root / "lake")
    lk.ingest(str(root / "trail"), workers=1)
    return lk


@pytest.fixture(scope="module")
def engine(spark: Any, lake: Lake) -> Iterator[SparkEngine]:
    eng = open_engine("spark", lake, session=spark)
    yield eng
    eng.close()


def _norm(value: Any) -> Any:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    if isinstance(value, list | tuple):
        return tuple(_norm(v) for v in value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _rows(table: pa.Table) -> list[tuple[Any, ...]]:
    return sorted(
        (tuple(_norm(v) for v in row.values()) for row in table.to_pylist()),
        key=repr,
    )


def _run_both(lake: Lake, engine: SparkEngine, name: str, values: dict[str, str]) -> None:
    saved = load_library()[name]
    bound = saved.bind(values)
    types = {p.name: p.type for p in saved.params}
    translation = prepare("spark", saved.sql, params=bound, types=types)
    on_spark = engine.query(translation.sql, params=bound)
    on_duckdb = lake.run(name, **values)
    assert on_spark.column_names == on_duckdb.column_names
    assert on_spark.num_rows == on_duckdb.num_rows
    assert _rows(on_spark) == _rows(on_duckdb)


def _values(name: str) -> dict[str, str]:
    return {"user": "alice"} if name == "iam-user-activity" else {}


@pytest.mark.parametrize("name", sorted(load_library()))
def test_every_saved_query_returns_the_same_rows_as_duckdb(
    lake: Lake, engine: SparkEngine, name: str
) -> None:
    _run_both(lake, engine, name, _values(name) | {"since": SINCE})


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("events-in-window", {"event_name": "ConsoleLogin"}),
        ("top-api-errors-over-time", {"bucket": "hour", "top": "3"}),
        ("security-group-changes", {"before": "2024-07-17T12:00:00Z", "hours": "30"}),
        ("console-logins", {}),
    ],
)
def test_saved_queries_with_a_window_and_parameters(
    lake: Lake, engine: SparkEngine, name: str, extra: dict[str, str]
) -> None:
    _run_both(lake, engine, name, {"since": DAY_SINCE, "until": DAY_UNTIL, **extra})


def test_pasted_athena_sql_with_json_and_structs(lake: Lake, engine: SparkEngine) -> None:
    sql = (
        "SELECT useridentity.sessioncontext.sessionissuer.username AS role, "
        "json_extract_scalar(requestparameters, '$.bucketName') AS bucket, "
        "json_extract_scalar(requestparameters, '$.ipPermissions') AS container, "
        'count(*) AS n FROM "default"."cloudtrail_logs" '
        "WHERE date_partition >= '2024/07/16' GROUP BY 1, 2, 3"
    )
    translation = prepare("spark", sql)
    assert _rows(engine.query(translation.sql)) == _rows(lake.query(sql))


def test_spark_reads_the_ids_as_written(lake: Lake, engine: SparkEngine) -> None:
    """Event and request ids are stored with their lengths apart (DELTA_LENGTH_BYTE_ARRAY):
    Spark's Parquet reader must give back every one as pyarrow reads it."""
    sql = "SELECT eventid, requestid, eventtime FROM cloudtrail"
    on_spark = engine.query(sql)
    files = [pq.read_table(f, columns=["eventid", "requestid", "eventtime"]) for f in lake.files()]
    written = pa.concat_tables(files)
    assert on_spark.num_rows == written.num_rows == lake.info().events
    assert _rows(on_spark) == _rows(written)


def test_json_scalar_text_that_looks_like_json_is_still_text(engine: SparkEngine) -> None:
    """An IAM policy arrives as a JSON *string* holding JSON text: a scalar, as on Trino."""
    sql = (
        "SELECT json_extract_scalar(doc, '$.policyDocument') AS policy, "
        "json_extract_scalar(doc, '$.tags') AS tags, json_extract_scalar(doc, '$.n') AS n "
        'FROM (VALUES (\'{"policyDocument": "{\\"Version\\": \\"2012\\"}", '
        '"tags": {"a": 1}, "n": 5}\')) AS t(doc)'
    )
    want = [{"policy": '{"Version": "2012"}', "tags": None, "n": "5"}]
    assert engine.query(prepare("spark", sql).sql).to_pylist() == want


def test_only_the_manifests_live_files_are_read(spark: Any, lake: Lake, tmp_path: Path) -> None:
    """A file a compaction replaced (not yet deleted) and a staged part are on disk but not in
    the lake: a glob would double-count them, the engine must not."""
    copy = Lake(tmp_path / "lake")
    shutil.copytree(lake.root, copy.root)
    live = copy.files()[0]
    shutil.copy(live, live.with_name("part-replaced-by-compaction.parquet"))
    shutil.copy(live, live.with_name("part-staged.parquet.tmp"))
    eng = SparkEngine.for_lake(copy, session=spark)
    try:
        counted = eng.query("SELECT count(*) AS n FROM cloudtrail").column("n")[0].as_py()
    finally:
        eng.close()
    assert counted == copy.info().events == lake.info().events


def test_side_tables_are_tables_of_their_name_on_spark(
    spark: Any, lake: Lake, tmp_path: Path
) -> None:
    copy = Lake(tmp_path / "lake")
    shutil.copytree(lake.root, copy.root)
    accounts = pa.table({"account": ["111111111111"], "name": ["prod"]})
    copy.update_table("accounts", lambda _: accounts, operation="accounts")
    eng = SparkEngine.for_lake(copy, session=spark)
    try:
        got = eng.query("SELECT account, name FROM accounts")
    finally:
        eng.close()
    assert got.to_pylist() == accounts.to_pylist()


def test_timeout_cancels_the_spark_job(engine: SparkEngine) -> None:
    # a task that sleeps 60 s in the JVM: interruptible, so the cancelled job ends at once
    sql = "SELECT java_method('java.lang.Thread', 'sleep', 60000L) AS slept FROM range(1)"
    with pytest.raises(QueryTimeout) as exc:
        engine.query(sql, timeout=2)
    assert str(exc.value) == (
        "query cancelled after 2 s\nhint: narrow the time range or raise --timeout"
    )
    # the session is still usable afterwards
    assert engine.query("SELECT count(*) AS n FROM cloudtrail").num_rows == 1


def test_errors_are_one_line(engine: SparkEngine) -> None:
    with pytest.raises(QueryError) as exc:
        engine.query("SELECT usernme FROM cloudtrail")
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith("Spark: [UNRESOLVED_COLUMN")
    assert "`usernme`" in message


def test_cli_run_on_spark_matches_duckdb(spark: Any, lake: Lake) -> None:
    runner = CliRunner()
    args = ["run", "console-logins", "--since", SINCE, "--lake", str(lake.root), "--csv"]
    on_duckdb = runner.invoke(app, args)
    on_spark = runner.invoke(app, [*args, "--engine", "spark"])
    assert on_duckdb.exit_code == 0, on_duckdb.output
    assert on_spark.exit_code == 0, on_spark.output
    duck_rows = list(csv.reader(io.StringIO(on_duckdb.stdout)))
    spark_rows = list(csv.reader(io.StringIO(on_spark.stdout)))
    assert duck_rows[0] == spark_rows[0]
    assert len(duck_rows) > 1
    assert sorted(duck_rows[1:]) == sorted(spark_rows[1:])


def test_every_built_in_detection_finds_the_same_on_spark(lake: Lake, engine: SparkEngine) -> None:
    """Detections are Athena SQL too: on Spark, through the same translation, the same
    findings (rule and events) as on DuckDB."""
    from trailscope.detect import run_detections

    def findings(report: Any) -> list[tuple[str, tuple[str, ...]]]:
        return sorted((f.rule_id, tuple(sorted(f.event_ids))) for f in report.findings)

    on_duckdb = run_detections(lake)
    on_spark = run_detections(lake, engine=engine)
    assert on_spark.unsupported == on_duckdb.unsupported == []
    assert findings(on_duckdb)  # the planted incidents at least
    assert findings(on_spark) == findings(on_duckdb)
