"""Which source objects are in the lake, which part files are live: an append-only commit log.

Each commit is one small JSON file, ``_trailscope/log/<version>.json``, created only if absent.
A commit names the source objects it ingested (with their version, so changed objects are read
again), the part files it adds and removes, and the events it quarantined. Replaying the log gives
the lake's state; nothing else is authoritative. This is what makes ingest idempotent (an object
recorded here is never read again) and crash-safe (a part file becomes visible only after the
commit that names it is durable, see :mod:`trailscope.lake.writer`).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from functools import cache
from operator import attrgetter
from typing import Any

import msgspec
import orjson

from trailscope.errors import LakeError
from trailscope.lake.paths import CHECKPOINT_DIR, FORMAT_FILE, LAST_CHECKPOINT, LOG_DIR
from trailscope.lake.storage import Storage

FORMAT_VERSION = 1
_VERSION_DIGITS = 12
#: A checkpoint every this many commits.
CHECKPOINT_EVERY = 100


class CommitConflict(LakeError):
    """Another writer committed the same version first."""


@dataclass
class ObjectRecord:
    """One source object as the lake remembers it."""

    id: str  # key from 'AWSLogs/' on (so local copies and S3 agree), else the full URI
    uri: str
    version: str
    size: int
    kind: str  # log | insight | digest | other
    status: str  # ingested | empty | quarantined | skipped
    events: int = 0
    account: str | None = None
    region: str | None = None
    day: str | None = None
    reason: str | None = None
    #: events of this object that were quarantined, and the first few [position, reason]
    quarantined_count: int = 0
    quarantined_events: list[list[Any]] = field(default_factory=list)
    unknown_fields: int = 0
    coerced_values: int = 0
    #: quarantined because it could not be read (denied, vanished, I/O): try again next run
    read_failed: bool = False
    #: user metadata kept from the source: a digest's S3 ``signature`` and
    #: ``signature-algorithm``, which a plain copy of the bucket would lose
    meta: dict[str, str] | None = None
    #: what identifies the object's content (see trailscope.lake.sourcesums): a later version
    #: with the same content (a touched or re-copied file) is not decoded again
    checksum: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Compact: optional fields are written only when set (the log holds every object)."""
        return {k: v for k, v in self.__dict__.items() if k in _REQUIRED or v not in (None, [], 0)}

    def __reduce__(self) -> tuple[type[ObjectRecord], tuple[Any, ...]]:
        # Each worker batch sends hundreds back: its field values pickle and load in half the
        # time of the default (a dict of attributes per record).
        return ObjectRecord, _record_values(self)


_REQUIRED = frozenset({"id", "uri", "version", "size", "kind", "status", "events"})
_record_values = attrgetter(*(f.name for f in fields(ObjectRecord)))


@dataclass
class PartRecord:
    path: str  # relative to the lake root
    partition: str
    rows: int
    bytes: int
    #: CRC-32 of the file's bytes (8 hex digits; None in parts written before it was kept)
    checksum: str | None = None


@dataclass
class TableRecord:
    """The committed version of one side table (see :mod:`trailscope.lake.tables`)."""

    name: str
    path: str  # relative to the lake root: one Parquet file per version
    rows: int
    bytes: int
    checksum: str | None = None


@dataclass
class Commit:
    version: int
    operation: str  # ingest | compact
    committed_at: str
    objects: list[ObjectRecord] = field(default_factory=list)
    add: list[PartRecord] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    #: side tables this commit replaces (their previous files are in ``remove``)
    tables: list[TableRecord] = field(default_factory=list)
    #: a purge: no day before this one (YYYY-MM-DD) is ever written again
    purged_before: str | None = None

    def published_paths(self) -> list[str]:
        """The files this commit makes visible: its parts and side-table versions."""
        return [p.path for p in self.add] + [t.path for t in self.tables]

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "version": self.version,
                "operation": self.operation,
                "committed_at": self.committed_at,
                "objects": [o.to_json() for o in self.objects],
                "add": [p.__dict__ for p in self.add],
                "remove": self.remove,
                "info": self.info,
                **({"tables": [t.__dict__ for t in self.tables]} if self.tables else {}),
                **({"purged_before": self.purged_before} if self.purged_before else {}),
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Commit:
        """Decoded straight into the record classes by msgspec (with type checks), about twice
        as fast as parsing to dicts and building records from them: a checkpoint holds one
        record per source object ever ingested."""
        try:
            return _commit_decoder().decode(data)
        except msgspec.MsgspecError as exc:
            raise DamagedRecord(str(exc)) from None


