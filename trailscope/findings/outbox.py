"""The alert outbox: which findings alert, and delivering what is queued.

An alert is queued in the ``alerts`` side table (one row per destination) in the same commit
that records its finding, so a crash after that commit loses nothing: the next delivery finds
it pending. A delivery first claims the alerts it will send (one commit), so two deliveries
from one lake at once never send the same alert; it marks each sent by a commit made right
after its delivery succeeded. A crash between a delivery and that commit (the only way to send
twice) is covered by the idempotency key every alert carries (``FINDING_ID:SEQ``, in the
webhook body and headers, the SNS message and the mail's Message-ID). A failed delivery stays
pending, retried after a back-off that grows per attempt; a destination that fails is not
tried again in the same pass.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
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

PENDING, SENDING, SENT, CANCELLED = "pending", "sending", "sent", "cancelled"
#: How long a delivery's claim on its alerts holds before another may take them over.
LEASE = timedelta(minutes=2)
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
        # the exponent is bounded: a destination down for weeks counts thousands of attempts
        seconds = self.first * self.factor ** min(max(attempts - 1, 0), 64)
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
                "claimed_by": None,
                "claimed_at": None,
            }
        )


def prune(alerts: Rows, now: datetime) -> Rows:
    """The outbox less the delivered and cancelled rows older than :data:`KEEP_DONE`."""
    horizon = iso(now - KEEP_DONE)
    return [
        a
        for a in alerts
        if a["status"] in (PENDING, SENDING) or (a["sent_at"] or a["queued_at"]) >= horizon
    ]


@dataclass
class Delivery:
    sent: int = 0
    failed: int = 0
    queued: int = 0


Ident = tuple[str, int, str]
#: Deliveries running in this process (their claim tokens): a claim of this process that is
#: not among them was left by a delivery that died.
_ACTIVE: set[str] = set()


def deliver(
    lake: Any,
    destinations: Sequence[Destination],
    *,
    now: datetime | None = None,
    base_url: str | None = None,
    backoff: Backoff = DEFAULT_BACKOFF,
    lease: timedelta = LEASE,
) -> Delivery:
    """Deliver the pending alerts that are due for a destination given.

    The alerts are first claimed in one commit (``sending``, with this delivery's token), so
    two processes delivering from one lake at once (Lambda invocations on an S3 lake) never
    both send one: the loser of the commit race sees the winner's claim. Each is marked sent
    right after its delivery; failures and what was not tried go back to pending in one
    commit. A claim left by a delivery that died is taken over once its ``lease`` ended (at
    once when it was this host's process and that process is gone).
    """
    now = utcnow(now)
    result = Delivery()
    rows = read_rows(lake, ALERTS)
    waiting = [a for a in rows if a["status"] in (PENDING, SENDING)]
    if not waiting:
        return result  # an idle pass reads one small table
    findings = {f["finding_id"]: f for f in read_rows(lake, FINDINGS)}
    by_key = {d.key: d for d in destinations}
    stamp = iso(now)
    wanted: list[Ident] = []
    cancel: set[Ident] = set()
    for alert in sorted(waiting, key=lambda a: (a["queued_at"], a["finding_id"], a["seq"])):
        if not _claimable(alert, now, lease):
            continue
        finding = findings.get(alert["finding_id"])
        if finding is None or finding["status"] == "suppressed":
            cancel.add(_ident(alert))
        elif alert["destination"] in by_key and (alert["next_attempt"] or "") <= stamp:
            wanted.append(_ident(alert))
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    _ACTIVE.add(token)
    try:
        claimed = _claim(lake, wanted, cancel, token, now, lease) if wanted or cancel else []
        reasons = {_ident(a): a["reason"] for a in waiting}
        failures: dict[Ident, str] = {}
        release: set[Ident] = set()
        down: set[str] = set()
        stop_at = time.monotonic() + lease.total_seconds() / 2  # well within the claim
        for ident in claimed:
            fid, seq, key = ident
            if key in down or time.monotonic() > stop_at:
                release.add(ident)
                continue
            destination = by_key[key]
            try:
                _send(destination, Alert(findings[fid], seq, reasons[ident], base_url))
            except DeliveryError as exc:
                log.warning("alert %s to %s failed: %s", fid, key, exc.reason)
                failures[ident] = exc.reason
                down.add(key)
                continue
            except Exception as exc:  # a destination's bug must not stop the other alerts
                # the type only: the message of an unexpected error may quote a secret URL
                log.error("alert %s to %s failed: unexpected %s", fid, key, type(exc).__name__)
                failures[ident] = f"unexpected {type(exc).__name__}"
                down.add(key)
                continue
            _mark_sent(lake, ident, utcnow())
            result.sent += 1
        if failures or release:
            _record_failures(lake, failures, release, token, now, backoff)
    finally:
        _ACTIVE.discard(token)
    result.failed = len(failures)
    cancelled = len(cancel & {_ident(a) for a in waiting})
    result.queued = len(waiting) - result.sent - cancelled
    return result


def _send(destination: Destination, alert: Alert) -> None:
    """One delivery (a seam the crash tests cut)."""
    destination.send(alert)


def _ident(alert: dict[str, Any]) -> Ident:
    return (alert["finding_id"], alert["seq"], alert["destination"])


def _claimable(alert: dict[str, Any], now: datetime, lease: timedelta) -> bool:
    """Pending, or claimed by a delivery that is gone (its lease ended, or its process)."""
    if alert["status"] == PENDING:
        return True
    if alert["status"] != SENDING:
        return False
    if not alert["claimed_at"] or parse_iso(alert["claimed_at"]) + lease <= now:
        return True
    return _claimer_gone(alert["claimed_by"] or "")


def _claimer_gone(token: str) -> bool:
    host, _, rest = token.partition(":")
    pid_text, _, _ = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine's: only its lease tells
    pid = int(pid_text)
    if pid == os.getpid():
        return token not in _ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _claim(
    lake: Any,
    wanted: list[Ident],
    cancel: set[Ident],
    token: str,
    now: datetime,
    lease: timedelta,
) -> list[Ident]:
    """Claim ``wanted`` and cancel ``cancel`` in one commit; the alerts this delivery got."""
    got: list[Ident] = []
    want = set(wanted)

    def change(tables: dict[str, Rows]) -> dict[str, Rows]:
        rows = tables[ALERTS]
        mine = set()
        for alert in rows:
            ident = _ident(alert)
            if not _claimable(alert, now, lease):
                continue  # another delivery claimed or finished it first
            if ident in cancel:
                alert.update(status=CANCELLED, sent_at=iso(now), claimed_by=None)
            elif ident in want:
                alert.update(status=SENDING, claimed_by=token, claimed_at=iso(now))
                mine.add(ident)
        got[:] = [i for i in wanted if i in mine]
        return {ALERTS: rows}

    commit_tables(lake, [ALERTS], change, operation="alerts claimed")
    return got


def _mark_sent(lake: Any, ident: Ident, when: datetime) -> None:
    def change(tables: dict[str, Rows]) -> dict[str, Rows]:
        rows = tables[ALERTS]
        for alert in rows:
            if _ident(alert) == ident and alert["status"] in (PENDING, SENDING):
                alert.update(
                    status=SENT,
                    sent_at=iso(when),
                    attempts=(alert["attempts"] or 0) + 1,
                    claimed_by=None,
                )
        return {ALERTS: rows}

    commit_tables(lake, [ALERTS], change, operation="alert sent")


def _record_failures(
    lake: Any,
    failures: dict[Ident, str],
    release: set[Ident],
    token: str,
    now: datetime,
    backoff: Backoff,
) -> None:
    """Failed alerts wait their back-off; those not tried are pending again as they were."""

    def change(tables: dict[str, Rows]) -> dict[str, Rows]:
        rows = tables[ALERTS]
        for alert in rows:
            ident = _ident(alert)
            if alert["status"] != SENDING or alert["claimed_by"] != token:
                continue
            alert.update(status=PENDING, claimed_by=None)
            if ident in failures:
                attempts = (alert["attempts"] or 0) + 1
                alert.update(
                    attempts=attempts,
                    last_error=failures[ident],
                    next_attempt=iso(now + backoff.delay(attempts)),
                )
        return {ALERTS: rows}

    commit_tables(lake, [ALERTS], change, operation="alert retry")
