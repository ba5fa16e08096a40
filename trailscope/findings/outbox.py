"""The alert outbox: which findings alert, and delivering what is queued.

An alert is queued in the ``alerts`` side table (one row per destination) in the same commit
that records its finding, so a crash after that commit loses nothing: the next delivery finds
it pending. A row is marked sent by a commit made right after its delivery succeeded; a crash
in between (the only way to send twice) is covered by the idempotency key every alert carries
(``FINDING_ID:SEQ``, in the webhook body and headers, the SNS message and the mail's
Message-ID). A failed delivery stays pending, retried after a back-off that grows per attempt;
a destination that fails is not tried again in the same pass.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from trailscope.alerts import Alert, DeliveryError, Destination
from trailscope.detect.model import Severity
from trailscope.findings.store import (
    ALERTS,
    FINDINGS,
    Rows,
    commit_tables,
    iso,
    parse_iso,
    read_rows,
    utcnow,
)

log = logging.getLogger(__name__)

PENDING, SENT, CANCELLED = "pending", "sent", "cancelled"
#: How long delivered and cancelled alerts stay in the outbox (for ``SELECT ... FROM alerts``).
KEEP_DONE = timedelta(days=90)


@dataclass(frozen=True)
class Backoff:
    """Seconds before the next attempt after a failed one: ``first``, then times ``factor``
    per failure, at most ``cap``."""

    first: float = 2.0
    factor: float = 2.0
    cap: float = 300.0

    def delay(self, attempts: int) -> timedelta:
        seconds = self.first * self.factor ** max(attempts - 1, 0)
        return timedelta(seconds=min(self.cap, seconds))


DEFAULT_BACKOFF = Backoff()


def alert_reason(
    row: dict[str, Any],
    outcome: str,
    *,
    min_severity: Severity,
    realert_after: timedelta | None,
    now: datetime,
) -> str | None:
    """Why this recorded finding alerts now (None: it does not).

    Once per finding; again only when its severity rose above what was alerted, or, with
    ``realert_after``, when it got new events that long after its last alert. An acknowledged
    finding alerts again only when its severity rises.
    """
    if row["status"] not in ("open", "acknowledged"):
        return None
    severity = Severity.parse(row["severity"])
    if severity < min_severity:
        return None
    if not row["alert_seq"]:
        return "new" if outcome == "new" else "first alert"
    if row["alerted_severity"] and severity > Severity.parse(row["alerted_severity"]):
        return "severity rose"
    if row["status"] == "acknowledged" or outcome != "updated" or realert_after is None:
        return None
    if row["alerted_at"] and now - parse_iso(row["alerted_at"]) >= realert_after:
        return "still active"
    return None


def queue(
    row: dict[str, Any],
    reason: str,
    destinations: Sequence[Destination],
    alerts: Rows,
    now: datetime,
) -> None:
    """Add one pending alert per destination for ``row`` (and count it on the finding)."""
    seq = (row["alert_seq"] or 0) + 1
    row.update(alert_seq=seq, alerted_severity=row["severity"], alerted_at=iso(now))
    for destination in destinations:
        alerts.append(
            {
                "finding_id": row["finding_id"],
                "seq": seq,
                "destination": destination.key,
                "reason": reason,
                "status": PENDING,
                "queued_at": iso(now),
                "attempts": 0,
                "next_attempt": iso(now),
                "last_error": None,
                "sent_at": None,
            }
        )


def prune(alerts: Rows, now: datetime) -> Rows:
    """The outbox less the delivered and cancelled rows older than :data:`KEEP_DONE`."""
    horizon = iso(now - KEEP_DONE)
    return [
        a for a in alerts if a["status"] == PENDING or (a["sent_at"] or a["queued_at"]) >= horizon
    ]


@dataclass
class Delivery:
    sent: int = 0
    failed: int = 0
    queued: int = 0


def deliver(
    lake: Any,
    destinations: Sequence[Destination],
    *,
    now: datetime | None = None,
    base_url: str | None = None,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> Delivery:
    """Try every pending alert that is due for a destination given; mark each sent right
    after it was delivered; record failures (attempts, next attempt, reason) in one commit."""
    now = utcnow(now)
    result = Delivery()
    pending = [a for a in read_rows(lake, ALERTS) if a["status"] == PENDING]
    if not pending:
        return result  # an idle pass reads one small table
    by_key = {d.key: d for d in destinations}
    findings = {f["finding_id"]: f for f in read_rows(lake, FINDINGS)}
    stamp = iso(now)
    failures: dict[tuple[str, int, str], str] = {}
    cancelled: set[tuple[str, int, str]] = set()
    down: set[str] = set()
    for alert in sorted(pending, key=lambda a: (a["queued_at"], a["finding_id"], a["seq"])):
        ident = (alert["finding_id"], alert["seq"], alert["destination"])
        finding = findings.get(alert["finding_id"])
        if finding is None or finding["status"] == "suppressed":
            cancelled.add(ident)
            continue
        destination = by_key.get(alert["destination"])
        if destination is None or alert["destination"] in down:
            continue
        if (alert["next_attempt"] or "") > stamp:
            continue
        try:
            _send(destination, Alert(finding, alert["seq"], alert["reason"], base_url))
        except DeliveryError as exc:
            log.warning(
                "alert %s to %s failed: %s", alert["finding_id"], destination.key, exc.reason
            )
            failures[ident] = exc.reason
            down.add(alert["destination"])
            continue
        except Exception as exc:  # a destination's bug must not stop the other alerts
            log.exception("alert %s to %s failed", alert["finding_id"], destination.key)
            failures[ident] = f"unexpected {type(exc).__name__}"
            down.add(alert["destination"])
            continue
        _mark_sent(lake, ident, utcnow())
        result.sent += 1
    result.failed = len(failures)
    if failures or cancelled:
        _record_failures(lake, failures, cancelled, now, backoff)
    remaining = {(a["finding_id"], a["seq"], a["destination"]) for a in pending}
    result.queued = len(remaining) - result.sent - len(cancelled)
    return result


def _send(destination: Destination, alert: Alert) -> None:
    """One delivery (a seam the crash tests cut)."""
    destination.send(alert)


def _ident(alert: dict[str, Any]) -> tuple[str, int, str]:
    return (alert["finding_id"], alert["seq"], alert["destination"])


def _mark_sent(lake: Any, ident: tuple[str, int, str], when: datetime) -> None:
    def change(tables: dict[str, Rows]) -> dict[str, Rows]:
        rows = tables[ALERTS]
        for alert in rows:
            if _ident(alert) == ident and alert["status"] == PENDING:
                alert.update(status=SENT, sent_at=iso(when), attempts=(alert["attempts"] or 0) + 1)
        return {ALERTS: rows}

    commit_tables(lake, [ALERTS], change, operation="alert sent")


def _record_failures(
    lake: Any,
    failures: dict[tuple[str, int, str], str],
    cancelled: set[tuple[str, int, str]],
    now: datetime,
    backoff: Backoff,
) -> None:
    def change(tables: dict[str, Rows]) -> dict[str, Rows]:
        rows = tables[ALERTS]
        for alert in rows:
            ident = _ident(alert)
            if alert["status"] != PENDING:
                continue
            if ident in cancelled:
                alert.update(status=CANCELLED, sent_at=iso(now))
            elif ident in failures:
                attempts = (alert["attempts"] or 0) + 1
                alert.update(
                    attempts=attempts,
                    last_error=failures[ident],
                    next_attempt=iso(now + backoff.delay(attempts)),
                )
        return {ALERTS: rows}

    commit_tables(lake, [ALERTS], change, operation="alert retry")
