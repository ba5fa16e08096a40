"""The ``Lake``: the library object every command and page calls.

Writers (ingest, compact) take the lake's lock, recover whatever a crashed writer left, and
commit through the manifest. Readers use the manifest's list of live files, so a query never sees
a half-published batch or both sides of a compaction.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from trailscope.decode.limits import DEFAULT_MAX_OBJECT_BYTES, DecodeLimits
from trailscope.errors import LakeError, LakeLockedError
from trailscope.lake import publish
from trailscope.lake.ingest import (
    DEFAULT_BATCH_BYTES,
    BatchRunner,
    IngestSummary,
    PoolRunner,
    ProgressFn,
    default_workers,
    process_pool,
    run_ingest,
)
from trailscope.lake.lock import WriterLock
from trailscope.lake.manifest import LakeState, Manifest
from trailscope.lake.paths import ATHENA_SETTINGS, RETENTION_FILE
from trailscope.lake.settings import NO_FILTERS, IngestFilters, load_filters
from trailscope.lake.settings import save_filters as save_filters_to
from trailscope.lake.storage import LocalStorage, S3Storage, open_storage
from trailscope.lake.transaction import RetryPolicy
from trailscope.sources import ListFilter, Source, SourceObject, open_source
from trailscope.timeparse import parse_time

log = logging.getLogger(__name__)

#: Seconds a side-table change waits for a running local writer before it is refused.
SIDE_TABLE_LOCK_WAIT = 60.0

if TYPE_CHECKING:  # query machinery is imported on first use: CLI start-up stays fast
    import pyarrow as pa

    from trailscope.engines.cache import EngineCache
    from trailscope.engines.duckdb import DuckDBEngine
    from trailscope.lake.check import Problem
    from trailscope.lake.purge import PurgeReport
    from trailscope.lake.repair import RepairReport
    from trailscope.queries import SavedQuery
    from trailscope.sql import Translation


@dataclass
class QuarantineEntry:
    uri: str
    position: int | None  # event position inside the object; None: the whole object
    reason: str


@dataclass
class LakeInfo:
    """What ``trailscope lake info`` shows (and its ``--json`` twin)."""

    path: str
    events: int
    files: int
    bytes: int
    partitions: int
    first_day: str | None
    last_day: str | None
    accounts: list[str]
    regions: list[str]
    objects: dict[str, int]  # by status: ingested, empty, quarantined, skipped
    skipped_by_kind: dict[str, int]
    quarantined_events: int
    commits: int
    last_commit: str | None
    max_files_per_partition: int
    quarantine: list[QuarantineEntry] = field(default_factory=list)
    #: the ingest filters every ingest applies (see :meth:`Lake.set_ingest_filters`)
    ingest_filters: dict[str, Any] = field(default_factory=lambda: NO_FILTERS.to_json())

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["quarantine"] = [q.__dict__ for q in self.quarantine]
        return out


class Lake:
    """A trailscope lake in a local folder or under ``s3://bucket/prefix``."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        profile: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.storage = open_storage(path, profile=profile, endpoint_url=endpoint_url)
        #: the folder of a local lake (for S3 lakes: the ``s3://`` location, as a string)
        self.root = Path(os.fspath(path)).expanduser() if self.storage.is_local else None
        self.location = str(self.root) if self.root is not None else self.storage.location
        self.manifest = Manifest(self.storage)
        self.manifest.after_publish = self._keep_athena_manifests
        self._athena_location: str | None = None  # read on first commit
        #: one engine kept for query()/run() and the web while the lake does not change
        self._engines: EngineCache[LakeState] | None = None
        self._engines_lock = threading.Lock()
        self._reader_lock = threading.Lock()

    def _keep_athena_manifests(self, state: LakeState, partitions: set[str]) -> None:
        """After 'trailscope athena setup' (symlink layout), every commit rewrites the
        manifests of the days it touched, so Athena sees each commit whole and new days at once."""
        if self._athena_location is None:
            try:
                settings = orjson.loads(self.storage.read_bytes(ATHENA_SETTINGS))
            except FileNotFoundError:
                settings = {"location": ""}
            self._athena_location = str(settings["location"])
        if not self._athena_location:
            return
        from trailscope.athena.symlinks import write_manifests

        for _ in RetryPolicy(attempts=10).pauses():
            write_manifests(self.storage, state, self._athena_location, partitions)
            # Another writer may have committed meanwhile and written its manifests from an
            # older state: catch up and write again until the log stands still.
            if self.storage.is_local or not self.manifest.refresh(state):
                return

    def __repr__(self) -> str:
        return f"Lake({self.location!r})"

    # ----------------------------------------------------------------- reading

    def exists(self) -> bool:
        return self.manifest.exists()

    def state(self) -> LakeState:
        """The lake as its log says it is now (on a local lake, a last commit whose writer
        died before publishing it is published first, when no writer is at work)."""
        self.manifest.check_format()
        state = self.manifest.load()
        self._finish_publication(state)
        return state

    def _finish_publication(self, state: LakeState) -> None:
        """Readers that glob the folder must not see a crashed writer's half-published last
        commit (parts still staged, or a compaction's merged parts beside their replacement)
        for longer than it takes the next trailscope command to open the lake. Only locally,
        and only when the lock is free (a running writer finishes its own commit)."""
        last = state.last_commit
        if last is None or not isinstance(self.storage, LocalStorage):
            return
        if publish.is_published(self.storage, last):
            return
        try:
            with WriterLock(self.storage, "recover"):
                latest = self.manifest.load()
                publish.recover(self.storage, latest, exclusive=True)
        except (LakeLockedError, OSError) as exc:  # a writer at work, or a read-only lake
            log.info("left the last commit of %s to its writer: %s", self.location, exc)

    def files(self) -> list[Path]:
        """Live Parquet files of a local lake, oldest partition first."""
        if self.root is None:
            raise LakeError(
                f"{self.location} is on S3: its files are not local paths",
                hint="use Lake.part_paths() or Lake.engine()",
            )
        return [self.root / rel for rel in self.part_paths()]

    def readable_parts(self, state: LakeState | None = None) -> list[str]:
        """Like :meth:`part_paths`, each where it can be read now (a part of a commit not yet
        published is read under its staged name); a damaged part stops the reader, named."""
        state = state or self.state()
        return publish.readable_paths(
            self.storage, {rel: state.parts[rel].bytes for rel in self.part_paths(state)}
        )

    def part_paths(self, state: LakeState | None = None) -> list[str]:
        """Live Parquet files relative to the lake, oldest partition first."""
        parts = (state or self.state()).parts
        return sorted(parts, key=lambda r: (r.split("/")[1], r))

    def digest_signatures(self) -> dict[str, dict[str, str]]:
        """Digest signatures kept at ingest from S3 metadata, by object id (key from
        ``AWSLogs/`` on): what ``verify`` needs to check a plain copy of the bucket."""
        return {
            rec.id: dict(rec.meta)
            for rec in self.state().objects.values()
            if rec.kind == "digest" and rec.meta
        }

    def info(self, *, quarantine_limit: int = 100) -> LakeInfo:
        state = self.state()
        parts = list(state.parts.values())
        by_partition = state.parts_by_partition()
        days = sorted(by_partition)
        statuses = Counter(o.status for o in state.objects.values())
        skipped = Counter(o.kind for o in state.objects.values() if o.status == "skipped")
        quarantine: list[QuarantineEntry] = []
        quarantined_events = 0
        for obj in state.objects.values():
            quarantined_events += obj.quarantined_count
            if obj.status == "quarantined":
                quarantine.append(QuarantineEntry(obj.uri, None, obj.reason or "unknown"))
            for pos, reason in obj.quarantined_events:
                quarantine.append(QuarantineEntry(obj.uri, pos, reason))
        accounts, regions = self._accounts_and_regions(state)
        return LakeInfo(
            path=self.location,
            events=sum(p.rows for p in parts),
            files=len(parts),
            bytes=sum(p.bytes for p in parts),
            partitions=len(by_partition),
            first_day=days[0] if days else None,
            last_day=days[-1] if days else None,
            accounts=accounts,
            regions=regions,
            objects=dict(statuses),
            skipped_by_kind=dict(skipped),
            quarantined_events=quarantined_events,
            commits=state.commits,
            last_commit=state.last_commit.committed_at if state.last_commit else None,
            max_files_per_partition=max((len(v) for v in by_partition.values()), default=0),
            quarantine=quarantine[:quarantine_limit],
            ingest_filters=self.ingest_filters().to_json(),
        )

    def _accounts_and_regions(self, state: LakeState) -> tuple[list[str], list[str]]:
        if not state.parts:
            return [], []
        with self._reading() as engine:
            table = engine.query("SELECT DISTINCT recipientaccountid, awsregion FROM cloudtrail")
        rows = list(zip(*(table.column(i).to_pylist() for i in range(2)), strict=True))
        accounts = sorted({a for a, _ in rows if a})
        regions = sorted({r for _, r in rows if r})
        return accounts, regions

    # ----------------------------------------------------------------- querying

    def sql_for(self, sql: str, *, engine: str = "duckdb") -> Translation:
        """The SQL that would run for an Athena query on ``engine`` (duckdb, athena, spark),
        and notices about the rewriting."""
        from trailscope.engines import prepare

        return prepare(engine, sql)

    def engine(self, state: LakeState | None = None) -> DuckDBEngine:
        """A DuckDB connection with the ``cloudtrail`` view over this lake (as of ``state``,
        default now) and, from the same commit, each side table as a table of its name
        (``cloudtrail_validation`` with what ``trailscope verify`` found, empty until then).
        The caller closes it."""
        from trailscope.engines.duckdb import DuckDBEngine

        state = state or self.state()
        tables = self.side_tables(state)
        rels = self.readable_parts(state)
        if self.storage.is_local:
            assert self.root is not None
            return DuckDBEngine([self.root / rel for rel in rels], tables=tables)
        paths = [self.storage.fs_path(rel) for rel in rels]
        return DuckDBEngine(paths, filesystem=self.storage.filesystem, tables=tables)

    # ----------------------------------------------------------------- side tables

    def read_table(self, name: str) -> pa.Table | None:
        """The committed version of side table ``name`` (see :mod:`trailscope.lake.tables`);
        None if it was never written."""
        from trailscope.lake import tables

        return tables.read_table(self.storage, self.state(), name)

    def update_table(
        self, name: str, change: Callable[[pa.Table | None], pa.Table], *, operation: str
    ) -> pa.Table:
        """Replace side table ``name`` by ``change(current version)`` in one commit.

        ``change`` may run more than once: when another writer commits first (S3 lakes have
        many), it is applied again to that writer's version. A local lake is changed under its
        writer lock (waiting for a running writer for up to a minute). Returns the version
        committed.

        :param operation: what the change is, for the commit log (e.g. ``verify``).
        """
        from trailscope.lake import tables

        tables.check_name(name)
        self.storage.prepare()
        self.manifest.initialize()
        with self.writer_lock(operation, wait=SIDE_TABLE_LOCK_WAIT):
            state = self.manifest.load()
            self._recover(state)
            return tables.update_table(self.manifest, state, name, change, operation=operation)

    def side_tables(
        self, state: LakeState | None = None, *, committed: bool = False
    ) -> dict[str, pa.Table]:
        """Every side table as of ``state`` (default now), by name; the verification record
        is always there (empty before the first ``verify --lake``) unless ``committed``
        asks for the tables the log names only."""
        from trailscope.integrity.record import VALIDATION_TABLE, legacy_validation
        from trailscope.lake import tables

        out = tables.read_all(self.storage, state or self.state())
        if VALIDATION_TABLE not in out and not committed:
            out[VALIDATION_TABLE] = legacy_validation(self.storage)
        return out

    @property
    def engines(self) -> EngineCache[LakeState]:
        """The engine kept for this lake, shared by query()/run() and the web app (made on
        first use: ingest workers must start before the engines' imports load pyarrow)."""
        with self._engines_lock:
            if self._engines is None:
                from trailscope.engines.cache import EngineCache

                self._engines = EngineCache(self._open_engine, self._is_current)
            return self._engines

    def _open_engine(self) -> tuple[LakeState, DuckDBEngine]:
        """A new engine for :attr:`engines`, over the lake as it is now.

        Opening one costs more than most queries (the state's commits, DuckDB's view over every
        file's footer: about 60 ms on a 1M-event lake), so a program asking many questions pays
        it once. Before each use, one existence check tells whether another commit came (a
        new ingest, compaction or side-table version, such as a new verification record):
        then a fresh engine is opened; the old one closes when its last user is done.
        """
        state = self.state()
        return state, self.engine(state)

    def _is_current(self, state: LakeState) -> bool:
        # renewed S3 credentials need a new engine: pyarrow's filesystem keeps the old ones
        renewed = isinstance(self.storage, S3Storage) and self.storage.credentials_changed()
        return not renewed and not self.manifest.has_commit_after(state)

    @contextmanager
    def _reading(self) -> Iterator[DuckDBEngine]:
        """The kept engine's own connection, for query() and run(): one query at a time."""
        with self._reader_lock, self.engines.lease() as generation:
            yield generation.engine

    def close(self) -> None:
        """Close the engine kept for queries (it is opened again when needed)."""
        if self._engines is not None:
            self._engines.reset()

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(
        self, sql: str, *, timeout: float | None = None, params: dict[str, Any] | None = None
    ) -> pa.Table:
        """Run an Athena-dialect query on the lake; the result as an Arrow table."""
        translation = self.sql_for(sql)
        with self._reading() as engine:
            return engine.query(translation.sql, timeout=timeout, params=params)

    def run(
        self,
        name: str,
        *,
        timeout: float | None = None,
        library: dict[str, SavedQuery] | None = None,
        **params: Any,
    ) -> pa.Table:
        """Run a saved query by name, e.g. ``lake.run("console-logins", since="24h")``."""
        from trailscope.queries import get_query
        from trailscope.sql import translate

        saved = get_query(name, library)
        bound = saved.bind(params)
        translation = translate(saved.sql, params=bound)
        with self._reading() as engine:
            return engine.query(translation.sql, timeout=timeout, params=bound)

    # ----------------------------------------------------------------- writing

    def ingest(
        self,
        source: str | Source,
        *,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
        accounts: list[str] | None = None,
        regions: list[str] | None = None,
        workers: int | None = None,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        compact: bool = True,
        profile: str | None = None,
        endpoint_url: str | None = None,
        progress: ProgressFn | None = None,
        objects: Iterable[SourceObject] | None = None,
        runner: BatchRunner | None = None,
        max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
        filters: IngestFilters | None = None,
        save_filters: bool = False,
    ) -> IngestSummary:
        """Add every new or changed object of ``source``; safe to re-run, safe to kill.

        ``objects``: ingest exactly these (as an S3 event notification names them) instead of
        listing ``source``. ``runner``: where batches run (default: a pool of ``workers``
        processes; see :mod:`trailscope.lake.spark_ingest` for Spark). ``max_object_bytes``:
        objects larger than this once decompressed are quarantined, not read.

        :param filters: events to leave out and fields to blank in this run, on top of the
            lake's saved ones (:meth:`ingest_filters`), which every ingest applies.
        :param save_filters: save the combination as the lake's filters for later runs.
        """
        limits = DecodeLimits(max_object_bytes=max_object_bytes)
        effective = self.ingest_filters()
        if filters is not None:
            effective = effective.combined(filters)
        compiled = None
        if not effective.empty:  # checked before anything is read: a typo costs nothing
            from trailscope.ingest_where import compile_where
            from trailscope.lake.filters import compile_filters

            compiled = compile_filters(effective, compile_where)
        src = (
            open_source(source, profile=profile, endpoint_url=endpoint_url)
            if isinstance(source, str)
            else source
        )
        flt = ListFilter(
            since=_as_datetime(since),
            until=_as_datetime(until, end_of_day=True),
            accounts=frozenset(accounts or ()),
            regions=frozenset(regions or ()),
        )
        self.storage.prepare()
        self.manifest.initialize()
        if save_filters:
            save_filters_to(self.storage, effective)
        summary = IngestSummary(source=src.uri, lake=self.location)
        with self.writer_lock("ingest") as lock:
            summary.took_over_lock = lock is not None and lock.took_over is not None
            state = self.manifest.load()
            self._recover(state)
            compacted: set[str] = set()

            def settle(partitions: set[str], parallel: int = 0) -> None:
                """Compact ``partitions``: during the run (``parallel`` 0) one at a time and
                only merges small enough to run beside the workers; at its end, side by side."""
                from trailscope.lake import compact as compaction

                limit = compaction.IN_RUN_MAX_MERGE_ROWS if not parallel else None
                compacted.update(
                    compaction.compact_each(
                        self.manifest, state, partitions, parallel=parallel or 1, max_rows=limit
                    )
                )

            lanes = workers or default_workers()
            pool = None if runner else process_pool(lanes)
            chosen: BatchRunner = runner or pool or process_pool(1)
            try:
                touched = run_ingest(
                    src,
                    self.manifest,
                    state,
                    flt,
                    summary,
                    runner=chosen,
                    batch_bytes=batch_bytes,
                    lanes=1 if runner else lanes,
                    progress=progress,
                    objects=objects,
                    settle=settle if compact else None,
                    limits=limits,
                    filters=compiled,
                )
            finally:
                if isinstance(pool, PoolRunner):
                    pool.close()  # workers started early for a run that failed before them
            if compact and touched:
                settle(touched, parallel=lanes)  # the workers have exited: share the cores
            summary.compacted_partitions = len(compacted)
            keep = self.retention()
            if keep is not None:
                from trailscope.lake import purge as purging

                horizon = datetime.now(UTC).date() - timedelta(days=keep)
                summary.purged_days = len(purging.purge(self.manifest, state, horizon).days)
        return summary

    def compact(self, *, full: bool = False) -> int:
        """Merge small files; returns how many partitions were rewritten."""
        self.manifest.check_format()
        from trailscope.lake import compact as compaction

        with self.writer_lock("compact"):
            state = self.manifest.load()
            self._recover(state)
            return compaction.compact(self.manifest, state, full=full, parallel=default_workers())

    def check(self, *, deep: bool = False) -> list[Problem]:
        """Everything wrong with the lake's files and log (see :mod:`trailscope.lake.check`);
        empty when it is whole. ``deep`` reads every byte and page, not just sizes and
        footers."""
        from trailscope.lake import check as checking

        self.manifest.check_format()
        try:
            state: LakeState | None = self.manifest.load()
        except LakeError:
            state = None  # a damaged commit: the log's own problems say which
        return checking.check(self.manifest, state, deep=deep)

    def repair(self) -> RepairReport:
        """Make the lake check clean: rebuild damaged parts from their source objects (or drop
        them, recording what was lost), cut the log at a damaged commit, replace damaged
        checkpoints, delete files no commit names. See :mod:`trailscope.lake.repair`."""
        from trailscope.ingest_where import compile_where
        from trailscope.lake import repair as repairing

        self.manifest.check_format()
        with self.writer_lock("repair"):
            report = repairing.repair(self.manifest, compile_where=compile_where)
        self.close()  # the kept engine may read a part that was replaced
        return report

    def purge(self, before: date | str) -> PurgeReport:
        """Remove every event of the days before ``before`` (a date, 'YYYY-MM-DD' or '400d'),
        in one commit; later ingests never write those days again."""
        from trailscope.lake import purge as purging

        day = _as_datetime(before)
        assert day is not None
        self.manifest.check_format()
        with self.writer_lock("purge"):
            state = self.manifest.load()
            self._recover(state)
            return purging.purge(self.manifest, state, day.date())

    def retention(self) -> int | None:
        """Days of events the lake keeps (None: all), as :meth:`set_retention` saved it."""
        try:
            settings = orjson.loads(self.storage.read_bytes(RETENTION_FILE))
        except FileNotFoundError:
            return None
        except orjson.JSONDecodeError as exc:
            raise LakeError(
                f"the retention setting of {self.location} is damaged ({exc})",
                hint="set it again with 'trailscope lake retention DAYS' (or 'off')",
            ) from None
        days = settings.get("days")
        return int(days) if days else None

    def set_retention(self, days: int | None) -> None:
        """Keep only the last ``days`` days of events (None: keep everything): every ingest
        then purges the days before that, and says so in its summary."""
        if days is not None and days < 1:
            raise LakeError(f"a retention of {days} days keeps nothing", hint="use 1 or more")
        self.storage.prepare()
        self.manifest.initialize()
        self.storage.write_atomic(RETENTION_FILE, orjson.dumps({"days": days}))

    def ingest_filters(self) -> IngestFilters:
        """The filters every ingest into this lake applies (none: every event, whole)."""
        return load_filters(self.storage, self.location)

    def set_ingest_filters(self, filters: IngestFilters) -> IngestFilters:
        """Make ``filters`` the lake's ingest filters, after checking them (a bad ``where`` or
        an unknown field raises :class:`~trailscope.lake.settings.FilterError` and nothing is
        saved). They apply to the files later ingests read: events already in the lake stay
        as they are, and events left out before are not brought back (their files are
        recorded as read). Returns the filters saved."""
        if not filters.empty:
            from trailscope.ingest_where import compile_where
            from trailscope.lake.filters import compile_filters

            compile_filters(filters, compile_where)
        self.storage.prepare()
        self.manifest.initialize()
        save_filters_to(self.storage, filters)
        return filters

    def _recover(self, state: LakeState) -> None:
        """Finish what a crashed writer left, including the Athena manifests of its last
        commit (writing them is idempotent)."""
        publish.recover(self.storage, state, exclusive=self.storage.is_local)
        if state.last_commit is not None:
            self.manifest.published(state, state.last_commit)

    @contextmanager
    def writer_lock(self, operation: str, *, wait: float = 0.0) -> Iterator[WriterLock | None]:
        """The local lock (``wait``: seconds to wait for a running writer); S3 lakes take
        none: writers there commit optimistically. A full disk while it is held is a one-line
        error, not a traceback."""
        with _disk_full_is_an_error(self.location):
            if isinstance(self.storage, LocalStorage):
                with WriterLock(self.storage, operation, wait=wait) as lock:
                    yield lock
            else:
                yield None


