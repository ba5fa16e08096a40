"""The Athena engine against a real boto3 Athena client whose responses are stubbed.

Athena cannot run here. botocore's Stubber checks every request the engine sends against the
exact parameters expected (and validates it against Athena's API model), and fails on any call
not expected, so a polling loop that spins on instead of stopping fails the test.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import boto3
import pyarrow as pa
import pytest
import sqlglot
from botocore.stub import ANY, Stubber

from trailscope.athena.params import to_positional
from trailscope.engines.athena import AthenaEngine, to_arrow
from trailscope.engines.duckdb import QueryTimeout
from trailscope.errors import TrailscopeError
from trailscope.queries import load_library
from trailscope.sql import QueryError, translate

QID = "7f0c2c6e-0000-4000-8000-000000000001"
OUTPUT = "s3://athena-results-bucket/trailscope/"


class FakeClock:
    """Time that moves only when the engine sleeps: no real waiting in tests."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def client() -> Any:
    return boto3.client(
        "athena",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _engine(client: Any, clock: FakeClock) -> AthenaEngine:
    return AthenaEngine(
        database="security",
        workgroup="analysts",
        output_location=OUTPUT,
        client=client,
        sleep=clock.sleep,
        clock=clock,
    )


def _execution(state: str, scanned: int = 0, reason: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"State": state}
    if reason:
        status["StateChangeReason"] = reason
    return {
        "QueryExecution": {
            "QueryExecutionId": QID,
            "StatementType": "DML",
            "Status": status,
            "Statistics": {"DataScannedInBytes": scanned, "EngineExecutionTimeInMillis": 1234},
        }
    }


def _row(*values: str | None) -> dict[str, Any]:
    return {"Data": [{} if v is None else {"VarCharValue": v} for v in values]}


COLUMNS = [
    {"Name": "eventname", "Type": "varchar"},
    {"Name": "calls", "Type": "bigint"},
    {"Name": "failed", "Type": "boolean"},
    {"Name": "first_seen", "Type": "timestamp"},
    {"Name": "day", "Type": "date"},
    {"Name": "share", "Type": "decimal", "Precision": 5, "Scale": 2},
]


def _page(rows: list[dict[str, Any]], token: str | None = None) -> dict[str, Any]:
    page: dict[str, Any] = {
        "ResultSet": {"Rows": rows, "ResultSetMetadata": {"ColumnInfo": COLUMNS}},
        "UpdateCount": 0,
    }
    if token:
        page["NextToken"] = token
    return page


def test_query_sends_the_exact_calls_and_assembles_every_page(client: Any) -> None:
    clock = FakeClock()
    sql = "SELECT eventname, count(*) AS calls FROM cloudtrail WHERE eventname = :name"
    with Stubber(client) as stub:
        stub.add_response(
            "start_query_execution",
            {"QueryExecutionId": QID},
            {
                "QueryString": "SELECT eventname, COUNT(*) AS calls FROM cloudtrail "
                "WHERE eventname = ?",
                "QueryExecutionContext": {"Database": "security"},
                "WorkGroup": "analysts",
                "ResultConfiguration": {"OutputLocation": OUTPUT},
                "ExecutionParameters": ["'O''Brien'"],
            },
        )
        for state in ("QUEUED", "RUNNING", "RUNNING"):
            stub.add_response("get_query_execution", _execution(state), {"QueryExecutionId": QID})
        stub.add_response(
            "get_query_execution", _execution("SUCCEEDED", 123_456_789), {"QueryExecutionId": QID}
        )
        header = _row("eventname", "calls", "failed", "first_seen", "day", "share")
        stub.add_response(
            "get_query_results",
            _page(
                [header, _row("ConsoleLogin", "3", "true", "2024-07-15 10:00:00.250", None, "1.5")],
                "page-2",
            ),
            {"QueryExecutionId": QID, "MaxResults": 1000},
        )
        stub.add_response(
            "get_query_results",
            _page([_row("GetObject", None, "false", None, "2024-07-16", "98.50")]),
            {"QueryExecutionId": QID, "MaxResults": 1000, "NextToken": "page-2"},
        )
        table = _engine(client, clock).query(sql, params={"name": "O'Brien"}, timeout=60)
        stub.assert_no_pending_responses()
    assert table.schema == pa.schema(
        [
            ("eventname", pa.string()),
            ("calls", pa.int64()),
            ("failed", pa.bool_()),
            ("first_seen", pa.timestamp("ms")),
            ("day", pa.date32()),
            ("share", pa.decimal128(5, 2)),
        ]
    )
    assert table.to_pylist() == [
        {
            "eventname": "ConsoleLogin",
            "calls": 3,
            "failed": True,
            "first_seen": datetime(2024, 7, 15, 10, 0, 0, 250000),
            "day": None,
            "share": Decimal("1.50"),
        },
        {
            "eventname": "GetObject",
            "calls": None,
            "failed": False,
            "first_seen": None,
            "day": date(2024, 7, 16),
            "share": Decimal("98.50"),
        },
    ]
    assert clock.sleeps == [0.2, 0.4, 0.8]  # exponential backoff between polls


def test_stats_report_bytes_scanned_and_cost(client: Any) -> None:
    clock = FakeClock()
    engine = _engine(client, clock)
    with Stubber(client) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": QID})
        stub.add_response("get_query_execution", _execution("SUCCEEDED", 3 * 1024**4))
        stub.add_response("get_query_results", _page([_row("eventname")]))
        engine.query("SELECT eventname FROM cloudtrail")
    assert engine.last is not None
    assert engine.last.bytes_scanned == 3 * 1024**4
    assert engine.last.dollars == pytest.approx(15.0)  # $5 per TB
    assert engine.last.summary() == (
        f"athena query {QID}: succeeded, 3,298,534,883,328 bytes scanned, $15.000000"
    )


def test_timeout_stops_the_query(client: Any) -> None:
    clock = FakeClock()
    engine = _engine(client, clock)
    engine.poll_max = 4.0
    with Stubber(client) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": QID})
        # polls at t=0, 0.2, 0.6, 1.4, 3.0, 6.2 and 10 (the last sleep is cut at the deadline)
        for _ in range(7):
            stub.add_response("get_query_execution", _execution("RUNNING"))
        stub.add_response("stop_query_execution", {}, {"QueryExecutionId": QID})
        with pytest.raises(QueryTimeout) as exc:
            engine.query("SELECT 1 FROM cloudtrail", timeout=10)
        stub.assert_no_pending_responses()
    assert str(exc.value) == (
        f"Athena query {QID} stopped after 10 s\nhint: narrow the time range or raise --timeout"
    )
    assert clock.sleeps == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 3.8])
    assert clock.now == pytest.approx(10)