class DamagedRecord(ValueError):
    """A commit or checkpoint file that is not what this version of the lake writes."""


@cache
def _commit_decoder() -> msgspec.json.Decoder[Commit]:
    return msgspec.json.Decoder(Commit)


@dataclass
class LakeState:
    """The lake as the log says it is."""

    version: int = 0
    objects: dict[str, ObjectRecord] = field(default_factory=dict)
    parts: dict[str, PartRecord] = field(default_factory=dict)
    tables: dict[str, TableRecord] = field(default_factory=dict)
    #: the purge horizon: days before it were purged and are never written again
    purged_before: str | None = None
    last_commit: Commit | None = None
    commits: int = 0

    def apply(self, commit: Commit) -> None:
        for rel in commit.remove:
            self.parts.pop(rel, None)
        for part in commit.add:
            self.parts[part.path] = part
        for obj in commit.objects:
            self.objects[obj.id] = obj
        for table in commit.tables:
            self.tables[table.name] = table
        if commit.purged_before and commit.purged_before > (self.purged_before or ""):
            self.purged_before = commit.purged_before
        self.version = commit.version
        self.last_commit = commit
        self.commits += 1

    def parts_by_partition(self) -> dict[str, list[PartRecord]]:
        out: dict[str, list[PartRecord]] = {}
        for part in self.parts.values():
            out.setdefault(part.partition, []).append(part)
        return out

    def is_current(self, object_id: str, version: str) -> bool:
        """Already in the lake at this version (read failures are always retried)."""
        rec = self.objects.get(object_id)
        return rec is not None and rec.version == version and not rec.read_failed


