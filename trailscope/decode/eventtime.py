"""``eventTime`` text -> the UTC instant that places an event in its partition.

CloudTrail writes ``YYYY-MM-DDTHH:MM:SSZ``; exports bring other ISO-8601 forms and the
``YYYY-MM-DD HH:MM:SS[.fff]`` of SQL engines. A time that cannot be read, or whose UTC value
falls outside the years 1-9999 that timestamps (and Python) can hold, quarantines its event
with a reason that says which.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

_TIME_RE = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?\s*$"
)


class OutOfRange(ValueError):
    """A well-formed time whose UTC value is before year 1 or after year 9999."""


def _read(value: str) -> datetime | None:
    m = _TIME_RE.match(value)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    micros = int((frac or "0")[:6].ljust(6, "0"))
    try:
        ts = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micros, tzinfo=UTC)
    except ValueError:
        return None
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        try:
            ts -= timedelta(minutes=sign * (int(digits[:2]) * 60 + int(digits[2:])))
        except OverflowError:
            raise OutOfRange(value) from None
    return ts


def parse_event_time(value: str | None) -> datetime | None:
    """ISO-8601 and the common 'YYYY-MM-DD HH:MM:SS[.fff]' export form; naive means UTC."""
    if not value:
        return None
    try:
        return _read(value)
    except OutOfRange:
        return None


def event_time_problem(value: str | None) -> str:
    """The quarantine reason of an event whose time :func:`parse_event_time` refused."""
    if not value:
        return "event without eventTime"
    try:
        _read(value)
    except OutOfRange:
        return f"eventTime {value[:40]!r} is outside the years 1-9999 in UTC"
    return f"unparseable eventTime {value[:40]!r}"


UTC_MICROS = pa.timestamp("us", tz="UTC")
#: Microseconds since 1970 of the first and last instants of the years 1-9999.
_FIRST_US = -62_135_596_800_000_000
_LAST_US = 253_402_300_799_999_999


def utc_times(times: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """CloudTrail's ``YYYY-MM-DDTHH:MM:SSZ`` as timestamps in one pass, or None when some time
    has another form or is out of range (the caller then reads each with
    :func:`parse_event_time`).

    Arrow's ISO-8601 cast is much faster than ``strptime`` (which calls the C library per
    value and rolls 30 February over into March), but it accepts more forms than the
    one-by-one reading, such as minutes without seconds, and the year 0. Of the forms it
    accepts, 20 characters can only be a date, ``T`` or a space, the time to the second and
    ``Z``, which both read alike; so it is used only when every time has that length and
    falls in the years 1-9999."""
    lengths = pc.min_max(pc.binary_length(times)).as_py()
    if lengths["min"] != 20 or lengths["max"] != 20:
        return None
    try:
        cast = times.cast(UTC_MICROS)
    except pa.ArrowInvalid:
        return None
    bounds = pc.min_max(cast.cast(pa.int64())).as_py()
    if bounds["min"] < _FIRST_US or bounds["max"] > _LAST_US:
        return None
    return cast
