"""One writer at a time: a lock file that says who holds it.

Two ingests into one lake would race for commit numbers and compaction; the second one is refused
with a message naming the holder. A lock left by a process that no longer exists on this host
(kill -9, power loss) is taken over, so a crash never needs manual cleanup.
"""

from __future__ import annotations

import os
import socket
from types import TracebackType

import orjson

from trailscope.errors import LakeLockedError
from trailscope.lake.manifest import now_iso
from trailscope.lake.paths import META_DIR
from trailscope.lake.storage import LocalStorage

LOCK_FILE = f"{META_DIR}/lock"


class WriterLock:
    def __init__(self, storage: LocalStorage, operation: str) -> None:
        self.storage = storage
        self.operation = operation
        self.took_over: dict[str, object] | None = None
        self._held = False

    def acquire(self) -> WriterLock:
        path = self.storage.path(LOCK_FILE)
        path.parent.mkdir(parents=True, exist_ok=True)
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "operation": self.operation,
            "since": now_iso(),
        }
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._read_holder()
                if holder is not None and self._alive(holder):
                    raise LakeLockedError(
                        f"lake {self.storage.root} is being written by another process "
                        f"(pid {holder.get('pid')} on {holder.get('host')}, "
                        f"{holder.get('operation')} since {holder.get('since')})",
                        hint="wait for it to finish; trailscope takes over locks of dead "
                        "processes by itself",
                    ) from None
                self.took_over = holder or {}
                path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "wb") as fh:
                fh.write(orjson.dumps(me))
            self._held = True
            return self
        raise LakeLockedError(f"could not take the lock of lake {self.storage.root}")

    def release(self) -> None:
        if self._held:
            self.storage.path(LOCK_FILE).unlink(missing_ok=True)
            self._held = False

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
            return orjson.loads(self.storage.path(LOCK_FILE).read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return None  # half-written by a process killed mid-write: treat as stale

    @staticmethod
    def _alive(holder: dict[str, object]) -> bool:
        if holder.get("host") != socket.gethostname():
            return True  # cannot check another host's processes: assume it is alive
        pid = holder.get("pid")
        if not isinstance(pid, int):
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
