"""The lake's memory of which source files were validated, so queries can say so.

The side table ``cloudtrail_validation`` (see :mod:`trailscope.lake.tables`), one row per log
file, keyed by ``object_id`` (the key from ``AWSLogs/`` on, the id the manifest uses). Each run
replaces the rows of the files it checked and keeps the others, so windows verified on
different days add up; each version is committed like any change to the lake, so a query sees
the record and the events of one commit.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from trailscope.errors import LakeError
from trailscope.integrity.report import VerifyReport
from trailscope.lake.manifest import LakeState
from trailscope.lake.paths import META_DIR
from trailscope.lake.storage import Storage

#: The side table's name: what every engine calls it.
VALIDATION_TABLE = "cloudtrail_validation"
#: Where lakes kept the record before it was a side table (read until the next verify).
LEGACY_VALIDATION_FILE = f"{META_DIR}/integrity/validation.parquet"

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
    def root(self) -> Path | None: ...

    def state(self) -> LakeState: ...
    def read_table(self, name: str) -> pa.Table | None: ...
    def update_table(
        self, name: str, change: Callable[[pa.Table | None], pa.Table], *, operation: str
    ) -> pa.Table: ...


def record_validation(lake: LakeAccess, report: VerifyReport) -> int:
    """Merge ``report``'s per-file verdicts into the lake; returns the rows now recorded."""
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

    def merge(current: pa.Table | None) -> pa.Table:
        old = current.cast(VALIDATION_SCHEMA) if current is not None else None
        if old is None:
            old = legacy_validation(lake.storage)
        merged = new
        if old.num_rows:
            keep = pc.invert(pc.is_in(old["object_id"], value_set=new["object_id"]))
            merged = pa.concat_tables([old.filter(keep), new])
        return merged.sort_by("object_id")

    recorded = lake.update_table(VALIDATION_TABLE, merge, operation="verify")
    lake.storage.delete(LEGACY_VALIDATION_FILE)  # merged into the side table
    return recorded.num_rows


def validated_files(lake: LakeAccess) -> pa.Table:
    """Every recorded verdict (empty, with the schema, if nothing was verified yet)."""
    table = lake.read_table(VALIDATION_TABLE)
    if table is None:
        return legacy_validation(lake.storage)
    return table.cast(VALIDATION_SCHEMA)


def validation_path(lake: LakeAccess) -> Path:
    """Where the committed record lives in a local lake."""
    record = lake.state().tables.get(VALIDATION_TABLE)
    if lake.root is None:
        raise LakeError(f"{lake.storage.location} is on S3: use validated_files() to read it")
    if record is None:
        raise LakeError(
            f"nothing verified yet in {lake.root}",
            hint="run 'trailscope verify SOURCE --lake PATH'",
        )
    return lake.root / record.path


def legacy_validation(storage: Storage) -> pa.Table:
    """The record as lakes kept it before side tables (empty if there is none)."""
    try:
        data = storage.read_bytes(LEGACY_VALIDATION_FILE)
    except FileNotFoundError:
        return VALIDATION_SCHEMA.empty_table()
    try:
        table = pq.read_table(io.BytesIO(data))
    except (OSError, pa.ArrowInvalid) as exc:
        where = f"{storage.location}/{LEGACY_VALIDATION_FILE}"
        raise LakeError(f"unreadable validation record {where}: {exc}") from None
    return table.cast(VALIDATION_SCHEMA)
