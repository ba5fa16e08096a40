"""A generic webhook: the alert's JSON (see :mod:`.payload`) POSTed to a URL."""

from __future__ import annotations

from dataclasses import dataclass, field

from trailscope.alerts import Alert, destination_key
from trailscope.alerts.http import TIMEOUT, check_url, post_json
from trailscope.alerts.payload import alert_body, headers


@dataclass(frozen=True)
class WebhookDestination:
    """POST the alert JSON, with its idempotency key in the body and the headers."""

    url: str = field(repr=False)
    key: str
    timeout: float = TIMEOUT
    kind: str = "webhook"

    @classmethod
    def from_url(cls, url: str) -> WebhookDestination:
        return cls(url=check_url(url, "webhook"), key=destination_key("webhook", url))

    def send(self, alert: Alert) -> None:
        post_json(self.url, alert_body(alert), headers(alert), timeout=self.timeout)
