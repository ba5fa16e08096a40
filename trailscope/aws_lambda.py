"""Ingest, detect and alert as an AWS Lambda function fed by the trail bucket's notifications.

Deploy it with ``trailscope.aws_lambda.handler`` as the handler (``deploy/`` holds a SAM
template and the container image) and set ``TRAILSCOPE_LAKE=s3://analytics-bucket/trailscope/``.
Each invocation ingests exactly the objects its event names, with the same unit of work as
``trailscope ingest`` and the same commit protocol, so any number of concurrent invocations (and
a ``trailscope ingest`` run beside them) add every event once. Then it runs the detections over
the events of those objects (and the window each rule needs before them), records findings in
the lake and alerts, like ``trailscope watch``: a finding seen by two invocations is one
finding, alerted once. Accepted event shapes (see :mod:`trailscope.watch.notifications`):

- S3 event notifications (``Records[].s3``), sent directly or through SNS or SQS;
- EventBridge "Object Created" events;
- a scheduled event (EventBridge Scheduler or a rule, ``"detail-type": "Scheduled Event"``):
  the detections over the last ``TRAILSCOPE_SCHEDULE_LOOKBACK`` (default 1h) of events, and a
  new try for alerts still queued.

Settings (environment): ``TRAILSCOPE_LAKE`` (required); ``TRAILSCOPE_ALERTS`` (destinations,
comma-separated: ``webhook=URL,sns=TOPIC_ARN,...``; none: findings are recorded, nothing is
sent); ``TRAILSCOPE_MIN_SEVERITY`` (default ``medium``); ``TRAILSCOPE_REALERT_AFTER`` (``24h``);
``TRAILSCOPE_BASE_URL`` (links in alerts); ``TRAILSCOPE_DETECT`` ("0" only ingests);
``TRAILSCOPE_COMPACT`` ("0" turns off merging small files after each invocation);
``TRAILSCOPE_S3_ENDPOINT_URL`` for an S3-compatible store.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from trailscope.errors import TrailscopeError
from trailscope.facade import Lake
from trailscope.lake.batch import object_id
from trailscope.sources.base import SourceObject
from trailscope.sources.s3 import S3Source
from trailscope.watch.notifications import notified_objects as _notified

log = logging.getLogger(__name__)


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Ingest the objects named in ``event``, detect and alert; returns what was done (Lambda
    logs it; no destination's target appears in it)."""
    lake_uri = os.environ.get("TRAILSCOPE_LAKE")
    if not lake_uri:
        raise TrailscopeError("TRAILSCOPE_LAKE is not set", hint="set it to s3://bucket/prefix/")
    endpoint = os.environ.get("TRAILSCOPE_S3_ENDPOINT_URL") or None
    compact = os.environ.get("TRAILSCOPE_COMPACT", "1") != "0"
    detect = os.environ.get("TRAILSCOPE_DETECT", "1") != "0"
    lake = Lake(lake_uri, endpoint_url=endpoint)
    alerting = _alerting_from_env() if detect else None
    if event.get("detail-type") == "Scheduled Event":
        return _scheduled(lake, alerting)
    by_bucket: dict[str, list[SourceObject]] = {}
    for notified in _notified(event):
        by_bucket.setdefault(notified.bucket, []).append(notified.source_object())
    before = lake.state().version if detect and lake.exists() else 0
    results = []
    for bucket, objects in sorted(by_bucket.items()):
        source = S3Source(bucket, endpoint_url=endpoint)
        summary = lake.ingest(source, objects=objects, workers=1, compact=compact)
        results.append(summary.__dict__)
    out: dict[str, Any] = {"lake": lake.location, "ingested": results}
    if alerting is not None and by_bucket:
        ids = {object_id(o) for objects in by_bucket.values() for o in objects}
        out.update(_detect_objects(lake, alerting, ids, before))
    return out


def notified_objects(event: dict[str, Any]) -> Iterator[tuple[str, str, int, str]]:
    """(bucket, key, size, etag) of every created object an event names."""
    for n in _notified(event):
        yield n.bucket, n.key, n.size, n.etag


def _alerting_from_env() -> Any:
    from trailscope.detect import Severity
    from trailscope.watch.alerting import make_alerting
    from trailscope.watch.schedule import parse_interval

    specs = [s.strip() for s in os.environ.get("TRAILSCOPE_ALERTS", "").split(",") if s.strip()]
    realert = os.environ.get("TRAILSCOPE_REALERT_AFTER")
    return make_alerting(
        specs,
        min_severity=Severity.parse(os.environ.get("TRAILSCOPE_MIN_SEVERITY", "medium")),
        realert_after=(
            timedelta(seconds=parse_interval(realert, option="TRAILSCOPE_REALERT_AFTER"))
            if realert
            else None
        ),
        base_url=os.environ.get("TRAILSCOPE_BASE_URL") or None,
    )


def _detect_objects(lake: Lake, alerting: Any, ids: set[str], before: int) -> dict[str, Any]:
    """The detections over the events of the objects ``ids``: those this invocation committed
    (exactly, from the log after version ``before``) and, for objects another invocation took
    first or a failed earlier try of this one committed, their delivery day and the day
    before (a trail file holds events of those two days)."""
    from trailscope.sources.layout import classify_key
    from trailscope.watch.alerting import retrying_reads
    from trailscope.watch.detection import Detector
    from trailscope.watch.pending import event_range, pending_since

    pending = retrying_reads(lambda: pending_since(lake, before, only=ids))
    partitions = set(pending.partitions)
    for key in ids:
        day = classify_key(key).day
        if day is not None:
            partitions |= {day.isoformat(), (day - timedelta(days=1)).isoformat()}
    if not partitions:
        return {"detections": None, "alerts": vars(alerting.deliver(lake))}
    first, last = retrying_reads(lambda: event_range(lake, sorted(ids), partitions))
    if first is None or last is None:
        return {"detections": None, "alerts": vars(alerting.deliver(lake))}
    report = retrying_reads(lambda: Detector().run(lake, first, last))
    counts = alerting.record(lake, report)
    return {
        "detections": {
            "since": report.since,
            "until": report.until,
            "findings": len(report.findings),
        },
        "alerts": vars(counts),
    }


def _scheduled(lake: Lake, alerting: Any) -> dict[str, Any]:
    """The schedule's run: the detections over the last hour (what an invocation that failed
    after its ingest left), and the alerts still queued."""
    from trailscope.watch.schedule import parse_interval

    out: dict[str, Any] = {"lake": lake.location, "ingested": []}
    if alerting is None or not lake.exists():
        return out
    from trailscope.detect import run_detections

    span = parse_interval(os.environ.get("TRAILSCOPE_SCHEDULE_LOOKBACK", "1h"))
    since = datetime.now(UTC) - timedelta(seconds=span)
    from trailscope.watch.alerting import retrying_reads

    report = retrying_reads(lambda: run_detections(lake, since=since))
    counts = alerting.record(lake, report)
    out["detections"] = {"since": report.since, "findings": len(report.findings)}
    out["alerts"] = vars(counts)
    return out
