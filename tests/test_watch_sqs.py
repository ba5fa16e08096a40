"""``trailscope watch --sqs-queue``: the bucket's notifications name exactly what to ingest.

The trail bucket (moto's server on loopback) sends its ``s3:ObjectCreated:*`` notifications to
an SQS queue, as configured on AWS; messages in the other shapes a queue can carry (SNS-wrapped,
EventBridge) and one that is no notification at all are added by hand.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from trailfiles import lake_event_ids
from watchkit import health, watch_command

from trailscope.exitcodes import ExitCode
from trailscope.facade import Lake
from trailscope.synth import LiveTrail, S3Sink

pytestmark = pytest.mark.slow

START = dt.datetime(2024, 7, 16, 9, 30, tzinfo=dt.UTC)


def test_a_queue_of_notifications_is_ingested_exactly_and_emptied(
    tmp_path: Path, s3_server: str, s3_client: Any
) -> None:
    sqs = boto3.client("sqs", endpoint_url=s3_server, region_name="us-east-1")
    bucket = f"trail-{uuid.uuid4().hex[:8]}"
    queue = sqs.create_queue(QueueName=f"trail-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    s3_client.create_bucket(Bucket=bucket)
    s3_client.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn["Attributes"]["QueueArn"],
                    "Events": ["s3:ObjectCreated:*"],
                }
            ]
        },
    )
    live = LiveTrail(S3Sink(s3_client, bucket), start=START, events=800, days=1)
    live.advance(START + dt.timedelta(hours=3))
    # One object a second time, wrapped by SNS; one as EventBridge sends it; one of another
    # bucket; and a message that is no notification.
    first, second = live.delivered[0], live.delivered[1]
    head = s3_client.head_object(Bucket=bucket, Key=second.key)
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": bucket},
            "object": {"key": first.key, "size": 1, "eTag": "x"},
        },
    }
    bridge = {
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": {
            "bucket": {"name": bucket},
            "object": {"key": second.key, "size": head["ContentLength"], "etag": head["ETag"]},
        },
    }
    other = {"Records": [{**record, "s3": {**record["s3"], "bucket": {"name": "elsewhere"}}}]}
    wrapped = {"Type": "Notification", "Message": json.dumps({"Records": [record]})}
    for body in (wrapped, bridge, other, "<html>not a notification</html>"):
        sqs.send_message(
            QueueUrl=queue, MessageBody=body if isinstance(body, str) else json.dumps(body)
        )

    lake = tmp_path / "lake"
    env = {**os.environ, "AWS_ENDPOINT_URL_SQS": s3_server}
    run = subprocess.run(
        watch_command(
            f"s3://{bucket}/", lake, "--once", "--sqs-queue", queue, "--endpoint-url", s3_server
        ),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == ExitCode.OK, run.stderr
    Lake(tmp_path / "reference").ingest(f"s3://{bucket}/", endpoint_url=s3_server, workers=1)
    assert lake_event_ids(lake) == lake_event_ids(tmp_path / "reference")
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert attributes == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }
    # Nothing was listed: the lake knows exactly the objects the notifications named.
    state = Lake(lake).state()
    assert {o.id for o in state.objects.values()} == {d.key for d in live.delivered}
    record_ = health(lake)
    assert record_ is not None and record_["mode"] == "sqs"
    assert "dropped a queue message that is not an S3 notification" in run.stderr

    # The trail grows: the next cycle takes only what the new notifications name.
    before = len(live.delivered)
    live.advance(START + dt.timedelta(hours=5))
    again = subprocess.run(
        watch_command(
            f"s3://{bucket}/", lake, "--once", "--sqs-queue", queue, "--endpoint-url", s3_server
        ),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert again.returncode == ExitCode.OK, again.stderr
    Lake(tmp_path / "reference").ingest(f"s3://{bucket}/", endpoint_url=s3_server, workers=1)
    assert lake_event_ids(lake) == lake_event_ids(tmp_path / "reference")
    assert (health(lake) or {})["last_cycle"]["objects"] == sum(
        1 for d in live.delivered[before:] if d.kind in ("log", "insight")
    )