def test_ctrl_c_stops_the_query_and_is_not_swallowed(client: Any) -> None:
    clock = FakeClock()

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    engine = _engine(client, clock)
    engine._sleep = interrupted
    with Stubber(client) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": QID})
        stub.add_response("get_query_execution", _execution("RUNNING"))
        stub.add_response("stop_query_execution", {}, {"QueryExecutionId": QID})
        with pytest.raises(KeyboardInterrupt):
            engine.query("SELECT 1 FROM cloudtrail")
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("state", "reason", "message"),
    [
        (
            "FAILED",
            "COLUMN_NOT_FOUND: line 1:8: Column 'usernme' cannot be resolved",
            f"Athena query {QID} failed: COLUMN_NOT_FOUND: line 1:8: Column 'usernme' cannot be "
            "resolved",
        ),
        (
            "CANCELLED",
            "Query cancelled by user",
            f"Athena query {QID} was cancelled: Query cancelled by user\n"
            "hint: someone or something stopped it (console, workgroup data limit)",
        ),
    ],
)
def test_failed_and_cancelled_queries_end_the_loop_with_the_reason(
    client: Any, state: str, reason: str, message: str
) -> None:
    clock = FakeClock()
    engine = _engine(client, clock)
    with Stubber(client) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": QID})
        stub.add_response("get_query_execution", _execution("RUNNING"))
        stub.add_response("get_query_execution", _execution(state, 42, reason))
        with pytest.raises(QueryError) as exc:
            engine.query("SELECT usernme FROM cloudtrail")
        stub.assert_no_pending_responses()  # one poll after the end would be one too many
    assert str(exc.value) == message
    assert engine.last is not None and engine.last.bytes_scanned == 42  # billed all the same


def test_aws_errors_are_one_line_with_a_hint(client: Any) -> None:
    engine = _engine(client, FakeClock())
    with Stubber(client) as stub:
        stub.add_client_error(
            "start_query_execution",
            service_error_code="AccessDeniedException",
            service_message="User is not authorized to perform: athena:StartQueryExecution",
        )
        with pytest.raises(TrailscopeError) as exc:
            engine.query("SELECT 1 FROM cloudtrail")
    assert str(exc.value) == (
        "Athena: AccessDeniedException: User is not authorized to perform: "
        "athena:StartQueryExecution\nhint: see the IAM policy for Athena in docs/scale.md"
    )


def _where_placeholders(sql: str) -> list[str]:
    """``:name`` markers in the order written (the saved queries put them all in WHEREs but
    top-api-errors-over-time's bucket)."""
    return re.findall(r"(?<![?\w:]):(\w+)", sql)


