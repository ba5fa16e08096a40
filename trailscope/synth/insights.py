"""CloudTrail Insights: a call-rate and an error-rate Insight per account.

Each Insight is a Start and an End event sharing a sharedEventID, in files of their own
delivered twenty to forty minutes later, as CloudTrail delivers Insights.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from trailscope.synth.clock import Span, iso
from trailscope.synth.ids import uuid4_text
from trailscope.synth.people import UA_SDK, UA_TERRAFORM
from trailscope.synth.world import World


@dataclass
class InsightFile:
    """One Insights file of one account and region."""

    account: int
    region: int
    delivery: int
    events: list[dict[str, Any]]


def _attribution(attribute: str, value: str, baseline: float, burst: float) -> dict[str, Any]:
    return {
        "attribute": attribute,
        "insight": [{"value": value, "average": burst}],
        "baseline": [{"value": value, "average": baseline}],
    }


def insight_files(world: World, seed: int, span: Span) -> list[InsightFile]:
    """Every Insights file of the trail, by delivery time."""
    rng = random.Random(f"trailscope-synth:{seed}:insights")
    files = []
    for account in world.accounts:
        hammered = account.index == world.hammer_account
        rate_call = rng.choice(
            [
                ("ec2.amazonaws.com", "CreateTags", None),
                ("ec2.amazonaws.com", "RunInstances", None),
                ("iam.amazonaws.com", "AttachRolePolicy", None),
            ]
        )
        error_call = (
            ("secretsmanager.amazonaws.com", "GetSecretValue", "AccessDenied")
            if hammered
            else ("ec2.amazonaws.com", "DescribeInstances", "Client.UnauthorizedOperation")
        )
        for (source, name, code), insight_type in (
            (rate_call, "ApiCallRateInsight"),
            (error_call, "ApiErrorRateInsight"),
        ):
            if source == "iam.amazonaws.com":
                r = world.global_index
            elif hammered and code:
                r = world.hammer_region
            else:
                r = rng.randrange(len(world.regions))
            role = "legacy-reporting-role" if hammered and code else "github-actions-deploy"
            who = f"arn:aws:sts::{account.id}:assumed-role/{role}"
            user_agent = UA_SDK[0] if hammered and code else UA_TERRAFORM[0]
            start = span.place(
                span.day_start(rng.randrange(span.days)) + rng.randrange(9 * 3600, 17 * 3600)
            )
            start -= start % 60
            minutes = rng.randrange(3, 40)
            baseline = round(rng.uniform(0.0005, 0.05), 7)
            burst = round(rng.uniform(0.8, 12.0), 4)
            baseline_minutes = 10080 + rng.randrange(0, 4000)
            shared = uuid4_text(rng.getrandbits(128))
            attributions = [
                _attribution("userIdentityArn", who, baseline, burst),
                _attribution("userAgent", user_agent, baseline, burst),
                _attribution("errorCode", code or "null", baseline, burst),
            ]
            for state, t in (("Start", start), ("End", start + minutes * 60)):
                event = {
                    "eventVersion": "1.08",
                    "eventTime": iso(t),
                    "awsRegion": world.regions[r],
                    "eventID": uuid4_text(rng.getrandbits(128)),
                    "eventType": "AwsCloudTrailInsight",
                    "recipientAccountId": account.id,
                    "sharedEventID": shared,
                    "insightDetails": {
                        "state": state,
                        "eventSource": source,
                        "eventName": name,
                        "insightType": insight_type,
                        "insightContext": {
                            "statistics": {
                                "baseline": {"average": baseline},
                                "insight": {"average": burst},
                                "insightDuration": minutes,
                                "baselineDuration": baseline_minutes,
                            },
                            "attributions": attributions,
                        },
                    },
                    "eventCategory": "Insight",
                }
                files.append(InsightFile(account.index, r, t + rng.randrange(1200, 2400), [event]))
    files.sort(key=lambda f: (f.delivery, f.account, f.region))
    return files
