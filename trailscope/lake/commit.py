"""Turning one finished batch into a commit: drop what the lake already has, claim the next
commit number, publish.

Where several writers share a lake (S3), two may race for the same commit number. The loser
catches up with the winner's commits and rebases: objects the winner already ingested are taken
out of its batch (with their rows), rows the winner's parts already hold are dropped as
re-deliveries, and it tries the next number. So concurrent writers neither lose nor duplicate
events, whatever the interleaving.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import accumulate
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from trailscope.decode.schema import FILE_SCHEMA, SOURCEKEY
from trailscope.lake import publish, writer
from trailscope.lake.manifest import LakeState, Manifest, ObjectRecord, PartRecord, new_commit
from trailscope.lake.storage import Storage
from trailscope.lake.transaction import committed_path

if TYPE_CHECKING:  # imported where used: ingest workers load this module but never need it
    import duckdb


@dataclass
class BatchOutput:
    """What one batch did, returned from a worker to the committing parent."""

    objects: list[ObjectRecord]
    parts: list[writer.StagedPart]
    eventids: list[pa.Array]
    duplicates: int = 0
    bytes_read: int = 0
    #: the source key of each object (the ``sourcekey`` of its rows), parallel to ``objects``
    keys: list[str] = field(default_factory=list)


class DedupIndex:
    """Event ids already in each partition, to drop re-deliveries.

    A partition's ids are loaded on first touch and then follow the state: parts that appear in
    it later (another writer's commits, caught up with) are read when next needed, so a shared
    lake's re-deliveries are caught whoever stored the first copy. Batches follow delivery
    days, so a partition not touched for :data:`KEEP_RECENT` commits is dropped from memory
    (and read again if a late file needs it): memory follows the days in flight, not the
    length of the trail.
    """

    #: commits a partition's ids stay in memory after their last use
    KEEP_RECENT = 12

    def __init__(self, storage: Storage, state: LakeState) -> None:
        self.storage = storage
        self.state = state
        #: per partition: (part path, its event ids), so a collision reads only the parts
        #: that hold the colliding ids
        self._ids: dict[str, list[tuple[str, pa.Array]]] = {}
        self._paths: dict[str, set[str]] = {}
        self._used: dict[str, int] = {}  # partition -> commit count at its last use
        self._commits = 0
        self._con: duckdb.DuckDBPyConnection | None = None

    def loaded(self) -> list[str]:
        return list(self._ids)

    def forget(self, partitions: set[str]) -> None:
        """Reload these partitions on next use (ids of uncommitted parts are dropped)."""
        for partition in partitions:
            self._ids.pop(partition, None)
            self._paths.pop(partition, None)
            self._used.pop(partition, None)

    def committed(self, parts: list[PartRecord]) -> None:
        """These parts' ids were added by ``filter_new``; do not read them again."""
        for part in parts:
            self._paths.setdefault(part.partition, set()).add(part.path)
        self._commits += 1
        self.forget({p for p, at in self._used.items() if self._commits - at > self.KEEP_RECENT})

    def _load(self, partition: str) -> list[tuple[str, pa.Array]]:
        self._used[partition] = self._commits
        ids = self._ids.setdefault(partition, [])
        seen = self._paths.setdefault(partition, set())
        for part in list(self.state.parts.values()):
            if part.partition == partition and part.path not in seen:
                readable = committed_path(self.storage, part.path)
                ids.append((part.path, read_ids(self.storage, readable)))
                seen.add(part.path)
        return ids

    def filter_new(self, part: writer.StagedPart, ids: pa.Array) -> tuple[pa.Array, int]:
        """Rewrite ``part`` without rows the lake already has; returns (ids kept, dropped)."""
        known = self._load(part.partition)
        if not known or len(ids) == 0:
            known.append((part.path, ids))
            return ids, 0
        # Hash the batch's ids (the small side) once and probe all of the partition's parts in
        # one call: a partition grows with the trail, and hashing it again for every batch
        # made the check cost O(partition) per batch (and one call per part, O(parts)).
        parts = pa.chunked_array([arr for _, arr in known], pa.string())
        mask = pc.is_in(parts, value_set=ids).combine_chunks()
        if not pc.any(mask).as_py():
            known.append((part.path, ids))
            return ids, 0
        hits = pc.indices_nonzero(mask).to_pylist()
        ends = list(accumulate(len(arr) for _, arr in known))
        holders, colliding = [], []
        for at in sorted({bisect_right(ends, i) for i in hits}):
            path, arr = known[at]
            holders.append(path)
            colliding.append(pc.filter(arr, mask.slice(ends[at] - len(arr), len(arr))))
        hit = pc.is_in(ids, value_set=pa.concat_arrays(colliding))
        dropped = self._drop_known_rows(part, ids, hit, holders)
        kept = read_ids(self.storage, part.tmp_path) if part.rows else pa.array([], pa.string())
        known.append((part.path, kept))
        return kept, dropped

    def _drop_known_rows(
        self, part: writer.StagedPart, ids: pa.Array, hit: pa.Array, holders: list[str]
    ) -> int:
        """The rare path: compare full rows of colliding ids with those of the parts that
        hold the same ids."""
        candidates = pc.filter(ids, hit)
        new = read_part(self.storage, part.tmp_path)
        if self._con is None:  # opened once: a connection costs about 20 ms
            from trailscope.duckconn import connect

            self._con = connect()
            # Kept for the whole run, so it must not keep what it read: its file cache grew
            # with every collision (+200 MB over 3M events).
            self._con.execute("SET enable_external_file_cache = false")
        rows = _rows_with_ids(self.storage, holders, candidates, self._con)
        known = set(writer.row_fingerprints(rows))
        cand_mask = pc.is_in(new.column("eventid"), value_set=candidates).to_pylist()
        keep = [True] * new.num_rows
        idx = [i for i, c in enumerate(cand_mask) if c]
        for i, fp in zip(idx, writer.row_fingerprints(new.take(idx)), strict=True):
            if fp in known:
                keep[i] = False
        dropped = keep.count(False)
        if dropped:
            rewrite_part(self.storage, part, new.filter(pa.array(keep)))
        return dropped


def read_ids(storage: Storage, rel: str) -> pa.Array:
    """One part's event ids: a single column, so a ranged read on S3."""
    with storage.open_input(rel) as fh:
        return pq.read_table(fh, columns=["eventid"]).column(0).combine_chunks()


def read_part(storage: Storage, rel: str) -> pa.Table:
    with storage.open_input(rel) as fh:
        return pq.read_table(fh, schema=FILE_SCHEMA)


def rewrite_part(storage: Storage, part: writer.StagedPart, table: pa.Table) -> None:
    """Replace a staged part's rows (under the same name, so its commit entry stays valid)."""
    storage.delete(part.tmp_path)
    rewritten = writer.write_part(storage, part.partition, table)
    storage.rename(rewritten.tmp_path, part.tmp_path)
    part.rows, part.bytes = rewritten.rows, rewritten.bytes


def _rows_with_ids(
    storage: Storage, rels: list[str], ids: pa.Array, con: duckdb.DuckDBPyConnection | None = None
) -> pa.Table:
    """Rows of these parts whose eventid is in ``ids``.

    Local files go to DuckDB's own reader, which pushes the filter into the scan and skips
    decoding other columns where nothing matches (about 3x faster than pyarrow); objects on S3
    are read through pyarrow's filesystem as a dataset, which DuckDB filters the same way.
    """
    import pyarrow.dataset as ds

    from trailscope.duckconn import connect

    own = con is None
    con = con or connect()
    try:
        con.register("candidate_ids", pa.table({"id": ids}))
        if storage.is_local:
            listed = ", ".join("'" + storage.fs_path(r).replace("'", "''") + "'" for r in rels)
            source = f"read_parquet([{listed}], hive_partitioning = false)"
        else:
            paths = [storage.fs_path(committed_path(storage, r)) for r in rels]
            con.register(
                "parts", ds.dataset(paths, schema=FILE_SCHEMA, filesystem=storage.filesystem)
            )
            source = "parts"
        sql = f"SELECT * FROM {source} WHERE eventid IN (SELECT id FROM candidate_ids)"
        return con.sql(sql).to_arrow_table().cast(FILE_SCHEMA)
    finally:
        if own:
            con.close()


@dataclass
class CommitResult:
    """What a batch's commit changed, for the run's summary."""

    committed: bool
    adds: list[PartRecord]
    objects: list[ObjectRecord]
    duplicates_dropped: int
    #: objects another writer ingested first (their rows were taken out of this batch)
    taken_by_others: int


def commit_batch(
    manifest: Manifest, state: LakeState, index: DedupIndex, output: BatchOutput
) -> CommitResult:
    """Dedup against the lake, commit durably (rebasing if another writer got there first),
    then publish the batch's parts."""
    storage = manifest.storage
    ids = list(output.eventids)
    dropped = 0

    def dedup(parts: list[int]) -> None:
        nonlocal dropped
        for i in parts:
            part = output.parts[i]
            if part.rows:
                ids[i], n = index.filter_new(part, ids[i])
                dropped += n

    def dedup_all() -> None:
        _retrying_on_vanished_parts(
            manifest, state, index, lambda: dedup(list(range(len(output.parts))))
        )

    if not storage.is_local:  # other writers: start from their latest commits
        manifest.refresh(state)
    dedup_all()
    commit = new_commit("ingest", objects=list(output.objects), add=_adds(output.parts))
    taken = 0

    def rebase(caught_up: LakeState) -> bool:
        """Another writer committed first: take out what it already has, then try again."""
        nonlocal taken
        keys_by_id = dict(zip((o.id for o in output.objects), output.keys, strict=False))
        mine = [o for o in commit.objects if not caught_up.is_current(o.id, o.version)]
        gone = {keys_by_id[o.id] for o in commit.objects if o not in mine and o.id in keys_by_id}
        taken += len(commit.objects) - len(mine)
        if gone:
            for part in output.parts:
                if part.rows:
                    _drop_rows_from(storage, part, gone)
        index.forget({p.partition for p in output.parts})
        ids[:] = [
            read_ids(storage, p.tmp_path) if p.rows else pa.array([], pa.string())
            for p in output.parts
        ]
        dedup_all()
        commit.objects = mine
        commit.add = _adds(output.parts)
        return bool(commit.objects)

    storage.fsync_tree([p.tmp_path for p in output.parts if p.rows])
    committed = manifest.append_rebased(state, commit, still_valid=rebase)
    for part in output.parts:
        if part.rows == 0 or not committed:
            storage.delete(part.tmp_path)
    if committed:
        index.committed(commit.add)
        publish.publish(
            storage,
            commit.published_paths(),
            commit.remove,
            lambda: manifest.published(state, commit),
        )
    return CommitResult(committed, commit.add, commit.objects, dropped, taken)


def _retrying_on_vanished_parts(
    manifest: Manifest, state: LakeState, index: DedupIndex, work: Callable[[], None]
) -> None:
    """Run ``work``, which reads the lake's parts; if another writer's compaction retired a
    part meanwhile (the read fails), catch up with its commit and run it again. A read can
    also fail with nothing new to catch up with, when it met a part in the moment another
    writer renamed it from its staged name: that is retried a few times after a short pause."""
    if manifest.storage.is_local:
        # One writer at a time: a failed read is a real failure. (Nor is DuckDB imported
        # into the committing process for nothing: about 0.2 s and 30 MB.)
        work()
        return
    import duckdb

    unexplained = 0
    for _ in range(20):
        try:
            work()
            return
        except (OSError, duckdb.Error):
            if not manifest.refresh(state):
                unexplained += 1
                if unexplained > 3:
                    raise  # nothing changed: the failure is real
                time.sleep(0.2 * unexplained)
            index.forget(set(state.parts_by_partition()) | set(index.loaded()))
    work()


def _adds(parts: list[writer.StagedPart]) -> list[PartRecord]:
    return [PartRecord(p.path, p.partition, p.rows, p.bytes) for p in parts if p.rows]


def _drop_rows_from(storage: Storage, part: writer.StagedPart, keys: set[str]) -> None:
    table = read_part(storage, part.tmp_path)
    theirs = pc.is_in(table.column(SOURCEKEY), value_set=pa.array(sorted(keys), pa.string()))
    if pc.any(theirs).as_py():
        rewrite_part(storage, part, table.filter(pc.invert(theirs)))
