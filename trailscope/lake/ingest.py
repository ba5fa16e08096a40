"""Ingest: list what is new, decode it in worker processes, commit batch by batch.

The unit of work is a *batch of source objects* (:func:`trailscope.lake.stage.process_batch`):
it reads, decodes and writes staged part files, and returns what it did. The parent process
alone commits, in the order results arrive: it drops events the lake already holds (same
``eventid`` and same content), makes the commit durable, and only then publishes the parts. So a
run killed at any moment leaves either whole batches or nothing, and the next run picks up
exactly where the log says.

This module imports neither pyarrow nor the decoder: listing a source needs neither, so a large
run starts its worker processes first and only then imports what committing needs, while the
workers import the decoder on the other cores (about 0.2 s of start-up each, side by side).
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from itertools import chain, islice
from typing import TYPE_CHECKING

from trailscope.decode.limits import DEFAULT_LIMITS, DecodeLimits
from trailscope.errors import SourceReadError
from trailscope.lake import memory
from trailscope.lake.batch import Batch, object_id, object_record
from trailscope.lake.manifest import LakeState, Manifest, ObjectRecord
from trailscope.lake.spawning import worker_context
from trailscope.lake.storage import Storage
from trailscope.sources.base import ListFilter, Source, SourceObject
from trailscope.sources.layout import ObjectKind

if TYPE_CHECKING:
    from trailscope.lake.commit import BatchOutput, CommitResult
    from trailscope.lake.filters import CompiledFilters

#: Compressed input per batch: about 75,000 events of ordinary CloudTrail. Each batch adds a
#: part to every day it touches, and the days' extra parts are merged away by the committing
#: process while the workers run: on 1M events, 2 workers, 20 MB batches took that process
#: from 2.8-2.9 s of CPU to 1.2-1.8 (3M: 15.5 -> 10.1 s, all CPU 78.6 -> 72.6 s), for a peak
#: of 640-649 MB instead of 586-602 (3M: 847 instead of 820). (With slower decoding and less
#: memory-frugal workers, 16 MB once peaked at 1,045 MB, and 10 MB was chosen.)
DEFAULT_BATCH_BYTES = 20 * 1024 * 1024
MAX_BATCH_OBJECTS = 4096
_DECODED_KINDS = (ObjectKind.LOG, ObjectKind.INSIGHT)
#: Preceding objects of a stream given to the batch that continues it: two, because keys
#: order files of the same minute by their random suffix, not by time.
CONTEXT_OBJECTS = 2


#: the S3 user metadata of a digest object that CloudTrail's validation needs
SIGNATURE_META = frozenset({"signature", "signature-algorithm"})


@dataclass
class IngestSummary:
    """The user's summary of a run (also the JSON printed by ``--json``)."""

    source: str
    lake: str
    listed: int = 0
    already_ingested: int = 0
    read: int = 0
    events_added: int = 0
    duplicates_dropped: int = 0
    #: events the lake's ingest filters left out (not quarantined: left out on purpose)
    filtered_events: int = 0
    empty_objects: int = 0
    quarantined_objects: int = 0
    quarantined_events: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    unknown_fields: int = 0
    coerced_values: int = 0
    parts_written: int = 0
    bytes_read: int = 0
    commits: int = 0
    compacted_partitions: int = 0
    #: events of days before the purge horizon, left out; days purged by the retention setting
    purged_events: int = 0
    purged_days: int = 0
    seconds: float = 0.0
    took_over_lock: bool = False

    @property
    def problems(self) -> int:
        """Objects and events quarantined by this run (0: everything was read)."""
        return self.quarantined_objects + self.quarantined_events


ProgressFn = Callable[[int, int, int], None]  # (objects done, objects planned, events added)


# --------------------------------------------------------------------------- worker side


_WORKER: dict[str, object] = {}


def _init_worker(source: Source, storage: Storage) -> None:
    """Once per worker process: keep the source (and so its S3 client) for every batch."""
    _WORKER["source"], _WORKER["storage"] = source, storage


def _worker_batch(batch: Batch) -> BatchOutput:
    from trailscope.lake.sourcesums import run_batch

    return run_batch(_WORKER["source"], _WORKER["storage"], batch)  # type: ignore[arg-type]


def _warm_worker() -> None:
    """A worker's first task, while the committing process lists: import what batches need."""
    from trailscope.decode.normalize import warm_decoders
    from trailscope.lake import stage  # noqa: F401

    warm_decoders()


# --------------------------------------------------------------------------- parent side


