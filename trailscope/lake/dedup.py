"""De-duplication, in one place: what makes a row a copy of another, and the lake's memory of
which event ids each partition holds.

CloudTrail can deliver an event twice. Two rows are copies when every column but the source
key holds the same content (JSON texts compared as JSON). Copies inside a batch are found in
the worker, as neighbours in time order (:func:`copies_in_sorted_runs`); copies of rows the lake
already holds are found by the committing process (:class:`DedupIndex`). Two *different* events
that share an ``eventid`` are both kept.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from trailscope.decode.schema import (
    BATCH_SCHEMA,
    DICTIONARY_PATHS,
    EVENT_FIELDS,
    EVENTTIME_TS,
    EXTRA,
    FILE_SCHEMA,
    SOURCEKEY,
    Kind,
)
from trailscope.lake.manifest import LakeState, PartRecord
from trailscope.lake.storage import Storage
from trailscope.lake.transaction import committed_path

if TYPE_CHECKING:  # imported where used: ingest workers load this module but never need it
    import duckdb


def copies_in_sorted_runs(
    table: pa.Table,
    order: pa.Array,
    reference_rows: int,
    materialize: Callable[[pa.Table], pa.Table] | None = None,
) -> list[tuple[int, int]]:
    """(position in ``order``, row in ``table``) of each row that repeats an earlier row of
    its run of equal (time, id)."""
    n = len(order)
    if n < 2:
        return []
    ts = table.column(EVENTTIME_TS).take(order)
    ids = table.column("eventid").take(order)
    later, earlier = ids.slice(1), ids.slice(0, n - 1)
    same_id = pc.or_kleene(
        pc.equal(later, earlier), pc.and_(pc.is_null(later), pc.is_null(earlier))
    )
    same = pc.and_(pc.equal(ts.slice(1), ts.slice(0, n - 1)), same_id)
    hits = pc.indices_nonzero(pc.fill_null(same, False)).to_pylist()
    if not hits:
        return []
    runs: list[list[int]] = []
    for i in hits:  # sorted row i+1 has the key of row i
        if runs and runs[-1][-1] == i:
            runs[-1].append(i + 1)
        else:
            runs.append([i, i + 1])
    positions = [p for run in runs for p in run]
    originals = order.take(pa.array(positions)).to_pylist()
    # One-row slices, not take(): take would first concatenate every column of the batch
    # (unifying the decode chunks' dictionaries) to pick a few dozen rows.
    picked = pa.concat_tables([table.slice(i, 1) for i in originals])
    alike = runs_stored_alike(picked, runs)
    copies: list[tuple[int, int]] = []
    unsure: list[int] = []  # rows of ``picked`` in runs that need the full comparison
    at = 0
    for run, same in zip(runs, alike, strict=True):
        if same:  # every later row is stored exactly as the first: all copies
            copies.extend((p, originals[at + j]) for j, p in enumerate(run) if j)
        else:
            unsure.extend(range(at, at + len(run)))
        at += len(run)
    if not unsure:
        return copies
    rows = picked.take(unsure)
    if materialize is not None:
        rows = materialize(rows)
    prints = iter(zip(unsure, row_fingerprints(rows), strict=True))
    for run, same in zip(runs, alike, strict=True):
        if same:
            continue
        seen: set[bytes] = set()
        for position in run:
            row, fingerprint = next(prints)
            if fingerprint in seen:
                copies.append((position, originals[row]))
            else:
                seen.add(fingerprint)
    return copies


def runs_stored_alike(picked: pa.Table, runs: list[list[int]]) -> list[bool]:
    """For each run (consecutive rows of ``picked``), whether every later row holds exactly
    the values of its first row in every column but the source key.

    Values equal as stored are equal in content, so such rows are copies without building
    their fingerprints in Python (about 0.2 ms a row: 4 % of a worker's CPU on the 1M trail).
    A run where some row differs as stored (JSON with its keys in another order, a nested
    value that is not the same text) goes to the full comparison; so does a column that
    cannot be compared here."""
    firsts: list[int] = []
    laters: list[int] = []
    owners: list[int] = []
    at = 0
    for k, run in enumerate(runs):
        for j in range(1, len(run)):
            firsts.append(at)
            laters.append(at + j)
            owners.append(k)
        at += len(run)
    rows = picked.drop_columns([SOURCEKEY]).combine_chunks()
    left, right = rows.take(firsts), rows.take(laters)
    same = pa.array([True] * len(firsts))
    for a, b in zip(left.columns, right.columns, strict=True):
        if pa.types.is_dictionary(a.type):
            a, b = a.cast(a.type.value_type), b.cast(b.type.value_type)
        if pa.types.is_nested(a.type):
            same = pa.array([False] * len(firsts))
            break
        equal = pc.fill_null(pc.equal(a, b), False)
        both_null = pc.and_(pc.is_null(a), pc.is_null(b))
        same = pc.and_(same, pc.or_(equal, both_null))
    alike = [True] * len(runs)
    for owner, ok in zip(owners, same.to_pylist(), strict=True):
        if not ok:
            alike[owner] = False
    return alike


def _fingerprint(row: dict[str, Any]) -> bytes:
    """Content identity: JSON text compared as JSON (key order and number spelling vary by
    producer and by decode path), everything else as stored."""
    items = []
    for key in sorted(row):
        value = row[key]
        if key in _JSON_COLUMNS and isinstance(value, str):
            value = _canonical_json(value)
        items.append((key, value))
    return repr(items).encode()


_JSON_COLUMNS = frozenset(f.name for f in EVENT_FIELDS if f.kind is Kind.JSON) | {EXTRA}


def _canonical_json(text: str) -> str | bytes:
    try:
        return orjson.dumps(orjson.loads(text), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        return text  # a plain string stored in a JSON column


def row_fingerprints(table: pa.Table) -> list[bytes]:
    """Content identity of rows, ignoring where they came from (for cross-batch dedup)."""
    return [_fingerprint(r) for r in table.drop_columns([SOURCEKEY]).to_pylist()]


#: Odd 64-bit multipliers, one per 4-byte word of a 36-character id (fixed: keys are compared
#: within one process only, but a fixed choice keeps runs reproducible).
_KEY_MULTIPLIERS = (
    0x9E3779B97F4A7C15,
    0xC2B2AE3D27D4EB4F,
    0x165667B19E3779F9,
    0xD6E8FEB86659FD93,
    0xFF51AFD7ED558CCD,
    0xC4CEB9FE1A85EC53,
    0x94D049BB133111EB,
    0xBF58476D1CE4E5B9,
    0x2545F4914F6CDD1D,
)
#: A canonical event id (a UUID as text) is 36 bytes: nine 4-byte words.
_ID_BYTES = 36


def id_keys(ids: pa.Array) -> pa.Array:
    """A 64-bit key for each 36-byte event id (CloudTrail's UUIDs), null for other ids.

    The dedup index keeps these instead of the ids: 8 bytes an id instead of about 40, so a
    day of 5 million events costs 40 MB instead of 200. The key is a sum of the id's nine
    4-byte words, each times an odd 64-bit constant (mod 2**64): ids that differ in one word
    never share a key, and a shared key only sends both ids to the full comparison, which
    compares the ids themselves. Computed in Arrow, column-wise (about 0.1 us an id)."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    n = len(ids)
    canonical = pc.fill_null(pc.equal(pc.binary_length(ids), _ID_BYTES), False)
    chosen = ids.filter(canonical)
    m = len(chosen)
    if m == 0:
        return pa.nulls(n, pa.uint64())
    chosen = chosen.cast(pa.binary())
    _, offsets, data = chosen.buffers()
    start = pa.Array.from_buffers(pa.int32(), 1, [None, offsets], offset=chosen.offset)[0].as_py()
    if start % 4:  # words must be aligned: copy the bytes to a buffer of their own
        data = pa.py_buffer(data.to_pybytes()[start : start + m * _ID_BYTES])
        start = 0
    words = pa.Array.from_buffers(pa.uint32(), m * 9, [None, data], offset=start // 4)
    row_starts = pc.multiply(pc.indices_nonzero(pc.is_null(pa.nulls(m))), 9)
    key = None
    for j, factor in enumerate(_KEY_MULTIPLIERS):
        word = pc.cast(words.take(pc.add(row_starts, j)), pa.uint64())
        term = pc.multiply(word, pa.scalar(factor, pa.uint64()))
        key = term if key is None else pc.add(key, term)
    assert key is not None
    if m == n:
        return key
    # back in place among the other ids (null where an id is not canonical)
    at = pc.subtract(pc.cumulative_sum(pc.cast(canonical, pa.int64())), 1)
    return pc.if_else(canonical, key.take(pc.max_element_wise(at, 0)), None)


@dataclass
class PartIds:
    """The event ids of one part as the index keeps them: 64-bit keys of canonical ids
    (:func:`id_keys`), and every other id (hand-made, null) as it is."""

    keys: pa.Array
    others: pa.Array

    @classmethod
    def of(cls, ids: pa.Array) -> PartIds:
        keys = id_keys(ids)
        ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
        others = ids.filter(pc.is_null(keys)) if keys.null_count else pa.array([], pa.string())
        return cls(keys.drop_null() if keys.null_count else keys, others.cast(pa.string()))

    @property
    def nbytes(self) -> int:
        return int(self.keys.nbytes + self.others.nbytes)


class DedupIndex:
    """Event ids already in each partition, to drop re-deliveries.

    A partition's ids are loaded on first touch and then follow the state: parts that appear in
    it later (another writer's commits, caught up with) are read when next needed, so a shared
    lake's re-deliveries are caught whoever stored the first copy. Batches follow delivery
    days, so a partition not touched for :data:`KEEP_RECENT` commits is dropped from memory
    (and read again if a late file needs it): memory follows the days in flight, not the
    length of the trail. Ids are kept as 64-bit keys (:class:`PartIds`), so a dense day (5
    million events) costs the committing process 40 MB, not 200.
    """

    #: commits a partition's ids stay in memory after their last use
    KEEP_RECENT = 12

    def __init__(self, storage: Storage, state: LakeState) -> None:
        self.storage = storage
        self.state = state
        #: per partition: (part path, its event ids), so a collision reads only the parts
        #: that hold the colliding ids
        self._ids: dict[str, list[tuple[str, PartIds]]] = {}
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

    def nbytes(self) -> int:
        """Memory held by the ids kept (for benchmarks and tests)."""
        return sum(ids.nbytes for held in self._ids.values() for _, ids in held)

    def _load(self, partition: str) -> list[tuple[str, PartIds]]:
        self._used[partition] = self._commits
        ids = self._ids.setdefault(partition, [])
        seen = self._paths.setdefault(partition, set())
        for part in list(self.state.parts.values()):
            if part.partition == partition and part.path not in seen:
                readable = committed_path(self.storage, part.path)
                ids.append((part.path, PartIds.of(read_ids(self.storage, readable))))
                seen.add(part.path)
        return ids

    def copies_of_stored(
        self, partition: str, path: str, staged: str, ids: pa.Array
    ) -> tuple[pa.Table, pa.Array] | None:
        """Rows of the staged part at ``staged`` (final name ``path``, event ids ``ids``) that
        the lake already holds: None if there are none, else the part's rows and a mask of
        the copies. The part's ids are remembered as ``path``'s (call :meth:`replace_ids`
        if the caller rewrites it)."""
        known = self._load(partition)
        mine = PartIds.of(ids)
        if not known or len(ids) == 0:
            known.append((path, mine))
            return None
        # Hash the batch's keys (the small side) once and probe all of the partition's parts in
        # one call: a partition grows with the trail, and hashing it again for every batch
        # made the check cost O(partition) per batch (and one call per part, O(parts)).
        holders: set[str] = set()
        colliding: dict[str, list[pa.Array]] = {"keys": [], "others": []}
        for side in ("keys", "others"):
            held = [(holder, getattr(part, side)) for holder, part in known]
            probe = getattr(mine, side)
            if not len(probe) or not any(len(arr) for _, arr in held):
                continue
            column = pa.chunked_array([arr for _, arr in held], probe.type)
            mask = pc.is_in(column, value_set=probe).combine_chunks()
            if not pc.any(mask).as_py():
                continue
            hits = pc.indices_nonzero(mask).to_pylist()
            ends = list(accumulate(len(arr) for _, arr in held))
            for at in sorted({bisect_right(ends, i) for i in hits}):
                holder, arr = held[at]
                holders.add(holder)
                colliding[side].append(pc.filter(arr, mask.slice(ends[at] - len(arr), len(arr))))
        known.append((path, mine))
        if not holders:
            return None
        wanted = pa.array([False] * len(ids))
        if colliding["keys"]:
            keys = pa.concat_arrays(colliding["keys"])
            wanted = pc.or_(wanted, pc.fill_null(pc.is_in(id_keys(ids), value_set=keys), False))
        if colliding["others"]:
            others = pa.concat_arrays(colliding["others"])
            wanted = pc.or_(wanted, pc.fill_null(pc.is_in(ids, value_set=others), False))
        candidates = pc.filter(ids, wanted)
        table, copies = self._compare_rows(staged, candidates, sorted(holders))
        return (table, copies) if pc.any(copies).as_py() else None

    def replace_ids(self, partition: str, path: str, ids: pa.Array) -> None:
        """``path`` was rewritten: these are its ids now."""
        known = self._ids.get(partition, [])
        for i, (held, _) in enumerate(known):
            if held == path:
                known[i] = (path, PartIds.of(ids))

    def _compare_rows(
        self, staged: str, candidates: pa.Array, holders: list[str]
    ) -> tuple[pa.Table, pa.Array]:
        """The rare path: compare full rows of colliding ids with those of the parts that
        hold the same ids; returns the staged part's rows and a mask of its copies."""
        new = read_part(self.storage, staged)
        if self._con is None:  # opened once: a connection costs about 20 ms
            from trailscope.duckconn import connect

            self._con = connect()
            # Kept for the whole run, so it must not keep what it read: its file cache grew
            # with every collision (+200 MB over 3M events).
            self._con.execute("SET enable_external_file_cache = false")
        rows = rows_with_ids(self.storage, holders, candidates, self._con)
        known = set(row_fingerprints(rows))
        cand_mask = pc.is_in(new.column("eventid"), value_set=candidates).to_pylist()
        copies = [False] * new.num_rows
        idx = [i for i, c in enumerate(cand_mask) if c]
        for i, fp in zip(idx, row_fingerprints(new.take(idx)), strict=True):
            if fp in known:
                copies[i] = True
        return new, pa.array(copies, pa.bool_())


def read_ids(storage: Storage, rel: str) -> pa.Array:
    """One part's event ids: a single column, so a ranged read on S3."""
    with storage.open_input(rel) as fh:
        return pq.read_table(fh, columns=["eventid"]).column(0).combine_chunks()


def read_part(storage: Storage, rel: str) -> pa.Table:
    """A part's rows, repeating strings as dictionaries (as compaction reads them): a third of
    the memory of plain strings, for the rare rewrite of a part beside the workers."""
    with storage.open_input(rel) as fh:
        table = pq.read_table(fh, read_dictionary=DICTIONARY_PATHS)
    return table if table.schema == BATCH_SCHEMA else table.cast(BATCH_SCHEMA)


def rows_with_ids(
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
