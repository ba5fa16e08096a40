"""The filter bar shared by every page: parsed from the URL, turned into bound parameters.

Filters live in the query string so a view can be bookmarked and shared. They never reach the
SQL as text: each becomes a named parameter of the condition (:meth:`Filters.where`) that
every panel query embeds.

Relative ranges (``24h``, ``7d``) count back from now, the wall clock, as they do on the command
line, in the Python API and in ``watch``. A lake is often an archive or a copy taken some time
ago, so every page shows the resolved range and, when the window misses the lake or covers only
part of it, says so with the lake's first and last event and links to the same window ending at
the lake's last event (:meth:`Filters.coverage`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from trailscope.errors import TrailscopeError
from trailscope.timeparse import parse_time
from trailscope.timewindow import Coverage, Span, coverage, iso, show_time, zone

#: Who did it, as one text: the ARN when there is one, else what the identity has.
PRINCIPAL = (
    "coalesce(useridentity.arn, useridentity.username, useridentity.principalid, "
    "useridentity.invokedby)"
)

#: The fields free-text search looks in (``q``): every text field of an event a person reads.
SEARCH_FIELDS = (
    "eventname",
    "eventsource",
    "awsregion",
    "sourceipaddress",
    "useragent",
    "errorcode",
    "errormessage",
    "requestparameters",
    "responseelements",
    "additionaleventdata",
    "serviceeventdetails",
    "eventid",
    "requestid",
    "recipientaccountid",
    "eventtype",
    "vpcendpointid",
    "useridentity.type",
    "useridentity.arn",
    "useridentity.username",
    "useridentity.principalid",
    "useridentity.accesskeyid",
    "useridentity.invokedby",
    "useridentity.sessioncontext.sessionissuer.arn",
)
SEARCH_TEXT = "lower(concat_ws(' ', " + ", ".join(SEARCH_FIELDS) + "))"

#: The shared filter as Athena SQL, one condition per filter; every value is a bound parameter.
#: Only the conditions of the filters that are set go into a query (see ``Filters.where``):
#: an unused ``:x IS NULL OR ...`` still makes the engine read the column.
CONDITIONS: dict[str, str] = {
    "account": "recipientaccountid = :account",
    "region": "awsregion = :region",
    "source": "eventsource = :source",
}
PRINCIPAL_EXACT = f"{PRINCIPAL} = :principal"
#: Part of a principal, or of the person behind a role session (its source identity, the
#: Identity Center user it acts for).
PRINCIPAL_PART = (
    f"strpos(lower(concat_ws(' ', {PRINCIPAL}, useridentity.sessioncontext.sourceidentity, "
    "useridentity.onbehalfof.userid)), :principal_part) > 0"
)
#: An account filter that is not an account id is a pattern of account names (* for any
#: characters), looked up in the lake's accounts table ('trailscope enrich accounts').
ACCOUNT_NAMED = (
    "recipientaccountid IN (SELECT account_id FROM accounts "
    "WHERE name LIKE :account_like ESCAPE '\\')"
)
_ACCOUNT_ID = re.compile(r"^\d{12}$")
#: On the typed time column: comparing timestamps costs a third of comparing ISO strings, and
#: it also reads times written with offsets or without a 'Z' correctly.
TIME = (
    "eventtime_ts >= from_iso8601_timestamp(:since) "
    "AND eventtime_ts <= from_iso8601_timestamp(:until)"
)

RANGES: dict[str, timedelta | None] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
    "custom": None,
}
DEFAULT_RANGE = "7d"
FILTER_KEYS = (
    "range",
    "since",
    "until",
    "account",
    "region",
    "principal",
    "source",
    "q",
    "tz",
)
#: Time zones offered in the selector (any IANA name works in the URL and with --tz).
COMMON_ZONES = (
    "UTC",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Asia/Singapore",
    "Asia/Kolkata",
    "Australia/Sydney",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
)
_TERM = re.compile(r'(-?)"([^"]*)"|(-?)(\S+)')

#: Names other modules import from here (the window rule itself lives in trailscope.timewindow).
__all__ = ["Coverage", "Filters", "Span", "iso", "read_time", "show_time", "zone"]


def read_time(text: str, *, now: datetime, tz: ZoneInfo, end_of_day: bool = False) -> datetime:
    """A time typed in the filter bar or made by a zoom, read as on the command line
    (:func:`trailscope.timeparse.parse_time`); times without a zone are read in ``tz``, the
    zone the page shows."""
    return parse_time(text, now=now, end_of_day=end_of_day, tz=tz)


@dataclass
class Filters:
    range: str = DEFAULT_RANGE
    since: str | None = None  # custom range only, as typed
    until: str | None = None
    account: str | None = None
    region: str | None = None
    principal: str | None = None
    source: str | None = None
    q: str | None = None  # free-text search
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    tz_given: bool = False  # the zone came from the URL (kept in links)
    resolved_since: str = ""
    resolved_until: str = ""
    now: str = ""
    coverage: Coverage | None = None
    extra: dict[str, str] = field(default_factory=dict)  # page-specific keys kept in links

    @classmethod
    def from_query(
        cls,
        query: dict[str, str],
        span: Span,
        *,
        default_tz: str | None = None,
        now: datetime | None = None,
    ) -> Filters:
        """Read the filter keys of a query string; bad times give a TrailscopeError."""

        def value(key: str) -> str | None:
            text = (query.get(key) or "").strip()
            return text or None

        rng = value("range") or ("custom" if value("since") or value("until") else DEFAULT_RANGE)
        if rng not in RANGES:
            raise TrailscopeError(
                f"unknown time range {rng!r}", hint="use one of " + ", ".join(RANGES)
            )
        tz_name = value("tz")
        f = cls(
            range=rng,
            since=value("since"),
            until=value("until"),
            account=value("account"),
            region=value("region"),
            principal=value("principal"),
            source=value("source"),
            q=value("q"),
            tz=zone(tz_name or default_tz),
            tz_given=tz_name is not None,
        )
        f._resolve(span, now or datetime.now(UTC))
        return f

    def _resolve(self, span: Span, now: datetime) -> None:
        # the next whole minute: answers stay remembered for a minute, and nothing is missed
        now = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        self.now = iso(now)
        if self.range == "custom":
            since = (
                read_time(self.since, now=now, tz=self.tz)
                if self.since
                else (span.first or now - timedelta(days=7))
            )
            until = (
                read_time(self.until, now=now, tz=self.tz, end_of_day=True) if self.until else now
            )
        elif self.range == "all":
            since, until = span.first or now, span.latest or now
        else:
            delta = RANGES[self.range]
            assert delta is not None
            since, until = now - delta, now
        if since > until:
            raise TrailscopeError(
                f"the range starts after it ends ({iso(since)} > {iso(until)})",
                hint="swap 'since' and 'until'",
            )
        self.resolved_since, self.resolved_until = iso(since), iso(until)
        self.coverage = coverage(since, until, span)

    def where(self) -> str:
        """This filter's condition (Athena SQL, bound parameters only)."""
        conds = [TIME] + [
            ACCOUNT_NAMED if key == "account" and not self.account_is_id else cond
            for key, cond in CONDITIONS.items()
            if getattr(self, key)
        ]
        if self.principal:
            conds.append(PRINCIPAL_EXACT if self.principal_exact else PRINCIPAL_PART)
        for i, (exclude, _) in enumerate(self.terms()):
            conds.append(f"strpos({SEARCH_TEXT}, :q_{i}) {'=' if exclude else '>'} 0")
        return " AND ".join(conds)

    @property
    def account_is_id(self) -> bool:
        """The account filter is an account id (else a pattern of account names)."""
        return bool(self.account and _ACCOUNT_ID.match(self.account))

    @property
    def principal_exact(self) -> bool:
        """A full ARN matches exactly; anything else matches inside principals, any case."""
        return bool(self.principal and self.principal.startswith("arn:"))

    def terms(self) -> list[tuple[bool, str]]:
        """The free-text search as (exclude, lower-case text) terms: words, "phrases", -not."""
        out = []
        for m in _TERM.finditer(self.q or ""):
            minus, text = (m.group(1), m.group(2)) if m.group(2) is not None else m.group(3, 4)
            if text:
                out.append((minus == "-", text.lower()))
        return out[:10]

    def params(self) -> dict[str, Any]:
        """The bound parameters of :meth:`where`."""
        out: dict[str, Any] = {
            "since": self.resolved_since,
            "until": self.resolved_until,
            "account": self.account,
            "account_like": _like(self.account) if self.account else None,
            "region": self.region,
            "principal": self.principal,
            "principal_part": (self.principal or "").lower() or None,
            "source": self.source,
            "tzoffset": self.offset_seconds(),
        }
        for i, (_, text) in enumerate(self.terms()):
            out[f"q_{i}"] = text
        return out

    def seconds(self) -> float:
        start = datetime.fromisoformat(self.resolved_since.replace("Z", "+00:00"))
        end = datetime.fromisoformat(self.resolved_until.replace("Z", "+00:00"))
        return max((end - start).total_seconds(), 1.0)

    def offset_seconds(self) -> int:
        """The zone's offset from UTC in the middle of the range (day buckets start at local
        midnight; a range across a daylight-saving change is off by an hour on one side)."""
        start = datetime.fromisoformat(self.resolved_since.replace("Z", "+00:00"))
        middle = start + timedelta(seconds=self.seconds() / 2)
        delta = middle.astimezone(self.tz).utcoffset()
        return int(delta.total_seconds()) if delta else 0

    def query_items(self) -> dict[str, str]:
        """This view's filter as query-string items (for links that keep it)."""
        items: dict[str, str] = {"range": self.range}
        if self.range == "custom":
            items["since"] = self.since or self.resolved_since
            items["until"] = self.until or self.resolved_until
        for key in ("account", "region", "principal", "source", "q"):
            v = getattr(self, key)
            if v:
                items[key] = v
        if self.tz_given:
            items["tz"] = self.tz.key
        return items

    def link(
        self,
        path: str,
        *,
        keep_extra: bool = True,
        more: Iterable[tuple[str, str]] = (),
        **changes: str | None,
    ) -> str:
        """A URL for ``path`` with this filter, changed by ``changes`` (None removes a key);
        ``keep_extra`` keeps the page's own settings (options and fields of a dashboard);
        ``more`` adds items whose keys may repeat (events filters such as ``not.eventname``)."""
        return self.link_changes(path, changes, keep_extra=keep_extra, more=more)

    def link_changes(
        self,
        path: str,
        changes: Mapping[str, str | None],
        *,
        keep_extra: bool = True,
        more: Iterable[tuple[str, str]] = (),
    ) -> str:
        """:meth:`link` with the changes as a mapping."""
        items = {**self.query_items(), **(self.extra if keep_extra else {})}
        for key, v in changes.items():
            if v is None or v == "":
                items.pop(key, None)
            else:
                items[key] = str(v)
        pairs = [*items.items(), *more]
        return path + ("?" + urlencode(pairs) if pairs else "")

    def window(self, start: str, end: str) -> dict[str, str]:
        """Changes to :meth:`link` that narrow the time range to [start, end]."""
        return {"range": "custom", "since": start, "until": end}

    def show(self, moment: datetime | str | None, *, seconds: bool = True) -> str:
        """A time as this page shows times (its zone)."""
        return show_time(moment, self.tz, seconds=seconds)

    def to_json(self) -> dict[str, Any]:
        cov = self.coverage
        return {
            "range": self.range,
            "since": self.resolved_since,
            "until": self.resolved_until,
            "now": self.now,
            "tz": self.tz.key,
            "account": self.account,
            "region": self.region,
            "principal": self.principal,
            "principal_match": (
                None if not self.principal else "exact" if self.principal_exact else "contains"
            ),
            "source": self.source,
            "q": self.q,
            "coverage": (
                {"kind": cov.kind, "lake_first": cov.first, "lake_last": cov.last}
                if cov is not None
                else None
            ),
            **({"extra": self.extra} if self.extra else {}),
        }


def bucket_seconds(span_seconds: float) -> int:
    """A bar width that gives between about 24 and 120 bars over the range."""
    for size in (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400):
        if span_seconds / size <= 120:
            return size
    return 30 * 86400


def shift(moment: str, **delta: float) -> str:
    """``moment`` (ISO) moved by a timedelta, as ISO."""
    when = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return iso(when + timedelta(**delta))


def _like(pattern: str) -> str:
    """A name pattern with * wildcards as a LIKE pattern (its own % and _ escaped)."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")
