"""Time in a synthetic trail: whole seconds since the epoch, formatted the ways CloudTrail does.

Every event needs its time formatted, so the formats are built from tables made once (the 86,400
clock strings of a day) instead of ``strftime`` per event.
"""

from __future__ import annotations

import datetime as dt

#: Seconds in a day.
DAY = 86_400
#: CloudTrail delivers about every five minutes per account and region: one log file per window.
WINDOW = 300

_EPOCH = dt.date(1970, 1, 1)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: ``HH:MM:SSZ`` for every second of a day, indexed by the second.
CLOCK = [f"{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60)]
#: The same with the closing quote of a JSON string, spliced into serialised events.
CLOCK_JSON = [f'{hms}"'.encode() for hms in CLOCK]
_LONG_DAYS: dict[int, str] = {}


def day_of(seconds: int) -> dt.date:
    """The UTC day a moment falls on."""
    return _EPOCH + dt.timedelta(days=seconds // DAY)


def epoch_seconds(day: dt.date) -> int:
    """Midnight (UTC) of ``day`` in seconds since the epoch."""
    return (day - _EPOCH).days * DAY


def iso(seconds: int) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``, the format of eventTime and of digest times."""
    return f"{day_of(seconds).isoformat()}T{CLOCK[seconds % DAY]}"


def stamp_minute(seconds: int) -> str:
    """``YYYYMMDDTHHMMZ`` as in log file names."""
    day = day_of(seconds)
    second = seconds % DAY
    return f"{day:%Y%m%d}T{second // 3600:02d}{second % 3600 // 60:02d}Z"


def stamp_second(seconds: int) -> str:
    """``YYYYMMDDTHHMMSSZ`` as in digest file names."""
    day = day_of(seconds)
    second = seconds % DAY
    return f"{day:%Y%m%d}T{second // 3600:02d}{second % 3600 // 60:02d}{second % 60:02d}Z"


def long_time(seconds: int) -> str:
    """IAM/STS style response dates, e.g. ``Jul 16, 2024, 11:00:00 AM`` (hot: STS calls)."""
    day, second = divmod(seconds, DAY)
    prefix = _LONG_DAYS.get(day)
    if prefix is None:
        date = _EPOCH + dt.timedelta(days=day)
        prefix = _LONG_DAYS[day] = f"{_MONTHS[date.month - 1]} {date.day}, {date.year}, "
    hour, rest = divmod(second, 3600)
    minute, sec = divmod(rest, 60)
    return f"{prefix}{hour % 12 or 12}:{minute:02d}:{sec:02d} {'AM' if hour < 12 else 'PM'}"
