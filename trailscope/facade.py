"""The ``Lake``: the library object every command and page calls.

Writers (ingest, compact) take the lake's lock, recover whatever a crashed writer left, and
commit through the manifest. Readers use the manifest's list of live files, so a query never sees
a half-published batch or both sides of a compaction.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, closing, contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, overload

import orjson

from trailscope.decode.limits import DEFAULT_MAX_OBJECT_BYTES, DecodeLimits
from trailscope.errors import LakeError, LakeLockedError, TrailscopeError
from trailscope.facade_ingest import ingest_into
from trailscope.facade_support import (
    ManifestUpkeep,
    as_datetime,
    as_text_or_datetime,
    batches_then,
    compile_filters,
    disk_full_is_an_error,
)
from trailscope.facade_types import (
    EngineName,
    ExportFormat,
    LakeInfo,
    QueryEngine,
    describe,
)
from trailscope.lake import publish
from trailscope.lake.ingest import (
    DEFAULT_BATCH_BYTES,
    BatchRunner,
    IngestSummary,
    ProgressFn,
    default_workers,
)
from trailscope.lake.lock import WriterLock
from trailscope.lake.manifest import LakeState, Manifest
from trailscope.lake.settings import (
    IngestFilters,
    check_retention,
    load_filters,
    load_retention,
    save_retention,
)
from trailscope.lake.settings import save_filters as save_filters_to
from trailscope.lake.storage import LocalStorage, S3Storage, open_storage
from trailscope.sources import ListFilter, Source, SourceObject

log = logging.getLogger(__name__)

#: The distinct (account, region) pairs ``lake info`` lists.
PLACES_SQL = "SELECT DISTINCT recipientaccountid, awsregion FROM cloudtrail"
#: Seconds a side-table change waits for a running local writer before it is refused.
SIDE_TABLE_LOCK_WAIT = 60.0

if TYPE_CHECKING:  # query machinery is imported on first use: CLI start-up stays fast
    import pyarrow as pa

    from trailscope.detect import DetectionReport
    from trailscope.detect.config import DetectionConfig
    from trailscope.engines.athena import AthenaEngine
    from trailscope.engines.cache import EngineCache
    from trailscope.engines.duckdb import DuckDBEngine
    from trailscope.engines.spark import SparkEngine
    from trailscope.enrich.iptable import EnrichReport
    from trailscope.integrity import VerifyReport
    from trailscope.lake.check import Problem
    from trailscope.lake.purge import PurgeReport
    from trailscope.lake.repair import RepairReport
    from trailscope.queries import SavedQuery
    from trailscope.sql import Translation
    from trailscope.timewindow import Window


class Lake:
    """A trailscope lake in a local folder or under ``s3://bucket/prefix``.

    Making one reads nothing: an ingest creates the lake, :func:`open_lake` opens one that
    must exist. A ``Lake`` keeps one DuckDB engine for its queries while the lake does not
    change; :meth:`close` (or ``with Lake(...) as lake:``) releases it.

    :param path: the lake's folder, or ``s3://bucket/prefix``.
    :param profile: the AWS profile for an S3 lake (default: the usual credential chain).
    :param endpoint_url: an S3-compatible endpoint for an S3 lake (MinIO, a test server).
    """

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
        self.manifest.after_publish = ManifestUpkeep(self.storage, self.manifest)
        #: one engine kept for query()/run() and the web while the lake does not change
        self._engines: EngineCache[LakeState] | None = None
        self._engines_lock = threading.Lock()
        self._reader_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Lake({self.location!r})"

    # ----------------------------------------------------------------- reading

    def exists(self) -> bool:
        """Whether a lake has been created here (by a first ingest)."""
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
        published is read under its staged name); a damaged part stops the reader, named.

        :param state: the lake as of one commit (default: now).
        """
        state = state or self.state()
        return publish.readable_paths(
            self.storage, {rel: state.parts[rel].bytes for rel in self.part_paths(state)}
        )

    def part_paths(self, state: LakeState | None = None) -> list[str]:
        """Live Parquet files relative to the lake, oldest partition first.

        :param state: the lake as of one commit (default: now).
        """
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
        """What the lake holds: events, days, accounts, regions, files, and what was
        quarantined (what ``trailscope lake info`` shows).

        :param quarantine_limit: at most this many quarantine entries are listed (the counts
            cover all).
        """
        state = self.state()
        places = None
        if state.parts:
            with self._reading() as engine:
                places = engine.query(
                    "SELECT DISTINCT recipientaccountid, awsregion FROM cloudtrail"
                )
        filters = self.ingest_filters().to_json()
        return describe(state, self.location, places, filters, quarantine_limit=quarantine_limit)

    # ----------------------------------------------------------------- querying

    def sql_for(
        self,
        sql: str,
        *,
        engine: EngineName = "duckdb",
        params: dict[str, Any] | None = None,
        types: dict[str, str] | None = None,
    ) -> Translation:
        """The SQL that would run for an Athena query on ``engine``, and notices about the
        rewriting (what ``--show-sql`` prints).

        :param sql: the query as written for Athena.
        :param engine: ``duckdb``, ``athena`` or ``spark``.
        :param params: the values the query will be run with (some engines need them to
            choose a form, e.g. a typed NULL).
        :param types: the parameters' declared types, where a saved query declares them.
        """
        from trailscope.engines import prepare

        return prepare(engine, sql, params=params, types=types)

    def engine(self, state: LakeState | None = None) -> DuckDBEngine:
        """A DuckDB connection with the ``cloudtrail`` view over this lake (as of ``state``,
        default now) and, from the same commit, each side table as a table of its name
        (``cloudtrail_validation`` with what ``trailscope verify`` found, empty until then).
        The caller closes it.

        :param state: the lake as of one commit (default: now).
        """
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
        None if it was never written.

        :param name: the table, e.g. ``cloudtrail_validation``.
        """
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

        :param name: the table (lower-case letters, digits and ``_``).
        :param change: the new version, given the current one (None before the first).
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
        asks for the tables the log names only.

        :param state: the lake as of one commit (default: now).
        :param committed: only the tables the commit log names.
        """
        from trailscope.integrity.record import VALIDATION_TABLE, legacy_validation
        from trailscope.lake import tables

        out = tables.read_all(self.storage, state or self.state())
        if VALIDATION_TABLE not in out and not committed:
            out[VALIDATION_TABLE] = legacy_validation(self.storage)
        if not committed:
            from trailscope.enrich.schemas import empty_tables

            for name, empty in empty_tables().items():
                out.setdefault(name, empty)
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

    @overload
    def open_engine(self, name: Literal["duckdb"] = ..., **options: Any) -> DuckDBEngine: ...
    @overload
    def open_engine(self, name: Literal["athena"], **options: Any) -> AthenaEngine: ...
    @overload
    def open_engine(self, name: Literal["spark"], **options: Any) -> SparkEngine: ...
    @overload
    def open_engine(self, name: EngineName, **options: Any) -> QueryEngine: ...

    def open_engine(self, name: EngineName = "duckdb", **options: Any) -> QueryEngine:
        """A query engine over this lake, for several queries in a row; the caller closes it.

        Pass it as ``engine=`` to :meth:`query`, :meth:`run`, :meth:`detect` or
        to :meth:`export`, so they share one engine (one Athena client, one Spark session)
        instead of each opening its own. Athena reports each query's cost in ``engine.last``.

        :param name: ``duckdb`` (this machine, over the lake's files), ``athena`` (the table
            ``trailscope athena setup`` made for this lake) or ``spark`` (a local lake's files).
        :param options: the engine's settings. athena: ``database`` (required), ``workgroup``,
            ``output_location`` (``s3://`` folder for results), ``region``, ``profile``,
            ``client`` (a boto3 Athena client of your own); spark: ``master`` (URL),
            ``conf`` (dict of session settings), ``session`` (a SparkSession of your own).
            DuckDB takes none.
        """
        from trailscope.engines import check_engine, open_engine

        check_engine(name)
        if name == "duckdb" and options:
            raise TrailscopeError(
                f"the duckdb engine takes no settings (got {', '.join(sorted(options))})",
                hint="engine settings are for engine='athena' or engine='spark'",
            )
        if name == "athena" and not options.get("database"):
            raise TrailscopeError(
                "the athena engine needs the Glue database of the lake's table",
                hint="give engine_options={'database': NAME} (the command line's --database), "
                "the database 'trailscope athena setup' made",
            )
        engine: QueryEngine = open_engine(name, self, **options)
        return engine

    def query(
        self,
        sql: str,
        *,
        engine: EngineName | QueryEngine = "duckdb",
        engine_options: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> pa.Table:
        """Run an Athena-dialect query on the lake; the whole result as an Arrow table.

        The SQL is what Athena's CloudTrail table takes (any table name reads the lake); it is
        translated for the engine that runs it, so the same text gives the same rows on each.

        :param sql: the query, over the table ``cloudtrail``; ``:name`` placeholders are bound
            from ``params``, never pasted into the SQL.
        :param engine: where it runs: ``"duckdb"`` (in this process, the default),
            ``"athena"``, ``"spark"``, or an engine from :meth:`open_engine` (left open).
        :param engine_options: the settings of a named engine (see :meth:`open_engine`),
            e.g. ``{"database": "security", "output_location": "s3://results/"}``.
        :param timeout: seconds before the query is cancelled (None: no limit on DuckDB).
        :param params: values for the query's ``:name`` placeholders.
        """
        if engine == "duckdb" and not engine_options:
            translation = self.sql_for(sql)
            with self._reading() as duck:
                return duck.query(translation.sql, timeout=timeout, params=params)
        return self._stream(
            sql, engine=engine, engine_options=engine_options, timeout=timeout, params=params
        ).read_all()

    def query_batches(
        self,
        sql: str,
        *,
        engine: EngineName | QueryEngine = "duckdb",
        engine_options: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> pa.RecordBatchReader:
        """Like :meth:`query`, the result as a stream of record batches: a result of millions
        of rows never has to fit in memory (DuckDB hands out batches of 65,536 rows as it
        computes them, Athena one page of 1,000 rows at a time as they are read; Spark's
        result arrives whole, then comes out in batches).

        Read it to the end or close it: until then it holds a connection to the engine (a
        named engine is closed when the stream ends).

        :param sql: the query (Athena SQL over ``cloudtrail``).
        :param engine: ``"duckdb"``, ``"athena"``, ``"spark"`` or an engine object.
        :param engine_options: the settings of a named engine (see :meth:`open_engine`).
        :param timeout: seconds the query may run before its first batch.
        :param params: values for the query's ``:name`` placeholders.
        """
        return self._stream(
            sql, engine=engine, engine_options=engine_options, timeout=timeout, params=params
        )

    def run(
        self,
        name: str,
        *,
        engine: EngineName | QueryEngine = "duckdb",
        engine_options: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        library: dict[str, SavedQuery] | None = None,
        **params: Any,
    ) -> pa.Table:
        """Run a saved query by name, e.g. ``lake.run("console-logins", since="24h")``.

        Ages count back from now (see :mod:`trailscope.timewindow`): when the window misses
        the lake or covers only part of it, a :class:`~trailscope.timewindow.WindowWarning`
        says so with the lake's first and last event, and the result's schema metadata
        ``trailscope.window`` holds the resolved window as JSON.

        :param name: a saved query (``trailscope queries list``).
        :param engine: ``"duckdb"``, ``"athena"``, ``"spark"`` or an engine object.
        :param engine_options: the settings of a named engine (see :meth:`open_engine`).
        :param timeout: seconds before the query is cancelled.
        :param library: the saved queries to look ``name`` up in (default: the built-in ones;
            see :func:`trailscope.queries.load_library` for adding a folder).
        :param params: the query's parameters, checked and typed by its declaration
            (``since``/``until`` take '24h', '7d', dates, ISO times).
        """
        from trailscope.queries import get_query

        saved = get_query(name, library)
        bound = saved.bind(params)
        window = self._window(bound)
        if engine == "duckdb" and not engine_options:
            translation = self.sql_for(saved.sql, params=bound)
            with self._reading() as duck:
                table = duck.query(translation.sql, timeout=timeout, params=bound)
        else:
            table = self._stream(
                saved.sql,
                engine=engine,
                engine_options=engine_options,
                timeout=timeout,
                params=bound,
                types={p.name: p.type for p in saved.params},
            ).read_all()
        if window is not None:
            meta = dict(table.schema.metadata or {})
            meta[b"trailscope.window"] = orjson.dumps(window.to_json())
            table = table.replace_schema_metadata(meta)
        return table

    def _window(self, bound: Mapping[str, Any]) -> Window | None:
        """A saved query's window checked against the lake (a ``WindowWarning`` when it
        misses the lake or covers part of it); None for a query without one."""
        from trailscope import timewindow

        if "since" not in bound and "until" not in bound:
            return None
        return timewindow.check(self, bound.get("since"), bound.get("until"), stacklevel=4)

    def run_batches(
        self,
        name: str,
        *,
        engine: EngineName | QueryEngine = "duckdb",
        engine_options: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        library: dict[str, SavedQuery] | None = None,
        **params: Any,
    ) -> pa.RecordBatchReader:
        """Like :meth:`run`, the result streamed as :meth:`query_batches` streams it.

        :param name: a saved query (``trailscope queries list``).
        :param engine: ``"duckdb"``, ``"athena"``, ``"spark"`` or an engine object.
        :param engine_options: the settings of a named engine (see :meth:`open_engine`).
        :param timeout: seconds the query may run before its first batch.
        :param library: the saved queries to look ``name`` up in (default: the built-in ones).
        :param params: the query's parameters.
        """
        from trailscope.queries import get_query

        saved = get_query(name, library)
        bound = saved.bind(params)
        self._window(bound)
        return self._stream(
            saved.sql,
            engine=engine,
            engine_options=engine_options,
            timeout=timeout,
            params=bound,
            types={p.name: p.type for p in saved.params},
        )

    def _stream(
        self,
        athena_sql: str,
        *,
        engine: EngineName | QueryEngine,
        engine_options: Mapping[str, Any] | None,
        timeout: float | None,
        params: dict[str, Any] | None,
        types: dict[str, str] | None = None,
    ) -> pa.RecordBatchReader:
        """The one path every engine's query takes: translate for it, run, stream the batches;
        what was opened for the query is closed when the stream ends."""
        import pyarrow as pa

        from trailscope.engines import prepare, reader

        held = ExitStack()
        try:
            runner = held.enter_context(self._engine_in_use(engine, engine_options))
            translation = prepare(runner.name, athena_sql, params=params, types=types)
            result = reader(runner, translation.sql, timeout=timeout, params=params, types=types)
        except BaseException:
            held.close()
            raise
        return pa.RecordBatchReader.from_batches(result.schema, batches_then(result, held))

    @contextmanager
    def _engine_in_use(
        self, engine: EngineName | QueryEngine, options: Mapping[str, Any] | None
    ) -> Iterator[QueryEngine]:
        """The engine asked for: the kept DuckDB engine (a connection of its own, so streams
        and queries can overlap), a named engine opened for this use, or the caller's own."""
        if not isinstance(engine, str):
            if options:
                raise TrailscopeError(
                    "engine_options go with an engine name, not with an engine object",
                    hint="give the settings to Lake.open_engine(name, ...) instead",
                )
            yield engine
        elif engine == "duckdb" and not options:
            with self.engines.lease() as generation:
                connection = generation.engine.cursor()
                try:
                    yield connection
                finally:
                    connection.close()
        else:
            opened = self.open_engine(engine, **(options or {}))
            try:
                yield opened
            finally:
                opened.close()

    # ----------------------------------------------------------------- enrichment

    def enrich(
        self,
        databases: Iterable[str | os.PathLike[str]] = (),
        *,
        aws_ip_ranges: str | os.PathLike[str] | None = None,
        fallback: bool = True,
    ) -> EnrichReport:
        """Describe every source address of the lake in side table ``ip_info``: what
        ``trailscope lake enrich`` does. Events are not rewritten; run it again after an
        ingest or with a newer database.

        :param databases: MaxMind-format files (GeoLite2/GeoIP2 City, Country or ASN, or
            IPinfo's); the first to answer a field wins.
        :param aws_ip_ranges: AWS's ``ip-ranges.json``, to mark AWS's own addresses.
        :param fallback: place addresses no database places with the bundled country list.
        """
        from trailscope.enrich.iptable import enrich_lake

        return enrich_lake(
            self,
            [str(d) for d in databases],
            aws_ip_ranges=str(aws_ip_ranges) if aws_ip_ranges else None,
            fallback=fallback,
        )

    def name_accounts(
        self,
        *,
        file: str | os.PathLike[str] | None = None,
        organizations: bool = False,
        profile: str | None = None,
        replace: bool = False,
    ) -> pa.Table:
        """Name the lake's accounts (side table ``accounts``) from a CSV or YAML file or from
        AWS Organizations: what ``trailscope enrich accounts`` does. Returns the table.

        :param file: CSV (``account_id,name`` and tag columns) or YAML (id: name).
        :param organizations: read ``ListAccounts`` (and tags) instead of a file.
        :param profile: the AWS profile for Organizations.
        :param replace: drop the accounts not listed (default: keep them).
        """
        from trailscope.enrich.accounts import name_accounts

        return name_accounts(
            self, file=file, organizations=organizations, profile=profile, replace=replace
        )

    # ----------------------------------------------------------------- detect, verify, export

    def detect(
        self,
        *,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
        rules: Iterable[str | os.PathLike[str]] = (),
        builtin: bool = True,
        rule_ids: Iterable[str] | None = None,
        params: Mapping[str, Mapping[str, Any]] | None = None,
        config: DetectionConfig | str | os.PathLike[str] | None = None,
        engine: EngineName | QueryEngine = "duckdb",
        engine_options: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> DetectionReport:
        """Run the detections over the lake: what ``trailscope detect`` prints.

        Findings come most severe first (``report.findings``); rules that could not run are
        listed with the reason (``report.unsupported``), never silently dropped.

        :param since: only events from this time on ('7d', '24h', '2024-07-01', an ISO time,
            a datetime or a date).
        :param until: only events up to this time (a date means its end).
        :param rules: folders of more rules, Sigma or trailscope YAML.
        :param builtin: run the built-in rules too.
        :param rule_ids: run only these rules.
        :param params: rule parameters by rule id, e.g.
            ``{"failed-console-logins-from-one-ip": {"threshold": 5}}``.
        :param config: a detections config (path or parsed) that tunes the rules; default:
            the lake's ``detections.yml`` when there is one.
        :param engine: ``"duckdb"``, ``"athena"``, ``"spark"`` or an engine object.
        :param engine_options: the settings of a named engine (see :meth:`open_engine`).
        :param timeout: seconds each rule may run.
        """
        from trailscope.detect import run_detections

        def run(runner: QueryEngine | None) -> DetectionReport:
            return run_detections(
                self,
                since=as_text_or_datetime(since),
                until=as_text_or_datetime(until, end_of_day=True),
                rule_dirs=list(rules),
                include_builtin=builtin,
                engine=runner,
                rule_ids=list(rule_ids) if rule_ids is not None else None,
                params={rule: dict(values) for rule, values in (params or {}).items()},
                timeout=timeout,
                config=config,
            )

        if engine == "duckdb" and not engine_options:
            return run(None)  # a connection of its own, for the scan's temporary tables
        with self._engine_in_use(engine, engine_options) as runner:
            return run(runner)

    def verify(
        self,
        source: str | Source,
        *,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
        accounts: Iterable[str] = (),
        regions: Iterable[str] = (),
        public_keys: Iterable[str | os.PathLike[str]] = (),
        as_of: datetime | date | str | None = None,
        require_signatures: bool = False,
        record: bool = True,
        profile: str | None = None,
        endpoint_url: str | None = None,
        workers: int | None = None,
    ) -> VerifyReport:
        """Validate a trail's log files against CloudTrail's signed digests, with the digest
        signatures this lake kept at ingest (a plain copy of the bucket has lost them), and
        record each file's verdict in the lake's ``cloudtrail_validation`` table, which
        queries can join. What ``trailscope verify SOURCE --lake`` does.

        :param source: the trail: ``s3://bucket/prefix`` or a local copy of the bucket.
        :param since: only files delivered from this time on (same forms as :meth:`detect`).
        :param until: only files delivered up to this time.
        :param accounts: only these account ids (default: all).
        :param regions: only these regions (default: all).
        :param public_keys: PEM files to check signatures with offline, instead of asking
            CloudTrail's ListPublicKeys.
        :param as_of: when the copy was taken: every digest chain must reach it.
        :param require_signatures: a digest whose signature could not be checked makes the
            outcome ``unauthenticated``.
        :param record: keep the verdicts in the lake (False: only report them).
        :param profile: AWS profile for S3 and for CloudTrail's public keys.
        :param endpoint_url: an S3-compatible endpoint for ``source``.
        :param workers: threads reading and hashing files.
        """
        from trailscope.integrity import StaticKeys, record_validation, verify_trail
        from trailscope.integrity.signing import read_public_key

        keys = [read_public_key(Path(p)) for p in public_keys]
        report = verify_trail(
            source,
            since=as_datetime(since),
            until=as_datetime(until, end_of_day=True),
            accounts=accounts,
            regions=regions,
            keys=StaticKeys(keys) if keys else None,
            signatures=self.digest_signatures(),
            signature_source="lake",
            profile=profile,
            endpoint_url=endpoint_url,
            workers=workers,
            as_of=as_datetime(as_of),
            require_signatures=require_signatures,
        )
        if record:
            record_validation(self, report)
        return report

    def export(
        self,
        sql: str,
        dest: str | os.PathLike[str] | IO[bytes],
        *,
        format: ExportFormat | None = None,
        engine: EngineName | QueryEngine = "duckdb",
        engine_options: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> int:
        """Write a query's result to a file batch by batch (a result of any size, in little
        memory); returns the rows written. CSV follows RFC 4180, nested values as JSON text.

        :param sql: the query (Athena SQL over ``cloudtrail``).
        :param dest: a path, or a binary file open for writing.
        :param format: ``csv``, ``json``, ``ndjson`` or ``parquet``; default: from the path's
            suffix.
        :param engine: ``"duckdb"``, ``"athena"``, ``"spark"`` or an engine object.
        :param engine_options: the settings of a named engine (see :meth:`open_engine`).
        :param timeout: seconds the query may run before its first batch.
        :param params: values for the query's ``:name`` placeholders.
        """
        from trailscope import export as exporting

        chosen = exporting.format_named(format or exporting.format_of(dest))
        batches = self.query_batches(
            sql, engine=engine, engine_options=engine_options, timeout=timeout, params=params
        )
        with closing(batches):
            return exporting.write_to(batches, dest, chosen)

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

        Bad input is quarantined (see :meth:`info`), never fatal and never silent. In a
        script, no ``if __name__ == "__main__":`` guard is needed: the worker processes do not
        run the script again.

        :param source: a trail bucket ``s3://bucket/prefix`` or a local copy of one, or a
            source object (:class:`~trailscope.sources.Source`).
        :param since: only objects delivered from this time on ('2024-06-01', '7d', a
            datetime or a date).
        :param until: only objects delivered up to this time (a date means its end).
        :param accounts: only these account ids (default: all).
        :param regions: only these regions (default: all).
        :param workers: processes decoding in parallel (default: one per core).
        :param batch_bytes: compressed input per unit of work (and per commit).
        :param compact: merge each day's small files after the run.
        :param profile: the AWS profile for an S3 source.
        :param endpoint_url: an S3-compatible endpoint for the source.
        :param progress: called with (objects done, objects planned, events added).
        :param objects: ingest exactly these (as an S3 event notification names them) instead
            of listing ``source``.
        :param runner: where batches run (default: a pool of ``workers`` processes; for
            Spark, see :mod:`trailscope.lake.spark_ingest`).
        :param max_object_bytes: objects larger than this once decompressed are quarantined,
            not read.
        :param filters: events to leave out and fields to blank in this run, on top of the
            lake's saved ones (:meth:`ingest_filters`), which every ingest applies.
        :param save_filters: save the combination as the lake's filters for later runs.
        """
        return ingest_into(
            self,
            source,
            ListFilter(
                since=as_datetime(since),
                until=as_datetime(until, end_of_day=True),
                accounts=frozenset(accounts or ()),
                regions=frozenset(regions or ()),
            ),
            workers=workers,
            batch_bytes=batch_bytes,
            compact=compact,
            profile=profile,
            endpoint_url=endpoint_url,
            progress=progress,
            objects=objects,
            runner=runner,
            limits=DecodeLimits(max_object_bytes=max_object_bytes),
            filters=filters,
            save_filters=save_filters,
        )

    def compact(self, *, full: bool = False) -> int:
        """Merge small files; returns how many partitions were rewritten.

        :param full: merge every small file, not just enough to keep each day at a few files
            (before archiving a lake).
        """
        self.manifest.check_format()
        from trailscope.lake import compact as compaction

        with self.writer_lock("compact"):
            state = self.manifest.load()
            self._recover(state)
            return compaction.compact(self.manifest, state, full=full, parallel=default_workers())

    def check(self, *, deep: bool = False) -> list[Problem]:
        """Everything wrong with the lake's files and log (see :mod:`trailscope.lake.check`);
        empty when it is whole.

        :param deep: read every byte and page, not just sizes and footers.
        """
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
        """Remove every event of the days before ``before`` in one commit; later ingests never
        write those days again.

        :param before: the first day kept: a date, 'YYYY-MM-DD' or an age such as '400d'.
        """
        from trailscope.lake import purge as purging

        day = as_datetime(before)
        assert day is not None
        self.manifest.check_format()
        with self.writer_lock("purge"):
            state = self.manifest.load()
            self._recover(state)
            return purging.purge(self.manifest, state, day.date())

    def retention(self) -> int | None:
        """Days of events the lake keeps (None: all), as :meth:`set_retention` saved it."""
        return load_retention(self.storage, self.location)

    def set_retention(self, days: int | None) -> None:
        """Keep only the last ``days`` days of events (None: keep everything): every ingest
        then purges the days before that, and says so in its summary.

        :param days: days of events to keep, counted back from today.
        """
        check_retention(days)
        self.storage.prepare()
        self.manifest.initialize()
        save_retention(self.storage, days)

    def ingest_filters(self) -> IngestFilters:
        """The filters every ingest into this lake applies (none: every event, whole)."""
        return load_filters(self.storage, self.location)

    def set_ingest_filters(self, filters: IngestFilters) -> IngestFilters:
        """Make ``filters`` the lake's ingest filters, after checking them (a bad ``where`` or
        an unknown field raises :class:`~trailscope.lake.settings.FilterError` and nothing is
        saved). They apply to the files later ingests read: events already in the lake stay
        as they are, and events left out before are not brought back (their files are
        recorded as read). Returns the filters saved.

        :param filters: the events to leave out and the fields to blank
            (``IngestFilters()`` keeps every event whole).
        """
        compile_filters(filters)
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
        error, not a traceback.

        :param operation: what the writer does, shown to whoever finds the lake locked.
        :param wait: seconds to wait for a running writer before refusing.
        """
        with disk_full_is_an_error(self.location):
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
    """Open an existing lake; a clear error if there is none (where :class:`Lake` alone would
    wait for a first ingest to create it).

    :param path: the lake's folder, or ``s3://bucket/prefix``.
    :param profile: the AWS profile for an S3 lake.
    :param endpoint_url: an S3-compatible endpoint for an S3 lake.
    """
    lake = Lake(path, profile=profile, endpoint_url=endpoint_url)
    if lake.root is not None and not lake.root.exists():
        raise LakeError(
            f"no lake at {lake.location}",
            hint="create one with 'trailscope ingest SOURCE --lake PATH' or 'trailscope demo'",
        )
    lake.manifest.check_format()
    return lake
