"""The web app's one door to the lake: a locked-down engine, reopened when the lake changes.

Every page asks its questions here in Athena SQL with bound parameters, the same way
``Lake.query`` does, so a number on a page is the number the Python API gives. One request is
served at a time; a dashboard's panels run on two connections to the same database at once
(:meth:`LakeView.query_many`: small queries leave DuckDB's threads idle part of the time, so two
side by side finish about a fifth sooner). When a new commit appears in the lake's log the
engine is rebuilt over the new list of live files.

Answers are kept (a small LRU per lake version): a lake changes only when something is
ingested, so going back to a dashboard, or fetching a page's JSON twin after the page, costs
nothing. A new commit empties the cache with the engine.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from trailscope.engines.duckdb import DuckDBEngine, QueryTimeout
from trailscope.errors import TrailscopeError
from trailscope.facade import Lake, LakeInfo, open_lake
from trailscope.lake.paths import LOG_DIR
from trailscope.sql import Translation, translate
from trailscope.web.filters import Span
from trailscope.web.sandbox import lock_down

_PLACEHOLDER = re.compile(r"\$([A-Za-z_]\w*)")
REMOTE_CHECK_SECONDS = 5.0
#: Connections that run a page's queries side by side (measured on 2 cores: 2 beats 1 by about
#: 20 %, and 3 is no better than 2).
QUERY_CONNECTIONS = 2


@dataclass
class Result:
    """A query's answer and how it was obtained (shown on pages and in the JSON twins)."""

    columns: list[str]
    rows: list[dict[str, Any]]
    sql: str  # as run on the engine
    notices: list[str] = field(default_factory=list)
    total_rows: int = 0  # rows the query returned (rows may hold fewer: the display limit)
    ms: float = 0.0


