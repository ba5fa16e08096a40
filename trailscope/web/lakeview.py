"""The web app's one door to the lake: the lake's own kept engine, a few locked-down connections.

Every page asks its questions here in Athena SQL with bound parameters, the same way
``Lake.query`` does, so a number on a page is the number the Python API gives. The engine is the
one the ``Lake`` keeps for its Python API (:attr:`trailscope.Lake.engines`): after a new commit
or a new verification record (``trailscope verify --lake``) both see the new lake at once.

On each engine generation the web opens a small pool of connections (:class:`Snapshot`), locks
the database down to reading the lake's files (:mod:`trailscope.web.sandbox`) and keeps its
answers. Requests run in worker threads, never on the server's event loop, and take a
connection from the pool for each query, so one slow query holds one connection while the other
pages go on. Queries typed by users (the workbench) may hold at most ``user_slots`` of the
connections at once: a dashboard always finds one free.

Answers are kept (a small LRU per engine generation): a lake changes only when something is
ingested or verified, so going back to a dashboard, or fetching a page's JSON twin after the
page, costs nothing.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import re
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import duckdb
import pyarrow as pa

from trailscope import Lake, LakeInfo, open_lake
from trailscope.engines.cache import Generation
from trailscope.engines.duckdb import DuckDBEngine, QueryTimeout
from trailscope.errors import TrailscopeError
from trailscope.sql import Translation, translate
from trailscope.web.deadline import run_with_deadline
from trailscope.web.filters import Span
from trailscope.web.sandbox import lock_down

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\$([A-Za-z_]\w*)")
#: An S3 lake's log is checked for new commits at most this often (each check is a request).
REMOTE_CHECK_SECONDS = 5.0
#: Connections that run one page's queries side by side (on 2 cores more gave nothing more).
QUERY_CONNECTIONS = 2
#: Connections per engine generation: enough for the users' queries and a page beside them.
POOL_CONNECTIONS = 4
#: Of those, how many queries typed by users may hold at once.
USER_SLOTS = 2
#: SQL longer than this is refused before it is parsed (parsing is slow, and runs in Python).
MAX_SQL_BYTES = 256 * 1024

T = TypeVar("T")


class ServerBusy(TrailscopeError):
    """Every connection a query may use is taken; the user should try again shortly."""


@dataclass
class Result:
    """A query's answer and how it was obtained (shown on pages and in the JSON twins)."""

    columns: list[str]
    rows: list[dict[str, Any]]
    sql: str  # as run on the engine
    notices: list[str] = field(default_factory=list)
    total_rows: int = 0  # rows the query returned (rows may hold fewer: the display limit)
    ms: float = 0.0


class Snapshot:
    """What the web builds on one engine generation: connections, answers, facts."""

    def __init__(self, generation: Generation[Any], connections: int, cache_size: int) -> None:
        engine = generation.engine
        self.number = generation.number
        self.engine = engine
        # before the lock-down: a cursor registers the Arrow sources its views read
        self._all = [engine.cursor() for _ in range(connections)]
        for cursor in self._all:
            cursor.side_by_side = False
        lock_down(engine.con, engine.files)
        self._free: queue.LifoQueue[DuckDBEngine] = queue.LifoQueue()
        for cursor in self._all:
            self._free.put(cursor)
        self._busy: set[DuckDBEngine] = set()
        self._lock = threading.Lock()
        self.cache_size = cache_size
        self.answers: OrderedDict[tuple[Any, ...], Result] = OrderedDict()
        self.memo: dict[Any, Any] = {}
        self.memo_lock = threading.Lock()
        self.pages: OrderedDict[Any, Any] = OrderedDict()  # drawn pages, most recent last
        self.closed = False

    @property
    def connections(self) -> list[DuckDBEngine]:
        return list(self._all)

    @contextmanager
    def connection(self, wait: float) -> Iterator[DuckDBEngine]:
        """A connection of the pool for one query, waiting at most ``wait`` seconds."""
        try:
            con = self._free.get(timeout=max(wait, 0.01))
        except queue.Empty:
            raise ServerBusy(
                "every connection to the lake is busy",
                hint="other queries are running: try again in a moment",
            ) from None
        with self._lock:
            self._busy.add(con)
        try:
            yield con
        finally:
            with self._lock:
                self._busy.discard(con)
            self._free.put(con)

    def remember(self, key: tuple[Any, ...], result: Result) -> None:
        if not key or not self.cache_size:
            return
        with self._lock:
            self.answers[key] = result
            while len(self.answers) > self.cache_size:
                self.answers.popitem(last=False)

    def recall(self, key: tuple[Any, ...]) -> Result | None:
        with self._lock:
            try:
                hit = self.answers.get(key)
            except TypeError:  # an unhashable parameter value: not cached
                return None
            if hit is not None:
                self.answers.move_to_end(key)
        return hit

    def interrupt(self) -> None:
        with self._lock:
            busy = list(self._busy)
        for con in busy:
            with contextlib.suppress(Exception):  # best effort: it may be closing already
                con.con.interrupt()

    def close(self) -> None:
        self.closed = True
        self.interrupt()
        for cursor in self._all:
            with contextlib.suppress(Exception):
                cursor.close()


