"""Keep each partition to a few well-sized files.

Incremental ingest every few minutes adds a small part per touched day. When a partition holds
more than ``max_files`` parts, the smallest ones are merged, just enough of them to get back to
``max_files``: like a binary counter, each row is rewritten only O(log n) times, instead of the
whole day being rewritten on every run. Merging streams row groups, so memory stays bounded by
one row group whatever the partition's size.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from trailscope.decode.schema import BATCH_SCHEMA, DICTIONARY_PATHS
from trailscope.lake import writer
from trailscope.lake.check import file_checksum
from trailscope.lake.manifest import LakeState, Manifest, PartRecord
from trailscope.lake.storage import Storage
from trailscope.lake.transaction import Transaction

MAX_FILES = 4
#: About 120 MB of Parquet: large enough for efficient scans, small enough to rewrite.
TARGET_ROWS = 1_000_000
#: The largest merge ingest runs while its workers decode; larger ones wait for the end of the
#: run, since a merge's row group and writer beside the workers of dense days cost too much
#: memory (measured in docs/lake.md). Ordinary trails' days stay below it.
IN_RUN_MAX_MERGE_ROWS = 1_000_000
#: Rows read from a part at a time. A row group is gathered from several reads, cut where it
#: fills up; reading whole row groups let up to 100k rows pile up before each write.
READ_BATCH_ROWS = 16 * 1024


@dataclass
class CompactionPlan:
    partition: str
    merge: list[PartRecord]


def plan(
    state: LakeState,
    partitions: set[str] | None = None,
    *,
    max_files: int = MAX_FILES,
    full: bool = False,
    max_rows: int | None = None,
) -> list[CompactionPlan]:
    """Which parts to merge in which partitions (``full``: every small part; ``max_rows``:
    only merges of at most that many rows)."""
    out = []
    for partition, parts in sorted(state.parts_by_partition().items()):
        if partitions is not None and partition not in partitions:
            continue
        small = sorted((p for p in parts if p.rows < TARGET_ROWS // 2), key=lambda p: p.rows)
        if full:
            chosen = small
        elif len(parts) > max_files:
            chosen = small[: len(parts) - max_files + 1]
        else:
            chosen = []
        if max_rows is not None and sum(p.rows for p in chosen) > max_rows:
            continue
        if len(chosen) >= 2:
            out.append(CompactionPlan(partition, chosen))
    return out


def merge_parts(storage: Storage, item: CompactionPlan) -> list[writer.StagedPart]:
    """Stream the chosen parts into staged files of at most TARGET_ROWS rows."""
    sources = sorted(item.merge, key=lambda p: _min_time(storage, p.path))
    out: list[writer.StagedPart] = []
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    sink: _Sink | None = None

    def flush() -> None:
        nonlocal pending_rows, sink
        if not pending_rows:
            return
        if sink is None:
            sink = _Sink(storage, item.partition)
        sink.write(_in_lake_order(pending))
        pending_rows = 0
        # The allocator keeps freed row groups' pages otherwise: about 40 MB more resident at
        # the peak of a 300k-row merge, whose live Arrow memory is under 80 MB.
        pa.default_memory_pool().release_unused()
        if sink.rows >= TARGET_ROWS:
            out.append(sink.close())
            sink = None

    for part in sources:
        with storage.open_input(part.path) as fh:
            # Repeating strings stay dictionaries from file to file: 45 % less CPU and a
            # third less memory than expanding them (measured on a 430k-row merge).
            reader = pq.ParquetFile(fh, read_dictionary=DICTIONARY_PATHS)
            for batch in _reads(reader):
                if batch.schema != BATCH_SCHEMA:
                    batch = batch.cast(BATCH_SCHEMA)
                while batch.num_rows:  # whole row groups: cut a read where one fills up
                    room = writer.ROW_GROUP_ROWS - pending_rows
                    pending.append(batch.slice(0, room))
                    pending_rows += pending[-1].num_rows
                    batch = batch.slice(room)
                    if pending_rows >= writer.ROW_GROUP_ROWS:
                        flush()
    flush()
    if sink is not None:
        out.append(sink.close())
    return out


def _reads(reader: pq.ParquetFile) -> Iterator[pa.RecordBatch]:
    """A part's rows, READ_BATCH_ROWS at a time, row group by row group: a read that spans two
    row groups fails for nested columns ("Nested data conversions not implemented for chunked
    array outputs")."""
    for group in range(reader.num_row_groups):
        yield from reader.iter_batches(batch_size=READ_BATCH_ROWS, row_groups=[group])


def _in_lake_order(batches: list[pa.RecordBatch]) -> pa.Table:
    """The rows of ``batches`` (emptied) in the lake's order, reordered column by column: each
    source column is let go once reordered, so the merge holds one copy of the rows plus one
    column, not two copies (a 300k-row merge peaked at 147 MB of Arrow memory, now 78, for
    no more CPU than reordering the whole table at once)."""
    table = pa.Table.from_batches(batches, schema=BATCH_SCHEMA)
    batches.clear()
    order = writer.lake_order(table)
    columns = table.columns
    del table
    for i, column in enumerate(columns):
        columns[i] = column.take(order)
    return pa.Table.from_arrays(columns, schema=BATCH_SCHEMA)


def _min_time(storage: Storage, rel: str) -> str:
    with storage.open_input(rel) as fh:
        meta = pq.ParquetFile(fh).metadata
    idx = meta.schema.to_arrow_schema().get_field_index("eventtime")
    stats = [meta.row_group(i).column(idx).statistics for i in range(meta.num_row_groups)]
    mins = [s.min for s in stats if s is not None and s.has_min_max]
    return min(mins) if mins else ""


class _Sink:
    """One output file being written row group by row group."""

    def __init__(self, storage: Storage, partition: str) -> None:
        self.part = writer.new_staged_part(partition)
        self.storage = storage
        self.sink = storage.open_output(self.part.tmp_path)
        self.writer = pq.ParquetWriter(self.sink, BATCH_SCHEMA, **writer.PARQUET_OPTIONS)
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table, row_group_size=writer.ROW_GROUP_ROWS)
        self.rows += table.num_rows

    def close(self) -> writer.StagedPart:
        self.writer.close()
        self.sink.close()
        self.part.rows = self.rows
        self.part.bytes = self.storage.size(self.part.tmp_path)
        self.part.checksum = file_checksum(self.storage, self.part.tmp_path)
        return self.part


