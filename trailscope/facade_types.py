"""The Python API's value types: engine names, the engine protocol, what ``lake info`` says."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from trailscope.lake.settings import NO_FILTERS

if TYPE_CHECKING:
    import pyarrow as pa

    from trailscope.lake.manifest import LakeState

#: The engines a query can run on, by name (see ``Lake.open_engine``).
EngineName = Literal["duckdb", "athena", "spark"]
#: What ``Lake.export`` writes.
ExportFormat = Literal["csv", "json", "ndjson", "parquet"]


class QueryEngine(Protocol):
    """What ``Lake.open_engine`` returns: DuckDB, Athena or Spark, one way to ask."""

    name: str

    def query(self, sql: str, *, timeout: float | None = ..., params: Any = ...) -> pa.Table:
        """Run SQL already in this engine's dialect; the whole result.

        :param sql: the query as this engine runs it (see ``Lake.sql_for``).
        :param timeout: seconds before it is cancelled.
        :param params: values for its placeholders.
        """
        ...

    def reader(
        self, sql: str, *, timeout: float | None = ..., params: Any = ...
    ) -> pa.RecordBatchReader:
        """Run SQL already in this engine's dialect; the result in batches.

        :param sql: the query as this engine runs it (see ``Lake.sql_for``).
        :param timeout: seconds it may run before its first batch.
        :param params: values for its placeholders.
        """
        ...

    def close(self) -> None:
        """Release what the engine holds (a connection, a view in a Spark session)."""
        ...


@dataclass
class QuarantineEntry:
    uri: str
    position: int | None  # event position inside the object; None: the whole object
    reason: str


@dataclass
class LakeInfo:
    """What ``trailscope lake info`` shows (and its ``--json`` twin)."""

    path: str
    events: int
    files: int
    bytes: int
    partitions: int
    first_day: str | None
    last_day: str | None
    accounts: list[str]
    regions: list[str]
    objects: dict[str, int]  # by status: ingested, empty, quarantined, skipped
    skipped_by_kind: dict[str, int]
    quarantined_events: int
    commits: int
    last_commit: str | None
    max_files_per_partition: int
    quarantine: list[QuarantineEntry] = field(default_factory=list)
    #: the ingest filters every ingest applies (see ``Lake.set_ingest_filters``)
    ingest_filters: dict[str, Any] = field(default_factory=lambda: NO_FILTERS.to_json())

    def to_json(self) -> dict[str, Any]:
        """The same as plain JSON values (what ``lake info --json`` prints)."""
        out = dict(self.__dict__)
        out["quarantine"] = [q.__dict__ for q in self.quarantine]
        return out


def describe(
    state: LakeState,
    location: str,
    places: pa.Table | None,
    ingest_filters: dict[str, Any],
    *,
    quarantine_limit: int,
) -> LakeInfo:
    """The ``lake info`` of a state of the log; ``places`` are its distinct (account, region)
    pairs, from a query (None: an empty lake)."""
    pairs = (
        list(zip(*(places.column(i).to_pylist() for i in range(2)), strict=True)) if places else []
    )
    accounts = sorted({a for a, _ in pairs if a})
    regions = sorted({r for _, r in pairs if r})
    parts = list(state.parts.values())
    by_partition = state.parts_by_partition()
    days = sorted(by_partition)
    statuses = Counter(o.status for o in state.objects.values())
    skipped = Counter(o.kind for o in state.objects.values() if o.status == "skipped")
    quarantine: list[QuarantineEntry] = []
    quarantined_events = 0
    for obj in state.objects.values():
        quarantined_events += obj.quarantined_count
        if obj.status == "quarantined":
            quarantine.append(QuarantineEntry(obj.uri, None, obj.reason or "unknown"))
        for pos, reason in obj.quarantined_events:
            quarantine.append(QuarantineEntry(obj.uri, pos, reason))
    return LakeInfo(
        path=location,
        events=sum(p.rows for p in parts),
        files=len(parts),
        bytes=sum(p.bytes for p in parts),
        partitions=len(by_partition),
        first_day=days[0] if days else None,
        last_day=days[-1] if days else None,
        accounts=accounts,
        regions=regions,
        objects=dict(statuses),
        skipped_by_kind=dict(skipped),
        quarantined_events=quarantined_events,
        commits=state.commits,
        last_commit=state.last_commit.committed_at if state.last_commit else None,
        max_files_per_partition=max((len(v) for v in by_partition.values()), default=0),
        quarantine=quarantine[:quarantine_limit],
        ingest_filters=ingest_filters,
    )
