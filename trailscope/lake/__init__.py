"""The on-disk table: partitioned Parquet plus a commit log that says what is in it."""

from trailscope.lake.ingest import IngestSummary
from trailscope.lake.lake import Lake, LakeInfo, QuarantineEntry, open_lake

__all__ = ["IngestSummary", "Lake", "LakeInfo", "QuarantineEntry", "open_lake"]
