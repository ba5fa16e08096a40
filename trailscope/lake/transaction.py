"""One change to the lake, from staged files to a published commit.

Every writer (ingest, compaction, repair, purge, side tables) changes the lake through a
:class:`Transaction`, which takes the change through the steps ``docs/lake.md`` describes:

1. **staged**: new files are written under hidden names (``.part-<id>.parquet.tmp``), which
   readers that glob the folder skip and trailscope's readers never name;
2. **durable**: the staged files are fsynced (on S3 an object is durable once its PUT returned);
3. **committed**: the commit record is created, only if absent, as the log's next version.
   When another writer took that version first, the transaction catches up with the log and
   asks its ``rebase`` whether the change still stands (and lets it adjust the change to the
   new state), then tries the next version, pausing as :data:`RETRY` says;
4. **published**: staged files are renamed to their final names, and the after-publish hook
   (Athena's manifests) runs;
5. **retired**: files the commit replaced are deleted.

A transaction that does not commit deletes what it staged; one killed at any step leaves a
state the next writer's recovery finishes (see :mod:`trailscope.lake.publish`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from trailscope.lake import publish
from trailscope.lake.manifest import (
    CommitConflict,
    LakeState,
    Manifest,
    ObjectRecord,
    PartRecord,
    TableRecord,
    new_commit,
)
from trailscope.lake.paths import staged_path
from trailscope.lake.storage import Storage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently the lake tries again: after losing a commit race, and after
    a read that met a file another writer was moving. One policy for every writer."""

    attempts: int = 100
    first_pause: float = 0.01
    max_pause: float = 1.0

    def pauses(self) -> Iterator[float]:
        """A pause before each further attempt: random, growing, capped (writers that lost
        together do not meet again)."""
        for attempt in range(self.attempts):
            yield random.uniform(0, min(self.max_pause, self.first_pause * 2**attempt))


#: The lake's retry policy.
RETRY = RetryPolicy()


def committed_path(storage: Storage, rel: str) -> str:
    """Where a committed file can be read now. Another writer commits first and renames its
    staged file into place just after, so for a moment the file is still under its staged
    name (with the same bytes)."""
    for candidate in (rel, staged_path(rel)):
        if storage.exists(candidate):
            return candidate
    return rel  # renamed in between (or retired): the read says which


T = TypeVar("T")

#: Reads that fail for no reason the log explains are tried this many times before the
#: failure is taken as real.
UNEXPLAINED_READ_FAILURES = 3


def read_retrying(
    manifest: Manifest,
    state: LakeState,
    read: Callable[[], T],
    *,
    caught_up: Callable[[], None] | None = None,
) -> T:
    """Run ``read``, which reads committed files of the lake. On a shared lake (S3) another
    writer may retire a file meanwhile (a compaction, a new side-table version): the read
    fails, the state catches up with that writer's commit (``caught_up`` is then called), and
    the read runs again. A failure the log does not explain is retried a few times after a
    pause (a file met in the moment another writer renamed it), then raised."""
    if manifest.storage.is_local:
        return read()  # one writer at a time: a failed read is a real failure
    import duckdb  # the duplicate check reads colliding rows with DuckDB

    unexplained = 0
    pauses = RETRY.pauses()
    while True:
        try:
            return read()
        except (OSError, duckdb.Error) as exc:
            pause = next(pauses, None)
            if pause is None:
                raise
            if manifest.refresh(state):
                log.info("a read met a file another writer retired (%s); caught up", exc)
            else:
                unexplained += 1
                if unexplained > UNEXPLAINED_READ_FAILURES:
                    raise  # nothing changed: the failure is real
                time.sleep(0.2 * unexplained)
            if caught_up is not None:
                caught_up()


#: Called after a lost race with the caught-up state: False gives the change up; True keeps
#: it (possibly adjusted to the new state) for the next attempt.
Rebase = Callable[["Transaction", LakeState], bool]


