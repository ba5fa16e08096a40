"""AWS Systems Manager: Parameter Store reads."""

from __future__ import annotations

from typing import Any

from trailscope.synth.catalogue.call import CallContext

SOURCE = "ssm.amazonaws.com"


def get_parameter(call: CallContext) -> dict[str, Any]:
    name = call.pick(call.resources.parameters)
    return {
        "requestParameters": {"name": name, "withDecryption": call.rng.random() < 0.5},
        "responseElements": None,
        "_target": f"arn:aws:ssm:{call.region}:{call.account.id}:parameter{name}",
    }
