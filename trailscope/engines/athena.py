"""Amazon Athena as a query engine: the same Athena SQL, run where the lake lives (S3).

A query is started with ``start_query_execution`` (database, workgroup, output location,
positional execution parameters), then polled with ``get_query_execution`` with exponential
backoff until it ends. The loop never waits on a state forever: SUCCEEDED returns, FAILED and
CANCELLED raise with Athena's reason, and a time limit or Ctrl-C stops the query
(``stop_query_execution``) so it does not keep scanning (and billing) after we gave up. Results
are read page by page (``NextToken``), typed from the result metadata: into one Arrow
table (:meth:`AthenaEngine.query`) or as a stream of one batch per page (``reader``).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from itertools import chain
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from trailscope.athena.estimate import dollars
from trailscope.athena.params import to_positional
from trailscope.engines.duckdb import QueryTimeout
from trailscope.errors import TrailscopeError
from trailscope.sql import QueryError

RUNNING_STATES = frozenset({"QUEUED", "RUNNING"})
DEFAULT_TIMEOUT = 1800.0
PAGE_SIZE = 1000  # the most get_query_results returns per call


@dataclass
class AthenaStats:
    """What one query cost: Athena's own numbers."""

    query_id: str
    state: str
    bytes_scanned: int
    dollars: float
    engine_ms: int | None = None
    queue_ms: int | None = None
    output_location: str | None = None

    def summary(self) -> str:
        return (
            f"athena query {self.query_id}: {self.state.lower()}, "
            f"{self.bytes_scanned:,} bytes scanned, ${self.dollars:.6f}"
        )