def open_lake(
    path: str | os.PathLike[str],
    *,
    profile: str | None = None,
    endpoint_url: str | None = None,
) -> Lake:
    """Open an existing lake for reading; a clear error if there is none."""
    lake = Lake(path, profile=profile, endpoint_url=endpoint_url)
    if lake.root is not None and not lake.root.exists():
        raise LakeError(
            f"no lake at {lake.location}",
            hint="create one with 'trailscope ingest SOURCE --lake PATH' or 'trailscope demo'",
        )
    lake.manifest.check_format()
    return lake


@contextmanager
def _disk_full_is_an_error(location: str) -> Iterator[None]:
    """ENOSPC from any write (Python's or Arrow's, here or in a worker) as a LakeError."""
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.ENOSPC and "No space left on device" not in str(exc):
            raise
        raise LakeError(
            f"no space left on the device of {location}",
            hint="free some space or move the lake, then run again: what was committed is "
            "kept, and the rest is done again",
        ) from None


def _as_datetime(
    value: datetime | date | str | None, *, end_of_day: bool = False
) -> datetime | None:
    """Accept what people pass: datetimes, dates, or the CLI's strings ('2024-06-01', '7d')."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse_time(value, end_of_day=end_of_day)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if end_of_day:
        return datetime(value.year, value.month, value.day, 23, 59, 59, tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)
