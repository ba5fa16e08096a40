"""Where alerts about findings go: a webhook, Slack, Amazon SNS or email.

A destination is written as ``KIND=TARGET`` on the command line (``webhook=https://...``,
``slack=https://hooks.slack.com/...``, ``sns=arn:aws:sns:...``, ``email=soc@example.com``).
Targets may hold secrets (a webhook URL is its own password), so a destination is shown and
logged by its kind and :attr:`Destination.key` only, never by its target, and so are its
errors. The outbox (``trailscope.findings``) calls :meth:`Destination.send` once per alert and
keeps the alert queued when it raises :class:`DeliveryError`.

Every alert carries an idempotency key, ``FINDING_ID:SEQ`` (see docs/alerts.md): a receiver
that keeps the keys it has seen never acts twice on one alert, even in the rare case of a
crash between a delivery and its record.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

from trailscope.errors import TrailscopeError

KINDS = ("webhook", "slack", "sns", "email")


class AlertError(TrailscopeError):
    """A destination that cannot be used as written (never quoting its secret target)."""


class DeliveryError(Exception):
    """One delivery failed; ``reason`` is safe to show and log (no URL, no password)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Alert:
    """One alert about one finding: the finding as stored now, and which alert of it this is
    (``seq`` 1 for the first, then one more for each re-alert)."""

    finding: dict[str, Any]
    seq: int
    reason: str
    base_url: str | None = None

    @property
    def finding_id(self) -> str:
        return str(self.finding["finding_id"])

    @property
    def idempotency_key(self) -> str:
        return f"{self.finding_id}:{self.seq}"

    @property
    def link(self) -> str | None:
        """The finding's page in ``trailscope serve``, when its address was given."""
        if not self.base_url:
            return None
        return f"{self.base_url.rstrip('/')}/detections/findings/{self.finding_id}"


class Destination(Protocol):
    """Something that can deliver an alert."""

    @property
    def kind(self) -> str:
        """webhook, slack, sns or email."""

    @property
    def key(self) -> str:
        """``KIND:HASH`` of the target: stable across runs, safe to store and show."""

    def send(self, alert: Alert) -> None:
        """Deliver ``alert`` or raise :class:`DeliveryError`."""


def destination_key(kind: str, target: str) -> str:
    """A name for a destination that does not reveal its target."""
    return f"{kind}:{hashlib.sha256(target.encode()).hexdigest()[:10]}"


def parse_destination(spec: str) -> Destination:
    """A destination from ``KIND=TARGET``; an :class:`AlertError` naming what is wrong (but
    never the target, which may be secret) otherwise."""
    kind, sep, target = (spec or "").partition("=")
    kind = kind.strip().lower()
    target = target.strip()
    if not sep or kind not in KINDS:
        shown = kind if sep and kind.isidentifier() and len(kind) < 20 else "?"
        raise AlertError(
            f"cannot read alert destination (kind {shown!r})",
            hint="write KIND=TARGET with KIND one of " + ", ".join(KINDS),
        )
    if not target:
        raise AlertError(f"alert destination {kind} has no target", hint=_HINTS[kind])
    if kind == "webhook":
        from trailscope.alerts.webhook import WebhookDestination

        return WebhookDestination.from_url(target)
    if kind == "slack":
        from trailscope.alerts.slack import SlackDestination

        return SlackDestination.from_url(target)
    if kind == "sns":
        from trailscope.alerts.sns import SnsDestination

        return SnsDestination.from_arn(target)
    from trailscope.alerts.email import EmailDestination

    return EmailDestination.from_address(target)


_HINTS = {
    "webhook": "write webhook=https://host/path",
    "slack": "write slack=https://hooks.slack.com/services/...",
    "sns": "write sns=arn:aws:sns:REGION:ACCOUNT:TOPIC",
    "email": "write email=soc@example.com (the server from $TRAILSCOPE_SMTP_HOST)",
}
