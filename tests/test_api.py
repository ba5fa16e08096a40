"""The Python API as a script uses it: one ``Lake`` for every engine, streamed results,
detections, verification and exports.

References the API did not compute: the lake's Parquet files read with pyarrow alone, the
incidents the generator planted, the requests Athena's own API model accepts (botocore's
Stubber checks each one), and files tampered with on disk.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.stub import Stubber

import trailscope
from trailscope import Lake, TrailscopeError
from trailscope.engines.athena import AthenaEngine
from trailscope.synth import SynthReport, synth_trail

QID = "2b5bd7a4-0000-4000-8000-0000000000a1"
OUTPUT = "s3://athena-results-bucket/trailscope/"
BY_NAME = "SELECT eventname, count(*) AS n FROM cloudtrail GROUP BY 1"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lake, SynthReport]]:
    root = tmp_path_factory.mktemp("api")
    report = synth_trail(root / "trail", events=3000, seed=5)
    lake = Lake(root / "lake")
    lake.ingest(str(root / "trail"), workers=1)
    yield lake, report
    lake.close()


@pytest.fixture
def lake(built: tuple[Lake, SynthReport]) -> Lake:
    return built[0]


def names_in_files(lake: Lake) -> Counter[str]:
    """Events by name, from the Parquet files themselves (no SQL engine involved)."""
    counts: Counter[str] = Counter()
    for path in lake.files():
        counts.update(pq.read_table(path, columns=["eventname"]).column(0).to_pylist())
    return counts


def as_counter(table: pa.Table) -> Counter[str]:
    return Counter(dict(zip(table["eventname"].to_pylist(), table["n"].to_pylist(), strict=True)))


# --------------------------------------------------------------------------- DuckDB


def test_every_way_of_asking_duckdb_gives_the_rows_in_the_files(lake: Lake) -> None:
    expected = names_in_files(lake)
    assert sum(expected.values()) > 3000
    engine = lake.open_engine("duckdb")
    try:
        answers = {
            "default": lake.query(BY_NAME),
            "by name": lake.query(BY_NAME, engine="duckdb"),
            "engine object": lake.query(BY_NAME, engine=engine),
            "streamed": lake.query_batches(BY_NAME).read_all(),
            "streamed on the object": lake.query_batches(BY_NAME, engine=engine).read_all(),
        }
    finally:
        engine.close()
    for how, table in answers.items():
        assert as_counter(table) == expected, how


def test_query_batches_streams_while_the_lake_answers_other_questions(lake: Lake) -> None:
    total = sum(names_in_files(lake).values())
    reader = lake.query_batches(
        "SELECT eventid, r.range AS copy FROM cloudtrail CROSS JOIN range(50) AS r"
    )
    assert isinstance(reader, pa.RecordBatchReader)
    assert reader.schema == pa.schema([("eventid", pa.string()), ("copy", pa.int64())])
    first = reader.read_next_batch()
    # the stream holds its own connection: a query meanwhile neither waits nor breaks it
    assert lake.query("SELECT count(*) AS n FROM cloudtrail")["n"].to_pylist() == [total]
    sizes = [first.num_rows] + [batch.num_rows for batch in reader]
    assert len(sizes) >= 3
    assert max(sizes) <= 65536
    assert sum(sizes) == 50 * total


def test_a_stream_closed_early_lets_the_lake_close(lake: Lake) -> None:
    reader = lake.query_batches("SELECT * FROM cloudtrail CROSS JOIN range(40)")
    reader.read_next_batch()
    reader.close()
    lake.close()
    assert lake.query("SELECT count(*) AS n FROM cloudtrail")["n"].to_pylist() == [
        sum(names_in_files(lake).values())
    ]


def test_saved_queries_run_and_stream_with_parameters(lake: Lake) -> None:
    expected = names_in_files(lake)["ConsoleLogin"]
    assert expected > 0
    table = lake.run("console-logins", since="2000-01-01")
    streamed = lake.run_batches("console-logins", since="2000-01-01").read_all()
    assert table.num_rows == streamed.num_rows == expected


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda lk: lk.query("SELECT 1", engine="postgres"),
            "unknown engine 'postgres'",
        ),
        (
            lambda lk: lk.query("SELECT 1", engine="duckdb", engine_options={"threads": 2}),
            "the duckdb engine takes no settings (got threads)",
        ),
        (
            lambda lk: lk.query("SELECT 1", engine="athena"),
            "the athena engine needs the Glue database of the lake's table",
        ),
        (
            lambda lk: lk.query(
                "SELECT 1",
                engine=AthenaEngine(database="d", client=object()),
                engine_options={"workgroup": "x"},
            ),
            "engine_options go with an engine name, not with an engine object",
        ),
    ],
)
def test_engine_mistakes_are_one_line_errors(lake: Lake, call: Any, message: str) -> None:
    with pytest.raises(TrailscopeError) as caught:
        call(lake)
    assert caught.value.message == message


# --------------------------------------------------------------------------- Athena


@pytest.fixture
def client() -> Any:
    return boto3.client(
        "athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def _succeeded(scanned: int) -> dict[str, Any]:
    return {
        "QueryExecution": {
            "QueryExecutionId": QID,
            "StatementType": "DML",
            "Status": {"State": "SUCCEEDED"},
            "Statistics": {"DataScannedInBytes": scanned},
        }
    }


def _page(rows: list[list[str]], token: str | None = None) -> dict[str, Any]:
    page: dict[str, Any] = {
        "ResultSet": {
            "Rows": [{"Data": [{"VarCharValue": v} for v in row]} for row in rows],
            "ResultSetMetadata": {
                "ColumnInfo": [
                    {"Name": "bucket", "Type": "varchar"},
                    {"Name": "n", "Type": "bigint"},
                ]
            },
        }
    }
    if token:
        page["NextToken"] = token
    return page


def _expect_run(stub: Stubber, query: str, parameters: list[str] | None) -> None:
    request: dict[str, Any] = {
        "QueryString": query,
        "QueryExecutionContext": {"Database": "security"},
        "WorkGroup": "primary",
        "ResultConfiguration": {"OutputLocation": OUTPUT},
    }
    if parameters:
        request["ExecutionParameters"] = parameters
    stub.add_response("start_query_execution", {"QueryExecutionId": QID}, request)
    stub.add_response("get_query_execution", _succeeded(10_485_760), {"QueryExecutionId": QID})
    stub.add_response(
        "get_query_results",
        _page([["bucket", "n"], ["logs-bucket", "7"]], "next"),
        {"QueryExecutionId": QID, "MaxResults": 1000},
    )
    stub.add_response(
        "get_query_results",
        _page([["o'brien-bucket", "2"]]),
        {"QueryExecutionId": QID, "MaxResults": 1000, "NextToken": "next"},
    )


HUNT = (
    "SELECT json_extract_scalar(requestparameters, '$.bucketName') AS bucket, count(*) AS n "
    "FROM cloudtrail WHERE eventname = :name GROUP BY 1"
)


def test_query_on_athena_by_name_sends_athena_sql_with_bound_values(
    lake: Lake, client: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    with Stubber(client) as stub:
        _expect_run(
            stub,
            # Trino's own JSON function (DuckDB would get a macro), the value as a parameter
            "SELECT JSON_EXTRACT_SCALAR(requestparameters, '$.bucketName') AS bucket, "
            "COUNT(*) AS n FROM cloudtrail WHERE eventname = ? GROUP BY 1",
            ["'GetBucketAcl'' OR 1=1 --'"],
        )
        table = lake.query(
            HUNT,
            engine="athena",
            engine_options={"database": "security", "output_location": OUTPUT, "client": client},
            params={"name": "GetBucketAcl' OR 1=1 --"},
        )
        stub.assert_no_pending_responses()
    assert table.schema == pa.schema([("bucket", pa.string()), ("n", pa.int64())])
    assert table.to_pylist() == [
        {"bucket": "logs-bucket", "n": 7},
        {"bucket": "o'brien-bucket", "n": 2},
    ]
    assert capfd.readouterr().out == ""  # nothing of the run on the caller's stdout


def test_an_athena_engine_object_streams_saved_queries_and_reports_its_bill(
    lake: Lake, client: Any
) -> None:
    engine = lake.open_engine("athena", database="security", output_location=OUTPUT, client=client)
    with Stubber(client) as stub:
        _expect_run(
            stub,
            "SELECT JSON_EXTRACT_SCALAR(requestparameters, '$.bucketName') AS bucket, "
            "COUNT(*) AS n FROM cloudtrail WHERE eventname = ? GROUP BY 1",
            ["'PutObject'"],
        )
        reader = lake.query_batches(HUNT, engine=engine, params={"name": "PutObject"})
        assert isinstance(reader, pa.RecordBatchReader)
        assert reader.schema == pa.schema([("bucket", pa.string()), ("n", pa.int64())])
        assert reader.read_next_batch().to_pylist() == [{"bucket": "logs-bucket", "n": 7}]
        with pytest.raises(AssertionError):  # the second page is asked for only when needed
            stub.assert_no_pending_responses()
        assert [b.to_pylist() for b in reader] == [[{"bucket": "o'brien-bucket", "n": 2}]]
        stub.assert_no_pending_responses()
    assert engine.last is not None
    assert engine.last.bytes_scanned == 10_485_760
    assert engine.last.dollars == pytest.approx(10_485_760 / 1024**4 * 5)


def test_a_saved_query_on_athena_sends_typed_parameters(lake: Lake, client: Any) -> None:
    hostile = "bob'); DROP TABLE x; --"
    with Stubber(client) as stub:
        stub.add_response(
            "start_query_execution",
            {"QueryExecutionId": QID},
            {
                "QueryString": stub_any(),
                "QueryExecutionContext": {"Database": "security"},
                "WorkGroup": "primary",
                "ResultConfiguration": {"OutputLocation": OUTPUT},
                "ExecutionParameters": [
                    "'2024-07-15T00:00:00Z'",
                    "CAST(NULL AS varchar)",
                    "CAST(NULL AS varchar)",
                    "'bob''); DROP TABLE x; --'",
                    "'bob''); DROP TABLE x; --'",
                    "'bob''); DROP TABLE x; --'",
                ],
            },
        )
        stub.add_response("get_query_execution", _succeeded(0))
        stub.add_response("get_query_results", _page([["bucket", "n"]]))
        table = lake.run(
            "console-logins",
            engine="athena",
            engine_options={"database": "security", "output_location": OUTPUT, "client": client},
            since="2024-07-15T00:00:00Z",
            user=hostile,
        )
        stub.assert_no_pending_responses()
    assert table.num_rows == 0


def stub_any() -> Any:
    from botocore.stub import ANY

    return ANY


# --------------------------------------------------------------------------- detections


def test_detect_finds_what_was_planted(built: tuple[Lake, SynthReport]) -> None:
    lake, trail = built
    report = lake.detect()
    assert report.rules_run > 50
    planted = [i for i in trail.incidents if i.rule_id]
    assert planted
    found = {(f.rule_id, e) for f in report.findings for e in f.event_ids}
    for incident in planted:
        missing = [e for e in incident.event_ids if (incident.rule_id, e) not in found]
        assert not missing, incident.name
    one = planted[0].rule_id
    only = lake.detect(rule_ids=[one], builtin=True)
    assert {f.rule_id for f in only.findings} == {one}
    assert only.rules_run == 1


def test_detect_on_an_engine_object_runs_each_rule_on_it(lake: Lake) -> None:
    """An engine given as an object is the one asked (and left open for its owner)."""
    asked: list[str] = []
    engine = lake.open_engine("duckdb")

    class Counting:
        name = "duckdb"

        def query(self, sql: str, **kwargs: Any) -> pa.Table:
            asked.append(sql)
            return engine.query(sql, **kwargs)

        def reader(self, sql: str, **kwargs: Any) -> pa.RecordBatchReader:
            return engine.reader(sql, **kwargs)

        def close(self) -> None:
            raise AssertionError("an engine given by the caller is the caller's to close")

    try:
        ids = ["root-api-activity", "cloudtrail-logging-disrupted", "discovery-burst"]
        report = lake.detect(rule_ids=ids, engine=Counting())
        assert report.rules_run == 3
        assert asked
        expected = lake.detect(rule_ids=ids)
        assert [f.to_json() for f in report.findings] == [f.to_json() for f in expected.findings]
    finally:
        engine.close()


# --------------------------------------------------------------------------- export


@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson", "parquet"])
def test_export_writes_every_row_in_each_format(lake: Lake, tmp_path: Path, fmt: str) -> None:
    # no NULLs: CSV cannot tell them from empty text
    sql = "SELECT eventid, eventname FROM cloudtrail WHERE eventname IS NOT NULL ORDER BY 1"
    expected = lake.query(sql).to_pylist()
    path = tmp_path / f"out.{fmt}"
    assert lake.export(sql, path) == len(expected)
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    elif fmt == "json":
        rows = json.loads(path.read_text())
    elif fmt == "ndjson":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    else:
        rows = pq.read_table(path).to_pylist()
    assert rows == expected


def test_export_to_an_open_file_and_its_mistakes(lake: Lake, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    assert lake.export("SELECT 'a,\"b' AS x", buffer, format="csv") == 1
    assert buffer.getvalue().decode().splitlines() == ['"x"', '"a,""b"']
    with pytest.raises(TrailscopeError) as caught:
        lake.export("SELECT 1", tmp_path / "out.xlsx")
    assert (
        caught.value.message == f"cannot tell the export format of {str(tmp_path / 'out.xlsx')!r}"
    )
    with pytest.raises(TrailscopeError) as caught:
        lake.export("SELECT 1", tmp_path / "out.csv", format="xml")  # type: ignore[arg-type]
    assert caught.value.message == "cannot export as 'xml'"
    assert list(tmp_path.iterdir()) == []  # nothing half-written


# --------------------------------------------------------------------------- the package


@pytest.mark.slow
def test_synth_is_on_the_package_and_import_stays_light(tmp_path: Path) -> None:
    script = (
        "import sys, trailscope\n"
        "light = 'pyarrow' not in sys.modules\n"
        f"report = trailscope.synth_trail({str(tmp_path / 't')!r}, events=300, seed=2)\n"
        "print(light, type(report).__name__, report.log_files)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    files = len(list((tmp_path / "t" / "AWSLogs").rglob("CloudTrail/**/*.json.gz")))
    assert files > 0
    assert done.stdout == f"True SynthReport {files}\n"
    assert trailscope.synth_trail is synth_trail
    assert set(trailscope.__all__) <= set(dir(trailscope))


# --------------------------------------------------------------------------- Spark


@pytest.mark.slow
def test_spark_by_name_answers_like_duckdb_and_writes_nothing_to_stdout(lake: Lake) -> None:
    """A script asking Spark through the API prints what it prints: the JVM's start-up
    notes and any progress go to stderr, never into the script's own output."""
    script = f"""
import trailscope
lake = trailscope.open_lake({str(lake.location)!r})
options = {{"master": "local[1]", "conf": {{"spark.sql.shuffle.partitions": "2"}}}}
table = lake.query({BY_NAME!r}, engine="spark", engine_options=options)
streamed = lake.query_batches({BY_NAME!r}, engine="spark", engine_options=options)
rows = sorted(zip(table["eventname"].to_pylist(), table["n"].to_pylist()), key=str)
print(sum(n for _, n in rows), len(rows), streamed.read_all().num_rows)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    expected = names_in_files(lake)
    assert done.stdout == f"{sum(expected.values())} {len(expected)} {len(expected)}\n"
