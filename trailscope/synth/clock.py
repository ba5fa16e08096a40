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


class Span:
    """The time a trail covers: ``days`` whole days from ``first`` (seconds since the epoch).

    A trail normally covers calendar days (``first`` is a midnight); one anchored to end at a
    moment starts at that moment's time of day instead, so its first and last calendar days
    are partial, and its stories keep their times of day by being moved whole days into the
    span (:meth:`place`).
    """

    __slots__ = ("days", "first")

    def __init__(self, first: int, days: int) -> None:
        self.first = first
        self.days = days

    @property
    def last(self) -> int:
        """The end of the span (exclusive)."""
        return self.first + self.days * DAY

    def day_start(self, day: int) -> int:
        """Midnight of the span's ``day``-th calendar day (day 0 holds :attr:`first`)."""
        return self.first - self.first % DAY + day * DAY

    def place(self, start: int, room: int = 3600) -> int:
        """``start`` moved by whole days, keeping its time of day, into the span (times before
        it wrap round to its last, partial day), leaving ``room`` seconds after it for a story
        to unfold before the end. Times already in a span of calendar days stay.

        Only on a one-day span anchored at a moment can a story's time of day not fit; it then
        starts ``room`` before the end instead.
        """
        start = self.first + (start - self.first) % (self.days * DAY)
        if start + room > self.last:
            start = start - DAY if start - DAY >= self.first else self.last - room
        return start

    def dates(self) -> list[dt.date]:
        """The calendar days the span touches."""
        first, last = day_of(self.first), day_of(self.last - 1)
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