class Manifest:
    """Reads and appends the commit log of one lake."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        #: called with (state, partitions) after a commit's parts are published and before
        #: the files it replaced are deleted (keeps Athena's partition manifests current)
        self.after_publish: Callable[[LakeState, set[str]], None] | None = None

    def published(self, state: LakeState, commit: Commit) -> None:
        """Tell the hook a commit is visible; then its replaced files may go."""
        if self.after_publish is not None:
            touched = {p.partition for p in commit.add}
            touched |= {rel.split("/")[1].partition("=")[2] for rel in commit.remove}
            if touched:
                self.after_publish(state, touched)

    def exists(self) -> bool:
        return self.storage.exists(FORMAT_FILE)

    def initialize(self) -> None:
        if self.exists():
            return
        info = {
            "format": "trailscope-lake",
            "format_version": FORMAT_VERSION,
            "created_at": now_iso(),
        }
        # Create-if-absent: writers starting together on a new S3 lake keep the first one's.
        self.storage.create_exclusive(FORMAT_FILE, orjson.dumps(info, option=orjson.OPT_INDENT_2))

    def check_format(self) -> None:
        try:
            info = orjson.loads(self.storage.read_bytes(FORMAT_FILE))
        except FileNotFoundError as exc:
            raise LakeError(
                f"not a trailscope lake: {self.storage.location}",
                hint="create one with 'trailscope ingest SOURCE --lake PATH'",
            ) from exc
        except orjson.JSONDecodeError as exc:
            info = f"not JSON: {exc}"
        if not isinstance(info, dict) or not isinstance(info.get("format_version", 0), int):
            raise LakeError(
                f"{self.storage.location.rstrip('/')}/{FORMAT_FILE} is damaged "
                f"({info if isinstance(info, str) else 'not a lake format record'})",
                hint='restore it from a backup, or write back {"format": "trailscope-lake", '
                '"format_version": 1}',
            )
        if info.get("format_version", 0) > FORMAT_VERSION:
            raise LakeError(
                f"lake {self.storage.location} was written by a newer trailscope "
                f"(format {info['format_version']})",
                hint="upgrade trailscope to read it",
            )

    def load(self) -> LakeState:
        """The lake's state: the latest checkpoint, then the commits after it."""
        gc_was_on = gc.isenabled()
        gc.disable()  # a record per source object: the cyclic GC would rescan them all, often
        try:
            state = self._load_checkpoint() or LakeState()
            self.refresh(state)
        finally:
            if gc_was_on:
                gc.enable()
        return state

    def _load_checkpoint(self) -> LakeState | None:
        try:
            version = int(orjson.loads(self.storage.read_bytes(LAST_CHECKPOINT))["version"])
            snapshot = Commit.from_bytes(self.storage.read_bytes(checkpoint_name(version)))
            last = Commit.from_bytes(self.storage.read_bytes(commit_name(version)))
        except (FileNotFoundError, KeyError, ValueError):  # DamagedRecord, JSONDecodeError too
            return None  # none yet, or damaged: replaying the whole log gives the same state
        state = LakeState()
        state.apply(snapshot)
        state.version, state.last_commit = version, last
        state.commits = int(snapshot.info["commits"])
        return state

    def write_checkpoint(self, state: LakeState) -> None:
        """Save ``state`` whole, so loading costs one checkpoint plus the commits after it
        instead of every commit since the lake began (thousands a day under Lambda)."""
        snapshot = Commit(
            version=state.version,
            operation="checkpoint",
            committed_at=now_iso(),
            objects=list(state.objects.values()),
            add=list(state.parts.values()),
            info={"commits": state.commits},
            tables=list(state.tables.values()),
            purged_before=state.purged_before,
        )
        self.storage.write_atomic(checkpoint_name(state.version), snapshot.to_bytes())
        # Pointer last: it only ever names a complete checkpoint. Racing writers may move it
        # back a little; any complete checkpoint is a correct starting point.
        self.storage.write_atomic(LAST_CHECKPOINT, orjson.dumps({"version": state.version}))

    def commits(self) -> Iterator[Commit]:
        """Every commit of the log, oldest first (for repair's provenance of parts)."""
        for name in self.storage.list_dir(LOG_DIR):
            if name.endswith(".json") and not name.startswith("."):
                yield Commit.from_bytes(self.storage.read_bytes(f"{LOG_DIR}/{name}"))

    def has_commit_after(self, state: LakeState) -> bool:
        """Whether another commit followed ``state``: one existence check, for readers that
        keep a state and only want to know if it is still the lake's."""
        return self.storage.exists(commit_name(state.version + 1))

    def refresh(self, state: LakeState) -> int:
        """Apply the commits other writers made since ``state`` was read; returns how many."""
        applied = 0
        after = f"{state.version:0{_VERSION_DIGITS}d}.json" if state.version else None
        for name in self.storage.list_dir(LOG_DIR, start_after=after):
            if not name.endswith(".json") or name.startswith("."):
                continue
            version = int(name.removesuffix(".json"))
            if version <= state.version:
                continue
            if version != state.version + 1:
                raise LakeError(
                    f"the commit log of {self.storage.location} has a gap before commit {version}",
                    hint="a commit file was deleted by hand; restore it from a backup",
                )
            try:
                commit = Commit.from_bytes(self.storage.read_bytes(f"{LOG_DIR}/{name}"))
            except (DamagedRecord, KeyError, TypeError) as exc:
                raise LakeError(
                    f"commit {version} of {self.storage.location} is damaged ({exc})",
                    hint="restore the file from a backup",
                ) from None
            state.apply(commit)
            applied += 1
        return applied

    def append(self, state: LakeState, commit: Commit) -> None:
        """Make ``commit`` durable as version state.version+1, then apply it to ``state``."""
        commit.version = state.version + 1
        if not self.storage.create_exclusive(commit_name(commit.version), commit.to_bytes()):
            raise CommitConflict(
                f"commit {commit.version} already exists in {self.storage.location}",
                hint="another writer changed the lake; run again",
            )
        state.apply(commit)
        if commit.version % CHECKPOINT_EVERY == 0:
            self.write_checkpoint(state)


def commit_name(version: int) -> str:
    return f"{LOG_DIR}/{version:0{_VERSION_DIGITS}d}.json"


def checkpoint_name(version: int) -> str:
    return f"{CHECKPOINT_DIR}/{version:0{_VERSION_DIGITS}d}.json"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def new_commit(operation: str, **kwargs: Any) -> Commit:
    return Commit(version=0, operation=operation, committed_at=now_iso(), **kwargs)
