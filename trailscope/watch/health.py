"""The watch's health record, kept in the lake: what ``lake info``, ``/status`` and
``/metrics`` show, and the cursor that says which ingested events have been through detection.

It is one small JSON file, ``_trailscope/watch.json``, replaced whole (an atomic rename
locally, one PUT on S3) after every cycle, not a side table: a side table is a commit, and a
commit every cycle (every second in a test, every few minutes for months) would grow the commit
log without end and make every reader (the web UI's kept engine) reopen the lake each time.
Nothing in it is a secret: alert destinations are listed by kind only, and error texts pass
through :func:`redact` first.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import orjson

from trailscope.lake.paths import META_DIR
from trailscope.lake.storage import Storage

HEALTH_FILE = f"{META_DIR}/watch.json"

log = logging.getLogger(__name__)


def now_iso(moment: datetime | None = None) -> str:
    when = moment or datetime.now(UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass
class CycleRecord:
    """One cycle: when, how it ended, what it did."""

    started_at: str
    finished_at: str = ""
    #: ok | quarantined (finished, something quarantined) | failed | interrupted
    result: str = "ok"
    duration_seconds: float = 0.0
    objects: int = 0
    events: int = 0
    quarantined: int = 0  # objects and events quarantined
    findings_opened: int = 0
    findings_updated: int = 0
    alerts_sent: int = 0
    alerts_queued: int = 0
    alerts_failed: int = 0
    #: the first events this cycle ran the detections on, and the last
    detected_from: str | None = None
    detected_until: str | None = None
    error: str | None = None


@dataclass
class Totals:
    """Sums since the health record began (kept across restarts)."""

    cycles: int = 0
    failed_cycles: int = 0
    objects: int = 0
    events: int = 0
    quarantined: int = 0
    findings_opened: int = 0
    alerts_sent: int = 0
    alerts_failed: int = 0

    def add(self, cycle: CycleRecord) -> None:
        self.cycles += 1
        self.failed_cycles += cycle.result == "failed"
        self.objects += cycle.objects
        self.events += cycle.events
        self.quarantined += cycle.quarantined
        self.findings_opened += cycle.findings_opened
        self.alerts_sent += cycle.alerts_sent
        self.alerts_failed += cycle.alerts_failed


@dataclass
class WatchHealth:
    """The record as stored (see the module's docstring)."""

    source: str = ""
    mode: str = "listing"  # listing | sqs
    every_seconds: float = 0.0
    destinations: list[str] = field(default_factory=list)  # kinds only: webhook, slack, ...
    state: str = "stopped"  # running | stopped
    pid: int = 0
    host: str = ""
    started_at: str | None = None
    stopped_at: str | None = None
    last_cycle: CycleRecord | None = None
    last_success: str | None = None
    consecutive_failures: int = 0
    #: the newest event in the lake, as far as the watch knows
    newest_event: str | None = None
    #: the lake version up to which every ingested event has been through detection
    detected_version: int = 0
    totals: Totals = field(default_factory=Totals)

    def started(self) -> None:
        self.state, self.pid, self.host = "running", os.getpid(), socket.gethostname()
        self.started_at, self.stopped_at = now_iso(), None

    def record(self, cycle: CycleRecord) -> None:
        self.last_cycle = cycle
        self.totals.add(cycle)
        if cycle.result == "failed":
            self.consecutive_failures += 1
        else:
            self.consecutive_failures = 0
            self.last_success = cycle.finished_at
        if cycle.detected_until and cycle.detected_until > (self.newest_event or ""):
            self.newest_event = cycle.detected_until

    def lag_seconds(self, now: datetime | None = None) -> float | None:
        """How far the lake is behind: now minus the newest event in it."""
        newest = parse_iso(self.newest_event)
        if newest is None:
            return None
        return max(0.0, ((now or datetime.now(UTC)) - newest).total_seconds())

    def to_json(self, now: datetime | None = None) -> dict[str, Any]:
        out = asdict(self)
        out["ingest_lag_seconds"] = self.lag_seconds(now)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WatchHealth:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        cycle = values.get("last_cycle")
        cycle_fields = {f.name for f in fields(CycleRecord)}
        if isinstance(cycle, dict):
            values["last_cycle"] = CycleRecord(
                **{k: v for k, v in cycle.items() if k in cycle_fields}
            )
        totals = values.get("totals")
        total_fields = {f.name for f in fields(Totals)}
        values["totals"] = Totals(**{k: v for k, v in (totals or {}).items() if k in total_fields})
        return cls(**values)


def read_health(storage: Storage) -> WatchHealth | None:
    """The record, or None when no watch ever ran on this lake (or it cannot be read)."""
    try:
        data = orjson.loads(storage.read_bytes(HEALTH_FILE))
    except FileNotFoundError:
        return None
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        log.warning("the watch health record is damaged (%s); starting a new one", exc)
        return None
    if not isinstance(data, dict):
        return None
    try:
        return WatchHealth.from_json(data)
    except TypeError as exc:
        log.warning("the watch health record is not readable (%s); starting a new one", exc)
        return None


def write_health(storage: Storage, health: WatchHealth) -> None:
    storage.write_atomic(HEALTH_FILE, orjson.dumps(asdict(health)))


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every secret (a webhook URL, an address) replaced, for logs and health."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text