def compact(
    manifest: Manifest,
    state: LakeState,
    partitions: set[str] | None = None,
    *,
    full: bool = False,
    parallel: int = 1,
) -> int:
    """Merge per plan, one commit per partition; returns how many partitions changed."""
    return len(compact_each(manifest, state, partitions, full=full, parallel=parallel))


def compact_each(
    manifest: Manifest,
    state: LakeState,
    partitions: set[str] | None = None,
    *,
    full: bool = False,
    parallel: int = 1,
    max_rows: int | None = None,
) -> set[str]:
    """Like :func:`compact`; returns the partitions that changed. ``max_rows``: leave merges
    of more rows for later (see :data:`IN_RUN_MAX_MERGE_ROWS`).

    ``parallel``: partitions merged at once, each in a thread (pyarrow reads, sorts and
    writes without the GIL). Only where nothing else needs the cores and memory: ingest
    compacts one partition at a time while its workers run (two merges at once saved 0.3 s
    on 1M events but held two merges' row groups in memory beside the workers, +450 MB at 3M
    events), and with ``parallel`` when they have finished.
    """
    storage = manifest.storage
    changed: set[str] = set()
    items = plan(state, partitions, full=full, max_rows=max_rows)
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        # At most ``parallel`` merges staged ahead of the commits, which stay in plan order
        # in this thread (the manifest takes one commit at a time).
        staging: deque[tuple[CompactionPlan, Future[list[writer.StagedPart] | None]]] = deque()
        for item in items:
            staging.append((item, pool.submit(_stage_merge, storage, item)))
            if len(staging) >= parallel:
                _commit_next(manifest, state, staging, changed)
        while staging:
            _commit_next(manifest, state, staging, changed)
    return changed


def _commit_next(
    manifest: Manifest,
    state: LakeState,
    staging: deque[tuple[CompactionPlan, Future[list[writer.StagedPart] | None]]],
    changed: set[str],
) -> None:
    item, future = staging.popleft()
    staged = future.result()
    if staged is not None and _commit_merge(manifest, state, item, staged):
        changed.add(item.partition)
    # Give the merge's buffers back: ingest compacts while its workers run, and the
    # allocator would otherwise keep the largest merge's memory for the rest of the run.
    pa.default_memory_pool().release_unused()


def _stage_merge(storage: Storage, item: CompactionPlan) -> list[writer.StagedPart] | None:
    """One partition's chosen parts merged into staged files; None if they are gone."""
    try:
        staged = merge_parts(storage, item)
    except OSError:
        if storage.is_local:
            raise
        return None  # another writer compacted this partition meanwhile; it is in good hands
    storage.fsync_tree([p.tmp_path for p in staged])
    return staged


def _commit_merge(
    manifest: Manifest, state: LakeState, item: CompactionPlan, staged: list[writer.StagedPart]
) -> int:
    """Commit one partition's merged parts; 1 if the partition changed (0 if another writer
    compacted these parts first)."""
    tx = Transaction(
        manifest,
        state,
        "compact",
        info={"partition": item.partition, "merged": len(item.merge)},
        rebase=lambda _tx, caught_up: all(p.path in caught_up.parts for p in item.merge),
    )
    tx.set_parts([PartRecord(p.path, p.partition, p.rows, p.bytes, p.checksum) for p in staged])
    tx.remove_parts([p.path for p in item.merge])
    return int(tx.commit())
