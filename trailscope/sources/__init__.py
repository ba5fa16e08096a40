"""Where raw CloudTrail objects come from: listing and reading, never parsing."""

from trailscope.sources.base import ListFilter, Source, SourceObject, open_source
from trailscope.sources.layout import KeyInfo, ObjectKind, classify_key
from trailscope.sources.local import LocalSource
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
