"""The contract every source keeps, and the filter that lets listers skip work early.

Sources only list and read bytes; they never parse. What they share is the idea of *what is
wanted* (:class:`ListFilter`), applied twice: to folders, so whole subtrees are never listed, and
to objects, so nothing unwanted is handed on.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Protocol, runtime_checkable

from trailscope.sources.layout import KeyInfo, Level, ObjectKind, Position

_ONE_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class ListFilter:
    """Which objects a run wants.

    Key dates are *delivery* days, later than the events inside, so the listed day range is
    widened by ``margin_days`` on both sides; the decoder filters events exactly afterwards.
    Inside the layout a time window only keeps dated objects: an undated layout object (a probe
    file, a stray) belongs to no window. Outside the layout nothing is known, so all passes.
    """

    since: datetime.datetime | None = None
    until: datetime.datetime | None = None
    accounts: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    kinds: frozenset[ObjectKind] = frozenset(ObjectKind)
    margin_days: int = 1
    first_day: datetime.date | None = field(init=False, repr=False, compare=False)
    last_day: datetime.date | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"ListFilter.{name} must be timezone-aware (UTC): {value!r}")
        if self.margin_days < 0:
            raise ValueError(f"ListFilter.margin_days must be >= 0, not {self.margin_days}")
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError(f"ListFilter.since ({self.since}) is after until ({self.until})")
        # Accept any iterable from callers; keep the frozen, hashable form.
        object.__setattr__(self, "accounts", frozenset(self.accounts))
        object.__setattr__(self, "regions", frozenset(self.regions))
        object.__setattr__(self, "kinds", frozenset(ObjectKind(k) for k in self.kinds))
        margin = datetime.timedelta(days=self.margin_days)
        object.__setattr__(self, "first_day", _shift(self.since, -margin))
        object.__setattr__(self, "last_day", _shift(self.until, margin))

    @property
    def has_window(self) -> bool:
        return self.first_day is not None or self.last_day is not None

    def day_in_range(self, day: datetime.date) -> bool:
        """Whether a delivery-day folder can hold events inside [since, until]."""
        if self.first_day is not None and day < self.first_day:
            return False
        return self.last_day is None or day <= self.last_day

    def wants(self, info: KeyInfo) -> bool:
        """Whether one listed object is handed on.

        Fields the key did not tell pass, except that a time window drops undated objects inside
        the layout, so a bucket and its local copy list the same objects.
        """
        if info.kind not in self.kinds:
            return False
        if self.accounts and info.account is not None and info.account not in self.accounts:
            return False
        if self.regions and info.region is not None and info.region not in self.regions:
            return False
        if info.day is not None:
            return self.day_in_range(info.day)
        in_layout = info.account is not None
        return not (in_layout and self.has_window)

    def may_contain(self, pos: Position) -> bool:
        """Whether a folder can hold a wanted object, so walkers never enter the others."""
        if pos.level is Level.FOREIGN or not self.kinds:
            return False
        if pos.kind is not None and not self.kinds & {pos.kind, ObjectKind.OTHER}:
            return False
        if self.accounts and pos.account is not None and pos.account not in self.accounts:
            return False
        if self.regions and pos.region is not None and pos.region not in self.regions:
            return False
        if not self.has_window:
            return True
        if pos.level is Level.UNDATED:
            return False
        span = pos.day_span()
        if span is None:
            return True
        first, last = span
        if self.first_day is not None and last < self.first_day:
            return False
        return self.last_day is None or first <= self.last_day


def _shift(moment: datetime.datetime | None, delta: datetime.timedelta) -> datetime.date | None:
    """UTC day of ``moment`` moved by ``delta``, clamped so extreme dates do not overflow."""
    if moment is None:
        return None
    day = moment.astimezone(datetime.UTC).date()
    try:
        return day + delta
    except OverflowError:
        return datetime.date.min if delta < datetime.timedelta(0) else datetime.date.max


def day_after(day: datetime.date) -> datetime.date | None:
    """The next day, or ``None`` past the end of the calendar (then nothing is later)."""
    try:
        return day + _ONE_DAY
    except OverflowError:
        return None


NO_FILTER = ListFilter()  # everything; the shared default (one instance, it's immutable)


@dataclass(frozen=True, slots=True)
class SourceObject:
    """One listed object: enough to read it, name it in messages and notice it changed."""

    key: str  # POSIX key relative to the source root (S3: the full object key)
    uri: str  # s3://bucket/key or the absolute local path, for messages
    size: int
    version: str  # S3 ETag, or f"{mtime_ns}-{size}" locally: changes when the content does
    info: KeyInfo
    #: the local path to open when it differs from ``uri`` (a name that is not UTF-8, shown
    #: escaped in ``key`` and ``uri``)
    path: str | None = None

    def __reduce__(self) -> tuple[type[SourceObject], tuple[object, ...]]:
        # As KeyInfo's: batches of hundreds of objects are pickled for each worker task.
        return SourceObject, _source_object_values(self)


_source_object_values = attrgetter(*(f.name for f in fields(SourceObject)))


@runtime_checkable
class Source(Protocol):
    """Where raw objects come from. Must pickle: sources travel to worker processes."""

    uri: str
    #: whether objects carry user metadata worth a request each (S3 digests' signatures)
    has_metadata: bool

    def iter_objects(self, flt: ListFilter = NO_FILTER) -> Iterator[SourceObject]:
        """Wanted objects, sorted by key so runs are reproducible."""
        ...

    def read(self, obj: SourceObject, max_bytes: int | None = None) -> bytes:
        """The object's raw bytes, at most ``max_bytes`` of them (a caller that passes one
        more than it accepts learns that an object is too large without reading all of it);
        raises ``SourceReadError(obj.uri, reason)``."""
        ...

    def read_metadata(self, obj: SourceObject) -> dict[str, str]:
        """User metadata (S3 ``x-amz-meta-*``, e.g. a digest's ``signature``); ``{}`` locally."""
        ...
