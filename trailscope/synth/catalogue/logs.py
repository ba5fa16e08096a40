"""Amazon CloudWatch Logs: Lambda functions opening their log streams."""

from __future__ import annotations

from typing import Any

from trailscope.synth.catalogue.call import CallContext

SOURCE = "logs.amazonaws.com"


def create_log_stream(call: CallContext) -> dict[str, Any]:
    """The stream name is filled per event by the log-stream slot."""
    function = call.pick(call.resources.functions).rsplit(":", 1)[1]
    group = f"/aws/lambda/{function}"
    return {
        "requestParameters": {"logGroupName": group, "logStreamName": ""},
        "responseElements": None,
        "_target": f"arn:aws:logs:{call.region}:{call.account.id}:log-group:{group}",
    }
