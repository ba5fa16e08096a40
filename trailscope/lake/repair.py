"""Repair what :mod:`trailscope.lake.check` finds, through the same transactions as ingest.

- A damaged part is rebuilt from the source objects its rows came from: the log knows them
  (the ingest commit that added the part, or, for a part compaction wrote, the commits of the
  parts it merged). The objects are read and decoded again, the rows of the part's day kept,
  rows the other parts of that day already hold dropped, and the new part replaces the
  damaged one. When an object is gone, unreadable or changed, the part cannot be rebuilt
  exactly: it is dropped, the commit records what was lost, and its objects are marked to be
  read again by the next ingest that can reach them.
- A damaged commit cuts the log there: it and the commits after it are moved to
  ``_trailscope/damaged/``, and the next ingest reads their source objects again.
- Damaged checkpoints are deleted (the log is replayed instead) and a new one is written.
- Files no commit names are deleted (on S3, staged files only once older than an hour: a
  writer may be at work).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace

from trailscope.errors import LakeError, TrailscopeError
from trailscope.lake import publish
from trailscope.lake.batch import Batch, object_id
from trailscope.lake.check import Problem, ProblemKind, check
from trailscope.lake.filters import WhereCompiler
from trailscope.lake.manifest import (
    LakeState,
    Manifest,
    ObjectRecord,
    PartRecord,
)
from trailscope.lake.paths import LAST_CHECKPOINT, META_DIR, TMP_SUFFIX
from trailscope.lake.storage import LocalStorage
from trailscope.lake.transaction import Transaction

log = logging.getLogger(__name__)

DAMAGED_DIR = f"{META_DIR}/damaged"
_DAMAGED_PARTS = (
    ProblemKind.MISSING,
    ProblemKind.TRUNCATED,
    ProblemKind.REPLACED,
    ProblemKind.ALTERED,
)


@dataclass
class RepairReport:
    """What ``trailscope lake repair`` did."""

    rebuilt: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    lost_events: int = 0
    removed_files: list[str] = field(default_factory=list)
    cut_commits: list[int] = field(default_factory=list)
    checkpoints_removed: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


def repair_log(manifest: Manifest, problems: list[Problem], report: RepairReport) -> None:
    """Damaged checkpoints deleted; the log cut at its first damaged commit."""
    storage = manifest.storage
    for problem in problems:
        if problem.kind is ProblemKind.DAMAGED_CHECKPOINT:
            storage.delete(problem.path)
            report.checkpoints_removed.append(problem.path)
    damaged = sorted(
        int(p.path.rsplit("/", 1)[1].removesuffix(".json"))
        for p in problems
        if p.kind is ProblemKind.DAMAGED_COMMIT
    )
    if not damaged:
        return
    first = damaged[0]
    if isinstance(storage, LocalStorage):
        storage.path(DAMAGED_DIR).mkdir(parents=True, exist_ok=True)
    for name in storage.list_dir(f"{META_DIR}/log"):
        if name.endswith(".json") and not name.startswith(".") and int(name[:-5]) >= first:
            storage.rename(f"{META_DIR}/log/{name}", f"{DAMAGED_DIR}/{name}")
            report.cut_commits.append(int(name[:-5]))
    for name in storage.list_dir(f"{META_DIR}/checkpoints"):
        if name.endswith(".json") and int(name[:-5]) >= first:
            storage.delete(f"{META_DIR}/checkpoints/{name}")
            report.checkpoints_removed.append(f"{META_DIR}/checkpoints/{name}")
    storage.delete(LAST_CHECKPOINT)
    log.warning("cut the log of %s at its damaged commit %d", storage.location, first)


def provenance(manifest: Manifest) -> dict[str, set[str]]:
    """For every part the log ever added, the ids of the source objects its rows came from."""
    out: dict[str, set[str]] = {}
    for commit in manifest.commits():
        if commit.operation == "compact" or commit.remove:
            merged: set[str] = set()
            for rel in commit.remove:
                merged |= out.get(rel, set())
            for part in commit.add:
                out[part.path] = set(merged) | {o.id for o in commit.objects}
        else:
            ids = {o.id for o in commit.objects if o.status == "ingested"}
            for part in commit.add:
                out[part.path] = ids
    return out


def source_roots(manifest: Manifest) -> dict[str, str]:
    """Object id -> the source an ingest read it from (recorded in the commit's info)."""
    out = {}
    for commit in manifest.commits():
        root = commit.info.get("source")
        if root:
            for obj in commit.objects:
                out[obj.id] = str(root)
    return out


def ingest_filters(manifest: Manifest) -> dict[str, dict[str, object]]:
    """Object id -> the ingest filters its ingest applied (recorded in the commit's info):
    a rebuilt part must leave out and blank what the first ingest did."""
    out = {}
    for commit in manifest.commits():
        filters = commit.info.get("filters")
        for obj in commit.objects:
            if filters:
                out[obj.id] = filters
            else:
                out.pop(obj.id, None)
    return out


def rebuild_part(
    manifest: Manifest,
    state: LakeState,
    part: PartRecord,
    objects: list[ObjectRecord],
    root: str | None,
    filters: dict[str, object] | None = None,
    compile_where: WhereCompiler | None = None,
) -> PartRecord | None:
    """The part's rows decoded again from its source objects, staged under a new name; None
    when any object cannot be read as it was ingested."""
    from trailscope.lake.dedup import DedupIndex
    from trailscope.lake.stage import process_batch
    from trailscope.sources import open_source

    storage = manifest.storage
    wanted = {o.id: o for o in objects}
    if root is None:
        root = _guess_root(objects)
    try:
        source = open_source(root)
        found = [o for o in source.iter_objects() if object_id(o) in wanted]
    except (TrailscopeError, OSError) as exc:
        log.warning("cannot list %s to rebuild %s: %s", root, part.path, exc)
        return None
    current = {object_id(o): o for o in found if o.version == wanted[object_id(o)].version}
    if len(current) != len(wanted):
        return None
    compiled = None
    if filters:
        from trailscope.lake.filters import compile_filters
        from trailscope.lake.settings import IngestFilters

        compiled = compile_filters(IngestFilters.from_json(filters), compile_where)
    batch = Batch(sorted(current.values(), key=lambda o: o.key), filters=compiled)
    output = process_batch(source, storage, batch)
    if any(r.read_failed for r in output.objects):
        for staged in output.parts:
            storage.delete(staged.tmp_path)
        return None
    mine = None
    for staged in output.parts:
        if staged.partition == part.partition and mine is None:
            mine = staged
        else:
            storage.delete(staged.tmp_path)
    if mine is None:
        return None
    others = replace(state, parts={k: v for k, v in state.parts.items() if k != part.path})
    index = DedupIndex(storage, others)
    from trailscope.lake.commit import drop_stored_copies

    ids = output.eventids[output.parts.index(mine)]
    drop_stored_copies(storage, index, mine, ids)
    return PartRecord(mine.path, mine.partition, mine.rows, mine.bytes, mine.checksum)


def _guess_root(objects: list[ObjectRecord]) -> str:
    """The source folder of lakes whose commits do not record it: where ``AWSLogs/`` starts."""
    uri = objects[0].uri
    at = uri.find("AWSLogs/")
    if at > 0:
        return uri[:at]
    return os.path.dirname(uri)


def repair_parts(
    manifest: Manifest,
    state: LakeState,
    problems: list[Problem],
    report: RepairReport,
    compile_where: WhereCompiler | None = None,
) -> None:
    damaged = [p.path for p in problems if p.kind in _DAMAGED_PARTS and p.path in state.parts]
    if not damaged:
        return
    sources = provenance(manifest)
    roots = source_roots(manifest)
    filters = ingest_filters(manifest)
    for rel in damaged:
        part = state.parts[rel]
        ids = sorted(sources.get(rel, set()))
        objects = [state.objects[i] for i in ids if i in state.objects]
        rebuilt = None
        if objects and len(objects) == len(ids):
            rebuilt = rebuild_part(
                manifest,
                state,
                part,
                objects,
                roots.get(ids[0]),
                filters.get(ids[0]),
                compile_where,
            )
        tx = Transaction(manifest, state, "repair", info={"part": rel})
        tx.remove_parts([rel])
        if rebuilt is not None:
            tx.set_parts([rebuilt])
            tx.commit_record.info["rebuilt_from"] = len(objects)
            report.rebuilt.append(rel)
        else:
            why = f"events lost with part {rel}"
            lost = [replace(o, read_failed=True, reason=why) for o in objects]
            tx.set_objects(lost)
            tx.commit_record.info.update(lost_rows=part.rows, lost_objects=[o.id for o in objects])
            report.dropped.append(rel)
            report.lost_events += part.rows
        tx.commit()


def remove_unreferenced(manifest: Manifest, state: LakeState, report: RepairReport) -> None:
    storage = manifest.storage
    live = set(state.parts) | {t.path for t in state.tables.values()}
    for rel in publish.unreferenced(storage, live):
        if not storage.is_local and rel.endswith(TMP_SUFFIX):
            age = storage.age_seconds(rel)
            if age is None or age < publish.SHARED_GRACE_SECONDS:
                continue  # perhaps a writer at work
        storage.delete(rel)
        report.removed_files.append(rel)


def repair(manifest: Manifest, compile_where: WhereCompiler | None = None) -> RepairReport:
    """Make the lake check clean (the caller holds the writer lock on a local lake).
    ``compile_where``: how to run the ``--where`` filter a rebuilt part's ingest applied."""
    report = RepairReport()
    state = _load_or_none(manifest)
    problems = check(manifest, state)
    repair_log(manifest, problems, report)
    state = manifest.load()
    publish.recover(manifest.storage, state, exclusive=manifest.storage.is_local)
    problems = check(manifest, state, deep=True)
    repair_parts(manifest, state, problems, report, compile_where)
    remove_unreferenced(manifest, state, report)
    if report.checkpoints_removed and state.version:
        manifest.write_checkpoint(state)
    return report


def _load_or_none(manifest: Manifest) -> LakeState | None:
    try:
        return manifest.load()
    except LakeError:
        return None
