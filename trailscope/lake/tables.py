"""Side tables: small named tables kept beside ``cloudtrail`` and committed like its parts.

Each version of a side table is one Parquet file, ``tables/<name>/v-<id>.parquet``, named by
a commit (``tables`` in the commit record) and so read from the same snapshot as the events:
a reader that opens the lake at commit N sees the events and every side table as of N. A new
version is staged, made durable, committed and published like a part; the version it replaces
is retired. The lake knows the tables' names only; what a table means belongs to its owner.
"""

from __future__ import annotations

import logging
import re
import uuid
import zlib
from collections.abc import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from trailscope.errors import LakeError
from trailscope.lake.manifest import LakeState, Manifest, TableRecord
from trailscope.lake.paths import SIDE_TABLES, TABLES_DIR, staged_path
from trailscope.lake.storage import Storage
from trailscope.lake.transaction import Transaction, committed_path, read_retrying

log = logging.getLogger(__name__)

_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")

#: A change to a side table: its current version (None if never written) -> the new one.
Change = Callable[[pa.Table | None], pa.Table]


def check_name(name: str) -> str:
    """``name`` if it is a side table's; a clear error otherwise."""
    if name not in SIDE_TABLES or not _NAME.fullmatch(name):
        raise LakeError(
            f"no side table named {name!r}",
            hint="side tables are " + ", ".join(sorted(SIDE_TABLES)),
        )
    return name


def read_table(storage: Storage, state: LakeState, name: str) -> pa.Table | None:
    """The version of ``name`` that ``state`` names; None if it was never written."""
    record = state.tables.get(check_name(name))
    if record is None:
        return None
    with storage.open_input(committed_path(storage, record.path)) as fh:
        return pq.read_table(fh)


def stage_table(storage: Storage, name: str, table: pa.Table) -> TableRecord:
    """Write a new version of ``name`` under its staged (hidden) name."""
    record = TableRecord(name, f"{TABLES_DIR}/{name}/v-{uuid.uuid4().hex}.parquet", 0, 0)
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer, compression="zstd", write_page_checksum=True)
    data = buffer.getvalue()
    with storage.open_output(staged_path(record.path)) as sink:
        sink.write(data)
    record.rows = table.num_rows
    record.bytes = data.size
    record.checksum = f"{zlib.crc32(memoryview(data)):08x}"
    return record


def update_table(
    manifest: Manifest, state: LakeState, name: str, change: Change, *, operation: str
) -> pa.Table:
    """Read the committed version of ``name``, apply ``change``, commit the result.

    On losing the commit race to another writer, ``change`` is applied again to the version
    that writer committed, so concurrent updates compose instead of overwriting each other.
    Returns the version committed.
    """
    check_name(name)
    if not manifest.storage.is_local:
        manifest.refresh(state)  # other writers: start from their latest commit
    result: list[pa.Table] = []

    def apply(tx: Transaction, current_state: LakeState) -> bool:
        current = read_retrying(
            manifest, current_state, lambda: read_table(manifest.storage, current_state, name)
        )
        new = change(current)
        if not isinstance(new, pa.Table):
            raise TypeError(f"a change to side table {name} must return a pyarrow.Table")
        tx.put_table(stage_table(manifest.storage, name, new))
        result[:] = [new]
        return True

    tx = Transaction(manifest, state, operation, info={"table": name}, rebase=apply)
    try:
        apply(tx, state)
    except BaseException:
        tx.abort()
        raise
    tx.commit()
    log.debug("side table %s: %d rows committed", name, result[0].num_rows)
    return result[0]


def read_all(storage: Storage, state: LakeState) -> dict[str, pa.Table]:
    """Every side table ``state`` names, by name (what engines show beside ``cloudtrail``)."""
    out = {}
    for name in sorted(state.tables):
        table = read_table(storage, state, name)
        if table is not None:
            out[name] = table
    return out
