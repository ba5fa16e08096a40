"""The filter bar shared by every dashboard: parsed from the URL, turned into bound parameters.

Filters live in the query string so a view can be bookmarked and shared. They never reach the
SQL as text: each becomes a named parameter of the condition (:meth:`Filters.where`) that
every panel query embeds.

Relative ranges (24h, 7d, 30d) count back from the lake's latest event, not from the wall clock:
an archived or air-gapped lake is usually hours or months behind "now", and "the last 24 hours"
of such a lake is what its user wants to see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from trailscope.errors import TrailscopeError
from trailscope.timeparse import parse_time

#: Who did it, as one text: the ARN when there is one, else what the identity has.
PRINCIPAL = (
    "coalesce(useridentity.arn, useridentity.username, useridentity.principalid, "
    "useridentity.invokedby)"
)

#: The shared filter as Athena SQL, one condition per filter; every value is a bound parameter.
#: Only the conditions of the filters that are set go into a query (see ``Filters.where``):
#: an unused ``:x IS NULL OR ...`` still makes the engine read the column.
CONDITIONS: dict[str, str] = {
    "account": "recipientaccountid = :account",
    "region": "awsregion = :region",
    "principal": f"{PRINCIPAL} = :principal",
    "source": "eventsource = :source",
}
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
FILTER_KEYS = ("range", "since", "until", "account", "region", "principal", "source")


def iso(moment: datetime) -> str:
    """The lake's time format: ISO 8601 UTC with a Z, which compares correctly with eventtime."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Span:
    """The first and latest event time of the lake (None for an empty lake)."""

    first: datetime | None
    latest: datetime | None


@dataclass
class Filters:
    range: str = DEFAULT_RANGE
    since: str | None = None  # custom range only, as typed
    until: str | None = None
    account: str | None = None
    region: str | None = None
    principal: str | None = None
    source: str | None = None
    resolved_since: str = ""
    resolved_until: str = ""
    extra: dict[str, str] = field(default_factory=dict)  # page-specific keys kept in links

    @classmethod
    def from_query(cls, query: dict[str, str], span: Span) -> Filters:
        """Read the filter keys of a query string; bad times give a TrailscopeError."""

        def value(key: str) -> str | None:
            text = (query.get(key) or "").strip()
            return text or None

        rng = value("range") or ("custom" if value("since") or value("until") else DEFAULT_RANGE)
        if rng not in RANGES:
            raise TrailscopeError(
                f"unknown time range {rng!r}", hint="use one of " + ", ".join(RANGES)
            )
        f = cls(
            range=rng,
            since=value("since"),
            until=value("until"),
            account=value("account"),
            region=value("region"),
            principal=value("principal"),
            source=value("source"),
        )
        f._resolve(span)
        return f

    def _resolve(self, span: Span) -> None:
        latest = span.latest or datetime.now(UTC)
        first = span.first or latest
        if self.range == "custom":
            since = parse_time(self.since, now=latest) if self.since else first
            until = parse_time(self.until, now=latest, end_of_day=True) if self.until else latest
        elif self.range == "all":
            since, until = first, latest
        else:
            delta = RANGES[self.range]
            assert delta is not None
            since, until = latest - delta, latest
        if since > until:
            raise TrailscopeError(
                f"the range starts after it ends ({iso(since)} > {iso(until)})",
                hint="swap 'since' and 'until'",
            )
        self.resolved_since, self.resolved_until = iso(since), iso(until)

    def where(self) -> str:
        """This filter's condition (Athena SQL, bound parameters only)."""
        return " AND ".join(
            [TIME] + [cond for key, cond in CONDITIONS.items() if getattr(self, key)]
        )

    def params(self) -> dict[str, Any]:
        """The bound parameters of :meth:`where`."""
        return {
            "since": self.resolved_since,
            "until": self.resolved_until,
            "account": self.account,
            "region": self.region,
            "principal": self.principal,
            "source": self.source,
        }

    def seconds(self) -> float:
        start = datetime.fromisoformat(self.resolved_since.replace("Z", "+00:00"))
        end = datetime.fromisoformat(self.resolved_until.replace("Z", "+00:00"))
        return max((end - start).total_seconds(), 1.0)

    def query_items(self) -> dict[str, str]:
        """This view's filter as query-string items (for links that keep it)."""
        items: dict[str, str] = {"range": self.range}
        if self.range == "custom":
            items["since"] = self.since or self.resolved_since
            items["until"] = self.until or self.resolved_until
        for key in ("account", "region", "principal", "source"):
            v = getattr(self, key)
            if v:
                items[key] = v
        return items

    def link(self, path: str, *, keep_extra: bool = True, **changes: str | None) -> str:
        """A URL for ``path`` with this filter, changed by ``changes`` (None removes a key);
        ``keep_extra`` keeps the page's own settings (options and fields of a dashboard)."""
        items = {**self.query_items(), **(self.extra if keep_extra else {})}
        for key, v in changes.items():
            if v is None or v == "":
                items.pop(key, None)
            else:
                items[key] = str(v)
        return path + ("?" + urlencode(items) if items else "")

    def window(self, start: str, end: str) -> dict[str, str]:
        """Changes to :meth:`link` that narrow the time range to [start, end]."""
        return {"range": "custom", "since": start, "until": end}

    def to_json(self) -> dict[str, Any]:
        return {
            "range": self.range,
            "since": self.resolved_since,
            "until": self.resolved_until,
            "account": self.account,
            "region": self.region,
            "principal": self.principal,
            "source": self.source,
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
    return iso(when + timedelta(**delta))
