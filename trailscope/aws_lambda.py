"""Ingest as an AWS Lambda function, triggered by the trail bucket's object notifications.

Deploy the package with ``trailscope.aws_lambda.handler`` as the handler and set
``TRAILSCOPE_LAKE=s3://analytics-bucket/trailscope/``. Each invocation ingests exactly the
objects its event names, with the same unit of work as ``trailscope ingest`` and the same
commit protocol, so any number of concurrent invocations (and a ``trailscope ingest`` run
beside them) add every event once. Accepted event shapes:

- S3 event notifications (``Records[].s3``), sent directly or through SNS or SQS
  (the notification JSON is then in ``Records[].Sns.Message`` or ``Records[].body``);
- EventBridge "Object Created" events (``detail.bucket.name``, ``detail.object.key``).

Settings (environment): ``TRAILSCOPE_LAKE`` (required); ``TRAILSCOPE_COMPACT`` ("0" turns off
merging small files after each invocation; default on); ``TRAILSCOPE_S3_ENDPOINT_URL`` for an
S3-compatible store.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

from trailscope.errors import TrailscopeError
from trailscope.facade import Lake
from trailscope.sources.base import SourceObject
from trailscope.sources.layout import classify_key
from trailscope.sources.s3 import S3Source


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Ingest the objects named in ``event``; returns what was done (Lambda logs it)."""
    lake_uri = os.environ.get("TRAILSCOPE_LAKE")
    if not lake_uri:
        raise TrailscopeError("TRAILSCOPE_LAKE is not set", hint="set it to s3://bucket/prefix/")
    endpoint = os.environ.get("TRAILSCOPE_S3_ENDPOINT_URL") or None
    compact = os.environ.get("TRAILSCOPE_COMPACT", "1") != "0"
    lake = Lake(lake_uri, endpoint_url=endpoint)
    by_bucket: dict[str, list[SourceObject]] = {}
    for bucket, key, size, etag in notified_objects(event):
        uri = f"s3://{bucket}/{key}"
        by_bucket.setdefault(bucket, []).append(
            SourceObject(key, uri, size, etag, classify_key(key))
        )
    results = []
    for bucket, objects in sorted(by_bucket.items()):
        source = S3Source(bucket, endpoint_url=endpoint)
        summary = lake.ingest(source, objects=objects, workers=1, compact=compact)
        results.append(summary.__dict__)
    return {"lake": lake.location, "ingested": results}


def notified_objects(event: dict[str, Any]) -> Iterator[tuple[str, str, int, str]]:
    """(bucket, key, size, etag) of every created object an event names."""
    if event.get("detail-type") == "Object Created" and "detail" in event:
        detail = event["detail"]
        obj = detail["object"]
        yield detail["bucket"]["name"], obj["key"], int(obj.get("size", 0)), obj.get("etag", "")
        return
    for record in event.get("Records", ()):
        if "s3" in record:
            if str(record.get("eventName", "ObjectCreated")).startswith("ObjectCreated"):
                s3 = record["s3"]
                obj = s3["object"]
                key = unquote_plus(obj["key"])  # notifications URL-encode keys
                yield s3["bucket"]["name"], key, int(obj.get("size", 0)), obj.get("eTag", "")
        elif "Sns" in record:
            yield from notified_objects(json.loads(record["Sns"]["Message"]))
        elif "body" in record:  # SQS
            yield from notified_objects(json.loads(record["body"]))
