"""AWS Secrets Manager: applications reading their secrets."""

from __future__ import annotations

from typing import Any

from trailscope.synth.catalogue.call import CallContext

SOURCE = "secretsmanager.amazonaws.com"


def get_secret_value(call: CallContext) -> dict[str, Any]:
    secret = call.pick(call.resources.secrets)
    return {"requestParameters": {"secretId": secret}, "responseElements": None, "_target": secret}
