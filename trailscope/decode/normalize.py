"""Map the events of many objects onto THE schema: fast when the input is ordinary, tolerant
when it is not, and never stopped by one object.

Two paths produce identical columns:

* the **fast path** (:mod:`trailscope.decode.fast`) decodes standard compact
  ``{"Records": [...]}`` files with a typed msgspec decoder and builds a whole chunk of files
  into Arrow column by column; it refuses anything unusual, which sends that file to
* the **tolerant path** (:mod:`trailscope.decode.tolerant`), which walks each event in Python,
  coerces what is safe to coerce and quarantines single events without losing the rest.

Whatever goes wrong with one object (damaged gzip, too large once decompressed, not JSON, not
CloudTrail, or an error nobody foresaw) quarantines that object with a one-line reason; the
other objects of the batch are decoded as if it had not been there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import accumulate

import pyarrow as pa
import pyarrow.compute as pc

from trailscope.decode import records
from trailscope.decode.eventtime import UTC_MICROS, event_time_problem, parse_event_time, utc_times
from trailscope.decode.fast import (
    NestedValues,
    _FastChunk,
    decide_alone,
    fast_path_applies,
    warm_decoders,
)
from trailscope.decode.limits import DEFAULT_LIMITS, DecodeLimits
from trailscope.decode.parts import MAX_EVENT_BYTES, ObjectOutcome, Part, failure_reason
from trailscope.decode.schema import BATCH_SCHEMA, EVENTTIME_TS, SOURCEKEY
from trailscope.decode.tolerant import normalize_event, slow_decode

__all__ = [
    "MAX_EVENT_BYTES",
    "DecodeResult",
    "NestedValues",
    "ObjectOutcome",
    "decode_batch",
    "decode_object",
    "normalize_event",
    "parse_event_time",
    "warm_decoders",
]

log = logging.getLogger(__name__)


@dataclass
class DecodeResult:
    """Rows of a batch of objects (BATCH_SCHEMA) and one outcome per object, in input order."""

    table: pa.Table
    outcomes: list[ObjectOutcome]

    @property
    def events(self) -> int:
        return self.table.num_rows


def decode_object(key: str, data: bytes, limits: DecodeLimits = DEFAULT_LIMITS) -> DecodeResult:
    """Convenience for one object; ingest decodes in batches to share per-call costs."""
    return decode_batch([(key, data)], limits=limits)


def decode_batch(
    items: list[tuple[str, bytes]],
    nested: NestedValues | None = None,
    *,
    limits: DecodeLimits | None = None,
) -> DecodeResult:
    """Bytes of many source objects -> one normalized table plus per-object outcomes.

    Ordinary trail files go through the fast path together; anything else is handled alone by
    the tolerant path. Calls that pass the same ``nested`` share the work on nested values that
    repeat from one call to the next (the same sessions and TLS clients call all day); when it
    is ``deferred``, the table holds their positions, for ``nested.materialize``. ``limits``
    (default: ``nested``'s) bound what one object may cost.
    """
    if nested is None:
        nested = NestedValues(limits=limits or DEFAULT_LIMITS)
    limits = limits or nested.limits
    outcomes = [ObjectOutcome(key) for key, _ in items]
    # Parts are finished as they come, so the texts they keep (to decode their objects again
    # one by one should finishing fail) are let go as soon as possible.
    tables: list[pa.Table] = []
    chunk = _FastChunk(nested)

    def flush_fast() -> None:
        nonlocal chunk
        if chunk.rows:
            for part in chunk.parts():
                tables.extend(_finish_each(part, nested))
            chunk = _FastChunk(nested)

    for outcome, (_, data) in zip(outcomes, items, strict=True):
        try:
            text = records.plain_text(
                records.gunzip_if_needed(data, limits.max_object_bytes, outcome.key)
            )
            if fast_path_applies(text) and chunk.add(outcome, text):
                if chunk.full:
                    flush_fast()
                continue
            part = slow_decode(text, outcome, limits)
        except records.NotCloudTrail as exc:
            outcome.reject(str(exc))
            continue
        except Exception as exc:  # one object's surprise is that object's problem alone
            log.warning("%s: quarantined: decoding failed", outcome.key, exc_info=True)
            outcome.reject(failure_reason(exc))
            continue
        if part is not None:
            tables.extend(_finish_each(part, nested))
    flush_fast()
    if nested.deferred:
        tables = [nested.adopt(t) for t in tables]
    table = pa.concat_tables(tables) if tables else BATCH_SCHEMA.empty_table()
    return DecodeResult(table, outcomes)


def _finish_each(part: Part, nested: NestedValues) -> list[pa.Table]:
    """The part finished; if that fails, its objects one by one, so that only the one that
    fails is quarantined."""
    try:
        return [_finish(part)]
    except Exception as exc:
        if len(part.texts) <= 1:
            for owner in {id(o): o for o, _ in [*part.texts, *part.spans]}.values():
                _quarantine(owner, exc)
            return []
    tables = []
    for owner, text in part.texts:
        owner.reset()
        try:
            tables.extend([_finish(p) for p in decide_alone(owner, text, nested)])
        except Exception as exc:
            _quarantine(owner, exc)
    return tables


def _quarantine(owner: ObjectOutcome, exc: BaseException) -> None:
    log.warning("%s: quarantined: its rows could not be finished", owner.key, exc_info=exc)
    owner.reject(failure_reason(exc))


def _finish(part: Part) -> pa.Table:
    """Add the helper columns; quarantine events whose time cannot place them in a partition."""
    table = part.table
    assert table is not None
    times = table.column("eventtime")
    ts = utc_times(times)
    keep: list[bool] | None = None
    if ts is None or ts.null_count:
        # Rare: other formats, or no usable time at all. Decide row by row.
        owners = part.owners()
        raw_times = times.to_pylist()
        fixed = [None] * len(raw_times) if ts is None else ts.to_pylist()
        keep = []
        for i, value in enumerate(fixed):
            if value is None:
                fixed[i] = parse_event_time(raw_times[i])
            keep.append(fixed[i] is not None)
            if fixed[i] is None:
                owner, pos = owners[i]
                owner.quarantined.append((pos, event_time_problem(raw_times[i])))
                owner.events -= 1
        ts = pa.array(fixed, UTC_MICROS)
    # The source key of each row: one dictionary entry per object, spread by runs (no
    # per-row Python objects).
    spread = pc.run_end_decode(
        pa.RunEndEncodedArray.from_arrays(
            pa.array(list(accumulate(len(p) for _, p in part.spans)), pa.int32()),
            pa.array(range(len(part.spans)), pa.int32()),
        )
    )
    keys = pa.DictionaryArray.from_arrays(
        spread, pa.array([owner.key for owner, _ in part.spans], pa.string())
    )
    table = table.append_column(BATCH_SCHEMA.field(EVENTTIME_TS), ts)
    table = table.append_column(BATCH_SCHEMA.field(SOURCEKEY), keys)
    for owner, positions in part.spans:
        owner.events += len(positions)
    if keep is not None and not all(keep):
        table = table.filter(pa.array(keep))
    return table
