"""Independent answers for the web tests: plain Python over the trail's raw events."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def latest(events: list[dict[str, Any]]) -> str:
    return max(ev["eventTime"] for ev in events)


def back(moment: str, **delta: float) -> str:
    return iso(datetime.fromisoformat(moment.replace("Z", "+00:00")) - timedelta(**delta))


def in_range(events: list[dict[str, Any]], since: str, until: str) -> list[dict[str, Any]]:
    return [ev for ev in events if since <= ev["eventTime"] <= until]


def principal(ev: dict[str, Any]) -> str | None:
    ident = ev.get("userIdentity") or {}
    return (
        ident.get("arn")
        or ident.get("userName")
        or ident.get("principalId")
        or ident.get("invokedBy")
    )


def login_outcome(ev: dict[str, Any]) -> str:
    answer = (ev.get("responseElements") or {}).get("ConsoleLogin")
    if answer == "Failure" or ev.get("errorCode") or ev.get("errorMessage"):
        return "Failure"
    return "Success" if answer == "Success" else "Unknown"


def console_logins(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        ev
        for ev in events
        if ev["eventSource"] == "signin.amazonaws.com" and ev["eventName"] == "ConsoleLogin"
    ]


def top(counter: Counter, n: int = 15) -> list[tuple[str, int]]:
    """Biggest first, ties by label: the dashboards' order."""
    return sorted(
        ((k, v) for k, v in counter.items() if k is not None), key=lambda kv: (-kv[1], kv[0])
    )[:n]


def search_text(ev: dict[str, Any]) -> str:
    """Everything free-text search looks in, lower-cased (JSON fields as JSON text)."""
    import json

    ident = ev.get("userIdentity") or {}
    issuer = ((ident.get("sessionContext") or {}).get("sessionIssuer") or {}).get("arn")
    plain = (
        "eventName", "eventSource", "awsRegion", "sourceIPAddress", "userAgent", "errorCode",
        "errorMessage", "eventID", "requestID", "recipientAccountId", "eventType",
        "vpcEndpointId",
    )  # fmt: skip
    parts = [ev.get(k) for k in plain]
    for k in ("requestParameters", "responseElements", "additionalEventData",
              "serviceEventDetails"):  # fmt: skip
        if ev.get(k) is not None:
            parts.append(json.dumps(ev[k]))
    parts += [
        ident.get(k) for k in ("type", "arn", "userName", "principalId", "accessKeyId", "invokedBy")
    ]
    parts.append(issuer)
    return " ".join(str(p) for p in parts if p is not None).lower()
