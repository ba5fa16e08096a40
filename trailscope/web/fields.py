"""What a dimension names, for Explore views and events filters: a column, a struct field, a
JSON path, a word of the shared vocabulary, or time.

Everything a user writes here is checked against the events schema before it becomes SQL: a
column or struct field must exist (any case), a JSON path is letters, digits, ``_``, ``-`` and
``[n]`` indexes only, so nothing typed in a URL reaches the SQL text except a name the schema
has or a path of safe characters inside a quoted literal. Values are always bound parameters.

* ``eventname``, ``useridentity.type``, ``useridentity.sessioncontext.sessionissuer.arn``
* ``requestparameters.bucketName``, ``requestparameters.ipPermissions.items[0].ipProtocol``
* ``principal``, ``login_outcome``, ``login_user``, ``mfa_used``, ``console_call``
* ``time`` (the page picks a bar width), ``time:minute|5m|15m|hour|3h|6h|12h|day|week|month``
* ``hour`` (hour of day, 0-23) and ``weekday`` (1 Monday to 7 Sunday), in the page's time zone
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trailscope.decode.schema import EVENT_FIELDS, Field, Kind
from trailscope.errors import TrailscopeError
from trailscope.web.sqlwords import WORDS

TIME_UNITS: dict[str, int] = {
    "minute": 60,
    "5m": 300,
    "15m": 900,
    "hour": 3600,
    "3h": 3 * 3600,
    "6h": 6 * 3600,
    "12h": 12 * 3600,
    "day": 86400,
    "week": 7 * 86400,
}
_LOCAL = "(to_unixtime(eventtime_ts) + :tzoffset)"
#: Local clock parts from epoch arithmetic (1970-01-01 was a Thursday): the same on every engine.
HOUR = f"CAST(floor({_LOCAL} / 3600) AS bigint) % 24"
WEEKDAY = f"(CAST(floor({_LOCAL} / 86400) AS bigint) + 3) % 7 + 1"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_JSON_PATH = re.compile(r"^[A-Za-z0-9_-]+(\[\d{1,4}\])?$")
_ALIASES = {k: v for k, v in WORDS.items() if k != "bucket"}
#: The events filters' short names (drill-down links) and the dimension each stands for.
SHORT: dict[str, str] = {
    "eventname": "eventname",
    "errorcode": "errorcode",
    "ip": "sourceipaddress",
    "accesskey": "useridentity.accesskeyid",
    "user": "login_user",
    "identity": "useridentity.type",
    "role": "useridentity.sessioncontext.sessionissuer.username",
    "readonly": "readonly",
    "outcome": "login_outcome",
    "mfa": "mfa_used",
    "eventid": "eventid",
    "useragent": "useragent",
    "source": "eventsource",
    "account": "recipientaccountid",
    "region": "awsregion",
    "principal": "principal",
}


def _from_ip_info(column: str) -> str:
    return f"(SELECT CAST(max(i.{column}) AS varchar) FROM ip_info i WHERE i.ip = sourceipaddress)"


#: Dimensions from the lake's enrichment tables (``trailscope lake enrich`` and ``enrich
#: accounts``): one value per event, NULL where the lake knows none.
ENRICHED: dict[str, tuple[str, str]] = {
    "country": (_from_ip_info("country"), "country"),
    "asn": (_from_ip_info("asn"), "network (ASN)"),
    "as_org": (_from_ip_info("as_org"), "network"),
    "address_kind": (_from_ip_info("kind"), "kind of address"),
    "account_name": (
        "(SELECT max(a.name) FROM accounts a WHERE a.account_id = recipientaccountid)",
        "account name",
    ),
}


@dataclass(frozen=True)
class Dim:
    """A dimension: its SQL (Athena, over ``cloudtrail``), how it reads, what it holds."""

    spec: str
    sql: str
    label: str
    kind: str = "text"  # text | time | hour | weekday
    seconds: int = 0  # a time dimension's bar width (0: chosen by the page)
    month: bool = False

    @property
    def is_time(self) -> bool:
        return self.kind == "time"

    @property
    def ordered(self) -> bool:
        """Values that have an order of their own (time, hour, weekday), not a ranking."""
        return self.kind in ("time", "hour", "weekday")


def _by_lower(fields: tuple[Field, ...]) -> dict[str, Field]:
    return {f.name: f for f in fields}


def dimension(spec: str) -> Dim:
    """Read a dimension (see the module's docstring); a clear error for anything else."""
    text = (spec or "").strip()
    if not text:
        raise TrailscopeError("no dimension given", hint="for example eventname or time")
    low = text.lower()
    if low == "time" or low.startswith("time:"):
        unit = low.split(":", 1)[1] if ":" in low else "auto"
        if unit == "auto":
            return Dim(text, "", "time", "time")
        if unit == "month":
            sql = (
                "to_unixtime(date_trunc('month', eventtime_ts + :tzoffset * INTERVAL '1' SECOND))"
                " - :tzoffset"
            )
            return Dim(text, sql, "month", "time", 0, True)
        if unit not in TIME_UNITS:
            raise TrailscopeError(
                f"unknown time unit {unit!r}",
                hint="one of auto, month, " + ", ".join(TIME_UNITS),
            )
        size = TIME_UNITS[unit]
        shift = " + 3 * 86400" if unit == "week" else ""  # weeks start on Monday
        minus = " - 3 * 86400" if unit == "week" else ""
        sql = f"CAST(floor(({_LOCAL}{shift}) / {size}) AS bigint) * {size}{minus} - :tzoffset"
        return Dim(text, sql, unit, "time", size)
    if low == "hour":
        return Dim(text, HOUR, "hour of day", "hour")
    if low == "weekday":
        return Dim(text, WEEKDAY, "day of week", "weekday")
    if low in SHORT and SHORT[low] != low:
        return dimension(SHORT[low])
    if low in _ALIASES:
        return Dim(low, _ALIASES[low], low.replace("_", " "))
    if low in ENRICHED:
        return Dim(low, *ENRICHED[low])
    parts = text.split(".")
    top = _by_lower(EVENT_FIELDS).get(parts[0].lower())
    if top is None:
        if parts[0].lower() in ("eventtime_ts", "event_date"):
            return Dim(low, parts[0].lower(), parts[0].lower())
        raise TrailscopeError(
            f"unknown field {parts[0]!r}",
            hint="a column such as eventname, a struct field such as useridentity.type, a JSON "
            "path such as requestparameters.bucketName, or time",
        )
    if top.kind is Kind.JSON:
        if len(parts) == 1:
            return Dim(top.name, top.name, top.name)
        for part in parts[1:]:
            if not _JSON_PATH.match(part):
                raise TrailscopeError(
                    f"cannot use {part!r} in a JSON path",
                    hint="letters, digits, _ and - (and [n] for a list item) between the dots",
                )
        path = "$." + ".".join(parts[1:])
        return Dim(
            f"{top.name}.{'.'.join(parts[1:])}", f"json_extract_scalar({top.name}, '{path}')", text
        )
    names = [top.name]
    current = top
    for part in parts[1:]:
        if current.kind is not Kind.STRUCT:
            raise TrailscopeError(f"{'.'.join(names)} has no field {part!r}")
        child = _by_lower(current.children).get(part.lower())
        if child is None:
            known = ", ".join(c.name for c in current.children)
            raise TrailscopeError(
                f"{'.'.join(names)} has no field {part!r}", hint=f"it has {known}"
            )
        names.append(child.name)
        current = child
    if current.kind in (Kind.STRUCT, Kind.LIST, Kind.MAP):
        hint = (
            "pick one of its fields: " + ", ".join(c.name for c in current.children)
            if current.children
            else "pick a plain field"
        )
        raise TrailscopeError(f"{'.'.join(names)} is not a single value", hint=hint)
    dotted = ".".join(names)
    return Dim(dotted, dotted, dotted)


def metric_input(spec: str) -> tuple[str, Dim | None]:
    """A metric: ``count``, or ``distinct|sum|avg|min|max:<dimension>``."""
    text = (spec or "count").strip()
    if text.lower() == "count":
        return "count", None
    agg, _, rest = text.partition(":")
    agg = agg.lower()
    if agg not in ("distinct", "sum", "avg", "min", "max") or not rest:
        raise TrailscopeError(
            f"unknown metric {spec!r}",
            hint="count, or distinct:FIELD, sum:FIELD, avg:FIELD, min:FIELD, max:FIELD",
        )
    dim = dimension(rest)
    if dim.is_time:
        raise TrailscopeError(f"cannot aggregate {rest!r}", hint="pick a field, not time")
    return agg, dim


def aggregate(agg: str, value: str = "v") -> str:
    """The aggregate over the metric's input column ``value`` (Athena SQL)."""
    if agg == "count":
        return "count(*)"
    if agg == "distinct":
        return f"count(DISTINCT {value})"
    return f"round({agg}(TRY_CAST({value} AS double)), 4)"
