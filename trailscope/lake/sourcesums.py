"""A batch run with a checksum of every source object it reads, kept in the object's record.

A copy of a trail whose files were re-copied or touched (new mtimes, same bytes) lists every
object as changed. With the content's checksum in the log, the next ingest reads such an
object, finds the same checksum, and records its new version without decoding it again (and
without comparing every event with the lake's copy of it, which cost five times a fresh
ingest).

For a gzip file (every CloudTrail object) the checksum is the gzip trailer: the CRC-32 and
length of the uncompressed content, which the compressor computed already, so keeping it costs
nothing; other objects get a CRC-32 of their bytes.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

from trailscope.lake.batch import Batch
from trailscope.lake.storage import Storage
from trailscope.sources.base import Source, SourceObject

if TYPE_CHECKING:
    from trailscope.lake.commit import BatchOutput


def content_checksum(data: bytes) -> str:
    """What identifies an object's content: ``gz:`` and its gzip trailer (CRC-32 and length of
    the uncompressed bytes), else the CRC-32 of its bytes, as hex."""
    if len(data) >= 18 and data[:2] == b"\x1f\x8b":
        return "gz:" + data[-8:].hex()
    return f"{zlib.crc32(data):08x}"


class ChecksummingSource:
    """``source``, remembering the CRC of each object it reads (by key)."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.sums: dict[str, str] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.source, name)

    def read(self, obj: SourceObject, max_bytes: int | None = None) -> bytes:
        data = self.source.read(obj, max_bytes)
        self.sums[obj.key] = content_checksum(data)
        return data


def run_batch(source: Source, storage: Storage, batch: Batch) -> BatchOutput:
    """:func:`trailscope.lake.stage.process_batch`, with each object's content CRC recorded."""
    from trailscope.lake.stage import process_batch

    reading = ChecksummingSource(source)
    output = process_batch(reading, storage, batch)
    for record, key in zip(output.objects, output.keys, strict=False):
        if not record.read_failed:
            record.checksum = reading.sums.get(key)
    return output
