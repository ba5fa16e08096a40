"""The lake's memory of which source files were validated, so queries can say so.

One Parquet file, ``_trailscope/integrity/validation.parquet``, one row per log file, keyed by
``object_id`` (the key from ``AWSLogs/`` on, the id the manifest uses). Each run replaces the
rows of the files it checked and keeps the others, so windows verified on different days add
up; the file is rewritten whole and swapped in atomically under the lake's writer lock.
"""

from __future__ import annotations

import datetime as dt
import io
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from trailscope.errors import LakeError
from trailscope.integrity.report import VerifyReport
from trailscope.lake.paths import META_DIR
from trailscope.lake.storage import Storage

VALIDATION_FILE = f"{META_DIR}/integrity/validation.parquet"

VALIDATION_SCHEMA = pa.schema(
    [
        pa.field("object_id", pa.string(), nullable=False),
        pa.field("account", pa.string()),
        pa.field("region", pa.string()),
        pa.field("delivery_day", pa.date32()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("digest", pa.string()),
        pa.field("expected_sha256", pa.string()),
        pa.field("actual_sha256", pa.string()),
        pa.field("verified_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("source", pa.string(), nullable=False),
    ]
)


class LakeAccess(Protocol):
    """What the record needs of a lake (``trailscope.Lake`` has it)."""

    @property
    def storage(self) -> Storage: ...
    @property
    def location(self) -> str: ...
    @property
    def root(self) -> Path | None: ...

    def writer_lock(self, operation: str) -> AbstractContextManager[Any]: ...


def record_validation(lake: LakeAccess, report: VerifyReport) -> int:
    """Merge ``report``'s per-file verdicts into the lake; returns the rows now recorded."""
    lk = lake
    verified_at = report.verified_at.astimezone(dt.UTC)
    new = pa.table(
        {
            "object_id": [f.id for f in report.files],
            "account": [f.account for f in report.files],
            "region": [f.region for f in report.files],
            "delivery_day": [f.day for f in report.files],
            "status": [str(f.status) for f in report.files],
            "digest": [f.digest for f in report.files],
            "expected_sha256": [f.expected_sha256 for f in report.files],
            "actual_sha256": [f.actual_sha256 for f in report.files],
            "verified_at": [verified_at] * len(report.files),
            "source": [report.source] * len(report.files),
        },
        schema=VALIDATION_SCHEMA,
    )
    with lk.writer_lock("verify"):
        old = _read(lk)
        if old.num_rows:
            keep = pc.invert(pc.is_in(old["object_id"], value_set=new["object_id"]))
            new = pa.concat_tables([old.filter(keep), new])
        new = new.sort_by("object_id")
        buffer = io.BytesIO()
        pq.write_table(new, buffer, compression="zstd")
        lk.storage.write_atomic(VALIDATION_FILE, buffer.getvalue())
    return new.num_rows


def validated_files(lake: LakeAccess) -> pa.Table:
    """Every recorded verdict (empty, with the schema, if nothing was verified yet)."""
    return _read(lake)


def validation_path(lake: LakeAccess) -> Path:
    """Where the record lives in a local lake."""
    lk = lake
    if lk.root is None:
        raise LakeError(f"{lk.location} is on S3: use validated_files() to read the record")
    return lk.root / VALIDATION_FILE


def _read(lk: LakeAccess) -> pa.Table:
    try:
        data = lk.storage.read_bytes(VALIDATION_FILE)
    except FileNotFoundError:
        return VALIDATION_SCHEMA.empty_table()
    try:
        table = pq.read_table(io.BytesIO(data))
    except (OSError, pa.ArrowInvalid) as exc:
        where = f"{lk.location}/{VALIDATION_FILE}"
        raise LakeError(f"unreadable validation record {where}: {exc}") from None
    return table.cast(VALIDATION_SCHEMA)
