"""The ``tests:`` of a rule file, as whole CloudTrail events.

A rule's examples are written short: each event gives only the fields that matter to the rule
and the rest comes from :data:`BASE_EVENT` (an IAM user ``alice`` in account 111122223333,
us-east-1). ``repeat: N`` writes an event N times, ``every`` seconds apart (bursts), each with
its own ``eventID``. ``context: true`` marks an event that sets the scene (another principal's
call, say) and is not itself expected among the findings. Events of one example follow each
other one second apart unless they give their own ``eventTime``; each example starts on its
own day, so examples do not make bursts together. A rule author can ingest
:func:`example_events` into a scratch lake to see the rule fire before shipping it; the test
suite does exactly that for every rule.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from trailscope.detect.model import DetectError, Rule

#: The first example event's time; later ones follow.
EXAMPLE_START = datetime(2024, 7, 10, 10, 0, 0, tzinfo=UTC)
EXAMPLE_ACCOUNT = "111122223333"

BASE_EVENT: dict[str, Any] = {
    "eventVersion": "1.09",
    "userIdentity": {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLEALICE0001",
        "arn": f"arn:aws:iam::{EXAMPLE_ACCOUNT}:user/alice",
        "accountId": EXAMPLE_ACCOUNT,
        "accessKeyId": "AKIAEXAMPLEALICE0001",
        "userName": "alice",
    },
    "awsRegion": "us-east-1",
    "sourceIPAddress": "198.51.100.7",
    "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1",
    "requestParameters": None,
    "responseElements": None,
    "readOnly": False,
    "eventType": "AwsApiCall",
    "managementEvent": True,
    "recipientAccountId": EXAMPLE_ACCOUNT,
    "eventCategory": "Management",
}


@dataclass
class Example:
    """One ``tests:`` entry: the events, and whether the rule must match them."""

    rule_id: str
    index: int
    expect_match: bool
    events: list[dict[str, Any]]
    context_ids: frozenset[str] = frozenset()
    #: the severity the findings of a matching example must have (a failed call's is lower)
    severity: str | None = None

    @property
    def event_ids(self) -> list[str]:
        """The events the rule must report (match) or must not report (no_match)."""
        return [e["eventID"] for e in self.events if e["eventID"] not in self.context_ids]


def examples(rule: Rule) -> list[Example]:
    out = []
    for i, spec in enumerate(rule.tests):
        if not isinstance(spec, dict) or spec.get("expect") not in ("match", "no_match"):
            raise DetectError(f"{rule.path}: test {i + 1} needs 'expect: match' or 'no_match'")
        events = spec.get("events")
        if not isinstance(events, list) or not events:
            raise DetectError(f"{rule.path}: test {i + 1} needs a list of 'events'")
        expanded, context = _expand(rule.id, i, events)
        severity = str(spec["severity"]) if spec.get("severity") else None
        out.append(
            Example(rule.id, i, spec["expect"] == "match", expanded, frozenset(context), severity)
        )
    return out


def _expand(
    rule_id: str, index: int, events: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    out: list[dict[str, Any]] = []
    context: list[str] = []
    when = EXAMPLE_START + timedelta(days=index)
    for spec in events:
        spec = dict(spec)
        repeat = int(spec.pop("repeat", 1))
        every = float(spec.pop("every", 1))
        is_context = bool(spec.pop("context", False))
        for _ in range(repeat):
            event = copy.deepcopy(BASE_EVENT)
            event.update(copy.deepcopy(spec))
            event.setdefault("eventTime", when.strftime("%Y-%m-%dT%H:%M:%SZ"))
            event["eventID"] = f"{rule_id}-{index + 1}-{len(out) + 1:04d}"
            out.append(event)
            if is_context:
                context.append(event["eventID"])
            when += timedelta(seconds=every)
    return out, context


def example_events(rule: Rule) -> list[dict[str, Any]]:
    """Every example event of a rule, in one list (a ``{"Records": [...]}`` file's content)."""
    return [e for ex in examples(rule) for e in ex.events]