class LakeView:
    """A read-only view of one lake for the web app."""

    def __init__(
        self,
        lake_path: str | os.PathLike[str] | Lake,
        *,
        timeout: float = 30.0,
        cache_size: int = 256,
        connections: int = POOL_CONNECTIONS,
        user_slots: int = USER_SLOTS,
    ) -> None:
        self.lake: Lake = lake_path if isinstance(lake_path, Lake) else open_lake(lake_path)
        self.timeout = timeout
        self.cache_size = cache_size
        self.connections = max(connections, QUERY_CONNECTIONS)
        self.user_slots = max(1, min(user_slots, self.connections - 1))
        self._users = threading.BoundedSemaphore(self.user_slots)
        self._max_age = 0.0 if self.lake.root is not None else REMOTE_CHECK_SECONDS
        self._setup = threading.Lock()
        self._snapshots: weakref.WeakSet[Snapshot] = weakref.WeakSet()
        self._closed = False
        self._active = 0  # snapshots in use (close() waits for them)
        self._quiet = threading.Condition()
        _OPEN_VIEWS.add(self)

    # ------------------------------------------------------------------ engine lifecycle

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """The current engine generation's pool, kept open until the ``with`` block ends."""
        with self._quiet:
            if self._closed:
                raise TrailscopeError("the lake view is closed (the server is stopping)")
            self._active += 1
        try:
            with self.lake.engines.lease(max_age=self._max_age) as generation:
                yield self._setup_snapshot(generation)
        finally:
            with self._quiet:
                self._active -= 1
                self._quiet.notify_all()

    def _setup_snapshot(self, generation: Generation[Any]) -> Snapshot:
        snap: Snapshot | None = generation.extras.get("web")
        if snap is None:
            with self._setup:
                snap = generation.extras.get("web")
                if snap is None:
                    snap = Snapshot(generation, self.connections, self.cache_size)
                    generation.extras["web"] = snap
                    generation.on_close(snap.close)
                    self._snapshots.add(snap)
        if self._closed:
            raise TrailscopeError("the lake view is closed (the server is stopping)")
        return snap

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop for good: queries in flight are interrupted, then the connections closed.

        A query still running in another thread (the background warm-up, a request) must not
        outlive the interpreter: a thread inside DuckDB when Python finalizes is unwound
        through C++ frames and aborts the process."""
        with self._quiet:
            self._closed = True
        deadline = time.monotonic() + 10.0
        with self._quiet:
            while self._active and time.monotonic() < deadline:
                for snap in list(self._snapshots):
                    snap.interrupt()
                self._quiet.wait(0.05)
            if self._active:
                log.warning("a query did not stop within 10 s of being interrupted")
        self.lake.close()

    # ------------------------------------------------------------------ facts about the lake

    def memo(self, key: Any, compute: Callable[[Snapshot], T]) -> T:
        """``compute(snapshot)``, remembered for this engine generation under ``key``."""
        with self.snapshot() as snap:
            with snap.memo_lock:
                if key in snap.memo:
                    return cast(T, snap.memo[key])
            value = compute(snap)
            with snap.memo_lock:
                snap.memo[key] = value
            return value

    def page_memo(self, key: Any, compute: Callable[[], T], *, size: int = 48) -> T:
        """``compute()``, kept among the last ``size`` pages of this engine generation (a page
        drawn once is not drawn again until the lake changes)."""
        with self.snapshot() as snap:
            with snap.memo_lock:
                if key in snap.pages:
                    snap.pages.move_to_end(key)
                    return cast(T, snap.pages[key])
            value = compute()
            if self.cache_size:
                with snap.memo_lock:
                    snap.pages[key] = value
                    while len(snap.pages) > size:
                        snap.pages.popitem(last=False)
            return value

    def info(self) -> LakeInfo:
        return self.memo(("info",), lambda _: self.lake.info(quarantine_limit=1000))

    def generation(self) -> int:
        """A number that changes whenever the lake (or its verification record) changes."""
        with self.snapshot() as snap:
            return snap.number

    def span(self) -> Span:
        """First and latest event time, read from the first and last day only."""

        def compute(_: Snapshot) -> Span:
            info = self.info()
            if not info.first_day:
                return Span(None, None)
            res = self.query(
                "SELECT min(CASE WHEN event_date = :first THEN eventtime_ts END) AS first,"
                " max(CASE WHEN event_date = :last THEN eventtime_ts END) AS latest"
                " FROM cloudtrail WHERE event_date IN (:first, :last)",
                {"first": info.first_day, "last": info.last_day},
            )
            row = res.rows[0]
            return Span(_aware(row["first"]), _aware(row["latest"]))

        return self.memo(("span",), compute)

    # ------------------------------------------------------------------ queries

    def translate(
        self,
        athena_sql: str,
        params: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> Translation:
        """Athena SQL for the engine (remembered by :func:`trailscope.sql.translate`).

        Parsing runs under the time limit: a huge or pathological query is stopped, not left
        to hold a worker (and the interpreter) for minutes."""
        if len(athena_sql.encode("utf-8", "replace")) > MAX_SQL_BYTES:
            raise TrailscopeError(
                f"the query is longer than {MAX_SQL_BYTES // 1024} KiB",
                hint="shorten it: put long lists of values in a saved query's parameters",
            )
        limit = timeout or self.timeout
        return run_with_deadline(
            lambda: translate(athena_sql, params=params or {}),
            limit,
            on_timeout=lambda: _timeout(limit, "parsing"),
        )

    def query(
        self,
        athena_sql: str,
        params: dict[str, Any] | None = None,
        *,
        limit: int | None = None,
        timeout: float | None = None,
        user: bool = False,
    ) -> Result:
        """Run Athena SQL with bound ``params``; keep at most ``limit`` rows (all are counted).

        :param user: the SQL was typed by a user (the workbench): it takes one of the
            ``user_slots``, so such queries can never hold every connection.
        """
        answer = self.query_many([(athena_sql, params)], limit=limit, timeout=timeout, user=user)
        result = answer[0]
        if isinstance(result, TrailscopeError):
            raise result
        return result

    def query_many(
        self,
        requests: Sequence[tuple[str, dict[str, Any] | None]],
        *,
        limit: int | None = None,
        timeout: float | None = None,
        user: bool = False,
    ) -> list[Result | TrailscopeError]:
        """Several queries (a dashboard's panels) at once, each answer or error in its place.

        Each query keeps its own time limit; answers are remembered as :meth:`query`'s are.
        """
        with self._user_slot(user), self.snapshot() as snap:
            return self._query_many(snap, requests, limit, timeout)

    @contextmanager
    def _user_slot(self, user: bool) -> Iterator[None]:
        if not user:
            yield
            return
        if not self._users.acquire(blocking=False):
            raise ServerBusy(
                f"{self.user_slots} workbench queries are running already",
                hint="wait for one of them to finish, then run this again",
            )
        try:
            yield
        finally:
            self._users.release()

    def _query_many(
        self,
        snap: Snapshot,
        requests: Sequence[tuple[str, dict[str, Any] | None]],
        limit: int | None,
        timeout: float | None,
    ) -> list[Result | TrailscopeError]:
        answers: list[Result | TrailscopeError | None] = [None] * len(requests)
        todo: list[tuple[int, Translation, dict[str, Any], tuple[Any, ...]]] = []
        for i, (athena_sql, params) in enumerate(requests):
            try:
                translation = self.translate(athena_sql, params, timeout=timeout)
            except TrailscopeError as exc:
                answers[i] = exc
                continue
            bound = _used_params(translation.sql, params or {})
            key = (translation.sql, tuple(sorted(bound.items(), key=lambda kv: kv[0])), limit)
            hit = snap.recall(key)
            if hit is not None:
                answers[i] = Result(
                    hit.columns, hit.rows, hit.sql, hit.notices, hit.total_rows, 0.0
                )
            else:
                todo.append((i, translation, bound, key))
        lanes = max(1, min(len(todo), QUERY_CONNECTIONS))
        pending = iter(todo)
        failures: list[BaseException] = []
        taking = threading.Lock()
        wait = timeout or self.timeout

        def run_share() -> None:
            """Take the next query whenever this lane is free (panels differ 10x)."""
            while True:
                with taking:
                    item = next(pending, None)
                if item is None:
                    return
                i, translation, bound, key = item
                try:
                    with snap.connection(wait) as con:
                        result = self._run(con, translation, bound, limit, timeout)
                    answers[i] = result
                    snap.remember(key, result)
                except TrailscopeError as exc:
                    answers[i] = exc
                except BaseException as exc:  # re-raised in the calling thread
                    failures.append(exc)
                    return

        helpers = [threading.Thread(target=run_share, daemon=True) for _ in range(lanes - 1)]
        try:
            for helper in helpers:
                helper.start()
        except RuntimeError:  # interpreter shutting down: the calling thread does it all
            helpers = [h for h in helpers if h.is_alive()]
        run_share()
        for helper in helpers:
            helper.join()
        if failures:
            raise failures[0]
        return cast(list[Result | TrailscopeError], answers)  # every place is filled above

    def _run(
        self,
        engine: DuckDBEngine,
        translation: Translation,
        bound: dict[str, Any],
        limit: int | None,
        timeout: float | None,
    ) -> Result:
        started = time.perf_counter()
        with self._reader_on(engine, translation.sql, bound, timeout) as reader:
            rows: list[dict[str, Any]] = []
            total = 0
            for batch in reader:
                if limit is None or len(rows) < limit:
                    take = batch if limit is None else batch.slice(0, limit - len(rows))
                    rows.extend(take.to_pylist())
                total += batch.num_rows
            columns = list(reader.schema.names)
        return Result(
            columns=columns,
            rows=rows,
            sql=translation.sql,
            notices=translation.notices,
            total_rows=total,
            ms=(time.perf_counter() - started) * 1000,
        )

    @contextmanager
    def reader(
        self,
        engine_sql: str,
        params: dict[str, Any],
        *,
        timeout: float | None = None,
        user: bool = False,
    ) -> Iterator[_Guarded]:
        """Stream a translated query under one time limit for running *and* reading it."""
        with (
            self._user_slot(user),
            self.snapshot() as snap,
            snap.connection(timeout or self.timeout) as con,
            self._reader_on(con, engine_sql, params, timeout) as r,
        ):
            yield r

    @contextmanager
    def connection(self) -> Iterator[DuckDBEngine]:
        """One pooled connection of the current generation (for the detection rules)."""
        with self.snapshot() as snap, snap.connection(self.timeout) as con:
            yield con

    @contextmanager
    def _reader_on(
        self,
        engine: DuckDBEngine,
        engine_sql: str,
        params: dict[str, Any],
        timeout: float | None,
    ) -> Iterator[_Guarded]:
        limit = timeout or self.timeout
        timer = threading.Timer(limit, engine.con.interrupt)
        timer.daemon = True
        timer.start()
        try:
            reader = engine.reader(engine_sql, params=cast(Any, params or None), timeout=limit)
        except QueryTimeout:
            timer.cancel()
            raise _timeout(limit) from None
        except BaseException:
            timer.cancel()
            raise
        try:
            yield _Guarded(reader, limit)
        except duckdb.InterruptException:
            raise _timeout(limit) from None
        finally:
            timer.cancel()


_OPEN_VIEWS: weakref.WeakSet[LakeView] = weakref.WeakSet()


@atexit.register
def _close_open_views() -> None:
    """Close every view still open at exit (see :meth:`LakeView.close`)."""
    for view in list(_OPEN_VIEWS):
        view.close()


class _Guarded:
    """A RecordBatchReader whose iteration turns DuckDB's interrupt into a QueryTimeout."""

    def __init__(self, reader: pa.RecordBatchReader, limit: float) -> None:
        self._reader = reader
        self._limit = limit
        self.schema = reader.schema

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            yield from self._reader
        except (duckdb.InterruptException, pa.ArrowInvalid) as exc:
            if isinstance(exc, pa.ArrowInvalid) and "interrupt" not in str(exc).lower():
                raise
            raise _timeout(self._limit) from None

    def read_next_batch(self) -> pa.RecordBatch:
        return self._reader.read_next_batch()


def _timeout(limit: float, doing: str = "") -> QueryTimeout:
    what = f"query cancelled while {doing}" if doing else "query cancelled"
    return QueryTimeout(
        f"{what} after {limit:g} s (the time limit)",
        hint="narrow the time range, add conditions, or aggregate",
    )


def _used_params(engine_sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """Only the parameters the SQL names: DuckDB refuses values it has no placeholder for."""
    names = set(_PLACEHOLDER.findall(engine_sql))
    return {k: v for k, v in params.items() if k in names}


def _aware(value: datetime | str | None) -> datetime | None:
    """A UTC-aware time: the lake's typed column comes back naive in some DuckDB versions."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)
