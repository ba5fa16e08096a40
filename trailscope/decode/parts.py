"""What both decode paths hand back: rows in Arrow, and what became of each object."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from trailscope.decode.records import Text
from trailscope.decode.schema import BATCH_SCHEMA, EVENTTIME_TS, FILE_SCHEMA, SOURCEKEY

__all__ = [
    "BATCH_ROWS",
    "MAX_EVENT_BYTES",
    "STORED_ROWS",
    "ObjectOutcome",
    "Part",
    "Text",
    "failure_reason",
]

#: CloudTrail's own limit is far below this; anything larger is not an event we can store sanely.
MAX_EVENT_BYTES = 16 * 1024 * 1024

#: The columns a decoded part has before its helper columns are added, as stored and in a batch.
STORED_ROWS = pa.schema([f for f in FILE_SCHEMA if f.name not in (EVENTTIME_TS, SOURCEKEY)])
BATCH_ROWS = pa.schema([f for f in BATCH_SCHEMA if f.name not in (EVENTTIME_TS, SOURCEKEY)])


@dataclass
class ObjectOutcome:
    """What one source object turned into (its rows live in the batch table)."""

    key: str
    events: int = 0
    is_digest: bool = False
    #: (record position or None for the whole object, one-line reason)
    quarantined: list[tuple[int | None, str]] = field(default_factory=list)
    unknown_fields: int = 0
    coerced_values: int = 0
    fast_path: bool = False

    @property
    def rejected(self) -> bool:
        """The whole object is unusable (as opposed to some events in it)."""
        return any(pos is None for pos, _ in self.quarantined)

    def reset(self) -> None:
        """Forget a decode that went wrong part-way, to decode the object again."""
        self.events = self.unknown_fields = self.coerced_values = 0
        self.is_digest = self.fast_path = False
        self.quarantined.clear()

    def reject(self, reason: str) -> None:
        """The whole object is quarantined: nothing of it is kept."""
        self.reset()
        self.quarantined.append((None, reason))


@dataclass
class Part:
    """Rows from one or more objects: runs of (owner, the rows' positions inside it), and the
    owners' texts, to decode them again one by one if finishing the part fails."""

    table: pa.Table | None = None
    spans: list[tuple[ObjectOutcome, Sequence[int]]] = field(default_factory=list)
    texts: list[tuple[ObjectOutcome, Text]] = field(default_factory=list)

    def add(self, outcome: ObjectOutcome, positions: Sequence[int]) -> None:
        if positions:
            self.spans.append((outcome, positions))

    def owners(self) -> list[tuple[ObjectOutcome, int]]:
        """(owner, position in its object) of each row: only for the rare row-by-row path."""
        return [(owner, pos) for owner, positions in self.spans for pos in positions]


def failure_reason(exc: BaseException) -> str:
    """The one-line reason of an object whose decoding failed in a way nobody foresaw."""
    text = str(exc).splitlines()[0][:160] if str(exc) else ""
    return f"cannot be decoded: {type(exc).__name__}" + (f": {text}" if text else "")
