"""The queries of a detection run, two at a time on DuckDB.

Most of a run over a few minutes of events (a watch cycle, a Lambda invocation) is DuckDB
planning the rules' queries, which uses one core per query; over days, scans use every core
but planning and the Python around each query still do not. So the shared scans and the
rules that run alone are handed to two threads, each with its own connection to the same
database (a cursor: the same views, macros and settings). Each job records into its own part
of the report, and the parts are merged in the jobs' order, so the report is the same as one
run after the other. Other engines (Athena, Spark) and the web's pooled connections (whose
pool bounds a page's work) run the jobs one after the other.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from trailscope.detect.model import DetectionReport
from trailscope.errors import QueryInterrupted

log = logging.getLogger(__name__)

#: Queries run at once (each also uses DuckDB's own threads while it scans).
WORKERS = 2

#: One job: the rules it runs, and a function running them on an engine into a part of the
#: report (False when it recorded nothing and its rules should run one by one).
Job = tuple[list[Any], Callable[[Any, DetectionReport], bool]]


def run_jobs(engine: Any, jobs: Sequence[Job]) -> list[tuple[DetectionReport, bool]]:
    """Each job's part of the report and whether it succeeded, in the order of ``jobs``."""
    parts = [DetectionReport() for _ in jobs]
    if len(jobs) < 2 or not getattr(engine, "side_by_side", False):
        return [(part, fn(engine, part)) for part, (_, fn) in zip(parts, jobs, strict=True)]
    cursors = [engine.cursor() for _ in range(min(WORKERS, len(jobs)))]
    free: queue.SimpleQueue[Any] = queue.SimpleQueue()
    for cursor in cursors:
        free.put(cursor)

    def run(part: DetectionReport, fn: Callable[[Any, DetectionReport], bool]) -> bool:
        cursor = free.get()
        try:
            return fn(cursor, part)
        finally:
            free.put(cursor)

    pool = ThreadPoolExecutor(len(cursors), thread_name_prefix="trailscope-detect")
    futures: list[Future[bool]] = []
    try:
        futures = [pool.submit(run, part, fn) for part, (_, fn) in zip(parts, jobs, strict=True)]
        done = [f.result() for f in futures]
    except KeyboardInterrupt:
        for cursor in cursors:  # stop the queries running in the pool's threads
            cursor.con.interrupt()
        _settle(pool, futures)
        raise QueryInterrupted(QueryInterrupted.message) from None
    except BaseException:
        _settle(pool, futures)
        raise
    finally:
        pool.shutdown(wait=True)
        for cursor in cursors:
            cursor.close()
    return list(zip(parts, done, strict=True))


def _settle(pool: ThreadPoolExecutor, futures: list[Future[bool]]) -> None:
    """Cancel what has not started and wait for what has (its cursor is closed after)."""
    for future in futures:
        future.cancel()
    pool.shutdown(wait=True)
    for future in futures:
        if future.done() and not future.cancelled() and future.exception() is not None:
            log.debug("a detection job ended with %r", future.exception())
