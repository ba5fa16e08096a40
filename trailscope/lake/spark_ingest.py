"""Fan ingest out over a Spark cluster: batches run as Spark tasks, commits stay on the driver.

The unit of work is the same ``process_batch`` that worker processes and Lambda run: it reads
a batch of source objects, normalizes them and stages Parquet parts in the lake. Tasks need
to reach the source and the lake (an S3 lake, or a path every executor shares); only the small
batch results (object records and event ids) travel back to the driver, which de-duplicates
and commits them in plan order, so the lake equals a single-process ingest of the same objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from trailscope.lake.batch import Batch
from trailscope.lake.commit import BatchOutput
from trailscope.lake.ingest import BatchRunner
from trailscope.lake.sourcesums import run_batch
from trailscope.lake.storage import Storage
from trailscope.sources.base import Source


def spark_runner(spark: Any, *, tasks_in_flight: int | None = None) -> BatchRunner:
    """A runner for ``Lake.ingest(runner=...)`` that runs batches on ``spark``'s executors.

    Batches are submitted in waves of ``tasks_in_flight`` (default: twice the default
    parallelism) so the driver never holds every result at once.
    """
    context = spark.sparkContext
    wave_size = tasks_in_flight or max(2, 2 * context.defaultParallelism)

    def run(source: Source, storage: Storage, batches: Iterator[Batch]) -> Iterator[BatchOutput]:
        wave: list[Batch] = []
        for batch in batches:
            wave.append(batch)
            if len(wave) >= wave_size:
                yield from _run_wave(context, source, storage, wave)
                wave = []
        if wave:
            yield from _run_wave(context, source, storage, wave)

    return run


def _run_wave(
    context: Any, source: Source, storage: Storage, wave: list[Batch]
) -> Iterator[BatchOutput]:
    rdd = context.parallelize(list(enumerate(wave)), numSlices=len(wave))
    done = rdd.map(lambda item: (item[0], run_batch(source, storage, item[1]))).collect()
    for _, output in sorted(done, key=lambda pair: pair[0]):
        yield output