def _defaults(name: str) -> dict[str, Any]:
    return {"user": "alice"} if name == "iam-user-activity" else {}


@pytest.mark.parametrize("name", sorted(load_library()))
def test_every_saved_query_is_valid_trino_with_its_parameters_in_order(name: str) -> None:
    saved = load_library()[name]
    bound = saved.bind(_defaults(name) | {"since": "2024-07-01"})
    types = {p.name: p.type for p in saved.params}
    positional = to_positional(translate(saved.sql, dialect="athena", params=bound).sql, bound)
    tree = sqlglot.parse_one(positional.sql, read="trino")  # raises on invalid SQL
    tables = {t.name for t in tree.find_all(sqlglot.exp.Table)}
    ctes = {c.alias for c in tree.find_all(sqlglot.exp.CTE)}
    assert tables - ctes - {"ip_info", "accounts"} == {"cloudtrail"}  # or enrichment tables
    markers = list(tree.find_all(sqlglot.exp.Placeholder))
    assert len(markers) == len(positional.parameters)
    expected = []
    for marker in _where_placeholders(saved.sql):
        if marker == "bucket":  # in the select list, where Athena takes no '?'
            continue
        value = bound[marker]
        if value is None:
            kind = "integer" if types[marker] == "int" else "varchar"
            expected.append(f"CAST(NULL AS {kind})")
        elif isinstance(value, int):
            expected.append(str(value))
        else:
            expected.append("'" + value.replace("'", "''") + "'")
    assert positional.parameters == expected
    # each '?' sits inside a WHERE clause, as Athena requires
    for node in markers:
        assert node.find_ancestor(sqlglot.exp.Where) is not None


def test_a_parameter_outside_where_is_sent_as_a_literal_with_a_notice() -> None:
    saved = load_library()["top-api-errors-over-time"]
    bound = saved.bind({"since": "2024-07-01", "bucket": "hour"})
    positional = to_positional(translate(saved.sql, dialect="athena", params=bound).sql, bound)
    assert "DATE_TRUNC('hour', " in positional.sql
    assert positional.notices == [
        "parameter :bucket is outside a WHERE clause, where Athena takes no '?': sent as a literal"
    ]


def test_run_of_a_saved_query_sends_typed_parameters_never_pasted(client: Any) -> None:
    saved = load_library()["console-logins"]
    hostile = "bob'); DROP TABLE x; --"
    bound = saved.bind({"since": "2024-07-15T00:00:00Z", "user": hostile})
    translation = translate(saved.sql, dialect="athena", params=bound)
    engine = _engine(client, FakeClock())
    quoted = "'bob''); DROP TABLE x; --'"
    with Stubber(client) as stub:
        stub.add_response(
            "start_query_execution",
            {"QueryExecutionId": QID},
            {
                "QueryString": ANY,
                "QueryExecutionContext": {"Database": "security"},
                "WorkGroup": "analysts",
                "ResultConfiguration": {"OutputLocation": OUTPUT},
                "ExecutionParameters": [
                    "'2024-07-15T00:00:00Z'",
                    "CAST(NULL AS varchar)",
                    "CAST(NULL AS varchar)",
                    quoted,
                    quoted,
                    quoted,
                ],
            },
        )
        stub.add_response("get_query_execution", _execution("SUCCEEDED", 10))
        stub.add_response("get_query_results", _page([_row("eventname")]))
        engine.query(translation.sql, params=bound, types={p.name: p.type for p in saved.params})
        stub.assert_no_pending_responses()
    assert "DROP" not in to_positional(translation.sql, bound).sql


def test_result_types_with_precision_and_time_zones() -> None:
    table = to_arrow(
        [
            {"Name": "at", "Type": "timestamp(3) with time zone"},
            {"Name": "name", "Type": "varchar(20)"},
            {"Name": "n", "Type": "integer"},
            {"Name": "names", "Type": "array(varchar)"},
        ],
        [
            ["2024-07-15 10:00:00.500 UTC", "a", "1", "[a, b]"],
            ["2024-07-15 12:00:00.000 +02:00", None, None, None],
        ],
    )
    assert table.schema.types == [
        pa.timestamp("ms", tz="UTC"),
        pa.string(),
        pa.int32(),
        pa.string(),
    ]
    assert table.column("at").to_pylist() == [
        datetime(2024, 7, 15, 10, 0, 0, 500000, tzinfo=UTC),
        datetime(2024, 7, 15, 10, 0, 0, tzinfo=UTC),  # 12:00 at +02:00 is 10:00 UTC
    ]
    assert table.column("names").to_pylist() == ["[a, b]", None]
