"""One writer at a time on a local lake: an OS lock, and a file that says who holds it.

Two ingests into one lake would race for commit numbers and compaction; the second one is refused
with a message naming the holder. The lock itself is the kernel's (``flock`` on the lake's
``_trailscope`` folder), so it is released when its process dies (kill -9, power loss) and it
holds even if someone deletes the file that names the holder. That file,
``_trailscope/lock``, only tells who holds the lock; a writer that finds it left by a process
that no longer holds the lock says it took over.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import time
from types import TracebackType

import orjson

from trailscope.errors import LakeLockedError
from trailscope.lake.manifest import now_iso
from trailscope.lake.paths import META_DIR
from trailscope.lake.storage import LocalStorage

LOCK_FILE = f"{META_DIR}/lock"
#: Pause between attempts while waiting for a running writer.
_POLL_SECONDS = 0.1

log = logging.getLogger(__name__)


class WriterLock:
    """The writer lock of a local lake. ``wait``: seconds to wait for a running writer before
    refusing (0: refuse at once)."""

    def __init__(self, storage: LocalStorage, operation: str, *, wait: float = 0.0) -> None:
        self.storage = storage
        self.operation = operation
        self.wait = wait
        #: who held the lock before, if it was left behind by a writer that died
        self.took_over: dict[str, object] | None = None
        self._fd: int | None = None

    def acquire(self) -> WriterLock:
        folder = self.storage.path(META_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY)
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(_POLL_SECONDS)
                    continue
                os.close(fd)
                holder = self._read_holder() or {}
                raise LakeLockedError(
                    f"lake {self.storage.root} is being written by another process "
                    f"(pid {holder.get('pid')} on {holder.get('host')}, "
                    f"{holder.get('operation')} since {holder.get('since')})",
                    hint="wait for it to finish; trailscope takes over locks of dead "
                    "processes by itself",
                ) from None
        self._fd = fd
        left = self._read_holder()
        if left is not None or self.storage.path(LOCK_FILE).exists():
            self.took_over = left or {}
            log.warning("took over the lock of %s left by %s", self.storage.root, self.took_over)
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "operation": self.operation,
            "since": now_iso(),
        }
        self.storage.write_atomic(LOCK_FILE, orjson.dumps(me))
        return self

    def release(self) -> None:
        if self._fd is not None:
            self.storage.path(LOCK_FILE).unlink(missing_ok=True)
            os.close(self._fd)  # closing the folder's descriptor releases the lock
            self._fd = None

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def _read_holder(self) -> dict[str, object] | None:
        try:
            holder = orjson.loads(self.storage.path(LOCK_FILE).read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return None  # none, or half-written by a process killed mid-write
        return holder if isinstance(holder, dict) else None
