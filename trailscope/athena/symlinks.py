"""One manifest per partition listing its live Parquet files, for the ``symlink`` layout.

Athena (like Hive and Trino) reads a ``SymlinkTextInputFormat`` table by opening every text
file in the partition's folder and reading the data files named there, one URI per line. The
lake's commit log already knows the live files of each partition; these manifests publish that
knowledge where Athena looks. A manifest is replaced by one atomic PUT (or rename), so a reader
sees the partition's files before a commit or after it, never a mixture.

Writers call :func:`manifests_for` with the partitions a commit touched, after the commit and
before deleting replaced files (see docs/scale.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from trailscope.athena.ddl import SYMLINK_DIR, SYMLINK_FILE, normalize_uri
from trailscope.decode.schema import PARTITION
from trailscope.lake.manifest import LakeState


class _Writable(Protocol):
    def write_atomic(self, rel: str, data: bytes) -> None: ...


def manifest_path(day: str) -> str:
    """Where the manifest of one partition lives, relative to the lake root."""
    return f"{SYMLINK_DIR}/{PARTITION}={day}/{SYMLINK_FILE}"


def manifests_for(
    state: LakeState, lake_uri: str, partitions: Iterable[str] | None = None
) -> dict[str, bytes]:
    """``{relative path: content}`` for ``partitions`` (default: every partition of the lake).

    A partition without live files gets an empty manifest, so files a compaction removed stop
    being read even when nothing replaced them.
    """
    base = normalize_uri(lake_uri)
    by_day = state.parts_by_partition()
    days = sorted(by_day) if partitions is None else sorted(set(partitions))
    out: dict[str, bytes] = {}
    for day in days:
        lines = sorted(base + part.path for part in by_day.get(day, []))
        out[manifest_path(day)] = "".join(line + "\n" for line in lines).encode()
    return out


def write_manifests(
    storage: _Writable, state: LakeState, lake_uri: str, partitions: Iterable[str] | None = None
) -> int:
    """Write (replace) the manifests; returns how many were written."""
    files = manifests_for(state, lake_uri, partitions)
    for rel, data in files.items():
        storage.write_atomic(rel, data)
    return len(files)


def read_manifest(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]
