"""Slack incoming webhooks: a message a person reads at a glance.

Every value from the logs (principal, address, account, ...) is attacker-controlled: in
Slack's mrkdwn it could add links (``<https://evil|click>``), mentions (``<!channel>``) or
formatting. :func:`mrkdwn_code` escapes ``&``, ``<`` and ``>`` as Slack asks and shows the
value in a code span it cannot leave, so it is always read as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from trailscope.alerts import Alert, destination_key
from trailscope.alerts.http import TIMEOUT, check_url, post_json
from trailscope.alerts.payload import headers

#: Characters of one value shown in a message (Slack allows 2000 per field).
MAX_VALUE = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_SEVERITY_EMOJI = {
    "critical": ":red_circle:",
    "high": ":large_orange_circle:",
    "medium": ":large_yellow_circle:",
    "low": ":large_blue_circle:",
    "info": ":white_circle:",
}


def mrkdwn_escape(text: str) -> str:
    """Slack's three control characters as the entities Slack asks for."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn_code(value: object) -> str:
    """A value from the logs as inert mrkdwn: escaped, one line, in a code span (a backtick
    inside would close it, so it becomes a look-alike)."""
    if value is None or value == "":
        return "_none_"
    text = _CONTROL.sub(" ", str(value)).replace("`", "\u02cb")
    if len(text) > MAX_VALUE:
        text = text[: MAX_VALUE - 1] + "\u2026"
    return f"`{mrkdwn_escape(text)}`"


def _link_url(url: str) -> str:
    """A URL inside ``<url|text>``: the characters that would end it, percent-encoded."""
    return url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C").replace(" ", "%20")


def slack_message(alert: Alert) -> dict[str, Any]:
    """The message: a header line, the facts as fields, a link to the finding."""
    f = alert.finding
    severity = str(f.get("severity") or "info")
    title = _CONTROL.sub(" ", str(f.get("title") or f.get("rule_id") or "finding"))
    facts = [
        ("Rule", f.get("rule_id")),
        ("Principal", f.get("principal")),
        ("Source IP", f.get("source_ip")),
        ("Account", f.get("account")),
        ("Region", f.get("region")),
        ("First seen", f.get("first_seen")),
        ("Last seen", f.get("last_seen")),
        ("Events", f.get("event_count")),
    ]
    if f.get("target"):
        facts.append(("Target", f.get("target")))
    fields = [
        {"type": "mrkdwn", "text": f"*{name}*\n{mrkdwn_code(value)}"} for name, value in facts
    ]
    headline = (
        f"{_SEVERITY_EMOJI.get(severity, '')} *{severity.upper()}* "
        f"{mrkdwn_escape(title.replace('`', chr(0x2CB)))}"
    ).strip()
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
        {"type": "section", "fields": fields[:10]},
    ]
    context = f"finding {mrkdwn_code(alert.finding_id)} \u00b7 alert {alert.seq} ({alert.reason})"
    if alert.link:
        context += f" \u00b7 <{_link_url(alert.link)}|open in trailscope>"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    fallback = (
        f"{severity.upper()} {mrkdwn_escape(str(f.get('rule_id') or ''))}: "
        f"{mrkdwn_code(f.get('principal'))} from {mrkdwn_code(f.get('source_ip'))}"
    )
    return {"text": fallback, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}


@dataclass(frozen=True)
class SlackDestination:
    """POST the message to an incoming webhook URL (the URL is the secret)."""

    url: str = field(repr=False)
    key: str
    timeout: float = TIMEOUT
    kind: str = "slack"

    @classmethod
    def from_url(cls, url: str) -> SlackDestination:
        return cls(url=check_url(url, "slack"), key=destination_key("slack", url))

    def send(self, alert: Alert) -> None:
        post_json(self.url, slack_message(alert), headers(alert), timeout=self.timeout)
