"""The Lambda path alerts like the watch: notifications (some twice, some out of order, in
every wrapping) ingest each object once, and each finding is alerted once, at a webhook
receiver and on SNS (moto's server on loopback, the topic read through an SQS subscription).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from trailfiles import lake_event_ids
from watchkit import Receiver

from trailscope.aws_lambda import handler
from trailscope.facade import Lake
from trailscope.synth import LiveTrail, S3Sink
from trailscope.synth.incidents import INCIDENTS

START = dt.datetime(2024, 7, 16, 9, 30, tzinfo=dt.UTC)


def notification(bucket: str, key: str, size: int, etag: str) -> dict[str, Any]:
    """One record of an S3 event notification, as S3 writes it (key URL-encoded)."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": quote_plus(key), "size": size, "eTag": etag},
        },
    }


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        for m in got:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


@pytest.mark.slow
def test_lambda_invocations_ingest_exactly_and_alert_once_per_finding(
    tmp_path: Path, s3_server: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    trail_bucket, lake_bucket = f"trail-{uuid.uuid4().hex[:8]}", f"lake-{uuid.uuid4().hex[:8]}"
    for name in (trail_bucket, lake_bucket):
        s3_client.create_bucket(Bucket=name)
    incidents = {name: START + dt.timedelta(hours=1 + 0.5 * i) for i, name in enumerate(INCIDENTS)}
    options: dict[str, Any] = {"start": START, "events": 1500, "days": 1, "incidents": incidents}
    live = LiveTrail(S3Sink(s3_client, trail_bucket), **options)
    LiveTrail(tmp_path / "trail", **options).advance(START + dt.timedelta(days=3))
    live.advance(live.end)

    sns = boto3.client("sns", endpoint_url=s3_server, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=s3_server, region_name="us-east-1")
    topic = sns.create_topic(Name=f"secops-{uuid.uuid4().hex[:6]}")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"secops-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn["Attributes"]["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", s3_server)
    monkeypatch.setenv("TRAILSCOPE_LAKE", f"s3://{lake_bucket}/lake/")
    monkeypatch.setenv("TRAILSCOPE_S3_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("TRAILSCOPE_COMPACT", "0")

    records = []
    for d in live.delivered:
        head = s3_client.head_object(Bucket=trail_bucket, Key=d.key)
        records.append(notification(trail_bucket, d.key, head["ContentLength"], head["ETag"]))
    rng = random.Random(5)
    # S3 delivers at least once and in no particular order: every tenth record twice, the
    # whole sequence shuffled, cut into invocations of 10 to 60 records.
    stream = records + records[::10]
    rng.shuffle(stream)
    events: list[dict[str, Any]] = []
    while stream:
        n = rng.randint(10, 60)
        chunk, stream = stream[:n], stream[n:]
        form = len(events) % 4
        if form == 0:
            events.append({"Records": chunk})
        elif form == 1:  # through SQS
            events.append({"Records": [{"body": json.dumps({"Records": chunk})}]})
        elif form == 2:  # through SNS
            events.append({"Records": [{"Sns": {"Message": json.dumps({"Records": chunk})}}]})
        else:  # EventBridge names one object per event: a few so, the rest directly
            events.append({"Records": chunk[3:]})
            for r in chunk[:3]:
                obj = r["s3"]["object"]
                events.append(
                    {
                        "detail-type": "Object Created",
                        "source": "aws.s3",
                        "detail": {
                            "bucket": {"name": trail_bucket},
                            "object": {
                                "key": r["s3"]["object"]["key"].replace("%2F", "/"),
                                "size": obj["size"],
                                "etag": obj["eTag"],
                            },
                        },
                    }
                )
    with Receiver() as receiver:
        monkeypatch.setenv("TRAILSCOPE_ALERTS", f"webhook={receiver.url},sns={topic}")
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(handler, events))
        # Every invocation once more, as a Lambda retry would: nothing new.
        again = [handler(e) for e in events[:5]]
        scheduled = handler({"detail-type": "Scheduled Event", "source": "aws.events"})
        alerts = receiver.received()
    published = drain(sqs, queue)

    lake = Lake(f"s3://{lake_bucket}/lake/", endpoint_url=s3_server)
    ids = Counter(lake.query("SELECT eventid FROM cloudtrail").column(0).to_pylist())
    Lake(tmp_path / "reference").ingest(str(tmp_path / "trail"), workers=1)
    assert ids == lake_event_ids(tmp_path / "reference")
    assert all(r["lake"] == f"s3://{lake_bucket}/lake/" for r in results)
    assert all(sum(s["read"] for s in r["ingested"]) == 0 for r in again)
    assert scheduled["alerts"]["sent"] == 0 and scheduled["alerts"]["failed"] == 0

    for incident in live.incidents:
        matching = [
            a
            for a in alerts
            if a["finding"]["rule_id"] == incident.rule_id
            and set(incident.event_ids) & set(a["finding"]["event_ids"])
        ]
        assert len(matching) == 1, incident.name
    keys = [a["idempotency_key"] for a in alerts]
    assert len(keys) == len(set(keys))
    assert sorted(p["idempotency_key"] for p in published) == sorted(keys)
    text = json.dumps(results) + json.dumps(again)
    assert receiver.url not in text
