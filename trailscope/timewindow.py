"""Time windows, one rule everywhere: the CLI, the Python API, the web and watch.

The rule: an age (``--since 7d``) counts back from now, the wall clock, never from the lake's
last event, so the same words give the same window on every lake and every day. A lake is
often an archive or a copy taken for an investigation, so every window is printed as resolved
(UTC unless a zone is asked for) and, when it misses the lake or covers only part of it, a note
says so with the lake's first and last event and the window that would end at its last event.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from trailscope.errors import TrailscopeError
from trailscope.timeparse import parse_time

log = logging.getLogger(__name__)

#: The rule in one sentence, for ``--help`` texts and docs.
RULE = (
    "Ages such as 7d, 24h or 1h30m count back from now (the wall clock); a window that misses "
    "the lake, or covers only part of it, is reported with the lake's first and last event."
)


class WindowWarning(UserWarning):
    """A query's time window misses the lake, or covers only part of it (Python API)."""


def iso(moment: datetime) -> str:
    """The lake's time format: ISO 8601 UTC with a Z, which compares correctly with eventtime."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def zone(name: str | None) -> ZoneInfo:
    """An IANA time zone by name ('Asia/Tokyo'); a clear error for an unknown one."""
    if not name or name.upper() == "UTC":
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TrailscopeError(
            f"unknown time zone {name!r}", hint="use an IANA name such as UTC or Asia/Tokyo"
        ) from None


def show_time(moment: datetime | str | None, tz: ZoneInfo, *, seconds: bool = True) -> str:
    """A time as people read it in ``tz``: '2024-07-17 09:00:00 JST' ('' for none)."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        try:
            when = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError:
            return moment
    else:
        when = moment
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    local = when.astimezone(tz)
    text = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{text} {local.tzname() or tz.key}"


@dataclass(frozen=True)
class Span:
    """The first and latest event time of the lake (None for an empty lake)."""

    first: datetime | None
    latest: datetime | None


@dataclass(frozen=True)
class Coverage:
    """How a resolved window meets the lake."""

    kind: str  # inside | partial | all | none | empty
    first: str  # the lake's first and last event (ISO UTC), '' for an empty lake
    last: str
    shifted: dict[str, str] | None  # the same window ending at the lake's last event


def coverage(since: datetime, until: datetime, span: Span) -> Coverage:
    """none: the window holds no event of the lake; all: it holds every one; partial: it
    reaches past the lake's first or last event; inside: the lake has events all through it."""
    if span.first is None or span.latest is None:
        return Coverage("empty", "", "", None)
    first, last = iso(span.first), iso(span.latest)
    if until < span.first or since > span.latest:
        kind = "none"
    elif since <= span.first and until >= span.latest:
        kind = "all"
    elif since < span.first or until > span.latest:
        kind = "partial"
    else:
        kind = "inside"
    shifted = None
    if kind in ("none", "partial") and until > span.latest:
        shifted = {"range": "custom", "since": iso(span.latest - (until - since)), "until": last}
    return Coverage(kind, first, last, shifted)


@dataclass(frozen=True)
class Window:
    """A resolved time window and how it meets the lake (``coverage`` None: not checked)."""

    since: datetime
    until: datetime
    since_given: bool
    until_given: bool
    coverage: Coverage | None = None

    def describe(self, tz: ZoneInfo | None = None) -> str:
        """'window: 2024-07-10 00:00:00 UTC .. 2024-07-17 00:00:00 UTC'."""
        tz = tz or ZoneInfo("UTC")
        start = show_time(self.since, tz) if self.since_given else "the lake's first event"
        end = show_time(self.until, tz) + ("" if self.until_given else " (now)")
        return f"window: {start} .. {end}"

    def note(self, tz: ZoneInfo | None = None) -> str | None:
        """What a reader must know about the window, or None when the lake fills it."""
        cov = self.coverage
        if cov is None or cov.kind in ("inside", "all"):
            return None
        tz = tz or ZoneInfo("UTC")
        if cov.kind == "empty":
            return "the lake holds no events yet"
        lake = f"the lake's events run from {show_time(cov.first, tz)} to {show_time(cov.last, tz)}"
        if cov.kind == "none":
            text = f"the window misses the lake: {lake}"
        else:
            text = f"the lake holds events for only part of the window: {lake}"
        if cov.shifted is not None and cov.kind == "none":
            text += f"; the same window ending at its last event: since {cov.shifted['since']}"
            text += f" until {cov.shifted['until']}"
        return text

    def to_json(self) -> dict[str, Any]:
        cov = self.coverage
        return {
            "since": iso(self.since),
            "until": iso(self.until),
            "coverage": None
            if cov is None
            else {"kind": cov.kind, "lake_first": cov.first or None, "lake_last": cov.last or None},
        }