class AthenaEngine:
    """Runs Athena SQL on Athena. ``client`` is a boto3 Athena client (made if not given)."""

    name = "athena"

    def __init__(
        self,
        *,
        database: str,
        workgroup: str = "primary",
        output_location: str | None = None,
        client: Any = None,
        region: str | None = None,
        profile: str | None = None,
        poll_initial: float = 0.2,
        poll_max: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self.workgroup = workgroup
        self.output_location = output_location
        self.client = client if client is not None else _client(region, profile)
        self.poll_initial = poll_initial
        self.poll_max = poll_max
        self._sleep = sleep
        self._clock = clock
        self.last: AthenaStats | None = None
        self.notices: list[str] = []

    def close(self) -> None:
        """Nothing to release (a client has no connection to close); for engine symmetry."""

    # ----------------------------------------------------------------- API

    def query(
        self,
        sql: str,
        *,
        timeout: float | None = None,
        params: dict[str, Any] | None = None,
        types: dict[str, str] | None = None,
    ) -> pa.Table:
        """Run Trino SQL (``translate(..., dialect="athena")``) and return the whole result."""
        query_id = self.start(sql, params=params, types=types)
        execution = self.wait(query_id, timeout=timeout)
        return self.results(query_id, statement_type=execution.get("StatementType"))

    def reader(
        self,
        sql: str,
        *,
        timeout: float | None = None,
        params: dict[str, Any] | None = None,
        types: dict[str, str] | None = None,
    ) -> pa.RecordBatchReader:
        """Like :meth:`query`, each page of the result (1,000 rows) read from Athena only when
        the batch before it has been taken: a large result is never held whole."""
        query_id = self.start(sql, params=params, types=types)
        execution = self.wait(query_id, timeout=timeout)
        pages = self._page_tables(query_id, execution.get("StatementType"))
        first = next(pages)
        rest = (batch for table in pages for batch in table.to_batches())
        return pa.RecordBatchReader.from_batches(first.schema, chain(first.to_batches(), rest))

    def run_statement(
        self, statement: str, *, timeout: float | None = None, database: str | None = None
    ) -> AthenaStats:
        """Run one statement as written (DDL: sqlglot must not re-render Hive DDL).

        ``database``: the context to run in, when ours may not exist yet (CREATE DATABASE).
        """
        query_id = self._start(statement, [], database=database)
        self.wait(query_id, timeout=timeout)
        assert self.last is not None
        return self.last

    def start(
        self, sql: str, *, params: dict[str, Any] | None = None, types: dict[str, str] | None = None
    ) -> str:
        positional = to_positional(sql, params, types)
        self.notices = positional.notices
        return self._start(positional.sql, positional.parameters)

    def _start(self, sql: str, parameters: list[str], *, database: str | None = None) -> str:
        request: dict[str, Any] = {
            "QueryString": sql,
            "QueryExecutionContext": {"Database": database or self.database},
            "WorkGroup": self.workgroup,
        }
        if self.output_location:
            request["ResultConfiguration"] = {"OutputLocation": self.output_location}
        if parameters:
            request["ExecutionParameters"] = parameters
        response = _call(self.client.start_query_execution, **request)
        return response["QueryExecutionId"]

    def wait(self, query_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        """Poll until the query ends; stop it on timeout or Ctrl-C. Returns the execution."""
        limit = DEFAULT_TIMEOUT if timeout is None else timeout
        deadline = self._clock() + limit
        delay = self.poll_initial
        try:
            while True:
                execution = _call(self.client.get_query_execution, QueryExecutionId=query_id)[
                    "QueryExecution"
                ]
                state = execution["Status"]["State"]
                if state not in RUNNING_STATES:
                    self.last = _stats(query_id, execution)
                    return _finished(query_id, execution)
                remaining = deadline - self._clock()
                if remaining <= 0:
                    self._stop(query_id)
                    raise QueryTimeout(
                        f"Athena query {query_id} stopped after {limit:g} s",
                        hint="narrow the time range or raise --timeout",
                    )
                self._sleep(min(delay, remaining))
                delay = min(delay * 2, self.poll_max)
        except KeyboardInterrupt:
            self._stop(query_id)
            raise

    def results(self, query_id: str, *, statement_type: str | None = "DML") -> pa.Table:
        """Every page of the result, as one Arrow table typed from the result metadata."""
        tables = list(self._page_tables(query_id, statement_type))
        return pa.concat_tables(tables).combine_chunks()

    def _page_tables(self, query_id: str, statement_type: str | None) -> Iterator[pa.Table]:
        """Each page of the result as an Arrow table (at least one, maybe empty), typed from
        the result metadata the first page carries."""
        columns: list[dict[str, Any]] | None = None
        for page in self._pages(query_id):
            result = page["ResultSet"]
            rows = [[d.get("VarCharValue") for d in r.get("Data", [])] for r in result["Rows"]]
            if columns is None:
                columns = result.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                if statement_type == "DML" and rows:
                    rows = rows[1:]  # the first row of a SELECT's result is its header
            yield to_arrow(columns or [], rows)

    def _pages(self, query_id: str) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            request: dict[str, Any] = {"QueryExecutionId": query_id, "MaxResults": PAGE_SIZE}
            if token:
                request["NextToken"] = token
            page = _call(self.client.get_query_results, **request)
            yield page
            token = page.get("NextToken")
            if not token:
                return

    def _stop(self, query_id: str) -> None:
        # the query may have ended meanwhile; the caller's error is the one that matters
        with contextlib.suppress(Exception):
            self.client.stop_query_execution(QueryExecutionId=query_id)


# --------------------------------------------------------------------------- helpers


def _client(region: str | None, profile: str | None) -> Any:
    import boto3

    session = boto3.Session(profile_name=profile, region_name=region)
    return session.client("athena")


def _call(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """A boto3 call whose AWS errors become one readable line."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn(**kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise TrailscopeError(
            f"Athena: {error.get('Code', 'error')}: {error.get('Message', str(exc))}",
            hint=_hint(error.get("Code", "")),
        ) from None
    except BotoCoreError as exc:
        raise TrailscopeError(f"Athena: {exc}") from None


def _hint(code: str) -> str | None:
    if code == "AccessDeniedException":
        return "see the IAM policy for Athena in docs/scale.md"
    if code == "InvalidRequestException":
        return "check --database, --workgroup and --output-location"
    return None


def _stats(query_id: str, execution: dict[str, Any]) -> AthenaStats:
    stats = execution.get("Statistics", {})
    scanned = int(stats.get("DataScannedInBytes", 0) or 0)
    return AthenaStats(
        query_id=query_id,
        state=execution["Status"]["State"],
        bytes_scanned=scanned,
        dollars=dollars(scanned) if scanned else 0.0,
        engine_ms=stats.get("EngineExecutionTimeInMillis"),
        queue_ms=stats.get("QueryQueueTimeInMillis"),
        output_location=execution.get("ResultConfiguration", {}).get("OutputLocation"),
    )


def _finished(query_id: str, execution: dict[str, Any]) -> dict[str, Any]:
    status = execution["Status"]
    state = status["State"]
    if state == "SUCCEEDED":
        return execution
    reason = status.get("StateChangeReason") or status.get("AthenaError", {}).get("ErrorMessage")
    if state == "CANCELLED":
        raise QueryError(
            f"Athena query {query_id} was cancelled" + (f": {reason}" if reason else ""),
            hint="someone or something stopped it (console, workgroup data limit)",
        )
    if state == "FAILED":
        raise QueryError(f"Athena query {query_id} failed: {reason or 'no reason given'}")
    raise QueryError(f"Athena query {query_id} ended in an unknown state {state!r}")


# --------------------------------------------------------------------------- types


def arrow_type(column: dict[str, Any]) -> pa.DataType:
    """Arrow type of a result column from Athena's ColumnInfo."""
    # 'varchar(10)', 'timestamp(3) with time zone': the precision does not change the type
    name = re.sub(r"\(\s*\d+(\s*,\s*\d+)?\s*\)", "", column.get("Type", "varchar").lower())
    if name in ("varchar", "char", "string", "json", "ipaddress", "uuid", "varbinary"):
        return pa.string()
    if name == "bigint":
        return pa.int64()
    if name in ("integer", "int"):
        return pa.int32()
    if name == "smallint":
        return pa.int16()
    if name == "tinyint":
        return pa.int8()
    if name == "double":
        return pa.float64()
    if name in ("float", "real"):
        return pa.float32()
    if name == "boolean":
        return pa.bool_()
    if name == "date":
        return pa.date32()
    if name == "decimal":
        return pa.decimal128(int(column.get("Precision") or 38), int(column.get("Scale") or 0))
    if name == "timestamp with time zone":
        return pa.timestamp("ms", tz="UTC")
    if name == "timestamp":
        return pa.timestamp("ms")
    return pa.string()  # array, map, row: Athena renders them as text


def to_arrow(columns: list[dict[str, Any]], rows: list[list[str | None]]) -> pa.Table:
    arrays = []
    fields = []
    for i, column in enumerate(columns):
        typ = arrow_type(column)
        values = [_parse(row[i] if i < len(row) else None, typ) for row in rows]
        arrays.append(pa.array(values, type=typ))
        fields.append(pa.field(column.get("Name", f"_col{i}"), typ))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _parse(text: str | None, typ: pa.DataType) -> Any:
    if text is None:
        return None
    if pa.types.is_string(typ):
        return text
    if pa.types.is_integer(typ):
        return int(text)
    if pa.types.is_floating(typ):
        return float(text)
    if pa.types.is_boolean(typ):
        return text.lower() == "true"
    if pa.types.is_date(typ):
        return date.fromisoformat(text)
    if pa.types.is_decimal(typ):
        return Decimal(text)
    if pa.types.is_timestamp(typ):
        return _timestamp(text, typ.tz is not None)
    return text


def _timestamp(text: str, with_zone: bool) -> datetime:
    """Athena's text: '2024-07-15 10:00:00.123', plus ' UTC', ' +02:00' or a zone name."""
    if len(text) > 10 and text[10] == "T":
        text = text[:10] + " " + text[11:]
    day, _, rest = text.partition(" ")
    clock, _, zone = rest.partition(" ")
    parsed = datetime.fromisoformat(f"{day}T{clock}" if clock else day)
    if with_zone:
        parsed = parsed.replace(tzinfo=_zone(zone)).astimezone(UTC)
    return parsed


def _zone(name: str) -> tzinfo:
    if name in ("", "UTC", "Z"):
        return UTC
    if re.fullmatch(r"[+-]\d{2}:\d{2}", name):
        sign = -1 if name[0] == "-" else 1
        return timezone(sign * timedelta(hours=int(name[1:3]), minutes=int(name[4:6])))
    return ZoneInfo(name)
