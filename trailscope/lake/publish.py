"""Committed parts made visible, and what a crashed writer left cleaned up.

Pure file operations on the lake's storage: a run recovers before it lists its source, and
needs neither pyarrow nor the writer for it (see :mod:`trailscope.lake.ingest` on why a run
imports those late).
"""

from __future__ import annotations

from collections.abc import Callable

from trailscope.lake.manifest import LakeState
from trailscope.lake.paths import EVENTS_DIR, LOG_DIR, TMP_SUFFIX, staged_path
from trailscope.lake.storage import Storage


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


#: On a shared lake (S3), files of a writer still at work must not be taken for leftovers.
SHARED_GRACE_SECONDS = 3600.0


def recover(storage: Storage, state: LakeState, *, exclusive: bool = True) -> int:
    """Finish publishing committed parts and delete files that no commit names.

    ``exclusive``: this writer holds the lake's lock, so anything unnamed is a crashed writer's
    leftover. Without the lock (S3, several writers), only files older than
    :data:`SHARED_GRACE_SECONDS` are judged, and the last commit is not special: any committed
    part still staged is published (publishing is idempotent, so racing another writer is fine).
    """
    if state.last_commit is not None:
        publish(storage, state.last_commit.published_paths(), state.last_commit.remove)
    removed = 0
    for name in storage.list_dir(LOG_DIR):  # a commit killed while being written
        if name.startswith(".") and name.endswith(TMP_SUFFIX):
            storage.delete(f"{LOG_DIR}/{name}")
    live = set(state.parts)
    for pdir in storage.list_dir(EVENTS_DIR):
        for name in storage.list_dir(f"{EVENTS_DIR}/{pdir}"):
            rel = f"{EVENTS_DIR}/{pdir}/{name}"
            if not exclusive:
                age = storage.age_seconds(rel)
                if age is None or age < SHARED_GRACE_SECONDS:
                    continue
            if name.endswith(TMP_SUFFIX):
                final = f"{EVENTS_DIR}/{pdir}/{name.lstrip('.')[: -len(TMP_SUFFIX)]}"
                if final in live and not storage.exists(final):
                    storage.rename(rel, final)
                else:
                    storage.delete(rel)
                    removed += 1
            elif rel not in live and not exclusive:
                storage.delete(rel)  # retired by a compaction whose writer died before deleting
                removed += 1
    return removed
