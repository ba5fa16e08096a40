"""Which objects an S3 notification names, whichever way it travelled.

The trail bucket's ``s3:ObjectCreated:*`` notifications reach trailscope directly (Lambda),
through SNS (``Records[].Sns.Message``), through SQS (``Records[].body`` for Lambda, the message
body for a queue read by ``trailscope watch``; SNS-to-SQS without raw delivery wraps it once
more), or as EventBridge "Object Created" events. S3 URL-encodes keys in its own notifications
(EventBridge does not). S3's ``s3:TestEvent``, sent when a notification is set up, names nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from trailscope.sources.base import SourceObject
from trailscope.sources.layout import classify_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notified:
    """One created object a notification names."""

    bucket: str
    key: str
    size: int
    etag: str

    def source_object(self) -> SourceObject:
        """As a listing of the bucket would give it (ETags without quotes)."""
        uri = f"s3://{self.bucket}/{self.key}"
        return SourceObject(self.key, uri, self.size, self.etag.strip('"'), classify_key(self.key))


def notified_objects(event: Any) -> Iterator[Notified]:
    """Every created object ``event`` names (a dict, or the JSON text of one)."""
    if isinstance(event, str | bytes):
        event = json.loads(event)
    if not isinstance(event, dict):
        return
    if event.get("detail-type") == "Object Created" and "detail" in event:
        detail = event["detail"]
        obj = detail["object"]
        yield Notified(
            detail["bucket"]["name"], obj["key"], int(obj.get("size", 0)), obj.get("etag", "")
        )
        return
    if event.get("Type") == "Notification" and "Message" in event:  # SNS envelope in SQS
        yield from notified_objects(event["Message"])
        return
    for record in event.get("Records", ()):
        if "s3" in record:
            if str(record.get("eventName", "ObjectCreated")).startswith("ObjectCreated"):
                s3 = record["s3"]
                obj = s3["object"]
                key = unquote_plus(obj["key"])  # S3 notifications URL-encode keys
                yield Notified(
                    s3["bucket"]["name"], key, int(obj.get("size", 0)), obj.get("eTag", "")
                )
        elif "Sns" in record:
            yield from notified_objects(record["Sns"]["Message"])
        elif "body" in record:  # SQS, as Lambda receives it
            yield from notified_objects(record["body"])


def parse_message(body: str) -> list[Notified] | None:
    """The objects one queue message names; None when it is not a notification at all (it
    can never be read, so it is dropped with a warning rather than received for ever)."""
    try:
        return list(notified_objects(body))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("dropped a queue message that is not an S3 notification (%s)", exc)
        return None