class Transaction:
    """One commit's worth of change: objects recorded, parts added and removed, side tables
    replaced. Build it, then :meth:`commit`."""

    def __init__(
        self,
        manifest: Manifest,
        state: LakeState,
        operation: str,
        *,
        info: dict[str, Any] | None = None,
        rebase: Rebase | None = None,
    ) -> None:
        """
        :param state: the state the change was computed from; kept current by the
            transaction (a lost race applies the winner's commits to it).
        :param rebase: what to do after losing a race; without one, a lost race gives the
            change up (the caller computed it from a state that is gone).
        """
        self.manifest = manifest
        self.state = state
        self.commit_record = new_commit(operation, info=dict(info or {}))
        self._rebase = rebase
        self._staged: dict[str, None] = {}  # staged files this transaction owns, in order
        self._removed: list[str] = []
        self._tables: dict[str, TableRecord] = {}
        self.committed = False

    @property
    def storage(self) -> Storage:
        return self.manifest.storage

    @property
    def operation(self) -> str:
        return self.commit_record.operation

    # ------------------------------------------------------------------ building the change

    def staged(self, rel: str) -> str:
        """Own the staged file ``rel``: deleted unless the transaction commits."""
        self._staged[rel] = None
        return rel

    def unstage(self, rel: str) -> None:
        """Delete a staged file this transaction no longer wants (e.g. a part left empty)."""
        self._staged.pop(rel, None)
        self.storage.delete(rel)

    def set_objects(self, objects: list[ObjectRecord]) -> None:
        self.commit_record.objects = list(objects)

    def set_parts(self, parts: list[PartRecord]) -> None:
        """The parts this commit adds (each staged at :func:`staged_path` of its path)."""
        for part in parts:
            self.staged(staged_path(part.path))
        self.commit_record.add = list(parts)

    def remove_parts(self, paths: list[str]) -> None:
        """Committed parts this commit retires."""
        self._removed = list(paths)

    def put_table(self, record: TableRecord) -> None:
        """A new version of a side table (staged at :func:`staged_path` of its path),
        replacing any version staged before in this transaction."""
        earlier = self._tables.get(record.name)
        if earlier is not None:
            self.unstage(staged_path(earlier.path))
        self.staged(staged_path(record.path))
        self._tables[record.name] = record

    @property
    def objects(self) -> list[ObjectRecord]:
        return self.commit_record.objects

    @property
    def adds(self) -> list[PartRecord]:
        return self.commit_record.add

    def is_empty(self) -> bool:
        c = self.commit_record
        return not (c.objects or c.add or self._removed or self._tables)

    # ------------------------------------------------------------------ running it

    def commit(self) -> bool:
        """Make the change durable, commit it, publish it, retire what it replaced.

        Returns False when the change was given up after a lost race (its staged files are
        deleted); raises if it could not be committed (its staged files are deleted too)."""
        try:
            self.storage.fsync_tree([rel for rel in self._staged if self.storage.exists(rel)])
            if not self._append():
                self.abort()
                return False
        except BaseException:
            self.abort()
            raise
        self.committed = True
        self._staged.clear()
        self._publish()
        return True

    def abort(self) -> None:
        """Delete what this transaction staged (best effort: recovery deletes the rest)."""
        for rel in list(self._staged):
            try:
                self.storage.delete(rel)
            except OSError as exc:
                log.warning("could not delete staged %s: %s", rel, exc)
        self._staged.clear()

    def _prepare_record(self) -> None:
        """The commit record for the current state: side tables replace the versions the
        state has now (which a lost race may have changed)."""
        c = self.commit_record
        c.tables = list(self._tables.values())
        replaced = [self.state.tables[n].path for n in self._tables if n in self.state.tables]
        c.remove = [*self._removed, *replaced]

    def _append(self) -> bool:
        for pause in RETRY.pauses():
            self._prepare_record()
            try:
                self.manifest.append(self.state, self.commit_record)
                log.debug("%s committed as version %d", self.operation, self.state.version)
                return True
            except CommitConflict:
                caught_up = self.manifest.refresh(self.state)
                log.info(
                    "%s lost commit %d to another writer (%d commits caught up); rebasing",
                    self.operation,
                    self.state.version,
                    caught_up,
                )
                if self._rebase is None or not self._rebase(self, self.state):
                    log.info("%s given up: the lake changed under it", self.operation)
                    return False
                time.sleep(pause)
        raise CommitConflict(
            f"gave up committing to {self.storage.location} after {RETRY.attempts} conflicts",
            hint="too many writers at once; run again",
        )

    def _publish(self) -> None:
        commit = self.commit_record
        publish.publish(
            self.storage,
            commit.published_paths(),
            commit.remove,
            lambda: self.manifest.published(self.state, commit),
        )
