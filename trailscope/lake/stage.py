"""A batch's work in a worker: read its objects, decode them, stage Parquet parts.

Runs wherever batches run (a worker process, a Spark task, Lambda, or the committing process
for a run of one batch) and never commits: it returns what it did (:class:`BatchOutput`), and
the committing process decides what of it enters the lake.
"""

from __future__ import annotations

import gc
import logging

import pyarrow as pa

from trailscope.decode.limits import DecodeLimits, too_large_reason
from trailscope.decode.normalize import NestedValues, ObjectOutcome, decode_batch
from trailscope.decode.schema import BATCH_SCHEMA
from trailscope.errors import SourceReadError
from trailscope.lake import writer
from trailscope.lake.batch import Batch, object_record
from trailscope.lake.commit import BatchOutput
from trailscope.lake.manifest import ObjectRecord
from trailscope.lake.storage import Storage
from trailscope.sources.base import Source, SourceObject
from trailscope.sources.layout import ObjectKind

#: Objects decoded together before their rows are turned into Arrow (bounds worker memory).
DECODE_CHUNK = 64
#: Per-event quarantine entries kept per object; the count is always exact.
MAX_EVENT_REASONS = 50

log = logging.getLogger(__name__)


def process_batch(source: Source, storage: Storage, batch: Batch) -> BatchOutput:
    """Read, decode and stage one batch. Runs in a worker process; never commits."""
    gc.disable()  # millions of short-lived containers: the cyclic GC only burns time here
    try:
        return _process_batch(source, storage, batch)
    finally:
        gc.enable()


def _read(source: Source, obj: SourceObject, limits: DecodeLimits) -> bytes:
    """The object's bytes, unless it is too large to hold (then it is not read at all), or
    its reading fails; both raise SourceReadError, whose reason is quarantined."""
    limit = limits.max_object_bytes
    if obj.size > limit:
        raise _TooLarge(obj.uri, too_large_reason(limit, decompressed=False))
    data = source.read(obj, max_bytes=limit + 1)
    if len(data) > limit:  # it grew since it was listed
        raise _TooLarge(obj.uri, too_large_reason(limit, decompressed=False))
    return data


class _TooLarge(SourceReadError):
    """Known from the listing: not a read failure, so not tried again by the next run."""


def _context_rows(
    source: Source, context: list[SourceObject], nested: NestedValues, limits: DecodeLimits
) -> pa.Table | None:
    """Rows of the context objects, to dedup against only (their own batch stores them).
    One that cannot be read or decoded is left out: the committing process's check against
    the lake still catches any copy it would have caught."""
    items = []
    for obj in context:
        try:
            items.append((obj.key, _read(source, obj, limits)))
        except SourceReadError:
            continue
    table = decode_batch(items, nested, limits=limits).table if items else None
    return table if table is not None and table.num_rows else None


def _process_batch(source: Source, storage: Storage, batch: Batch) -> BatchOutput:
    objects = batch.objects
    records: list[ObjectRecord] = []
    tables: list[pa.Table] = []
    limits = batch.limits
    # Nested values travel as positions through the sort and are built per day's rows.
    nested = NestedValues(deferred=True, limits=limits)
    context = _context_rows(source, batch.context, nested, limits)
    if context is not None:
        tables.append(context)
    bytes_read = 0
    for start in range(0, len(objects), DECODE_CHUNK):
        chunk = objects[start : start + DECODE_CHUNK]
        items: list[tuple[str, bytes]] = []
        failed: dict[str, SourceReadError] = {}
        for obj in chunk:
            try:
                data = _read(source, obj, limits)
            except SourceReadError as exc:
                failed[obj.key] = exc
                continue
            except Exception as exc:  # a source's surprise costs this object, not the run
                log.warning("%s: cannot be read", obj.uri, exc_info=True)
                failed[obj.key] = SourceReadError(obj.uri, f"{type(exc).__name__}: {exc}")
                continue
            bytes_read += len(data)
            items.append((obj.key, data))
        result = decode_batch(items, nested, limits=limits)
        if result.table.num_rows:
            tables.append(result.table)
        outcomes = {o.key: o for o in result.outcomes}
        for obj in chunk:
            error = failed.get(obj.key)
            if error is not None:
                records.append(
                    object_record(
                        obj,
                        "quarantined",
                        reason=error.reason.splitlines()[0][:300],
                        read_failed=not isinstance(error, _TooLarge),
                    )
                )
            else:
                records.append(_record_from_outcome(obj, outcomes[obj.key]))
    table = pa.concat_tables(tables) if tables else BATCH_SCHEMA.empty_table()
    reference = context.num_rows if context is not None else 0
    filtered = 0
    if batch.filters is not None:
        from trailscope.lake.filters import apply_filters

        table, reference, filtered = apply_filters(
            table, reference, batch.filters, nested.materialize
        )
    days, duplicates = writer.sort_and_split(
        table, reference_rows=reference, materialize=nested.materialize
    )
    parts, ids = [], []
    for partition, rows in days:
        full = nested.materialize(rows)
        if batch.filters is not None and batch.filters.redact:
            from trailscope.lake.filters import redact

            full = redact(full, batch.filters.redact)
        parts.append(writer.write_part(storage, partition, full))
        ids.append(rows.column("eventid").combine_chunks())
    return BatchOutput(
        records, parts, ids, duplicates, bytes_read, [o.key for o in objects], filtered=filtered
    )


def _record_from_outcome(obj: SourceObject, outcome: ObjectOutcome) -> ObjectRecord:
    if outcome.rejected:
        reason = next(r for pos, r in outcome.quarantined if pos is None)
        return object_record(obj, "quarantined", reason=reason)
    if outcome.is_digest and outcome.events == 0:
        rec = object_record(obj, "skipped", reason="digest document")
        rec.kind = str(ObjectKind.DIGEST)  # found by content, e.g. in a flat folder
        return rec
    event_reasons = [[pos, r] for pos, r in outcome.quarantined]
    # 'quarantined' is kept for objects that are unusable as a whole; a file whose events were
    # each quarantined was read fine: it is 'ingested' (with 0 events) and lists their reasons.
    status = "ingested" if outcome.events or event_reasons else "empty"
    rec = object_record(
        obj,
        status,
        events=outcome.events,
        quarantined_count=len(event_reasons),
        quarantined_events=event_reasons[:MAX_EVENT_REASONS],
        unknown_fields=outcome.unknown_fields,
        coerced_values=outcome.coerced_values,
    )
    return rec
