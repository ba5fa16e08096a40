"""The lake checks itself: every file the log names is there, whole and unchanged, and nothing
else is in its folders.

Each commit records, for every part and side-table version, its size, its rows and (since this
check exists) a CRC-32 of its bytes; Parquet pages carry their own CRCs. The quick check costs
one listing and a footer read per file: missing, truncated and replaced files, footers that do
not parse, files no commit names, and commits or checkpoints that do not decode. ``deep`` also
reads every byte and compares the file's CRC with the log's, which finds bytes altered in
place; a part from before CRCs were kept has every page decoded instead (checking Parquet's
page CRCs where it has them).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from trailscope.lake.manifest import (
    Commit,
    DamagedRecord,
    LakeState,
    Manifest,
    checkpoint_name,
)
from trailscope.lake.paths import (
    CHECKPOINT_DIR,
    EVENTS_DIR,
    LAST_CHECKPOINT,
    LOG_DIR,
    TABLES_DIR,
    staged_path,
)
from trailscope.lake.publish import unreferenced
from trailscope.lake.storage import Storage

log = logging.getLogger(__name__)

#: Bytes read at a time when a file's CRC is computed.
_CHUNK = 1 << 20


class ProblemKind(StrEnum):
    MISSING = "missing"
    TRUNCATED = "truncated"
    REPLACED = "replaced"
    ALTERED = "altered"
    UNREFERENCED = "unreferenced"
    DAMAGED_COMMIT = "damaged commit"
    DAMAGED_CHECKPOINT = "damaged checkpoint"


@dataclass
class Problem:
    """One thing wrong with the lake, by the file it is about."""

    kind: ProblemKind
    path: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"kind": str(self.kind), "path": self.path, "detail": self.detail}


@dataclass
class FileRecord:
    """What the log says about one live file."""

    path: str
    rows: int
    bytes: int
    checksum: str | None


def file_checksum(storage: Storage, rel: str) -> str:
    """CRC-32 of a file's bytes, as 8 hex digits."""
    crc = 0
    with storage.open_input(rel) as fh:
        while chunk := fh.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
    return f"{crc:08x}"


def buffer_checksum(data: bytes | memoryview | pa.Buffer) -> str:
    return f"{zlib.crc32(memoryview(data)):08x}"


def live_files(state: LakeState) -> list[FileRecord]:
    """Every part and side-table version ``state`` names."""
    out = [FileRecord(p.path, p.rows, p.bytes, p.checksum) for p in state.parts.values()]
    out += [FileRecord(t.path, t.rows, t.bytes, t.checksum) for t in state.tables.values()]
    return sorted(out, key=lambda r: r.path)


def check_file(
    storage: Storage, record: FileRecord, where: str, size: int | None, *, deep: bool
) -> Problem | None:
    """What is wrong with one live file, found at ``where`` (its final or its staged name)
    with ``size`` bytes (None: absent)."""
    if size is None:
        return Problem(ProblemKind.MISSING, record.path, "named by the log, not in the lake")
    try:
        with storage.open_input(where) as fh:
            meta = pq.ParquetFile(fh).metadata
    except (OSError, pa.ArrowException) as exc:
        if size < record.bytes:
            return Problem(
                ProblemKind.TRUNCATED, record.path, f"{size} bytes, the log says {record.bytes}"
            )
        return Problem(ProblemKind.ALTERED, record.path, f"footer unreadable: {_one_line(exc)}")
    if size != record.bytes or meta.num_rows != record.rows:
        return Problem(
            ProblemKind.REPLACED,
            record.path,
            f"{size} bytes and {meta.num_rows} rows, the log says {record.bytes} and {record.rows}",
        )
    if not deep:
        return None
    if record.checksum is not None:  # every byte, at the speed of reading them
        actual = file_checksum(storage, where)
        if actual != record.checksum:
            return Problem(
                ProblemKind.ALTERED, record.path, f"CRC {actual}, the log says {record.checksum}"
            )
        return None
    # a part written before parts kept a CRC: decode every page (with its CRC, where written)
    try:
        with storage.open_input(where) as fh:
            pq.ParquetFile(fh, page_checksum_verification=True).read()
    except (OSError, pa.ArrowException) as exc:
        return Problem(ProblemKind.ALTERED, record.path, f"pages unreadable: {_one_line(exc)}")
    return None


def check_log(storage: Storage) -> Iterator[Problem]:
    """Commits and checkpoints that do not decode."""
    for name in storage.list_dir(LOG_DIR):
        if name.startswith(".") or not name.endswith(".json"):
            continue
        rel = f"{LOG_DIR}/{name}"
        try:
            Commit.from_bytes(storage.read_bytes(rel))
        except (DamagedRecord, ValueError) as exc:
            yield Problem(ProblemKind.DAMAGED_COMMIT, rel, _one_line(exc))
    pointer: int | None = None
    try:
        pointer = int(orjson.loads(storage.read_bytes(LAST_CHECKPOINT))["version"])
    except FileNotFoundError:
        pass
    except (ValueError, KeyError, TypeError) as exc:
        yield Problem(ProblemKind.DAMAGED_CHECKPOINT, LAST_CHECKPOINT, _one_line(exc))
    for name in storage.list_dir(CHECKPOINT_DIR):
        if name.startswith(".") or not name.endswith(".json"):
            continue
        rel = f"{CHECKPOINT_DIR}/{name}"
        try:
            Commit.from_bytes(storage.read_bytes(rel))
        except (DamagedRecord, ValueError) as exc:
            yield Problem(ProblemKind.DAMAGED_CHECKPOINT, rel, _one_line(exc))
    if pointer is not None and not storage.exists(checkpoint_name(pointer)):
        yield Problem(
            ProblemKind.DAMAGED_CHECKPOINT,
            LAST_CHECKPOINT,
            f"points at checkpoint {pointer}, which is missing",
        )


def check(manifest: Manifest, state: LakeState | None, *, deep: bool = False) -> list[Problem]:
    """Everything wrong with the lake. ``state``: the lake's state if it could be loaded
    (files are then checked against it), None if the log itself is damaged."""
    storage = manifest.storage
    problems = list(check_log(storage))
    if state is None:
        return problems
    listed = _sizes(storage)
    live: set[str] = set()
    for record in live_files(state):
        staged = staged_path(record.path)
        where = staged if record.path not in listed and staged in listed else record.path
        live.add(where)
        problem = check_file(storage, record, where, listed.get(where), deep=deep)
        if problem is not None:
            problems.append(problem)
    for rel in unreferenced(storage, live):
        problems.append(Problem(ProblemKind.UNREFERENCED, rel, "no commit names it"))
    return problems


def _sizes(storage: Storage) -> dict[str, int]:
    return storage.list_sizes(EVENTS_DIR) | storage.list_sizes(TABLES_DIR)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
