"""What a batch of source objects is, and how the lake names and records each object: shared by
the committing process (:mod:`trailscope.lake.ingest`) and the workers that stage batches
(:mod:`trailscope.lake.stage`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from trailscope.decode.limits import DEFAULT_LIMITS, DecodeLimits
from trailscope.lake.manifest import ObjectRecord
from trailscope.sources.base import SourceObject

if TYPE_CHECKING:
    from trailscope.lake.filters import CompiledFilters


def object_id(obj: SourceObject) -> str:
    """The key from ``AWSLogs/`` on when there is one (also for a source rooted below that
    folder), so a bucket, its prefix and a local copy agree; else the full URI."""
    for text in (obj.key, obj.uri.replace(os.sep, "/")):
        at = text.find("AWSLogs/")
        if at >= 0:
            return text[at:]
    return obj.uri


@dataclass
class Batch:
    """Source objects decoded and staged together, with the context to dedup them cheaply."""

    objects: list[SourceObject]
    #: For each log stream (account, region) the batch enters part-way, the stream's
    #: preceding objects, which another batch of the run holds. CloudTrail re-delivers an event
    #: soon after the first copy, so copies straddling the cut are mostly between neighbours:
    #: decoding the neighbour here (a few ms) drops them in the worker, where the committing
    #: process would instead re-read, compare and rewrite a whole part (about 0.2 s each).
    context: list[SourceObject] = field(default_factory=list)
    #: what one object may cost to decode, wherever the batch runs
    limits: DecodeLimits = DEFAULT_LIMITS
    #: the lake's ingest filters (events left out, fields blanked), wherever the batch runs
    filters: CompiledFilters | None = None


def object_record(obj: SourceObject, status: str, **kw: object) -> ObjectRecord:
    """The manifest's record of one object: made here for objects skipped at listing, and by
    :mod:`trailscope.lake.stage` for those a batch read."""
    info = obj.info
    return ObjectRecord(
        id=object_id(obj),
        uri=obj.uri,
        version=obj.version,
        size=obj.size,
        kind=str(info.kind),
        status=status,
        account=info.account,
        region=info.region,
        day=info.day.isoformat() if info.day else None,
        **kw,  # type: ignore[arg-type]
    )
