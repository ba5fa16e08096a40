"""An ingest run of the Lake: the source opened, the lake's filters combined with the run's,
then batches under the writer lock, compaction as days settle, and retention at the end."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from trailscope.decode.limits import DecodeLimits
from trailscope.facade_support import compile_filters
from trailscope.lake.ingest import (
    BatchRunner,
    IngestSummary,
    PoolRunner,
    ProgressFn,
    default_workers,
    process_pool,
    run_ingest,
)
from trailscope.lake.settings import IngestFilters
from trailscope.lake.settings import save_filters as save_filters_to
from trailscope.sources import ListFilter, Source, SourceObject, open_source

if TYPE_CHECKING:
    from trailscope.facade import Lake


def ingest_into(
    lake: Lake,
    source: str | Source,
    flt: ListFilter,
    *,
    workers: int | None,
    batch_bytes: int,
    compact: bool,
    profile: str | None,
    endpoint_url: str | None,
    progress: ProgressFn | None,
    objects: Iterable[SourceObject] | None,
    runner: BatchRunner | None,
    limits: DecodeLimits,
    filters: IngestFilters | None,
    save_filters: bool,
) -> IngestSummary:
    """What ``Lake.ingest`` does (its docstring says what each argument means)."""
    if filters is not None:  # checked before anything is touched: a typo costs nothing
        compile_filters(filters)
    src = (
        open_source(source, profile=profile, endpoint_url=endpoint_url)
        if isinstance(source, str)
        else source
    )
    lake.storage.prepare()
    effective = lake.ingest_filters()
    if filters is not None:
        effective = effective.combined(filters)
    compiled = compile_filters(effective)
    lake.manifest.initialize()
    if save_filters:
        save_filters_to(lake.storage, effective)
    summary = IngestSummary(source=src.uri, lake=lake.location)
    with lake.writer_lock("ingest") as lock:
        summary.took_over_lock = lock is not None and lock.took_over is not None
        state = lake.manifest.load()
        lake._recover(state)
        compacted: set[str] = set()

        def settle(partitions: set[str], parallel: int = 0) -> None:
            """Compact ``partitions``: during the run (``parallel`` 0) one at a time and
            only merges small enough to run beside the workers; at its end, side by side."""
            from trailscope.lake import compact as compaction

            limit = compaction.IN_RUN_MAX_MERGE_ROWS if not parallel else None
            compacted.update(
                compaction.compact_each(
                    lake.manifest, state, partitions, parallel=parallel or 1, max_rows=limit
                )
            )

        lanes = workers or default_workers()
        pool = None if runner else process_pool(lanes)
        chosen: BatchRunner = runner or pool or process_pool(1)
        try:
            touched = run_ingest(
                src,
                lake.manifest,
                state,
                flt,
                summary,
                runner=chosen,
                batch_bytes=batch_bytes,
                lanes=1 if runner else lanes,
                progress=progress,
                objects=objects,
                settle=settle if compact else None,
                limits=limits,
                filters=compiled,
            )
        finally:
            if isinstance(pool, PoolRunner):
                pool.close()  # workers started early for a run that failed before them
        if compact and touched:
            settle(touched, parallel=lanes)  # the workers have exited: share the cores
        summary.compacted_partitions = len(compacted)
        keep = lake.retention()
        if keep is not None:
            from trailscope.lake import purge as purging

            horizon = datetime.now(UTC).date() - timedelta(days=keep)
            summary.purged_days = len(purging.purge(lake.manifest, state, horizon).days)
    return summary
