"""The SQS queue of the trail bucket's notifications, for ``trailscope watch --sqs-queue``.

A cycle receives what the queue holds (up to a cap), ingests exactly the objects named, and
deletes the messages only after that ingest has committed: a watch killed in between leaves
them in the queue, they come back after their visibility timeout, and the objects they name
are found already ingested. Messages that are not notifications at all are deleted at once
(they could never be read; the queue's dead-letter policy would only delay that).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from trailscope.errors import SourceError
from trailscope.watch.notifications import Notified, parse_message

log = logging.getLogger(__name__)

#: SQS returns at most 10 messages a call and deletes at most 10 a call.
_SQS_BATCH = 10
_REGION_IN_URL = re.compile(r"sqs[.-]([a-z0-9-]+)\.amazonaws\.com")


@dataclass
class Received:
    """Messages taken from the queue in one cycle and the objects they name."""

    receipts: list[str] = field(default_factory=list)
    objects: list[Notified] = field(default_factory=list)
    dropped: int = 0  # messages that were not notifications
    #: the objects each message names, by receipt
    named: dict[str, list[Notified]] = field(default_factory=dict)

    def keep(self, receipts: set[str]) -> Received:
        """These messages only (the others stay in the queue)."""
        kept = [r for r in self.receipts if r in receipts]
        return Received(
            kept, [n for r in kept for n in self.named[r]], 0, {r: self.named[r] for r in kept}
        )


class NotificationQueue:
    """One SQS queue URL; the client is made on first use (endpoint from the AWS settings,
    ``AWS_ENDPOINT_URL_SQS`` for a local server)."""

    def __init__(
        self,
        url: str,
        *,
        profile: str | None = None,
        max_messages: int = 1000,
        visibility_seconds: int = 900,
    ) -> None:
        self.url = url
        self.profile = profile
        self.max_messages = max_messages
        self.visibility_seconds = visibility_seconds
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            match = _REGION_IN_URL.search(self.url)
            session = boto3.Session(profile_name=self.profile)
            region = match.group(1) if match else session.region_name or "us-east-1"
            self._client = session.client("sqs", region_name=region)
        return self._client

    def receive(self, *, wait_seconds: int = 0) -> Received:
        """Everything waiting (up to ``max_messages``); the first call waits up to
        ``wait_seconds`` for a message (long polling), the others do not."""
        from botocore.exceptions import BotoCoreError, ClientError

        got = Received()
        wait = wait_seconds
        try:
            while len(got.receipts) < self.max_messages:
                reply = self.client.receive_message(
                    QueueUrl=self.url,
                    MaxNumberOfMessages=_SQS_BATCH,
                    WaitTimeSeconds=wait,
                    VisibilityTimeout=self.visibility_seconds,
                )
                messages = reply.get("Messages", [])
                if not messages:
                    break
                wait = 0
                for message in messages:
                    objects = parse_message(message.get("Body", ""))
                    if objects is None:
                        got.dropped += 1
                        self._delete([message["ReceiptHandle"]])
                        continue
                    got.receipts.append(message["ReceiptHandle"])
                    got.objects.extend(objects)
                    got.named[message["ReceiptHandle"]] = objects
        except (BotoCoreError, ClientError) as exc:
            raise SourceError(f"cannot receive from the queue {self.url}: {exc}") from exc
        return got

    def delete(self, received: Received) -> None:
        """Delete messages whose objects are committed."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._delete(received.receipts)
        except (BotoCoreError, ClientError) as exc:
            # They come back after their visibility timeout and name objects already in the
            # lake: nothing is ingested twice, so this is only noted.
            log.warning("could not delete %d queue messages: %s", len(received.receipts), exc)

    def _delete(self, receipts: list[str]) -> None:
        for start in range(0, len(receipts), _SQS_BATCH):
            chunk = receipts[start : start + _SQS_BATCH]
            entries = [{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(chunk)]
            reply = self.client.delete_message_batch(QueueUrl=self.url, Entries=entries)
            for failed in reply.get("Failed", ()):
                log.warning("queue message not deleted: %s", failed.get("Message"))
