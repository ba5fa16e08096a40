"""Times as people type them on a command line: ``2024-06-01``, ``2024-06-01T12:00Z``, ``24h``."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from trailscope.errors import TrailscopeError

_RELATIVE = re.compile(r"^\s*(\d+)\s*(m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, *, now: datetime | None = None, end_of_day: bool = False) -> datetime:
    """An aware UTC datetime; a relative value (``24h``, ``7d``) counts back from ``now``.

    A bare date means its start, or with ``end_of_day`` its last second, so
    ``--since 2024-07-01 --until 2024-07-01`` covers that whole day.
    """
    value = text.strip()
    m = _RELATIVE.match(value)
    if m:
        amount, unit = int(m.group(1)), _UNITS[m.group(2).lower()]
        return (now or datetime.now(UTC)) - timedelta(**{unit: amount})
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            if end_of_day:
                return datetime(d.year, d.month, d.day, 23, 59, 59, tzinfo=UTC)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise TrailscopeError(
            f"cannot read time {text!r}",
            hint="use a date (2024-06-01), a time (2024-06-01T12:00:00Z) or an age (30m, 24h, 7d)",
        ) from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