def plan_batches(
    objects: Iterable[SourceObject],
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    lanes: int = 1,
    limits: DecodeLimits = DEFAULT_LIMITS,
    filters: CompiledFilters | None = None,
) -> Iterator[Batch]:
    """Group objects by delivery day so each batch writes to few partitions; give each batch
    the preceding object of every stream it continues (see :attr:`Batch.context`).

    With ``lanes`` workers, the run is cut into a multiple of ``lanes`` batches of nearly
    equal size (each at most ``batch_bytes``): workers take batches in turns, so a last,
    smaller batch would run alone while the other workers wait (on 1M events, 25 batches
    left one worker idle for most of a batch at the end).

    The plan holds each object only until its batch is handed on (and the last few of each
    stream, for context): a dense run lists tens of thousands of objects, whose records
    would otherwise stay in the committing process beside the workers for the whole run.
    A caller that passes a list it no longer needs should drop its own reference to it."""
    ordered = deque(sorted(objects, key=lambda o: (o.info.day or date.min, o.key)))
    del objects  # the sorted queue is the only reference the plan keeps
    target = even_batch_bytes(sum(o.size for o in ordered), batch_bytes, lanes)
    batch = Batch([], limits=limits, filters=filters)
    size = 0
    last: dict[str, deque[SourceObject]] = {}  # stream -> its latest objects planned
    entered: set[str] = set()  # streams the current batch already has
    while ordered:
        obj = ordered.popleft()  # planned: the batch holds it from here on
        if batch.objects and (
            size >= target
            or size + obj.size > batch_bytes
            or len(batch.objects) >= MAX_BATCH_OBJECTS
        ):
            yield batch
            batch, size = Batch([], limits=limits, filters=filters), 0
            entered = set()
        stream = _stream(obj)
        if stream is not None:
            recent = last.setdefault(stream, deque(maxlen=CONTEXT_OBJECTS))
            if stream not in entered:
                batch.context.extend(recent)
            entered.add(stream)
            recent.append(obj)
        batch.objects.append(obj)
        size += obj.size
    if batch.objects:
        yield batch