class LakeView:
    """A read-only view of one lake for the web app."""

    def __init__(
        self,
        lake_path: str | os.PathLike[str] | Lake,
        *,
        timeout: float = 30.0,
        cache_size: int = 256,
    ) -> None:
        self.lake: Lake = lake_path if isinstance(lake_path, Lake) else open_lake(lake_path)
        self.timeout = timeout
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[Any, ...], Result] = OrderedDict()
        self._translations: OrderedDict[tuple[Any, ...], Translation] = OrderedDict()
        self._lock = threading.RLock()
        self._engine: DuckDBEngine | None = None
        self._cursors: list[DuckDBEngine] = []
        self._closed = False
        _OPEN_VIEWS.add(self)
        self._version: tuple[int, float] | None = None
        self._checked = 0.0
        self._span: Span | None = None
        self._info: LakeInfo | None = None

    # ------------------------------------------------------------------ engine lifecycle

    def _log_version(self) -> tuple[int, float]:
        """Cheap change detection: the number of commits (and, locally, the log's mtime). An
        S3 lake's log is listed at most every few seconds, not on every query."""
        if self.lake.root is not None:
            log = Path(self.lake.root) / "_trailscope" / "log"
            try:
                return len(os.listdir(log)), log.stat().st_mtime
            except FileNotFoundError:
                return 0, 0.0
        now = time.monotonic()
        if self._version is not None and now - self._checked < REMOTE_CHECK_SECONDS:
            return self._version
        self._checked = now
        return len(self.lake.storage.list_dir(LOG_DIR)), 0.0

    @contextmanager
    def engine(self) -> Iterator[DuckDBEngine]:
        """The current engine, exclusively, rebuilt first if the lake has new commits."""
        with self._lock:
            if self._closed:
                raise TrailscopeError("the lake view is closed (the server is stopping)")
            version = self._log_version()
            if self._engine is None or version != self._version:
                self._close_engine()
                engine = self.lake.engine()
                # before the lock-down: a cursor registers the Arrow sources its views read
                self._cursors = [engine.cursor() for _ in range(QUERY_CONNECTIONS - 1)]
                lock_down(engine.con, engine.files)
                self._engine, self._version = engine, version
                self._span = self._info = None
                self._cache.clear()
            yield self._engine

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop for good: queries in flight are interrupted, then the connections closed.

        A query still running in another thread (the background warm-up, a request) must not
        outlive the interpreter: a thread inside DuckDB when Python finalizes is unwound
        through C++ frames and aborts the process."""
        self._closed = True
        for engine in [self._engine, *self._cursors]:
            if engine is not None:
                with contextlib.suppress(Exception):  # best effort: it may be closing already
                    engine.con.interrupt()
        with self._lock:
            self._close_engine()

    def _close_engine(self) -> None:
        for cursor in self._cursors:
            cursor.close()
        self._cursors = []
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    # ------------------------------------------------------------------ facts about the lake

    def info(self) -> LakeInfo:
        with self.engine():
            if self._info is None:
                self._info = self.lake.info(quarantine_limit=1000)
            return self._info

    def span(self) -> Span:
        """First and latest event time, read from the first and last day only."""
        with self.engine():
            if self._span is None:
                info = self.info()
                if not info.first_day:
                    self._span = Span(None, None)
                else:
                    res = self.query(
                        "SELECT min(CASE WHEN event_date = :first THEN eventtime END) AS first,"
                        " max(CASE WHEN event_date = :last THEN eventtime END) AS latest"
                        " FROM cloudtrail WHERE event_date IN (:first, :last)",
                        {"first": info.first_day, "last": info.last_day},
                    )
                    row = res.rows[0]
                    self._span = Span(_parse(row["first"]), _parse(row["latest"]))
            return self._span

    # ------------------------------------------------------------------ queries

    def translate(self, athena_sql: str, params: dict[str, Any] | None = None) -> Translation:
        """Athena SQL for the engine; remembered, since parsing with sqlglot costs more than
        many of the dashboard queries themselves (the values only shape partition bounds)."""
        try:
            key: tuple[Any, ...] = (athena_sql, tuple(sorted((params or {}).items())))
            hash(key)
        except TypeError:
            return translate(athena_sql, params=params or {})
        with self._lock:
            hit = self._translations.get(key)
            if hit is not None:
                self._translations.move_to_end(key)
                return hit
        translation = translate(athena_sql, params=params or {})
        with self._lock:
            self._translations[key] = translation
            while len(self._translations) > 512:
                self._translations.popitem(last=False)
        return translation

    def query(
        self,
        athena_sql: str,
        params: dict[str, Any] | None = None,
        *,
        limit: int | None = None,
        timeout: float | None = None,
    ) -> Result:
        """Run Athena SQL with bound ``params``; keep at most ``limit`` rows (all are counted)."""
        answer = self.query_many([(athena_sql, params)], limit=limit, timeout=timeout)[0]
        if isinstance(answer, TrailscopeError):
            raise answer
        return answer

    def query_many(
        self,
        requests: Sequence[tuple[str, dict[str, Any] | None]],
        *,
        limit: int | None = None,
        timeout: float | None = None,
    ) -> list[Result | TrailscopeError]:
        """Several queries (a dashboard's panels) at once, each answer or error in its place.

        Each query keeps its own time limit; answers are remembered as :meth:`query`'s are.
        """
        answers: list[Result | TrailscopeError | None] = [None] * len(requests)
        todo: list[tuple[int, Translation, dict[str, Any], tuple[Any, ...]]] = []
        with self.engine() as engine:
            for i, (athena_sql, params) in enumerate(requests):
                try:
                    translation = self.translate(athena_sql, params)
                except TrailscopeError as exc:
                    answers[i] = exc
                    continue
                bound = _used_params(translation.sql, params or {})
                key = (translation.sql, tuple(sorted(bound.items(), key=lambda kv: kv[0])), limit)
                try:
                    hit = self._cache.get(key)
                except TypeError:  # an unhashable parameter value: not cached
                    key, hit = (), None
                if hit is not None:
                    self._cache.move_to_end(key)
                    answers[i] = Result(
                        hit.columns, hit.rows, hit.sql, hit.notices, hit.total_rows, 0.0
                    )
                else:
                    todo.append((i, translation, bound, key))
            connections = [engine, *self._cursors][: max(1, min(len(todo), QUERY_CONNECTIONS))]

            queue = iter(todo)
            failures: list[BaseException] = []
            taking = threading.Lock()

            def run_share(n: int) -> None:
                """Take the next query whenever this connection is free (panels differ 10x)."""
                while True:
                    with taking:
                        item = next(queue, None)
                    if item is None:
                        return
                    i, translation, bound, _ = item
                    try:
                        answers[i] = self._run(connections[n], translation, bound, limit, timeout)
                    except TrailscopeError as exc:
                        answers[i] = exc
                    except BaseException as exc:  # re-raised in the calling thread
                        failures.append(exc)
                        return

            helpers = [
                threading.Thread(target=run_share, args=(n,), daemon=True)
                for n in range(1, len(connections))
            ]
            try:
                for helper in helpers:
                    helper.start()
            except RuntimeError:  # interpreter shutting down: the calling thread does it all
                helpers = [h for h in helpers if h.is_alive()]
            run_share(0)
            for helper in helpers:
                helper.join()
            if failures:
                raise failures[0]
            for i, _, _, key in todo:
                result = answers[i]
                if key and self.cache_size and isinstance(result, Result):
                    self._cache[key] = result
                    while len(self._cache) > self.cache_size:
                        self._cache.popitem(last=False)
        return answers  # type: ignore[return-value]  (every place is filled above)

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
        self, engine_sql: str, params: dict[str, Any], *, timeout: float | None = None
    ) -> Iterator[pa.RecordBatchReader]:
        """Stream a translated query under one time limit for running *and* reading it."""
        with self.engine() as engine, self._reader_on(engine, engine_sql, params, timeout) as r:
            yield r

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
            reader = engine.reader(engine_sql, params=params or None, timeout=limit)
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


def _timeout(limit: float) -> QueryTimeout:
    return QueryTimeout(
        f"query cancelled after {limit:g} s (the time limit)",
        hint="narrow the time range, add conditions, or aggregate",
    )


def _used_params(engine_sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """Only the parameters the SQL names: DuckDB refuses values it has no placeholder for."""
    names = set(_PLACEHOLDER.findall(engine_sql))
    return {k: v for k, v in params.items() if k in names}


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
