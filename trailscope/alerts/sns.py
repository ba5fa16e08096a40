"""Amazon SNS: the alert JSON published to a topic (email, SMS, Lambda and queues subscribe).

The client follows the AWS credential chain and ``$AWS_ENDPOINT_URL_SNS`` (as boto3 does), so
the same code publishes to AWS or to a local stand-in. FIFO topics get the idempotency key as
their deduplication id, so SNS itself drops a repeated delivery.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from trailscope.alerts import Alert, AlertError, DeliveryError, destination_key
from trailscope.alerts.payload import alert_body, subject

log = logging.getLogger(__name__)

_ARN = re.compile(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,256}(\.fifo)?)$")


@dataclass
class SnsDestination:
    """Publish to one topic (its region read from the ARN)."""

    topic_arn: str
    region: str
    key: str
    kind: str = "sns"
    _client: Any = field(default=None, repr=False)

    @classmethod
    def from_arn(cls, arn: str) -> SnsDestination:
        m = _ARN.match(arn)
        if not m:
            raise AlertError(
                "the sns destination is not an SNS topic ARN",
                hint="write sns=arn:aws:sns:REGION:ACCOUNT:TOPIC",
            )
        return cls(topic_arn=arn, region=m.group(1), key=destination_key("sns", arn))

    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.session.Session().client("sns", region_name=self.region)
        return self._client

    def send(self, alert: Alert) -> None:
        import botocore.exceptions

        request: dict[str, Any] = {
            "TopicArn": self.topic_arn,
            "Subject": subject(alert),
            "Message": orjson.dumps(alert_body(alert)).decode(),
            "MessageAttributes": {
                "idempotency_key": {"DataType": "String", "StringValue": alert.idempotency_key},
                "severity": {
                    "DataType": "String",
                    "StringValue": str(alert.finding.get("severity") or "info"),
                },
            },
        }
        if self.topic_arn.endswith(".fifo"):
            request["MessageGroupId"] = alert.finding_id
            request["MessageDeduplicationId"] = hashlib.sha256(
                alert.idempotency_key.encode()
            ).hexdigest()
        try:
            self.client().publish(**request)
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise DeliveryError(f"SNS refused the message ({code})") from None
        except botocore.exceptions.NoCredentialsError:
            raise DeliveryError("no AWS credentials to publish to SNS") from None
        except botocore.exceptions.BotoCoreError as exc:
            log.debug("SNS publish failed: %s", type(exc).__name__)
            raise DeliveryError(f"cannot reach SNS ({type(exc).__name__})") from None
