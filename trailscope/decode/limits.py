"""The limits every object is decoded within, so one odd object can never exhaust a run.

A source object is read and decompressed whole before it is parsed, so its size once
decompressed bounds the memory it takes; its nesting bounds the recursion of every JSON reader
that will ever read it (trailscope's, DuckDB's, Spark's). Both limits sit far above anything
CloudTrail writes: CloudTrail's own files are a few MB and a dozen levels deep at most. An
object past a limit is quarantined with a reason that names the limit.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Bytes an object may take once decompressed (or as stored, when it is not compressed).
DEFAULT_MAX_OBJECT_BYTES = 256 * 1024 * 1024
#: Levels of nesting an event may have, the event itself being level 1.
MAX_DEPTH = 100


@dataclass(frozen=True)
class DecodeLimits:
    """What one object may cost to read; travels with each batch to wherever it runs."""

    #: Largest object, in bytes, once decompressed; larger ones are quarantined unread.
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES
    #: Deepest nesting of one event; deeper events are quarantined one by one.
    max_depth: int = MAX_DEPTH

    def __post_init__(self) -> None:
        if self.max_object_bytes < 1:
            raise ValueError(f"max_object_bytes must be positive, not {self.max_object_bytes}")
        if self.max_depth < 2:
            raise ValueError(f"max_depth must be at least 2, not {self.max_depth}")


DEFAULT_LIMITS = DecodeLimits()


def size_text(size: int) -> str:
    """A byte count as people write limits: ``256 MB`` for whole binary megabytes (as the
    per-event limit has always been written), else the exact number of bytes."""
    for unit, shift in (("GB", 30), ("MB", 20), ("KB", 10)):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift} {unit}"
    return f"{size:,} bytes"


def too_large_reason(limit: int, *, decompressed: bool) -> str:
    """The quarantine reason of an object over ``limit``."""
    suffix = " when decompressed" if decompressed else ""
    return f"larger than {size_text(limit)}{suffix}"


def too_deep_reason(limit: int) -> str:
    """The quarantine reason of an event nested deeper than ``limit`` levels."""
    return f"nested deeper than {limit} levels"
