"""Where raw CloudTrail objects come from: listing and reading, never parsing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trailscope.sources.base import ListFilter, Source, SourceObject
from trailscope.sources.layout import KeyInfo, ObjectKind, classify_key
from trailscope.sources.local import LocalSource
from trailscope.sources.resolve import open_source

if TYPE_CHECKING:
    from trailscope.sources.s3 import S3Source

__all__ = [
    "KeyInfo",
    "ListFilter",
    "LocalSource",
    "ObjectKind",
    "S3Source",
    "Source",
    "SourceObject",
    "classify_key",
    "open_source",
]


def __getattr__(name: str) -> object:
    """``S3Source`` on first use: botocore is not loaded for a local run (nor by its workers)."""
    if name == "S3Source":
        from trailscope.sources.s3 import S3Source

        return S3Source
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
