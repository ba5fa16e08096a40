"""What a watch cycle must run the detections on: the events ingested since the last cycle
that did.

The cursor is a lake version (kept in the health record). The events to look at are those of
the objects every ingest commit after it recorded, whoever made the commit (this watch, a
``trailscope ingest`` run beside it, a Lambda invocation): their source keys are the rows'
``sourcekey``, so one query over the days those commits touched gives the first and last event
time exactly. A watch killed between its ingest and its alerts finds the same commits after the
cursor when it starts again, so nothing ingested escapes detection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from trailscope.lake.manifest import Commit, LakeState, commit_name
from trailscope.vocabulary import sql_string

if TYPE_CHECKING:
    from trailscope.facade import Lake

log = logging.getLogger(__name__)

#: Past this many objects, the range is taken over the touched days without naming the keys
#: (a first run over a large backlog: the list would cost more than the wider range).
MAX_NAMED_KEYS = 5000


@dataclass
class Pending:
    """Ingested since the cursor: up to lake version ``through``."""

    through: int
    objects: int = 0
    events: int = 0
    keys: list[str] = field(default_factory=list)
    partitions: set[str] = field(default_factory=set)
    first: str | None = None
    last: str | None = None


def pending_since(
    lake: Lake, version: int, *, only: set[str] | None = None, state: LakeState | None = None
) -> Pending:
    """The ingest commits after ``version`` up to the lake's head (``only``: of these object
    ids, as a Lambda invocation wants the objects it was told about; ``state``: the lake as
    the caller already read it)."""
    state = state or lake.state()
    out = Pending(through=state.version)
    storage = lake.storage
    for number in range(version + 1, state.version + 1):
        commit = Commit.from_bytes(storage.read_bytes(commit_name(number)))
        if commit.operation != "ingest":
            continue
        for obj in commit.objects:
            if obj.events and (only is None or obj.id in only):
                out.objects += 1
                out.events += obj.events
                out.keys.append(obj.id)
        if only is None or any(o.id in only for o in commit.objects):
            out.partitions.update(p.partition for p in commit.add if p.rows)
    if out.keys and out.partitions:
        out.first, out.last = event_range(lake, out.keys, out.partitions)
    return out


def event_range(lake: Lake, keys: list[str], partitions: set[str]) -> tuple[str | None, str | None]:
    """The first and last event time of the objects ``keys`` (ids) in days ``partitions``."""
    days = ", ".join(sql_string(p) for p in sorted(partitions))
    where = f"event_date IN ({days})"
    if len(keys) <= MAX_NAMED_KEYS:
        where += f" AND sourcekey IN ({', '.join(sql_string(k) for k in keys)})"
    table = lake.query(f"SELECT min(eventtime), max(eventtime) FROM cloudtrail WHERE {where}")
    first, last = table.column(0)[0].as_py(), table.column(1)[0].as_py()
    return _iso(first), _iso(last)


def _iso(value: object) -> str | None:
    if value is None:
        return None
    from datetime import UTC, datetime

    if isinstance(value, datetime):
        when = value if value.tzinfo else value.replace(tzinfo=UTC)
        return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)  # eventtime is ISO text, as CloudTrail writes it


def newest_event(lake: Lake) -> str | None:
    """The newest event time in the lake (reads only its last day)."""
    state = lake.state()
    days = sorted(state.parts_by_partition())
    if not days:
        return None
    table = lake.query(
        f"SELECT max(eventtime) FROM cloudtrail WHERE event_date = {sql_string(days[-1])}"
    )
    return _iso(table.column(0)[0].as_py())
