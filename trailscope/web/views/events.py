"""``/events``: the events behind a number, page by page; ``/event/<id>``: one event in full."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import orjson

from trailscope.decode.schema import EVENT_FIELDS, EXTRA, PARTITION, SOURCEKEY, Field, Kind
from trailscope.errors import TrailscopeError
from trailscope.web import drills as events_filters
from trailscope.web.downloads import download_response, download_rows
from trailscope.web.filters import PRINCIPAL, PRINCIPAL_PART, Filters, shift, show_time
from trailscope.web.lakeview import LakeView
from trailscope.web.panels import event_link
from trailscope.web.views.base import Call, NotFound, Page, View

PAGE_SIZE = 50
#: Key columns first: when, what, who, from where; the long ones last.
COLUMNS = f"""eventtime, eventname, {PRINCIPAL} AS principal, sourceipaddress, errorcode,
       eventsource, awsregion, recipientaccountid, useragent, eventid"""


def events_where(
    filters: Filters, conds: list[events_filters.Condition]
) -> tuple[str, dict[str, Any]]:
    extra_sql, extra = events_filters.where(conds)
    return f"({filters.where()}) AND {extra_sql}", {**filters.params(), **extra}


def principal_matches(view: LakeView, filters: Filters) -> dict[str, Any] | None:
    """What a principal filter that is not a full ARN matched: the principals (up to 5) and
    how many there are, so the page can say it."""
    if not filters.principal or filters.principal_exact:
        return None
    sub = Filters(**{**filters.__dict__, "principal": None})
    res = view.query(
        f"SELECT {PRINCIPAL} AS principal, count(*) AS n FROM cloudtrail "
        f"WHERE {sub.where()} AND {PRINCIPAL_PART} GROUP BY 1 ORDER BY n DESC, 1 LIMIT 6",
        {**sub.params(), "principal_part": filters.principal.lower()},
    )
    count = view.query(
        f"SELECT count(DISTINCT {PRINCIPAL}) AS n FROM cloudtrail "
        f"WHERE {sub.where()} AND {PRINCIPAL_PART}",
        {**sub.params(), "principal_part": filters.principal.lower()},
    ).rows[0]["n"]
    return {
        "text": filters.principal,
        "principals": [r["principal"] for r in res.rows[:5]],
        "count": int(count or 0),
    }


class EventsView(View):
    """``/events`` and ``/events.json``: the filter bar plus events filters, newest first."""

    def page(self, call: Call) -> Page:
        view = self.site.view
        filters = self.site.filters(call.query)
        conds = events_filters.conditions(call.items)
        try:
            number = max(1, int(call.query.get("page") or 1))
        except ValueError:
            raise TrailscopeError(f"page must be a number, not {call.query['page']!r}") from None
        where, params = events_where(filters, conds)
        total = int(
            view.query(f"SELECT count(*) AS n FROM cloudtrail WHERE {where}", params).rows[0]["n"]
        )
        pages = max(1, -(-total // PAGE_SIZE))
        number = min(number, pages)
        result = view.query(
            f"SELECT {COLUMNS} FROM cloudtrail WHERE {where} "
            "ORDER BY eventtime DESC, eventid LIMIT :limit OFFSET :offset",
            {**params, "limit": PAGE_SIZE, "offset": (number - 1) * PAGE_SIZE},
        )
        matched = principal_matches(view, filters)
        data = {
            "filters": filters.to_json(),
            "conditions": [{"label": c.label, "keys": list(c.keys)} for c in conds],
            "principal_matched": matched,
            "total": total,
            "page": number,
            "pages": pages,
            "page_size": len(result.rows),
            "columns": result.columns,
            "rows": result.rows,
            "sql": result.sql,
        }
        kept = [kv for c in conds for kv in c.items]
        chips = [
            (
                c.label,
                filters.link("/events", more=[kv for kv in kept if kv[0] not in c.keys], page=None),
            )
            for c in conds
        ]
        context = {
            "data": data,
            "filters": filters,
            "chips": chips,
            "kept": kept,
            "links": [event_link(r["eventid"], r["eventtime"]) for r in result.rows],
            "here": "/events",
            "json_url": filters.link("/events.json", more=kept, page=str(number)),
            "csv_url": filters.link("/events.csv", more=kept),
            "ndjson_url": filters.link("/events.ndjson", more=kept),
            "older": filters.link("/events", more=kept, page=str(number + 1)),
            "newer": filters.link("/events", more=kept, page=str(number - 1)),
            "accounts": view.info().accounts,
            "regions": view.info().regions,
        }
        return Page(data, "events.html", context)


class EventsDownload(View):
    """``/events.csv`` (and ``.ndjson``): every matching event, not only one page."""

    heavy = True

    def page(self, call: Call) -> Page:
        filters = self.site.filters(call.query)
        conds = events_filters.conditions(call.items)
        where, params = events_where(filters, conds)
        columns = ", ".join(f.name for f in EVENT_FIELDS)
        sql = f"SELECT {columns} FROM cloudtrail WHERE {where} ORDER BY eventtime DESC, eventid"
        body = download_rows(self.site.view, sql, params, call.fmt)
        return Page({}, response=download_response(body, "events", call.fmt))


def find_event(view: LakeView, eventid: str, around: str | None) -> list[dict[str, Any]]:
    """Every stored event with this ID (usually one), as CloudTrail JSON with its lake columns.

    ``around`` (the event time, which drill-down links carry) bounds the days read."""
    names = [f.name for f in EVENT_FIELDS] + [EXTRA, SOURCEKEY, PARTITION]
    where = "eventid = :id"
    params: dict[str, Any] = {"id": eventid}
    if around:
        try:
            params |= {"lo": shift(around, days=-1), "hi": shift(around, days=1)}
            where += " AND eventtime >= :lo AND eventtime <= :hi"
        except ValueError:
            pass  # not a time: read every day
    res = view.query(
        f"SELECT {', '.join(names)} FROM cloudtrail WHERE {where} ORDER BY eventtime, sourcekey",
        params,
    )
    return [to_cloudtrail(row) for row in res.rows]


def to_cloudtrail(row: dict[str, Any]) -> dict[str, Any]:
    """A lake row back in CloudTrail's own shape: camelCase names, JSON text as JSON, no nulls.

    Lake-only columns are kept under ``trailscope`` (source file, partition, unknown fields)."""
    event = _fields(EVENT_FIELDS, row)
    lake: dict[str, Any] = {"sourceKey": row.get(SOURCEKEY), "eventDate": row.get(PARTITION)}
    if row.get(EXTRA):
        lake["extra"] = _json(row[EXTRA])
    event["trailscope"] = {k: v for k, v in lake.items() if v is not None}
    return event


def _fields(fields: tuple[Field, ...], row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields:
        value = row.get(f.name)
        if value is None:
            continue
        if f.kind is Kind.STRUCT:
            value = _fields(f.children, value) or None
        elif f.kind is Kind.LIST:
            value = [_fields(f.children, item) for item in value]
        elif f.kind is Kind.JSON:
            value = _json(value)
        elif f.kind is Kind.BOOL:
            value = {"true": True, "false": False}.get(value, value)
        elif f.kind is Kind.MAP:
            value = dict(value)
        if value is not None:
            out[f.json_name] = value
    return out


def _json(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def pivots(event: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """Links from one event to related ones: (label, query items for /events)."""
    ident = event.get("userIdentity") or {}
    out: list[tuple[str, dict[str, str]]] = []
    principal = (
        ident.get("arn")
        or ident.get("userName")
        or ident.get("principalId")
        or ident.get("invokedBy")
    )
    if principal:
        out.append((f"Same principal: {principal}", {"range": "all", "principal_is": principal}))
    if event.get("sourceIPAddress"):
        ip = event["sourceIPAddress"]
        out.append((f"Same source IP: {ip}", {"range": "all", "ip": ip}))
    if ident.get("accessKeyId"):
        key = ident["accessKeyId"]
        out.append((f"Same access key: {key}", {"range": "all", "accesskey": key}))
    if event.get("eventTime"):
        t = event["eventTime"]
        try:
            window = {
                "range": "custom",
                "since": shift(t, minutes=-15),
                "until": shift(t, minutes=15),
            }
        except ValueError:
            window = None
        if window:
            out.append(("Everything ±15 min", window))
            if principal:
                out.append(("Same principal ±15 min", {**window, "principal_is": principal}))
    return out


class EventView(View):
    """``/event/<id>`` and ``/event/<id>.json`` (the ID may contain '/')."""

    def page(self, call: Call) -> Page:
        eventid = call.param("eventid")
        around = call.query.get("t") or None
        view = self.site.view
        found = find_event(view, eventid, around)
        if not found and around:
            found = find_event(view, eventid, None)
        if not found:
            raise NotFound(f"no event with ID {eventid!r} in this lake")
        tz = self.site.filters({"tz": call.query.get("tz") or ""}).tz
        links = [
            [(label, "/events?" + urlencode(items)) for label, items in pivots(ev)] for ev in found
        ]
        context_of = [event_context(view, ev) for ev in found]
        data = {
            "eventid": eventid,
            "events": found,
            "context": context_of,
            "pivots": [[{"label": lb, "href": href} for lb, href in group] for group in links],
        }
        query = f"?{call.request.url.query}" if call.request.url.query else ""
        context = {
            "eventid": eventid,
            "events": list(zip(found, links, context_of, strict=True)),
            "tz": tz,
            "show": lambda moment: show_time(moment, tz),
            "json_url": f"/event/{quote(eventid, safe='/')}.json{query}",
        }
        return Page(data, "event.html", context)


def event_context(view: LakeView, event: dict[str, Any]) -> dict[str, Any]:
    """The account names, the address's place and the human behind a role session."""
    from trailscope.enrich import context

    def query(sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return view.query(sql, params).rows

    names = view.memo(("account_names",), lambda _: context.account_names(query))
    identity = event.get("userIdentity") or {}
    return {
        "account_name": names.get(str(event.get("recipientAccountId") or "")),
        "caller_account_name": names.get(str(identity.get("accountId") or "")),
        "place": context.place(query, event.get("sourceIPAddress")),
        "human": context.human_behind(query, event),
    }
