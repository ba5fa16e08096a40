"""The embedded default engine: DuckDB over the lake's Parquet files, in-process.

The ``cloudtrail`` view is built over the files the manifest says are live (not a glob), so a
query never sees a part that is still being published. Partition values are declared VARCHAR:
left to inference, ``event_date`` would come back as a DATE and account-like values as numbers.

Along with the view, each connection gets what Athena queries expect of the engine: the session
time zone is UTC (as in Athena), ``cloudtrail$partitions`` lists the lake's partitions, and
macros (:data:`MACROS`) implement the Trino functions that the rules in :mod:`trailscope.sql`
rewrite queries to use.
"""

from __future__ import annotations

import contextlib
import re
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from trailscope.decode.schema import FILE_SCHEMA, PARTITION, TABLE_SCHEMA
from trailscope.duckconn import connect
from trailscope.engines.memory import duckdb_config, keep_freed_heap
from trailscope.errors import QueryInterrupted
from trailscope.lake.paths import EVENTS_DIR
from trailscope.lake.storage import before_release
from trailscope.sql import (
    COMPAT_COLUMNS,
    PARTITIONS_TABLE,
    TABLE,
    QueryError,
    suggest_column,
)

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"  # no leading zeros, as in Trino
_IPV4 = rf"({_OCTET}\.){{3}}{_OCTET}"

#: Trino (Athena) functions that DuckDB lacks or computes differently, as DuckDB macros. The
#: rules in trailscope.sql rewrite queries to call them; tests/test_sql_translate.py checks each.
MACROS: tuple[str, ...] = (
    # JSON: Trino returns NULL for text that is not JSON and for a missing path;
    # json_extract_scalar is NULL for objects and arrays (DuckDB's ->> returns their text).
    # try(...) turns DuckDB's error on text that is not JSON into that NULL. json_value gives
    # a scalar's JSON text (NULL for objects and arrays) from one parse of the document; the
    # second parse only unquotes that short text. (Computing json_extract_string and testing
    # its first character cost a second full parse in CASE branches, where DuckDB does not
    # share the call.)
    """athena_json_extract(j, p) AS try(json_extract(j, p))""",
    """athena_json_extract_scalar(j, p) AS json_extract_string(try(json_value(j, p)), '$')""",
    # requestparameters.bucketName on the JSON text: a scalar's text, else the JSON text.
    """athena_json_field(j, p) AS try(json_extract_string(j, p))""",
    # CAST(json AS VARCHAR): a JSON string without its quotes, as Trino gives it.
    """athena_json_to_varchar(x) AS CASE WHEN json_type(x) IN ('OBJECT', 'ARRAY')
        THEN CAST(x AS VARCHAR) ELSE json_extract_string(x, '$') END""",
    # IPADDRESS as the 128-bit number of the address (IPv4 as ::ffff:a.b.c.d, as Trino stores
    # it), so values compare and sort like Trino's; NULL for text that is not an address.
    # Macros are inlined where they are used, so a value needed more than once is bound once
    # with list_transform([value], lambda v: ...)[1] instead of being computed again.
    f"""athena_ipv4_int(s) AS CASE WHEN regexp_full_match(s, '{_IPV4}')
        THEN list_reduce(list_transform(string_split(s, '.'), lambda x: CAST(x AS UBIGINT)),
                         lambda a, x: a * 256 + x) END""",
    # the groups of an IPv6 text (lowercase, hex groups only) with '::' expanded
    """athena_ipv6_groups(t) AS CASE WHEN contains(t, '::') THEN list_concat(
        CASE WHEN split_part(t, '::', 1) = '' THEN []::VARCHAR[]
             ELSE string_split(split_part(t, '::', 1), ':') END,
        list_transform(range(8 - len(list_filter(string_split(t, ':'), lambda g: g <> ''))),
                       lambda g: '0'),
        CASE WHEN split_part(t, '::', 2) = '' THEN []::VARCHAR[]
             ELSE string_split(split_part(t, '::', 2), ':') END)
        ELSE string_split(t, ':') END""",
    # valid: 8 groups of 1-4 hex digits; one '::' at most, standing for one group or more
    """athena_ipv6_int(t) AS list_transform([athena_ipv6_groups(t)], lambda g:
        CASE WHEN len(g) = 8
             AND len(list_filter(g, lambda x: NOT regexp_full_match(x, '[0-9a-f]{1,4}'))) = 0
             AND (NOT contains(t, '::') OR (length(t) - length(replace(t, '::', '')) = 2
                  AND len(list_filter(string_split(t, ':'), lambda x: x <> '')) <= 7))
        THEN list_reduce(list_transform(g, lambda x: CAST('0x' || x AS UHUGEINT)),
                         lambda a, x: a * 65536 + x) END)[1]""",
    # IPv6 text ending in dotted IPv4 (::ffff:10.0.0.1): that part becomes two hex groups
    """athena_ipv6_key(t) AS CASE WHEN contains(regexp_extract(t, '[^:]*$'), '.')
        THEN list_transform([athena_ipv4_int(regexp_extract(t, '[^:]*$'))], lambda v:
            athena_ipv6_int(regexp_replace(t, '[^:]*$', '')
                            || printf('%x:%x', v // 65536, v % 65536)))[1]
        ELSE athena_ipv6_int(t) END""",
    """athena_ip_key(s) AS CASE WHEN contains(s, ':')
        THEN list_transform([lower(s)], lambda t: athena_ipv6_key(t))[1]
        ELSE CAST(athena_ipv4_int(s) AS UHUGEINT) + CAST(281470681743360 AS UHUGEINT) END""",
    """athena_ip_text(s) AS CASE WHEN athena_ip_key(s) IS NOT NULL THEN lower(s) END""",
    # contains('10.0.0.0/8', address): the first bits of the address equal the network's
    """athena_ip_in_cidr(net, addr) AS list_transform([{
            'a': athena_ip_key(addr),
            'n': athena_ip_key(split_part(net, '/', 1)),
            'bits': CASE WHEN contains(net, ':')
                         THEN TRY_CAST(split_part(net, '/', 2) AS INTEGER)
                         WHEN TRY_CAST(split_part(net, '/', 2) AS INTEGER) BETWEEN 0 AND 32
                         THEN 96 + TRY_CAST(split_part(net, '/', 2) AS INTEGER) END}], lambda v:
        CASE WHEN v.a IS NULL OR v.n IS NULL OR v.bits IS NULL OR v.bits NOT BETWEEN 0 AND 128
             THEN NULL
             WHEN v.bits = 0 THEN true
             ELSE (v.a >> CAST(128 - v.bits AS UHUGEINT))
                  = (v.n >> CAST(128 - v.bits AS UHUGEINT)) END)[1]""",
    # split_part: NULL past the last field, as in Trino (DuckDB gives '')
    """athena_split_part(s, d, i) AS CASE WHEN i <= len(string_split(s, d))
        THEN split_part(s, d, i) END""",
    # to_iso8601: '2024-07-17T10:00:00.000Z' for a timestamp with time zone (UTC here)
    """athena_to_iso8601(x) AS CASE typeof(x)
        WHEN 'DATE' THEN strftime(x, '%Y-%m-%d')
        WHEN 'TIMESTAMP WITH TIME ZONE' THEN strftime(x, '%Y-%m-%dT%H:%M:%S.%gZ')
        ELSE strftime(x, '%Y-%m-%dT%H:%M:%S.%g') END""",
)

