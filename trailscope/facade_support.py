"""Small pieces of the Python API: times as people pass them, the
ingest filters made ready, disk-full as an error, streams that release what they hold, and
the Athena manifests kept current after each commit."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import orjson

from trailscope.errors import LakeError
from trailscope.lake.manifest import LakeState, Manifest
from trailscope.lake.paths import ATHENA_SETTINGS
from trailscope.lake.settings import IngestFilters
from trailscope.lake.transaction import RetryPolicy
from trailscope.timeparse import parse_time

if TYPE_CHECKING:
    import pyarrow as pa

    from trailscope.lake.filters import CompiledFilters


def compile_filters(filters: IngestFilters) -> CompiledFilters | None:
    """Filters checked and ready for the workers; None (and nothing imported: ingest starts
    its workers before it loads pyarrow) when there are none."""
    if filters.empty:
        return None
    from trailscope.ingest_where import compile_where
    from trailscope.lake.filters import compile_filters

    return compile_filters(filters, compile_where)


@contextmanager
def disk_full_is_an_error(location: str) -> Iterator[None]:
    """ENOSPC from any write (Python's or Arrow's, here or in a worker) as a LakeError."""
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.ENOSPC and "No space left on device" not in str(exc):
            raise
        raise LakeError(
            f"no space left on the device of {location}",
            hint="free some space or move the lake, then run again: what was committed is "
            "kept, and the rest is done again",
        ) from None


def batches_then(batches: pa.RecordBatchReader, held: ExitStack) -> Iterator[pa.RecordBatch]:
    """The batches, then (or when the reader is closed or dropped early) what they needed."""
    try:
        yield from batches
    finally:
        held.close()


def as_text_or_datetime(
    value: datetime | date | str | None, *, end_of_day: bool = False
) -> datetime | str | None:
    """Times as the detections take them: text as typed (they resolve '7d' themselves), a
    date as the start (or end) of its day."""
    if value is None or isinstance(value, str):
        return value
    return as_datetime(value, end_of_day=end_of_day)


def as_datetime(
    value: datetime | date | str | None, *, end_of_day: bool = False
) -> datetime | None:
    """Accept what people pass: datetimes, dates, or the CLI's strings ('2024-06-01', '7d')."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse_time(value, end_of_day=end_of_day)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if end_of_day:
        return datetime(value.year, value.month, value.day, 23, 59, 59, tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


class ManifestUpkeep:
    """After 'trailscope athena setup' (symlink layout), every commit rewrites the manifests
    of the days it touched, so Athena sees each commit whole and new days at once."""

    def __init__(self, storage: Any, manifest: Manifest) -> None:
        self.storage = storage
        self.manifest = manifest
        self.location: str | None = None  # read on the first commit

    def __call__(self, state: LakeState, partitions: set[str]) -> None:
        if self.location is None:
            try:
                settings = orjson.loads(self.storage.read_bytes(ATHENA_SETTINGS))
            except FileNotFoundError:
                settings = {"location": ""}
            self.location = str(settings["location"])
        if not self.location:
            return
        from trailscope.athena.symlinks import write_manifests

        for _ in RetryPolicy(attempts=10).pauses():
            write_manifests(self.storage, state, self.location, partitions)
            # Another writer may have committed meanwhile and written its manifests from an
            # older state: catch up and write again until the log stands still.
            if self.storage.is_local or not self.manifest.refresh(state):
                return
