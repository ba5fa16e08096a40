"""One watch per lake.

Two watches on one lake would ingest the same objects and race to alert on the same findings.
The lake's writer lock cannot be held for a watch's whole life (every ingest and side-table
change of the watch takes it, and so can a person's ``trailscope lake compact`` between
cycles), so a watch holds a lock of its own:

- a local lake: the kernel's lock (``flock``) on ``_trailscope/watch.lock``, freed when the
  process dies, whatever the way; the file names the holder;
- an S3 lake: a lease, the same file created only if absent and renewed every cycle; a lease not
  renewed for ``stale_after`` seconds is taken over (its watch is dead or cut off).
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import time
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import orjson

from trailscope.errors import LakeLockedError
from trailscope.lake.paths import META_DIR
from trailscope.lake.storage import LocalStorage, Storage

WATCH_LOCK = f"{META_DIR}/watch.lock"

log = logging.getLogger(__name__)


def _holder(operation: str) -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "operation": operation,
        "since": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "renewed": time.time(),
    }


def _refusal(location: str, holder: dict[str, Any]) -> LakeLockedError:
    return LakeLockedError(
        f"lake {location} is already watched by another process "
        f"(pid {holder.get('pid')} on {holder.get('host')}, since {holder.get('since')})",
        hint="stop that watch first; one watch per lake",
    )


class WatchLock:
    """Held for a watch's life; :meth:`renew` once per cycle (S3 lakes)."""

    def __init__(self, storage: Storage, *, stale_after: float = 600.0) -> None:
        self.storage = storage
        self.stale_after = stale_after
        self.holder = _holder("watch")
        self._fd: int | None = None
        self._leased = False

    def acquire(self) -> WatchLock:
        if isinstance(self.storage, LocalStorage):
            self._acquire_local(self.storage)
        else:
            self._acquire_lease()
        return self

    def _acquire_local(self, storage: LocalStorage) -> None:
        path = storage.path(WATCH_LOCK)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _refusal(storage.location, self._read_local(path)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, orjson.dumps(self.holder), 0)
        self._fd = fd

    @staticmethod
    def _read_local(path: Any) -> dict[str, Any]:
        try:
            data = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def _acquire_lease(self) -> None:
        mine = orjson.dumps(self.holder)
        if self.storage.create_exclusive(WATCH_LOCK, mine):
            self._leased = True
            return
        try:
            current = orjson.loads(self.storage.read_bytes(WATCH_LOCK))
        except (FileNotFoundError, orjson.JSONDecodeError):
            current = {}
        age = time.time() - float(current.get("renewed", 0) or 0)
        if age < self.stale_after:
            raise _refusal(self.storage.location, current)
        log.warning("took over the watch lease of %s left by %s", self.storage.location, current)
        self.storage.write_atomic(WATCH_LOCK, mine)
        self._leased = True

    def renew(self) -> None:
        """Keep an S3 lease alive (a local lock needs nothing)."""
        if self._leased:
            self.holder["renewed"] = time.time()
            self.storage.write_atomic(WATCH_LOCK, orjson.dumps(self.holder))

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing frees the kernel's lock; the file may stay
            self._fd = None
        if self._leased:
            self._leased = False
            try:
                self.storage.delete(WATCH_LOCK)
            except Exception as exc:  # an unreachable lake: the lease goes stale by itself
                log.warning("could not remove the watch lease: %s", exc)

    def __enter__(self) -> WatchLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
