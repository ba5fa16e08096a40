"""The JSON an alert is sent as (webhook body, SNS message), documented in docs/alerts.md."""

from __future__ import annotations

from typing import Any

from trailscope import __version__
from trailscope.alerts import Alert

#: Event ids in one alert (the finding keeps more; ``event_count`` says how many there were).
MAX_ALERT_EVENT_IDS = 100

_FIELDS = (
    "finding_id",
    "rule_id",
    "title",
    "severity",
    "status",
    "first_seen",
    "last_seen",
    "principal",
    "source_ip",
    "account",
    "region",
    "target",
    "outcome",
    "detail",
    "tactic",
    "technique",
    "event_count",
)


def alert_body(alert: Alert) -> dict[str, Any]:
    """The alert as a JSON object (version 1 of the format)."""
    finding = {name: alert.finding.get(name) for name in _FIELDS}
    finding["event_ids"] = list(alert.finding.get("event_ids") or ())[:MAX_ALERT_EVENT_IDS]
    return {
        "type": "trailscope.finding",
        "version": 1,
        "idempotency_key": alert.idempotency_key,
        "finding_id": alert.finding_id,
        "alert_seq": alert.seq,
        "reason": alert.reason,
        "link": alert.link,
        "finding": finding,
    }


def headers(alert: Alert) -> dict[str, str]:
    """HTTP headers that let a receiver drop a repeated delivery without parsing the body."""
    return {
        "Content-Type": "application/json",
        "User-Agent": f"trailscope/{__version__}",
        "Idempotency-Key": alert.idempotency_key,
        "X-Trailscope-Finding": alert.finding_id,
        "X-Trailscope-Alert-Seq": str(alert.seq),
    }


def subject(alert: Alert, limit: int = 100) -> str:
    """A one-line summary (email subject, SNS subject): printable ASCII, no line breaks."""
    f = alert.finding
    text = f"[trailscope] {str(f.get('severity') or '').upper()} {f.get('rule_id')}"
    if f.get("principal"):
        text += f" by {f['principal']}"
    clean = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."
