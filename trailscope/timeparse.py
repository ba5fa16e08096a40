"""Times as people type them: ``2024-06-01``, ``2024-06-01T12:00Z``, ``24h``, ``1h30m``,
``now``, epoch seconds (``1720051200``) or milliseconds (``1720051200000``).

One reader for the command line, the Python API, saved-query parameters, detections and the
web's filter bar, so the same text means the same moment everywhere. An age counts back from
``now`` (the wall clock unless the caller passes another moment).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo

from trailscope.errors import TrailscopeError

#: One part of an age: 90s, 30m, 30min, 1h, 7d, 2w (compound: 1h30m, 2d12h).
_PART = re.compile(r"(\d+)\s*(weeks?|w|days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)")
_AGE = re.compile(rf"^(?:\s*{_PART.pattern})+\s*$", re.IGNORECASE)
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
#: Epoch seconds from 2001-09-09 (9 digits... 10) up to milliseconds (13 digits), decimals too.
_EPOCH = re.compile(r"^\d{9,13}(\.\d+)?$")
#: Above this an epoch number is milliseconds (1e11 seconds is the year 5138).
_MILLIS_FROM = 1e11

HINT = (
    "use a date (2024-06-01), a time (2024-06-01T12:00:00Z), epoch seconds or milliseconds "
    "(1720051200), now, or an age (90s, 30m, 24h, 7d, 1h30m)"
)


def parse_age(text: str) -> timedelta | None:
    """``1h30m`` as a timedelta; None when ``text`` is not an age."""
    if not _AGE.match(text):
        return None
    total = timedelta()
    for amount, unit in _PART.findall(text.lower()):
        key = "m" if unit.startswith("min") else unit[0]
        total += timedelta(**{_UNITS[key]: int(amount)})
    return total


def parse_time(
    text: str,
    *,
    now: datetime | None = None,
    end_of_day: bool = False,
    tz: tzinfo = UTC,
) -> datetime:
    """An aware UTC datetime for a time as typed.

    An age (``24h``, ``1h30m``) counts back from ``now`` (default: the wall clock); ``now``
    is that moment. A bare number of 9 to 13 digits is epoch seconds, or milliseconds when
    larger than 1e11 (so ``1720051200`` is 2024-07-04, never the year 1720). A bare date means
    its start, or with ``end_of_day`` its last second, so ``--since 2024-07-01 --until
    2024-07-01`` covers that whole day. A date or time without a zone is read in ``tz``.
    """
    value = text.strip()
    moment = now or datetime.now(UTC)
    if value.lower() == "now":
        return moment.astimezone(UTC)
    age = parse_age(value)
    if age is not None:
        return (moment - age).astimezone(UTC)
    if _EPOCH.match(value):
        number = float(value)
        return datetime.fromtimestamp(number / 1000 if number > _MILLIS_FROM else number, UTC)
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            if end_of_day:
                parsed = datetime(d.year, d.month, d.day, 23, 59, 59)
            else:
                parsed = datetime(d.year, d.month, d.day)
        else:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise TrailscopeError(f"cannot read time {text!r}", hint=HINT) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)
