"""Turning one finished batch into a commit: drop what the lake already has, then commit it as
one :class:`~trailscope.lake.transaction.Transaction`.

Where several writers share a lake (S3), two may race for the same commit number. The loser
catches up with the winner's commits and rebases: objects the winner already ingested are taken
out of its batch (with their rows), rows the winner's parts already hold are dropped as
re-deliveries, and it tries the next number. So concurrent writers neither lose nor duplicate
events, whatever the interleaving.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from trailscope.decode.schema import SOURCEKEY
from trailscope.lake import writer
from trailscope.lake.dedup import DedupIndex, read_ids, read_part
from trailscope.lake.manifest import LakeState, Manifest, ObjectRecord, PartRecord
from trailscope.lake.storage import Storage
from trailscope.lake.transaction import Transaction, read_retrying

log = logging.getLogger(__name__)


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
    #: the source the batch was read from (recorded in the commit: repair reads it again)
    source: str | None = None
    #: events the lake's ingest filters left out
    filtered: int = 0
    #: those filters as saved (recorded in the commit: repair applies them again)
    filters: dict[str, object] | None = None


def rewrite_part(storage: Storage, part: writer.StagedPart, table: pa.Table) -> None:
    """Replace a staged part's rows (under the same name, so its commit entry stays valid)."""
    storage.delete(part.tmp_path)
    rewritten = writer.write_part(storage, part.partition, table)
    storage.rename(rewritten.tmp_path, part.tmp_path)
    part.rows, part.bytes, part.checksum = rewritten.rows, rewritten.bytes, rewritten.checksum


@dataclass
class CommitResult:
    """What a batch's commit changed, for the run's summary."""

    committed: bool
    adds: list[PartRecord]
    objects: list[ObjectRecord]
    duplicates_dropped: int
    #: objects another writer ingested first (their rows were taken out of this batch)
    taken_by_others: int
    #: rows of days before the lake's purge horizon, left out
    purged: int = 0


def commit_batch(
    manifest: Manifest, state: LakeState, index: DedupIndex, output: BatchOutput
) -> CommitResult:
    """Drop rows the lake already holds, then commit the batch (rebasing if another writer
    got there first) and publish its parts."""
    storage = manifest.storage
    ids = list(output.eventids)
    dropped = 0

    def drop_copies_in_batch() -> None:
        nonlocal dropped
        for i, part in enumerate(output.parts):
            if part.rows:
                ids[i], n = drop_stored_copies(storage, index, part, ids[i])
                dropped += n

    def dedup() -> None:
        every = lambda: index.forget(set(state.parts_by_partition()) | set(index.loaded()))  # noqa: E731
        read_retrying(manifest, state, drop_copies_in_batch, caught_up=every)

    taken = 0
    purged = 0

    def leave_out_purged_days() -> None:
        nonlocal purged
        horizon = state.purged_before
        for part in output.parts:
            if horizon and part.rows and part.partition < horizon:
                purged += part.rows
                part.rows = 0  # deleted by _stage_parts, with the parts left empty

    def rebase(tx: Transaction, caught_up: LakeState) -> bool:
        """Another writer committed first: take out what it already has, then try again."""
        nonlocal taken
        keys_by_id = dict(zip((o.id for o in output.objects), output.keys, strict=False))
        mine = [o for o in tx.objects if not caught_up.is_current(o.id, o.version)]
        gone = {keys_by_id[o.id] for o in tx.objects if o not in mine and o.id in keys_by_id}
        taken += len(tx.objects) - len(mine)
        if gone:
            for part in output.parts:
                if part.rows:
                    _drop_rows_from(storage, part, gone)
        leave_out_purged_days()  # the winner may have been a purge
        index.forget({p.partition for p in output.parts})
        ids[:] = [
            read_ids(storage, p.tmp_path) if p.rows else pa.array([], pa.string())
            for p in output.parts
        ]
        dedup()
        tx.set_objects(mine)
        _stage_parts(tx, output.parts)
        return bool(mine)

    info: dict[str, object] = {"source": output.source} if output.source else {}
    if output.filters:
        info["filters"] = output.filters
        info["filtered"] = output.filtered
    tx = Transaction(manifest, state, "ingest", info=info, rebase=rebase)
    for part in output.parts:
        tx.staged(part.tmp_path)  # deleted unless committed, whatever happens next
    if not storage.is_local:  # other writers: start from their latest commits
        manifest.refresh(state)
    leave_out_purged_days()
    try:
        dedup()
    except BaseException:
        tx.abort()
        raise
    tx.set_objects(output.objects)
    _stage_parts(tx, output.parts)
    committed = tx.commit()
    if committed:
        index.committed(tx.adds)
    return CommitResult(committed, tx.adds, tx.objects, dropped, taken, purged)


def _stage_parts(tx: Transaction, parts: list[writer.StagedPart]) -> None:
    """The batch's parts with rows go into the commit; those left empty are deleted."""
    for part in parts:
        if not part.rows:
            tx.unstage(part.tmp_path)
    tx.set_parts(
        [PartRecord(p.path, p.partition, p.rows, p.bytes, p.checksum) for p in parts if p.rows]
    )


def drop_stored_copies(
    storage: Storage, index: DedupIndex, part: writer.StagedPart, ids: pa.Array
) -> tuple[pa.Array, int]:
    """Rewrite ``part`` without rows the lake already holds; returns (ids kept, dropped)."""
    found = index.copies_of_stored(part.partition, part.path, part.tmp_path, ids)
    if found is None:
        return ids, 0
    table, copies = found
    rewrite_part(storage, part, without_rows(table, copies))
    kept = read_ids(storage, part.tmp_path) if part.rows else pa.array([], pa.string())
    index.replace_ids(part.partition, part.path, kept)
    del table, found
    # The part's rows were read whole beside the workers: give the allocator's pages back.
    pa.default_memory_pool().release_unused()
    dropped = int(pc.sum(copies).as_py() or 0)
    log.debug("%d stored copies dropped from a part of %s", dropped, part.partition)
    return kept, dropped


def without_rows(table: pa.Table, drop: pa.Array) -> pa.Table:
    """``table`` without the rows ``drop`` marks, as slices of it rather than a filtered copy:
    the rows dropped are few, and a copy doubled the memory of rewriting a part beside the
    workers (measured in docs/lake.md, "Dense days: memory")."""
    pieces = []
    start = 0
    for row in pc.indices_nonzero(pc.fill_null(drop, False)).to_pylist():
        if row > start:
            pieces.append(table.slice(start, row - start))
        start = row + 1
    if start < table.num_rows:
        pieces.append(table.slice(start))
    return pa.concat_tables(pieces) if pieces else table.slice(0, 0)


def _drop_rows_from(storage: Storage, part: writer.StagedPart, keys: set[str]) -> None:
    table = read_part(storage, part.tmp_path)
    theirs = pc.is_in(table.column(SOURCEKEY), value_set=pa.array(sorted(keys), pa.string()))
    if pc.any(theirs).as_py():
        rewrite_part(storage, part, table.filter(pc.invert(theirs)))
