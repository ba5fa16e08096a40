"""The soak test: a trail grows in S3 (moto's server on loopback) while ``trailscope watch
--every 1s`` runs, with planted incidents and poison files mixed in; the watch is killed with
SIGKILL twice and restarted, and the S3 endpoint is stopped and started again once.

At the end the lake must be exactly what one ingest of the whole trail gives; each planted
incident must have produced exactly one alert at each destination (a webhook receiver, an SNS
topic read through an SQS subscription, a mail server); no finding alerted twice; and the
watch's memory must stay under 1 GB and flat.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email
import json
import signal
import socket
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest
from trailfiles import lake_event_ids
from watchkit import Receiver, cycles, health, rss_kb, start_watch, wait_for

from trailscope.facade import Lake
from trailscope.synth import LiveTrail, S3Sink
from trailscope.synth.incidents import INCIDENTS, PlantedIncident

START = dt.datetime(2024, 7, 16, 9, 30, tzinfo=dt.UTC)
#: Simulated minutes the trail moves per step, and real seconds between steps.
STEP_MINUTES, STEP_SECONDS = 30, 0.5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """A moto server of this test's own, on a fixed port, that can be stopped and started
    again (its state lives in this process, so the buckets survive)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: Any = None

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


class Mailbox:
    """An SMTP server (aiosmtpd) on loopback that keeps every message."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[email.message.Message] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                outer.messages.append(email.message_from_bytes(envelope.content))
                return "250 OK"

        self.port = _free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def alerts(self) -> list[dict[str, Any]]:
        """The alert JSON at the end of each mail."""
        out = []
        for message in list(self.messages):
            text = message.get_payload(decode=True).decode().replace("\r\n", "\n")
            out.append(json.loads(text.split("\n-- \n", 1)[1]))
        return out


def one_each(incidents: list[PlantedIncident], alerts: list[dict[str, Any]]) -> dict[str, int]:
    return {
        i.name: sum(
            1
            for a in alerts
            if a["finding"]["rule_id"] == i.rule_id
            and set(i.event_ids) & set(a["finding"]["event_ids"])
        )
        for i in incidents
    }


@pytest.mark.slow
def test_the_watch_survives_kills_and_an_s3_outage_and_alerts_each_incident_once(
    tmp_path: Path, s3_server: str
) -> None:
    moto = MotoServer()
    moto.start()
    mailbox = Mailbox()
    mailbox.controller.start()
    procs: list[Any] = []
    try:
        s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
        sns = boto3.client("sns", endpoint_url=moto.url, region_name="us-east-1")
        sqs = boto3.client("sqs", endpoint_url=moto.url, region_name="us-east-1")
        bucket = f"trail-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        topic = sns.create_topic(Name="secops")["TopicArn"]
        queue = sqs.create_queue(QueueName=f"published-{uuid.uuid4().hex[:6]}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=arn["Attributes"]["QueueArn"],
            Attributes={"RawMessageDelivery": "true"},
        )
        incidents = {
            name: START + dt.timedelta(hours=2 + 3 * i) for i, name in enumerate(INCIDENTS)
        }
        poison = [
            ("damaged-gzip", START + dt.timedelta(hours=1)),
            ("not-json", START + dt.timedelta(hours=6)),
            ("not-cloudtrail", START + dt.timedelta(hours=11)),
            ("oversized-event", START + dt.timedelta(hours=15)),
        ]
        live = LiveTrail(
            S3Sink(s3, bucket), start=START, events=4000, days=1, incidents=incidents, poison=poison
        )
        lake, log = tmp_path / "lake", tmp_path / "watch.log"
        env = {
            "AWS_ENDPOINT_URL_SNS": moto.url,
            "TRAILSCOPE_SMTP_HOST": "127.0.0.1",
            "TRAILSCOPE_SMTP_PORT": str(mailbox.port),
            "TRAILSCOPE_SMTP_TLS": "off",
        }
        with Receiver() as receiver:
            args = (
                "--every", "1s", "--retry-cap", "2s", "--endpoint-url", moto.url,
                "--alert", f"webhook={receiver.url}", "--alert", f"sns={topic}",
                "--alert", "email=soc@example.com",
            )  # fmt: skip
            samples: dict[int, list[tuple[float, int, int]]] = {}
            sampling = threading.Event()

            def sample() -> None:
                while not sampling.is_set():
                    proc = procs[-1]
                    if proc.poll() is None:
                        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                            point = (time.monotonic(), rss_kb(proc.pid), cycles(lake))
                            samples.setdefault(proc.pid, []).append(point)
                    time.sleep(0.25)

            def launch() -> None:
                procs.append(start_watch(f"s3://{bucket}/", lake, *args, env=env, log=log))

            launch()
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            steps = int((live.end - live.start) / dt.timedelta(minutes=STEP_MINUTES)) + 1
            kills, outage = {steps // 5, (2 * steps) // 5}, (steps * 3) // 5
            for step in range(1, steps + 1):
                live.advance(live.start + step * dt.timedelta(minutes=STEP_MINUTES))
                if step in kills:
                    seen = cycles(lake)
                    wait_for(lambda s=seen: cycles(lake) > s, 300, "a cycle before the kill")
                    procs[-1].send_signal(signal.SIGKILL)
                    procs[-1].wait(30)
                    launch()
                if step == outage:
                    moto.stop()
                    wait_for(
                        lambda: "source unreachable, retrying in" in log.read_text(),
                        300,
                        "the watch to notice the outage",
                    )
                    moto.start()
                time.sleep(STEP_SECONDS)
            assert live.finished

            Lake(tmp_path / "reference").ingest(f"s3://{bucket}/", endpoint_url=moto.url, workers=1)
            expected = lake_event_ids(tmp_path / "reference")
            wait_for(lambda: lake_event_ids(lake) == expected, 300, "the lake to catch up", every=1)

            def settled() -> bool:
                record = health(lake) or {}
                cycle = record.get("last_cycle") or {}
                return cycle.get("alerts_queued") == 0 and cycle.get("objects") == 0

            wait_for(settled, 300, "every queued alert delivered")
            seen = cycles(lake)
            wait_for(lambda: cycles(lake) >= seen + 3, 120, "three quiet cycles")
            sampling.set()
            procs[-1].send_signal(signal.SIGTERM)
            assert procs[-1].wait(60) == 0
            webhook = receiver.received()
        published = []
        while True:
            got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                break
            published += [json.loads(m["Body"]) for m in got]
            sqs.delete_message_batch(
                QueueUrl=queue,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
                ],
            )
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        mailbox.controller.stop()
        moto.stop()

    mails = mailbox.alerts()
    text = log.read_text()

    # The lake: exactly one ingest of the whole trail, each event once.
    assert lake_event_ids(lake) == expected
    assert max(Counter(expected).values()) == 1
    # Each planted incident: exactly one alert at each destination; no finding twice.
    once = {i.name: 1 for i in live.incidents}
    assert one_each(live.incidents, webhook) == once
    assert one_each(live.incidents, published) == once
    assert one_each(live.incidents, mails) == once
    for alerts in (webhook, published, mails):
        keys = [a["idempotency_key"] for a in alerts]
        assert len(keys) == len(set(keys))
        assert len({a["finding_id"] for a in alerts}) == len(alerts)
    assert sorted(a["idempotency_key"] for a in webhook) == sorted(
        a["idempotency_key"] for a in published
    )
    # The outage was seen and survived; the poison was quarantined, not fatal.
    assert "source unreachable, retrying in" in text
    record = health(lake)
    assert record is not None and record["state"] == "stopped"
    assert record["totals"]["quarantined"] >= len(poison)
    # Memory: under 1 GB, and flat over the last (longest) run of the watch once it has run
    # two cycles (its imports and the catching up after the kill are behind it).
    (tmp_path / "rss.json").write_text(json.dumps(samples))
    assert max(kb for s in samples.values() for _, kb, _ in s) < 1024 * 1024
    last = samples[procs[-1].pid]
    values = [kb for _, kb, n in last if n >= last[0][2] + 2]
    tenth = max(1, len(values) // 10)
    first, final = values[:tenth], values[-tenth:]
    assert sum(final) / len(final) <= sum(first) / len(first) + 32 * 1024, values