def resolve(
    since: str | datetime | None,
    until: str | datetime | None,
    *,
    span: Span | None = None,
    now: datetime | None = None,
    tz: ZoneInfo | None = None,
) -> Window:
    """The window ``since``..``until`` as typed (either may be missing: then it runs from the
    lake's first event, or up to now), checked against ``span`` when given."""
    moment = now or datetime.now(UTC)
    zone_ = tz or ZoneInfo("UTC")

    def read(value: str | datetime, end: bool) -> datetime:
        if isinstance(value, datetime):
            return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
        return parse_time(value, now=moment, end_of_day=end, tz=zone_)

    start = read(since, False) if since is not None else None
    end = read(until, True) if until is not None else moment.astimezone(UTC)
    if start is None:
        start = span.first if span is not None and span.first is not None else end
        start = min(start, end)
    if start > end and until is None:
        end = start  # a start after now: an empty window, reported as missing the lake
    if start > end:
        raise TrailscopeError(
            f"the window starts after it ends ({iso(start)} > {iso(end)})",
            hint="swap --since and --until",
        )
    cov = coverage(start, end, span) if span is not None else None
    return Window(start, end, since is not None, until is not None, cov)


def lake_span(lake: Any) -> Span:
    """The first and latest event time of a lake (a ``Lake``), reading its first and last day
    only; an empty span when they cannot be read (the window is then printed unchecked).

    Remembered with the lake's kept engine until the next commit: every saved query checks its
    window, and reading the span each time cost more than most queries."""
    engines = getattr(lake, "engines", None)
    if engines is None:
        return _read_span(lake)
    try:
        with engines.lease() as generation:
            span = generation.extras.get("span")
            if span is None:
                days = sorted({p.partition for p in generation.key.parts.values()})
                span = _read_span(lake, days)
                generation.extras["span"] = span
    except (TrailscopeError, OSError):
        log.debug("cannot read the span of %s", getattr(lake, "location", lake), exc_info=True)
        return Span(None, None)
    return span


def _read_span(lake: Any, days: list[str] | None = None) -> Span:
    """The span from the lake's first and last day (``days``: its partitions, when known)."""
    try:
        if days is None:
            info = lake.info(quarantine_limit=0)
            days = [d for d in (info.first_day, info.last_day) if d]
        if not days:
            return Span(None, None)
        table = lake.query(
            "SELECT min(CASE WHEN event_date = :first THEN eventtime_ts END) AS first,"
            " max(CASE WHEN event_date = :last THEN eventtime_ts END) AS latest"
            " FROM cloudtrail WHERE event_date IN (:first, :last)",
            params={"first": days[0], "last": days[-1]},
        )
    except (TrailscopeError, OSError):  # a lake only Athena reads, say: nothing to compare
        log.debug("cannot read the span of %s", getattr(lake, "location", lake), exc_info=True)
        return Span(None, None)
    row = table.to_pylist()[0]
    return Span(_aware(row["first"]), _aware(row["latest"]))


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def check(
    lake: Any,
    since: str | datetime | None,
    until: str | datetime | None,
    *,
    now: datetime | None = None,
    stacklevel: int = 3,
) -> Window:
    """:func:`resolve` against ``lake``'s span; warns (:class:`WindowWarning`) when the window
    misses the lake or covers only part of it, so a script sees why it got no rows.

    :param stacklevel: as for :func:`warnings.warn`: the frame the warning names (the
        caller's caller by default, the user's line when called from ``Lake.run``).
    """
    window = resolve(since, until, span=lake_span(lake), now=now)
    text = window.note()
    if text is not None:
        warnings.warn(text, WindowWarning, stacklevel=stacklevel)
    return window
