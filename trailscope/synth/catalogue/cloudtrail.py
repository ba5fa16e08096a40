"""AWS CloudTrail: people looking up events, and a trail stopped and started."""

from __future__ import annotations

from typing import Any

from trailscope.synth.catalogue.call import CallContext

SOURCE = "cloudtrail.amazonaws.com"


def lookup_events(call: CallContext) -> dict[str, Any]:
    name = call.pick(["ConsoleLogin", "RunInstances", "DeleteBucket"])
    return {
        "requestParameters": {
            "lookupAttributes": [{"attributeKey": "EventName", "attributeValue": name}],
            "maxResults": 50,
        },
        "responseElements": None,
    }


def the_trail(call: CallContext) -> dict[str, Any]:
    """StopLogging and StartLogging of the organisation's trail."""
    arn = call.world.trail_arn
    return {"requestParameters": {"name": arn}, "responseElements": None, "_target": arn}
