"""Windowed rules (counts, correlations, sequences) on Athena and Spark.

Athena cannot run here: every windowed rule, built-in or compiled from Sigma, must be valid
Trino SQL once its parameters are positional (``?`` only inside WHERE clauses, the rest sent
as literals), and a run on the Athena engine must send exactly that text and those values
(botocore's Stubber checks each request against the expected parameters and Athena's model).
Spark runs for real (local mode): the windowed rules find on Spark what they find on DuckDB.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlglot
from botocore.stub import Stubber
from sqlglot import exp
from test_detect_sigma import SIGMA
from test_detect_windows import CORRELATIONS

from trailscope.athena.params import to_positional
from trailscope.detect import load_rules, run_detections
from trailscope.detect.runner import EARLIEST, LATEST, placeholders
from trailscope.engines.athena import AthenaEngine
from trailscope.facade import Lake
from trailscope.sql import translate
from trailscope.synth import synth_trail

OUTPUT = "s3://athena-results-bucket/trailscope/"
QID = "7f0c2c6e-0000-4000-8000-00000000d7c7"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("windowed")
    for name, text in CORRELATIONS.items():
        (root / name).write_text(text)
    for path in (SIGMA / "unsupported").glob("*.yml"):
        (root / path.name).write_text(path.read_text())
    return root


def _windowed(folder: Path) -> list[Any]:
    return [r for r in load_rules([folder]).rules if r.window is not None]


def _bound(rule: Any) -> dict[str, Any]:
    values = rule.bind()
    values.update(since="2024-07-01T00:00:00Z", until="2024-07-08T00:00:00Z")
    values["lookback_since"] = "2024-06-17T00:00:00Z"
    return {k: v for k, v in values.items() if k in placeholders(rule.sql)}


def test_every_windowed_rule_is_trino_with_its_parameters_where_athena_takes_them(
    folder: Path,
) -> None:
    rules = _windowed(folder)
    assert len(rules) >= 20  # the built-in bursts and sequences, SigmaHQ's, the correlations
    for rule in rules:
        bound = _bound(rule)
        positional = to_positional(translate(rule.sql, dialect="athena", params=bound).sql, bound)
        tree = sqlglot.parse_one(positional.sql, read="trino")
        markers = list(tree.find_all(exp.Placeholder))
        assert len(markers) == len(positional.parameters), rule.id
        assert all(m.find_ancestor(exp.Where) is not None for m in markers), rule.id
        tables = {t.name for t in tree.find_all(exp.Table)}
        assert tables - {c.alias for c in tree.find_all(exp.CTE)} == {"cloudtrail"}, rule.id
        # the window and threshold are in the text as literals, the time range as '?'
        assert "'2024-07-01T00:00:00Z'" in positional.parameters, rule.id


def _execution(state: str) -> dict[str, Any]:
    return {
        "QueryExecution": {
            "QueryExecutionId": QID,
            "StatementType": "DML",
            "Status": {"State": state},
            "Statistics": {"DataScannedInBytes": 10, "EngineExecutionTimeInMillis": 5},
        }
    }


def _result_page(columns: list[str]) -> dict[str, Any]:
    header = {"Data": [{"VarCharValue": c} for c in columns]}
    return {
        "ResultSet": {
            "Rows": [header],
            "ResultSetMetadata": {"ColumnInfo": [{"Name": c, "Type": "varchar"} for c in columns]},
        },
        "UpdateCount": 0,
    }


@pytest.mark.parametrize(
    "rule_id",
    [
        "failed-console-logins-from-one-ip",
        "aws_macic_evasion",
        "new-address-console-login-then-iam-changes",
    ],
)
def test_a_run_on_athena_sends_exactly_the_rule_as_trino(folder: Path, rule_id: str) -> None:
    rule = next(r for r in load_rules([folder]).rules if r.id == rule_id)
    client = boto3.client(
        "athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    engine = AthenaEngine(
        database="security",
        workgroup="analysts",
        output_location=OUTPUT,
        client=client,
        sleep=lambda _s: None,
        clock=lambda: 0.0,
    )
    values = rule.bind()
    values.update(since=EARLIEST, until=LATEST, lookback_since=EARLIEST)
    used = {k: v for k, v in values.items() if k in placeholders(rule.sql)}
    positional = to_positional(translate(rule.sql, dialect="athena", params=used).sql, used)
    with Stubber(client) as stub:
        stub.add_response(
            "start_query_execution",
            {"QueryExecutionId": QID},
            {
                "QueryString": positional.sql,
                "QueryExecutionContext": {"Database": "security"},
                "WorkGroup": "analysts",
                "ResultConfiguration": {"OutputLocation": OUTPUT},
                "ExecutionParameters": positional.parameters,
            },
        )
        stub.add_response("get_query_execution", _execution("SUCCEEDED"), {"QueryExecutionId": QID})
        columns = [
            "first_seen",
            "last_seen",
            "principal",
            "source_ip",
            "account",
            "region",
            "event_count",
            "event_ids",
        ]
        stub.add_response(
            "get_query_results",
            _result_page(columns),
            {"QueryExecutionId": QID, "MaxResults": 1000},
        )
        report = run_detections(None, engine=engine, rule_dirs=[folder], rule_ids=[rule_id])
        stub.assert_no_pending_responses()
    assert report.rules_run == 1 and report.findings == []


# --------------------------------------------------------------------------- Spark


@pytest.mark.slow
def test_windowed_rules_find_the_same_on_spark(spark: Any, folder: Path, tmp_path: Path) -> None:
    import json

    from test_detect_sigma import _events

    from trailscope.engines import open_engine

    events = [{**e, "eventID": f"real-{i:04d}"} for i, e in enumerate(_events())]
    (tmp_path / "trail").mkdir()
    (tmp_path / "trail" / "events.json").write_text(json.dumps({"Records": events}))
    synth_trail(tmp_path / "trail" / "synth", events=3_000, seed=3, days=1, digests=False)
    lake = Lake(tmp_path / "lake")
    lake.ingest(str(tmp_path / "trail"), workers=1)
    ids = [r.id for r in _windowed(folder)]
    on_duckdb = run_detections(lake, rule_dirs=[folder], rule_ids=ids)
    engine = open_engine("spark", lake, session=spark)
    try:
        on_spark = run_detections(lake, rule_dirs=[folder], rule_ids=ids, engine=engine)
    finally:
        engine.close()

    def key(report: Any) -> list[tuple[str, tuple[str, ...]]]:
        return sorted((f.rule_id, tuple(f.event_ids)) for f in report.findings)

    assert on_spark.unsupported == on_duckdb.unsupported == []
    assert len({f.rule_id for f in on_duckdb.findings}) >= 5  # not vacuous
    assert key(on_spark) == key(on_duckdb)


def test_json_text_of_a_value_inside_json_text_is_read_from_the_parsed_document_on_spark() -> None:
    """``json_format(json_extract(...))`` nested in another (a policy document that is itself
    JSON text inside requestParameters): Spark's ``to_json`` takes no plain string, so every
    level must read the parsed document, the inner one before the outer copies it."""
    from trailscope.engines.spark_sql import to_spark

    doc = (
        "coalesce(json_extract_scalar(requestparameters, '$.policy'), "
        "json_format(json_extract(requestparameters, '$.policy')))"
    )
    athena = (
        f"SELECT json_format(json_extract({doc}, '$.Statement[0].Principal')) AS p, "
        f"json_extract_scalar({doc}, '$.Statement[0].Effect') AS e FROM cloudtrail"
    )
    spark_sql = to_spark(athena).sql
    calls = [m.end() for m in re.finditer(r"\bTO_JSON\(", spark_sql, re.IGNORECASE)]
    # the outer value, the document inside it, and inside the scalar's value and type test
    assert len(calls) == 4
    for end in calls:
        assert spark_sql[end:].upper().startswith("TRY_VARIANT_GET("), spark_sql[end - 8 :][:80]
    sqlglot.parse_one(spark_sql, read="spark")  # and it is Spark SQL
