"""The watch's health in the Prometheus text format (version 0.0.4), for ``/metrics``.

Written by hand: a dozen lines from one record read per scrape, where a client library would
keep a process-wide registry of values that belong to the lake, not to the web server.
"""

from __future__ import annotations

from datetime import UTC, datetime

from trailscope.watch.health import WatchHealth, parse_iso

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: (name, type, help, value of the record) for each metric; None values are left out.
_GAUGES = (
    ("up", "1 while the watch runs and its last cycle succeeded, else 0"),
    ("last_cycle_timestamp_seconds", "When the last cycle ended (Unix time)"),
    ("last_cycle_duration_seconds", "How long the last cycle took"),
    ("last_cycle_success", "1 if the last cycle succeeded (possibly quarantining), else 0"),
    ("ingest_lag_seconds", "Now minus the newest event in the lake"),
    ("consecutive_failures", "Failed cycles since the last good one"),
    ("cycle_objects", "Source objects read by the last cycle"),
    ("cycle_events", "Events ingested by the last cycle"),
    ("cycle_quarantined", "Objects and events quarantined by the last cycle"),
    ("cycle_findings_opened", "Findings opened by the last cycle"),
    ("alerts_queued", "Alerts waiting for a destination to take them"),
)
_COUNTERS = (
    ("cycles_total", "Cycles run", "cycles"),
    ("cycle_failures_total", "Cycles that failed", "failed_cycles"),
    ("objects_total", "Source objects read", "objects"),
    ("events_total", "Events ingested", "events"),
    ("quarantined_total", "Objects and events quarantined", "quarantined"),
    ("findings_opened_total", "Findings opened", "findings_opened"),
    ("alerts_sent_total", "Alerts delivered", "alerts_sent"),
    (
        "alerts_failed_total",
        "Alert deliveries that failed (kept queued and retried)",
        "alerts_failed",
    ),
)
PREFIX = "trailscope_watch_"


def _gauge_values(health: WatchHealth, now: datetime) -> dict[str, float | None]:
    cycle = health.last_cycle
    ended = parse_iso(cycle.finished_at) if cycle else None
    succeeded = cycle is not None and cycle.result in ("ok", "quarantined")
    return {
        "up": float(health.state == "running" and succeeded),
        "last_cycle_timestamp_seconds": ended.timestamp() if ended else None,
        "last_cycle_duration_seconds": cycle.duration_seconds if cycle else None,
        "last_cycle_success": float(succeeded) if cycle else None,
        "ingest_lag_seconds": health.lag_seconds(now),
        "consecutive_failures": float(health.consecutive_failures),
        "cycle_objects": float(cycle.objects) if cycle else None,
        "cycle_events": float(cycle.events) if cycle else None,
        "cycle_quarantined": float(cycle.quarantined) if cycle else None,
        "cycle_findings_opened": float(cycle.findings_opened) if cycle else None,
        "alerts_queued": float(cycle.alerts_queued) if cycle else None,
    }


def prometheus_text(health: WatchHealth | None, *, now: datetime | None = None) -> str:
    """Every metric with its HELP and TYPE lines; only ``up`` (0) without a record."""
    now = now or datetime.now(UTC)
    lines: list[str] = []
    if health is None:
        lines += [f"# HELP {PREFIX}up {_GAUGES[0][1]}", f"# TYPE {PREFIX}up gauge", f"{PREFIX}up 0"]
        return "\n".join(lines) + "\n"
    values = _gauge_values(health, now)
    for name, text in _GAUGES:
        value = values[name]
        if value is None:
            continue
        lines += [f"# HELP {PREFIX}{name} {text}", f"# TYPE {PREFIX}{name} gauge"]
        lines.append(f"{PREFIX}{name} {_number(value)}")
    for name, text, attr in _COUNTERS:
        lines += [f"# HELP {PREFIX}{name} {text}", f"# TYPE {PREFIX}{name} counter"]
        lines.append(f"{PREFIX}{name} {_number(getattr(health.totals, attr))}")
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