def even_batch_bytes(total: int, batch_bytes: int, lanes: int) -> int:
    """Bytes per batch for a multiple of ``lanes`` batches over ``total``, none larger than
    ``batch_bytes`` (batches close once they reach it)."""
    if lanes <= 1 or total <= batch_bytes:
        return batch_bytes  # one worker, or one batch: nothing to even out
    batches = -(-total // batch_bytes)
    batches = -(-batches // lanes) * lanes
    return max(1, -(-total // batches))


def _stream(obj: SourceObject) -> str | None:
    """The delivery stream an object belongs to: one trail's files for an account and region,
    named by the key up to the region's folder (in time order by key within it); None where
    the key does not say (flat folders)."""
    info = obj.info
    if info.region is None or info.day is None:
        return None
    folder = f"/{info.region}/"
    at = obj.key.rfind(folder)
    return obj.key[: at + len(folder)] if at >= 0 else None


def _account(summary: IngestSummary, output: BatchOutput, result: CommitResult) -> None:
    """Add one batch's commit to the run's summary."""
    summary.already_ingested += result.taken_by_others
    if not result.committed:
        return
    summary.commits += 1
    summary.duplicates_dropped += result.duplicates_dropped + output.duplicates
    summary.filtered_events += output.filtered
    summary.purged_events += result.purged
    summary.parts_written += len(result.adds)
    summary.bytes_read += output.bytes_read
    summary.events_added += sum(p.rows for p in result.adds)
    for rec in result.objects:
        summary.read += 1
        summary.quarantined_events += rec.quarantined_count
        if rec.status == "quarantined":
            summary.quarantined_objects += 1
        elif rec.status == "empty":
            summary.empty_objects += 1
        elif rec.status == "skipped":
            summary.skipped[rec.kind] = summary.skipped.get(rec.kind, 0) + 1
        summary.unknown_fields += rec.unknown_fields
        summary.coerced_values += rec.coerced_values


#: Runs batches somewhere (this process, a process pool, Spark tasks) and yields their
#: outputs in plan order; the caller commits each as it arrives.
BatchRunner = Callable[[Source, Storage, Iterator[Batch]], Iterator["BatchOutput"]]


def run_serial(source: Source, storage: Storage, batches: Iterator[Batch]) -> Iterator[BatchOutput]:
    from trailscope.lake.sourcesums import run_batch

    for batch in batches:
        yield run_batch(source, storage, batch)


def run_ingest(
    source: Source,
    manifest: Manifest,
    state: LakeState,
    flt: ListFilter,
    summary: IngestSummary,
    *,
    runner: BatchRunner = run_serial,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    lanes: int = 1,
    progress: ProgressFn | None = None,
    objects: Iterable[SourceObject] | None = None,
    settle: Callable[[set[str]], None] | None = None,
    limits: DecodeLimits = DEFAULT_LIMITS,
    filters: CompiledFilters | None = None,
) -> set[str]:
    """List (or take ``objects`` as given), plan and run all batches; returns the partitions
    that received parts.

    ``settle`` (compaction) is called with partitions the rest of the run is unlikely to
    touch, while the workers go on with later batches: batches follow delivery days, and a
    file holds events of its delivery day and the day before, so once the commits reach
    delivery day D, the partitions before D-1 are done (they are settled once the next batch
    is committed). The caller still settles every touched partition at the end (one touched
    again is simply settled again). ``filters``: the lake's ingest filters, applied to every
    batch wherever it runs, and recorded in each commit.
    """
    started = time.monotonic()
    start = getattr(runner, "start", None)  # a runner that can start its workers early
    planned_bytes = 0
    planned: list[SourceObject] = []
    skipped: list[ObjectRecord] = []
    digests: list[tuple[SourceObject, ObjectRecord]] = []
    horizon = state.purged_before
    maybe_same: list[tuple[SourceObject, ObjectRecord]] = []
    for obj in source.iter_objects(flt) if objects is None else objects:
        summary.listed += 1
        known = state.objects.get(object_id(obj))
        if known is not None and known.version == obj.version and not known.read_failed:
            summary.already_ingested += 1
        elif horizon and obj.info.day is not None and obj.info.day.isoformat() < horizon:
            # delivered before the purge horizon: every event in it is older still
            skipped.append(object_record(obj, "skipped", reason="before the purge horizon"))
        elif known is not None and _may_be_unchanged(known, obj):
            maybe_same.append((obj, known))  # touched or re-copied? its bytes tell
        elif obj.info.kind in _DECODED_KINDS:
            planned.append(obj)
            planned_bytes += obj.size
            if start is not None and planned_bytes > 2 * batch_bytes:
                start(source, manifest.storage)  # enough for workers: let them import now
                start = None
        else:
            skipped.append(object_record(obj, "skipped", reason=f"{obj.info.kind} object"))
            if obj.info.kind is ObjectKind.DIGEST:
                digests.append((obj, skipped[-1]))
    _keep_digest_signatures(source, digests)
    unchanged, changed = _same_content(source, maybe_same)
    planned.extend(o for o in changed if o.info.kind in _DECODED_KINDS)
    # Committing needs pyarrow (the duplicate check, the parts' metadata): imported only now,
    # once the workers started above are importing theirs on the other cores.
    memory.return_freed_memory_promptly()  # before pyarrow loads: its allocator reads it then
    from trailscope.lake import commit, dedup

    if skipped:
        output = commit.BatchOutput(skipped, [], [])
        result = commit.commit_batch(
            manifest, state, dedup.DedupIndex(manifest.storage, state), output
        )
        _account(summary, output, result)
        summary.read -= len(result.objects) if result.committed else 0  # recorded, not read
    if unchanged:  # a new version with the same bytes: recorded, not decoded again
        output = commit.BatchOutput(unchanged, [], [])
        if commit.commit_batch(
            manifest, state, dedup.DedupIndex(manifest.storage, state), output
        ).committed:
            summary.commits += 1
        summary.already_ingested += len(unchanged)
    index = dedup.DedupIndex(manifest.storage, state)
    touched: set[str] = set()
    total = len(planned)
    done = 0
    if progress:
        progress(0, total, 0)
    settled: set[str] = set()
    ready: set[str] = set()
    batches = plan_batches(planned, batch_bytes, lanes, limits, filters)
    del planned  # the plan lets each listed object go once its batch is handed on
    for output in runner(source, manifest.storage, batches):
        output.source = source.uri
        output.filters = filters.filters.to_json() if filters is not None else None
        _account(summary, output, commit.commit_batch(manifest, state, index, output))
        touched.update(p.partition for p in output.parts if p.rows)
        if settle is not None:
            if ready:
                # Settled one batch late, while the workers go on with later batches: the
                # last batch's settled days are then left to the caller's final settle, which
                # can merge several partitions at once (here they would be merged one by one
                # after the workers had finished).
                index.forget(ready)  # their parts are replaced: free their ids first
                settle(ready)
                settled |= ready
            ready = _settled_partitions(output, touched - settled)
        done += len(output.objects)
        if progress:
            progress(done, total, summary.events_added)
    summary.seconds = time.monotonic() - started
    return touched


def _may_be_unchanged(known: ObjectRecord, obj: SourceObject) -> bool:
    """A new version of an object read before, of the same size, whose content CRC the log
    has: perhaps the same bytes (a touched or re-copied file)."""
    return (
        known.checksum is not None
        and not known.read_failed
        and known.size == obj.size
        and known.status in ("ingested", "empty")
        and obj.info.kind in _DECODED_KINDS
    )


def _same_content(
    source: Source, candidates: list[tuple[SourceObject, ObjectRecord]]
) -> tuple[list[ObjectRecord], list[SourceObject]]:
    """Split ``candidates`` into records of objects whose bytes are unchanged (with their new
    version) and objects that did change (or could not be read: the batch will say why)."""
    if not candidates:
        return [], []
    from trailscope.lake.sourcesums import content_checksum

    def same(item: tuple[SourceObject, ObjectRecord]) -> bool:
        obj, known = item
        try:
            return content_checksum(source.read(obj)) == known.checksum
        except SourceReadError:
            return False

    with ThreadPoolExecutor(max_workers=8) as pool:  # latency-bound on S3
        verdicts = list(pool.map(same, candidates))
    unchanged = [
        replace(known, uri=obj.uri, version=obj.version)
        for (obj, known), ok in zip(candidates, verdicts, strict=True)
        if ok
    ]
    changed = [obj for (obj, _), ok in zip(candidates, verdicts, strict=True) if not ok]
    return unchanged, changed


#: Days after a partition's own day that its events keep arriving in (delivery runs late).
SETTLE_AFTER_DAYS = 2


def _settled_partitions(output: BatchOutput, candidates: set[str]) -> set[str]:
    """Partitions (UTC days) at least SETTLE_AFTER_DAYS before the batch's delivery day."""
    days = [o.day for o in output.objects if o.day]
    if not days or not candidates:
        return set()
    cutoff = (date.fromisoformat(max(days)) - timedelta(days=SETTLE_AFTER_DAYS)).isoformat()
    return {p for p in candidates if p <= cutoff}


def _keep_digest_signatures(
    source: Source, digests: list[tuple[SourceObject, ObjectRecord]]
) -> None:
    """Record each digest's signature from its S3 metadata, so ``verify`` can check it later
    from the lake even when only a plain copy of the bucket (which loses it) is left."""
    if not digests or not source.has_metadata:
        return

    def fetch(item: tuple[SourceObject, ObjectRecord]) -> None:
        obj, rec = item
        try:
            meta = source.read_metadata(obj)
        except SourceReadError:
            return  # verify reports the signature as unavailable; nothing else depends on it
        rec.meta = {k: v for k, v in meta.items() if k in SIGNATURE_META} or None

    fetch(digests[0])  # first alone: the source makes its client once, not in every thread
    with ThreadPoolExecutor(max_workers=16) as pool:  # one HEAD each: latency-bound
        list(pool.map(fetch, digests[1:]))


class PoolRunner:
    """Batches in ``workers`` processes, each kept busy with at most one batch queued
    (bounded memory).

    Results come back in plan order, not completion order: when a re-delivered event sits in
    two batches, the copy kept is always the one from the first key listed, so the lake is the
    same whatever the number of workers or the batch size.

    A run of one batch (an incremental run, often) is decoded in this process: starting
    workers (about 0.3 s of imports each) would cost more than the batch, for no parallelism.
    Once listing has found enough for several batches, :meth:`start` launches the workers, so
    their imports overlap the rest of the listing instead of following it.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def start(self, source: Source, storage: Storage) -> None:
        """Launch the workers now; each imports the decoder while this process lists on."""
        if self._pool is not None:
            return
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=worker_context(source, storage),  # spawned; the caller's script not rerun
            initializer=_init_worker,
            initargs=(source, storage),
        )
        for _ in range(self.workers):  # one task each: the pool spawns a process per task
            self._pool.submit(_warm_worker)  # while this process still lists

    def close(self, *, wait: bool = True) -> None:
        """Shut the workers down (also those started for a run that then failed). ``wait``:
        until they have exited, so that none is still writing when the run ends."""
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None

    def __call__(
        self, source: Source, storage: Storage, batches: Iterator[Batch]
    ) -> Iterator[BatchOutput]:
        batches = iter(batches)
        first = list(islice(batches, 2))
        if len(first) < 2 and self._pool is None:
            yield from run_serial(source, storage, iter(first))
            return
        self.start(source, storage)
        pool = self._pool
        assert pool is not None
        try:
            pending: deque[Future[BatchOutput]] = deque()
            for batch in chain(first, batches):
                pending.append(pool.submit(_worker_batch, batch))
                if len(pending) >= self.workers * 2:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        except BaseException:
            self.close()
            raise
        # Every batch is done and the workers are idle: they exit (freeing their memory takes
        # about 40 ms) while this process commits on.
        self.close(wait=False)


def process_pool(workers: int) -> BatchRunner:
    """The default runner: :class:`PoolRunner`, or this process alone for one worker."""
    return PoolRunner(workers) if workers > 1 else run_serial


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)
