"""The lake's ingest settings: which events it leaves out and which fields it blanks.

Kept in the lake (``_trailscope/settings.json``), not in a command line, so every later
ingest applies them, whoever runs it: ``trailscope ingest``, a Lambda invocation, ``watch``
(all call :meth:`trailscope.facade.Lake.ingest`). What they mean for rows, and how they are
checked and applied in the workers, is in :mod:`trailscope.lake.filters`.

This module imports neither pyarrow nor DuckDB: ``ingest`` reads the settings before it starts
its worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from trailscope.errors import LakeError, TrailscopeError
from trailscope.lake.paths import RETENTION_FILE, SETTINGS_FILE
from trailscope.lake.storage import Storage

_KEYS = ("exclude_sources", "exclude_events", "where", "redact")


@dataclass(frozen=True)
class IngestFilters:
    """What ingest leaves out of the lake, and what it blanks in the events it keeps.

    :param exclude_sources: event sources whose events are left out (``s3.amazonaws.com``);
        ``*`` matches any run of characters.
    :param exclude_events: event names left out (``GetObject``, ``Describe*``).
    :param where: keep only events for which this Athena SQL condition is true (the columns
        of the ``cloudtrail`` table: ``eventname = 'ConsoleLogin'``).
    :param redact: fields stored as NULL, by their column path
        (``useridentity.accesskeyid``, ``sourceipaddress``).
    """

    exclude_sources: tuple[str, ...] = ()
    exclude_events: tuple[str, ...] = ()
    where: str | None = None
    redact: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        # Lists from JSON or callers become tuples (hashable, picklable, order kept, once each).
        for name in ("exclude_sources", "exclude_events", "redact"):
            object.__setattr__(self, name, _unique(getattr(self, name)))
        where = self.where.strip() if isinstance(self.where, str) else self.where
        object.__setattr__(self, "where", where or None)

    @property
    def empty(self) -> bool:
        """True when ingest keeps every event as it is."""
        return not (self.exclude_sources or self.exclude_events or self.where or self.redact)

    def combined(self, other: IngestFilters) -> IngestFilters:
        """Both sets at once: an event is left out if either leaves it out, and a field
        blanked by either is blanked (so a run's own filters never undo a saved redaction)."""
        where = self.where
        if other.where:
            where = f"({where})\nAND ({other.where})" if where else other.where
        return IngestFilters(
            self.exclude_sources + other.exclude_sources,
            self.exclude_events + other.exclude_events,
            where,
            self.redact + other.redact,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "exclude_sources": list(self.exclude_sources),
            "exclude_events": list(self.exclude_events),
            "where": self.where,
            "redact": list(self.redact),
        }

    @classmethod
    def from_json(cls, data: Any) -> IngestFilters:
        """Settings as saved; a value of the wrong type is an error, not ignored."""
        if not isinstance(data, dict):
            raise ValueError("not an object")
        unknown = sorted(set(data) - set(_KEYS))
        if unknown:
            raise ValueError(f"unknown setting {unknown[0]!r}")
        lists = {}
        for name in ("exclude_sources", "exclude_events", "redact"):
            value = data.get(name) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{name} is not a list of texts")
            lists[name] = tuple(value)
        where = data.get("where")
        if where is not None and not isinstance(where, str):
            raise ValueError("where is not a text")
        return cls(where=where, **lists)

    def describe(self) -> list[tuple[str, str]]:
        """(setting, value) lines for people: what ``lake info`` and ``lake settings`` show."""
        lines = []
        if self.exclude_sources:
            lines.append(("exclude sources", ", ".join(self.exclude_sources)))
        if self.exclude_events:
            lines.append(("exclude events", ", ".join(self.exclude_events)))
        if self.where:
            lines.append(("keep only where", " ".join(self.where.split())))
        if self.redact:
            lines.append(("redact", ", ".join(self.redact)))
        return lines


def _unique(values: Any) -> tuple[str, ...]:
    if isinstance(values, str):
        values = (values,)
    out: dict[str, None] = {}
    for value in values or ():
        text = str(value).strip()
        if text:
            out[text] = None
    return tuple(out)


NO_FILTERS = IngestFilters()


def load_filters(storage: Storage, location: str) -> IngestFilters:
    """The saved filters of the lake at ``storage`` (none saved: keep everything)."""
    try:
        raw = storage.read_bytes(SETTINGS_FILE)
    except FileNotFoundError:
        return NO_FILTERS
    try:
        data = orjson.loads(raw)
        return IngestFilters.from_json(data.get("ingest", {}) if isinstance(data, dict) else data)
    except (orjson.JSONDecodeError, ValueError) as exc:
        # Ingesting with a damaged filter would store what the owner meant to leave out.
        raise LakeError(
            f"the ingest settings of {location} are damaged ({exc})",
            hint="set them again with 'trailscope lake settings --clear ...'",
        ) from None


def save_filters(storage: Storage, filters: IngestFilters) -> None:
    """Replace the lake's saved filters (atomically: readers see the old or the new ones)."""
    try:
        data = orjson.loads(storage.read_bytes(SETTINGS_FILE))
        if not isinstance(data, dict):
            data = {}
    except (FileNotFoundError, orjson.JSONDecodeError):
        data = {}
    data["ingest"] = filters.to_json()
    storage.write_atomic(SETTINGS_FILE, orjson.dumps(data, option=orjson.OPT_INDENT_2))


def changed(
    current: IngestFilters,
    *,
    exclude_sources: list[str] | None = None,
    exclude_events: list[str] | None = None,
    where: str | None = None,
    redact: list[str] | None = None,
    clear: bool = False,
) -> IngestFilters:
    """``current`` with the settings given replaced (``clear``: starting from none). An empty
    ``where`` text removes the condition."""
    base = NO_FILTERS if clear else current
    updates: dict[str, Any] = {}
    if exclude_sources is not None:
        updates["exclude_sources"] = tuple(exclude_sources)
    if exclude_events is not None:
        updates["exclude_events"] = tuple(exclude_events)
    if where is not None:
        updates["where"] = where
    if redact is not None:
        updates["redact"] = tuple(redact)
    return replace(base, **updates)


class FilterError(TrailscopeError):
    """An ingest filter that cannot be applied (bad SQL, an unknown field): nothing is
    ingested with it, so no event is kept or dropped by mistake."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in worker processes too: keep the hint through pickling.
        return (_filter_error, (self.message, self.hint))


def _filter_error(message: str, hint: str | None) -> FilterError:
    return FilterError(message, hint=hint)


def load_retention(storage: Storage, location: str) -> int | None:
    """Days of events the lake keeps (None: all), as :func:`save_retention` wrote it."""
    try:
        settings = orjson.loads(storage.read_bytes(RETENTION_FILE))
    except FileNotFoundError:
        return None
    except orjson.JSONDecodeError as exc:
        raise LakeError(
            f"the retention setting of {location} is damaged ({exc})",
            hint="set it again with 'trailscope lake retention DAYS' (or 'off')",
        ) from None
    days = settings.get("days")
    return int(days) if days else None


def check_retention(days: int | None) -> None:
    """Refuse a retention that would keep nothing."""
    if days is not None and days < 1:
        raise LakeError(f"a retention of {days} days keeps nothing", hint="use 1 or more")


def save_retention(storage: Storage, days: int | None) -> None:
    """Keep ``days`` (None: everything) as the lake's retention."""
    storage.write_atomic(RETENTION_FILE, orjson.dumps({"days": days}))