_PARTITION_IN_PATH = re.compile(rf"[/\\]{PARTITION}=([^/\\]+)[/\\]")


class QueryTimeout(QueryError):
    """The query ran longer than its time limit and was cancelled."""


class DuckDBEngine:
    name = "duckdb"
    #: whether a caller may open cursors of this engine to run its queries side by side (not
    #: on the web's pooled connections: the pool and its interrupts bound a page's work)
    side_by_side = True

    def __init__(
        self,
        files: Sequence[Path | str],
        *,
        threads: int | None = None,
        filesystem: pafs.FileSystem | None = None,
        tables: Mapping[str, pa.Table] | None = None,
    ) -> None:
        """``files``: the lake's live Parquet parts. With ``filesystem`` (an S3 lake) they are
        paths on it, read through pyarrow, since DuckDB's own S3 extension must be downloaded
        at run time, which air-gapped and locked-down machines cannot do. ``tables``: the
        lake's side tables, each shown as a table of its name."""
        self.files = [str(f) for f in files]
        self.filesystem = filesystem
        if filesystem is not None:
            _REMOTE_ENGINES.add(self)
        keep_freed_heap()
        config = duckdb_config()
        if threads:
            config["threads"] = str(threads)
        self.con = connect(config)
        #: Arrow objects the views read; registrations belong to one connection, so
        #: :meth:`cursor` repeats them.
        self._registered: dict[str, Any] = {}
        self._create_view()
        for name, table in (tables or {}).items():
            self._register(f"_side_{name}", table)
            self.con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM "_side_{name}"')

    def _register(self, name: str, obj: Any) -> None:
        self._registered[name] = obj
        self.con.register(name, obj)

    def cursor(self) -> DuckDBEngine:
        """A second connection to the same database (views, macros, settings, the same lake
        files), so that two queries can run at once; close it before the engine."""
        twin = object.__new__(DuckDBEngine)
        twin.files, twin.filesystem = self.files, self.filesystem
        twin.con = self.con.cursor()
        twin.side_by_side = self.side_by_side
        twin._registered = dict(self._registered)
        for name, obj in self._registered.items():
            twin.con.register(name, obj)
        if self.filesystem is not None:
            _REMOTE_ENGINES.add(twin)
        return twin

    def close(self) -> None:
        self.con.close()

    def _create_view(self) -> None:
        self.con.execute("SET GLOBAL TimeZone = 'UTC'")  # GLOBAL: for cursors too
        # Parquet footers parsed once per file, not once per query: lake parts are never
        # rewritten in place (compaction writes new names), so a cached footer cannot go
        # stale, and DuckDB bounds the cache by its memory limit.
        self.con.execute("SET GLOBAL parquet_metadata_cache = true")
        for macro in MACROS:
            self.con.execute(f"CREATE OR REPLACE MACRO {macro}")
        self._create_partitions_view()
        compat = ", ".join(f'{expr} AS "{name}"' for name, expr in COMPAT_COLUMNS.items())
        if self.files and self.filesystem is not None:
            self._register("_lake_parts", _arrow_dataset(self.files, self.filesystem))
            source = "_lake_parts"
        elif self.files:
            listed = ", ".join("'" + f.replace("'", "''") + "'" for f in self.files)
            source = (
                f"read_parquet([{listed}], hive_partitioning = true, "
                f"hive_types = {{'{PARTITION}': VARCHAR}})"
            )
        else:  # an empty lake still has the full schema, so queries bind and return no rows
            self._register("_empty_events", TABLE_SCHEMA.empty_table())
            source = "_empty_events"
        self.con.execute(f"CREATE OR REPLACE VIEW {TABLE} AS SELECT *, {compat} FROM {source}")

    def _create_partitions_view(self) -> None:
        """``cloudtrail$partitions``: one row per day of the lake, from the file paths."""
        days = sorted({m.group(1) for f in self.files if (m := _PARTITION_IN_PATH.search(f))})
        if days:
            rows = ", ".join("('" + d.replace("'", "''") + "')" for d in days)
            source = f"(VALUES {rows}) AS p({PARTITION})"
        else:
            source = f"(SELECT CAST(NULL AS VARCHAR) AS {PARTITION} WHERE false) AS p"
        by_day = ", ".join(
            f'{expr} AS "{name}"' for name, expr in COMPAT_COLUMNS.items() if PARTITION in expr
        )
        self.con.execute(
            f'CREATE OR REPLACE VIEW "{PARTITIONS_TABLE}" AS SELECT '
            f"row_number() OVER (ORDER BY {PARTITION}) AS partition_number, "
            f"'awsdatacatalog' AS table_catalog, 'default' AS table_schema, "
            f"'{TABLE}' AS table_name, {PARTITION}, {by_day} FROM {source}"
        )

    def query(
        self,
        sql: str,
        *,
        timeout: float | None = None,
        params: Sequence[Any] | Mapping[str, Any] | None = None,
    ) -> pa.Table:
        """Run ``sql`` (engine dialect) and return the whole result as Arrow.

        Materialized in one call rather than read batch by batch: DuckDB then converts the
        result with all its threads (a large answer comes sooner). Ctrl-C stops
        it within moments and raises :class:`~trailscope.errors.QueryInterrupted`."""
        timer = _interrupt_after(self.con, timeout)
        try:
            return interruptible(
                self.con, lambda: self.con.sql(sql, params=params or None).to_arrow_table()
            )
        except (duckdb.InterruptException, QueryTimeout):
            raise _timeout(timeout) from None
        except duckdb.Error as exc:
            raise _query_error(exc) from None
        finally:
            if timer:
                timer.cancel()

    def reader(
        self,
        sql: str,
        *,
        timeout: float | None = None,
        params: Sequence[Any] | Mapping[str, Any] | None = None,
        batch_size: int = 65536,
    ) -> pa.RecordBatchReader:
        """Stream the result in batches (exports of millions of rows stay small in memory).

        ``timeout`` covers running the query up to its first batch; :meth:`query` times the
        whole read. Ctrl-C stops it, while it runs or while its batches are read."""
        timer = _interrupt_after(self.con, timeout)
        try:
            reader = interruptible(
                self.con,
                lambda: self.con.sql(sql, params=params or None).to_arrow_reader(batch_size),
            )
        except duckdb.InterruptException:
            raise _timeout(timeout) from None
        except duckdb.Error as exc:
            raise _query_error(exc) from None
        finally:
            if timer:
                timer.cancel()
        if threading.current_thread() is not threading.main_thread():
            return reader  # Ctrl-C only reaches the main thread: nothing to watch for
        return pa.RecordBatchReader.from_batches(reader.schema, _batches(self.con, reader))

    def explain(self, sql: str) -> str:
        try:
            rows = interruptible(self.con, lambda: self.con.execute(f"EXPLAIN ANALYZE {sql}"))
            return "\n".join(str(r[-1]) for r in rows.fetchall())
        except duckdb.Error as exc:
            raise _query_error(exc) from None


