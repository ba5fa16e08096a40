"""Committed parts made visible, and what a crashed writer left cleaned up.

Pure file operations on the lake's storage: a run recovers before it lists its source, and
needs neither pyarrow nor the writer for it (see :mod:`trailscope.lake.ingest` on why a run
imports those late).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from trailscope.errors import LakeError
from trailscope.lake.manifest import Commit, LakeState
from trailscope.lake.paths import EVENTS_DIR, LOG_DIR, TABLES_DIR, TMP_SUFFIX, staged_path
from trailscope.lake.storage import Storage

log = logging.getLogger(__name__)


def publish(
    storage: Storage,
    paths: list[str],
    remove: list[str],
    between: Callable[[], None] | None = None,
) -> None:
    """Make committed files visible (rename each staged file to its final ``path``), call
    ``between`` (manifests for other readers), then retire replaced ones. Idempotent, for
    recovery."""
    for path in paths:
        for tmp in (staged_path(path), path + TMP_SUFFIX):  # (older lakes: the latter)
            if storage.exists(tmp):
                storage.rename(tmp, path)
                break
    if between is not None:
        between()
    for rel in remove:
        storage.delete(rel)


def readable_paths(storage: Storage, sizes: dict[str, int]) -> list[str]:
    """Where each committed file (path -> its size, as the log records it) can be read now:
    its final name, or its staged name while the commit that names it is not yet published
    (a writer at work, or one killed between commit and publish). One listing of the lake's
    folders, not a request per file. A file that is missing or not of its recorded size is
    damaged: the reader stops, naming it, rather than answer without it."""
    present = storage.list_sizes(EVENTS_DIR) | storage.list_sizes(TABLES_DIR)
    out = []
    for path, size in sizes.items():
        staged = staged_path(path)
        where = staged if path not in present and staged in present else path
        found = present.get(where)
        if found != size:
            what = "missing" if found is None else f"{found} bytes, the log says {size}"
            raise LakeError(
                f"part {path} of {storage.location} is damaged ({what})",
                hint="run 'trailscope lake check' to see the damage, 'trailscope lake repair' "
                "to rebuild it",
            )
        out.append(where)
    return out


def is_published(storage: Storage, commit: Commit) -> bool:
    """Whether ``commit``'s files are all in place and the ones it replaced gone (a few
    existence checks: what a reader looks at before trusting plain globbing readers)."""
    return all(storage.exists(p) for p in commit.published_paths()) and not any(
        storage.exists(p) for p in commit.remove
    )


#: On a shared lake (S3), files of a writer still at work must not be taken for leftovers.
SHARED_GRACE_SECONDS = 3600.0


def recover(storage: Storage, state: LakeState, *, exclusive: bool = True) -> int:
    """Finish publishing committed files and delete files that no commit names.

    ``exclusive``: this writer holds the lake's lock, so anything unnamed is a crashed writer's
    leftover (a staged file of a commit that never happened, a part a compaction retired
    before its writer died). Without the lock (S3, several writers), only files older than
    :data:`SHARED_GRACE_SECONDS` are judged, and the last commit is not special: any committed
    file still staged is published (publishing is idempotent, so racing another writer is
    fine). Returns how many files were deleted.
    """
    if state.last_commit is not None:
        publish(storage, state.last_commit.published_paths(), state.last_commit.remove)
    removed = 0
    for name in storage.list_dir(LOG_DIR):  # a commit killed while being written
        if name.startswith(".") and name.endswith(TMP_SUFFIX):
            storage.delete(f"{LOG_DIR}/{name}")
    live = set(state.parts) | {t.path for t in state.tables.values()}
    for rel in unreferenced(storage, live):
        if not exclusive:
            age = storage.age_seconds(rel)
            if age is None or age < SHARED_GRACE_SECONDS:
                continue
        folder, _, name = rel.rpartition("/")
        final = (
            f"{folder}/{name.lstrip('.')[: -len(TMP_SUFFIX)]}" if name.endswith(TMP_SUFFIX) else ""
        )
        if final in live and not storage.exists(final):
            storage.rename(rel, final)  # committed, never published
            continue
        storage.delete(rel)
        removed += 1
    if removed:
        log.info("removed %d files no commit names from %s", removed, storage.location)
    return removed


def unreferenced(storage: Storage, live: set[str]) -> list[str]:
    """Files under the lake's data folders that ``live`` (the state's parts and side-table
    versions) does not name."""
    present = storage.list_tree(EVENTS_DIR) + storage.list_tree(TABLES_DIR)
    return [rel for rel in present if rel not in live]
