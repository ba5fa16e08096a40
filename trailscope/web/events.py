"""Drill-down: the events behind a number, page by page, and one event in full.

Drill filters are a fixed set of names (:data:`DRILLS`), each an Athena SQL condition with one
bound parameter; the URL carries only the names and values. Together with the filter bar they
select exactly the events a chart bar or table row counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from trailscope.decode.schema import EVENT_FIELDS, EXTRA, PARTITION, SOURCEKEY, Field, Kind
from trailscope.web.dashboards import LOGIN_OUTCOME, LOGIN_USER
from trailscope.web.filters import PRINCIPAL, Filters, shift
from trailscope.web.lakeview import LakeView, Result

#: name -> (what it means, Athena SQL condition on :d_<name>)
DRILLS: dict[str, tuple[str, str]] = {
    "eventname": ("event name", "eventname = :d_eventname"),
    "errorcode": ("error code", "errorcode = :d_errorcode"),
    "errors": ("only errors", "(errorcode IS NOT NULL AND :d_errors = 'only')"),
    "ip": ("source IP", "sourceipaddress = :d_ip"),
    "accesskey": ("access key", "useridentity.accesskeyid = :d_accesskey"),
    "user": ("user", f"{LOGIN_USER} = :d_user"),
    "identity": ("identity type", "useridentity.type = :d_identity"),
    "role": ("role", "useridentity.sessioncontext.sessionissuer.username = :d_role"),
    "readonly": ("read-only", "readonly = :d_readonly"),
    "outcome": ("login outcome", f"{LOGIN_OUTCOME} = :d_outcome"),
    "mfa": ("MFA used", "json_extract_scalar(additionaleventdata, '$.MFAUsed') = :d_mfa"),
    "console": ("console session", "sessioncredentialfromconsole = :d_console"),
    "eventid": ("event ID", "eventid = :d_eventid"),
}
PAGE_SIZE = 50
COLUMNS = f"""eventtime, eventsource, eventname, {PRINCIPAL} AS principal, sourceipaddress,
       awsregion, recipientaccountid, errorcode, useragent, eventid"""


@dataclass
class EventsPage:
    result: Result
    total: int
    page: int
    pages: int
    drills: dict[str, str]


def drills_from(query: dict[str, str]) -> dict[str, str]:
    return {k: query[k] for k in DRILLS if (query.get(k) or "").strip()}


def events_where(filters: Filters, drills: dict[str, str]) -> tuple[str, dict[str, Any]]:
    conds = [f"({filters.where()})"] + [DRILLS[k][1] for k in drills]
    return " AND ".join(conds), {f"d_{k}": v for k, v in drills.items()}


def events_page(view: LakeView, filters: Filters, drills: dict[str, str], page: int) -> EventsPage:
    where, extra = events_where(filters, drills)
    params = {**filters.params(), **extra}
    total = int(
        view.query(f"SELECT count(*) AS n FROM cloudtrail WHERE {where}", params).rows[0]["n"]
    )
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    result = view.query(
        f"SELECT {COLUMNS} FROM cloudtrail WHERE {where} "
        "ORDER BY eventtime DESC, eventid LIMIT :limit OFFSET :offset",
        {**params, "limit": PAGE_SIZE, "offset": (page - 1) * PAGE_SIZE},
    )
    return EventsPage(result, total, page, pages, drills)


def find_event(view: LakeView, eventid: str, around: str | None) -> list[dict[str, Any]]:
    """Every stored event with this ID (usually one), as CloudTrail JSON with its lake columns.

    ``around`` (the event time, which drill-down links carry) bounds the days read."""
    names = [f.name for f in EVENT_FIELDS] + [EXTRA, SOURCEKEY, PARTITION]
    where = "eventid = :id"
    params: dict[str, Any] = {"id": eventid}
    if around:
        where += " AND eventtime >= :lo AND eventtime <= :hi"
        params |= {"lo": shift(around, days=-1), "hi": shift(around, days=1)}
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
        out.append((f"Same principal: {principal}", {"range": "all", "principal": principal}))
    if event.get("sourceIPAddress"):
        ip = event["sourceIPAddress"]
        out.append((f"Same source IP: {ip}", {"range": "all", "ip": ip}))
    if ident.get("accessKeyId"):
        key = ident["accessKeyId"]
        out.append((f"Same access key: {key}", {"range": "all", "accesskey": key}))
    if event.get("eventTime"):
        t = event["eventTime"]
        out.append(
            (
                "Everything ±15 min",
                {"range": "custom", "since": shift(t, minutes=-15), "until": shift(t, minutes=15)},
            )
        )
        if principal:
            out.append(
                (
                    "Same principal ±15 min",
                    {
                        "range": "custom",
                        "since": shift(t, minutes=-15),
                        "until": shift(t, minutes=15),
                        "principal": principal,
                    },
                )
            )
    return out