#: Engines reading through a pyarrow filesystem, closed at exit before pyarrow's S3 shutdown.
_REMOTE_ENGINES: weakref.WeakSet[DuckDBEngine] = weakref.WeakSet()


def close_remote_engines() -> None:
    for engine in list(_REMOTE_ENGINES):
        with contextlib.suppress(duckdb.Error):
            engine.close()


before_release(close_remote_engines)


_T = TypeVar("_T")


def interruptible(con: duckdb.DuckDBPyConnection, call: Callable[[], _T]) -> _T:
    """Run ``call`` (DuckDB work on ``con``) so that Ctrl-C stops it.

    Python runs signal handlers in the main thread, between bytecodes; while that thread is
    inside DuckDB, a Ctrl-C waits for the query to end (minutes, on a big lake). So from the
    main thread the work runs in a helper thread while the main thread waits, where Ctrl-C
    reaches it at once: it interrupts the connection, waits for DuckDB to stop (a fraction of
    a second) so the connection is free for the next query, and raises QueryInterrupted.
    Other threads call straight through (signals never reach them; the web server cancels
    its queries itself).
    """
    if threading.current_thread() is not threading.main_thread():
        return call()
    done = threading.Event()
    outcome: list[tuple[bool, Any]] = []

    def work() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:  # handed to the waiting thread below
            outcome.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=work, name="trailscope-query", daemon=True).start()
    try:
        done.wait()
    except KeyboardInterrupt:
        con.interrupt()
        done.wait()  # a second Ctrl-C leaves at once, with the query still stopping
        raise QueryInterrupted(QueryInterrupted.message) from None
    ok, value = outcome[0]
    if ok:
        return value
    raise value


