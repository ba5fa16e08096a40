"""Poison objects: things that land in a trail bucket but must not become rows.

A live trail can mix them in at chosen times, named like log files of the trail, so a test of
unattended ingest can assert exactly what was quarantined and that the run went on. Each kind
says what ingest must do with it: quarantine the whole object, or one event of it while the
rest of the file is kept.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import orjson

from trailscope.synth.clock import iso
from trailscope.synth.ids import ALPHANUMERIC, random_text, uuid4_text
from trailscope.synth.keys import log_key
from trailscope.synth.sinks import gzip
from trailscope.synth.world import World

#: Larger than any event ingest stores (decode.normalize.MAX_EVENT_BYTES is 16 MB).
_OVERSIZED_EVENT_BYTES = 17 << 20


@dataclass(frozen=True)
class PoisonFile:
    """A poison object: where it lands, when, and what ingest must make of it.

    :param quarantine: ``object`` (the whole object is quarantined) or ``event`` (one event
        is quarantined; the object counts as ingested with its other events).
    :param events: events of the object that must be ingested all the same.
    """

    key: str
    kind: str
    delivered: dt.datetime
    quarantine: Literal["object", "event"]
    events: int = 0


def _an_event(rng: random.Random, world: World, time: int) -> dict[str, object]:
    """An ordinary, valid event to sit beside a poisoned one."""
    account = world.accounts[0].id
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AWSService",
            "invokedBy": "ec2.amazonaws.com",
        },
        "eventTime": iso(time),
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole",
        "awsRegion": world.regions[0],
        "sourceIPAddress": "ec2.amazonaws.com",
        "userAgent": "ec2.amazonaws.com",
        "requestParameters": None,
        "responseElements": None,
        "requestID": uuid4_text(rng.getrandbits(128)),
        "eventID": uuid4_text(rng.getrandbits(128)),
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }


def _damaged_gzip(rng: random.Random, world: World, time: int) -> tuple[bytes, int]:
    """A log file cut short in transfer: the gzip stream ends before its end marker."""
    records = [_an_event(rng, world, time - 60 * i) for i in range(20)]
    whole = gzip(orjson.dumps({"Records": records}), 6)
    return whole[: len(whole) * 3 // 5], 0


def _not_json(rng: random.Random, world: World, time: int) -> tuple[bytes, int]:
    """An error page saved in place of a log file."""
    page = b"<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>"
    return gzip(page, 6), 0


def _not_cloudtrail(rng: random.Random, world: World, time: int) -> tuple[bytes, int]:
    """Valid JSON of another AWS service (an AWS Config snapshot) under a CloudTrail key."""
    snapshot = {
        "fileVersion": "1.0",
        "configSnapshotId": uuid4_text(rng.getrandbits(128)),
        "configurationItems": [
            {
                "configurationItemCaptureTime": iso(time),
                "resourceType": "AWS::S3::Bucket",
                "resourceId": "app-uploads",
                "awsAccountId": world.accounts[0].id,
            }
        ],
    }
    return gzip(orjson.dumps(snapshot), 6), 0


def _oversized_event(rng: random.Random, world: World, time: int) -> tuple[bytes, int]:
    """A file whose second event is too large to store; the first must still be kept."""
    ordinary = _an_event(rng, world, time - 120)
    huge = _an_event(rng, world, time - 60)
    huge["requestParameters"] = {"policy": "A" * _OVERSIZED_EVENT_BYTES}
    return gzip(orjson.dumps({"Records": [ordinary, huge]}), 6), 1


_KINDS: dict[
    str, tuple[Callable[[random.Random, World, int], tuple[bytes, int]], Literal["object", "event"]]
] = {
    "damaged-gzip": (_damaged_gzip, "object"),
    "not-json": (_not_json, "object"),
    "not-cloudtrail": (_not_cloudtrail, "object"),
    "oversized-event": (_oversized_event, "event"),
}
#: The kinds of poison a live trail can mix in.
POISON_KINDS = tuple(_KINDS)


class PoisonMaker:
    """Makes poison objects from their own seeded stream (the trail itself never changes)."""

    def __init__(self, world: World, seed: int) -> None:
        self.world = world
        self.rng = random.Random(f"trailscope-synth:{seed}:poison")

    def make(self, kind: str, delivered: int) -> tuple[PoisonFile, bytes]:
        """One poison object of ``kind`` named like a log file delivered at ``delivered``."""
        if kind not in _KINDS:
            raise ValueError(f"unknown poison kind {kind!r}; known: {list(POISON_KINDS)}")
        build, quarantine = _KINDS[kind]
        region = int(self.rng.random() * len(self.world.regions))
        key = log_key(self.world, 0, region, delivered, random_text(self.rng, ALPHANUMERIC, 16))
        data, events = build(self.rng, self.world, delivered - 300)
        moment = dt.datetime.fromtimestamp(delivered, dt.UTC)
        return PoisonFile(key, kind, moment, quarantine, events), data
