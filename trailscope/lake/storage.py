"""The few file operations the lake needs, in one place.

The lake's crash safety rests on two primitives: create-if-absent for commit records (so two
writers can never both claim commit N) and rename for publishing a finished part file. Keeping
every filesystem call here lets an object-store backend (conditional PUT instead of link) slot in
without touching the manifest or the writer.
"""

from __future__ import annotations

import os
from pathlib import Path


class LocalStorage:
    """A lake in a local (or mounted) folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, rel: str) -> Path:
        return self.root / rel

    def exists(self, rel: str) -> bool:
        return self.path(rel).exists()

    def read_bytes(self, rel: str) -> bytes:
        return self.path(rel).read_bytes()

    def _durable_temp(self, rel: str, data: bytes) -> tuple[Path, Path]:
        """``data`` fsynced in a hidden temporary beside ``rel``; returns (temp, final)."""
        final = self.path(rel)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return tmp, final

    def create_exclusive(self, rel: str, data: bytes) -> bool:
        """Write ``data`` at ``rel`` only if nothing is there; False if another writer won."""
        tmp, final = self._durable_temp(rel, data)
        try:
            os.link(tmp, final)  # atomic, and fails if the name exists
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(final.parent)
        return True

    def write_atomic(self, rel: str, data: bytes) -> None:
        """Replace ``rel`` with ``data`` so readers see the old or the new bytes, never a mix."""
        tmp, final = self._durable_temp(rel, data)
        os.replace(tmp, final)
        _fsync_dir(final.parent)

    def rename(self, src: str, dst: str) -> None:
        os.replace(self.path(src), self.path(dst))

    def delete(self, rel: str) -> None:
        self.path(rel).unlink(missing_ok=True)

    def size(self, rel: str) -> int:
        return self.path(rel).stat().st_size

    def list_dir(self, rel: str) -> list[str]:
        """Names directly under ``rel`` (empty if it does not exist), sorted."""
        try:
            return sorted(os.listdir(self.path(rel)))
        except FileNotFoundError:
            return []

    def fsync_tree(self, rels: list[str]) -> None:
        """Make freshly written files and their folders durable before they are committed."""
        dirs = set()
        for rel in rels:
            p = self.path(rel)
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            dirs.add(p.parent)
        for d in dirs:
            _fsync_dir(d)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