def _batches(
    con: duckdb.DuckDBPyConnection, reader: pa.RecordBatchReader
) -> Iterator[pa.RecordBatch]:
    """The batches of a streamed result, each fetched where Ctrl-C can stop it."""

    def next_batch() -> pa.RecordBatch | None:
        try:
            return reader.read_next_batch()
        except StopIteration:
            return None

    while (batch := interruptible(con, next_batch)) is not None:
        yield batch


def _interrupt_after(con: duckdb.DuckDBPyConnection, timeout: float | None) -> Any:
    """A started timer that interrupts ``con`` (None without a timeout); caller cancels it."""
    if not timeout:
        return None
    timer = threading.Timer(timeout, con.interrupt)
    timer.daemon = True
    timer.start()
    return timer


def _timeout(timeout: float | None) -> QueryTimeout:
    after = f" after {timeout:g} s" if timeout else ""
    return QueryTimeout(f"query cancelled{after}", hint="narrow the time range or raise --timeout")


_MISSING_COLUMN = re.compile(r'Referenced column "([^"]+)" not found')
_MISSING_FIELD = re.compile(r'Could not find key "([^"]+)" in struct')
_LINE = re.compile(r"LINE (\d+):")


def _query_error(exc: duckdb.Error) -> QueryError:
    text = str(exc)
    first = text.splitlines()[0]
    m = _MISSING_COLUMN.search(text) or _MISSING_FIELD.search(text)
    hint = None
    if m:
        guess = suggest_column(m.group(1))
        hint = f"did you mean {guess}?" if guess else "see 'trailscope query --columns'"
    line = _LINE.search(text)
    return QueryError(first, line=int(line.group(1)) if line else None, hint=hint)


def _arrow_dataset(paths: list[str], filesystem: pafs.FileSystem) -> ds.Dataset:
    """The parts as one pyarrow dataset with ``event_date`` from the folder names: DuckDB
    pushes filters on it into the scan, so a time-bounded query still opens only its days."""
    base = paths[0].rsplit(f"/{EVENTS_DIR}/", 1)[0] + f"/{EVENTS_DIR}"
    partitioning = ds.partitioning(pa.schema([(PARTITION, pa.string())]), flavor="hive")
    return ds.dataset(
        paths,
        schema=FILE_SCHEMA.append(pa.field(PARTITION, pa.string())),
        filesystem=filesystem,
        format="parquet",
        partitioning=partitioning,
        partition_base_dir=base,
    )
