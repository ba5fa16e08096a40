"""Assembling one CloudTrail event from a call's fields: the envelope every event shares.

:meth:`EventFactory.compose` adds what CloudTrail adds around a call (version, source address,
user agent, TLS details, VPC endpoint, error fields) and orders the keys as CloudTrail writes
them. The generic mix turns composed events into byte templates; scripted stories finish them
one by one.
"""

from __future__ import annotations

import random
from typing import Any

from trailscope.synth.catalogue.call import CallContext
from trailscope.synth.catalogue.errors import error_for
from trailscope.synth.catalogue.kind import Builder, Kind
from trailscope.synth.principals import Principal
from trailscope.synth.world import VPC_ENDPOINT_SERVICES, World

#: Event keys in the order CloudTrail writes them; every event is assembled in this order.
KEY_ORDER = (
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "requestID",
    "eventID",
    "readOnly",
    "resources",
    "eventType",
    "apiVersion",
    "managementEvent",
    "recipientAccountId",
    "serviceEventDetails",
    "sharedEventID",
    "vpcEndpointId",
    "vpcEndpointAccountId",
    "eventCategory",
    "tlsDetails",
    "sessionCredentialFromConsole",
)
# eventVersion differs per service in real trails; spreading 1.08-1.11 exercises parsers.
EVENT_VERSIONS = {
    "s3.amazonaws.com": "1.10",
    "ec2.amazonaws.com": "1.10",
    "sso.amazonaws.com": "1.10",
    "sts.amazonaws.com": "1.09",
    "iam.amazonaws.com": "1.09",
    "signin.amazonaws.com": "1.09",
    "secretsmanager.amazonaws.com": "1.09",
    "cloudtrail.amazonaws.com": "1.11",
    "lambda.amazonaws.com": "1.11",
}
_GLOBAL_HOSTS = {
    "iam.amazonaws.com": "iam.amazonaws.com",
    "signin.amazonaws.com": "signin.aws.amazon.com",
    "organizations.amazonaws.com": "organizations.us-east-1.amazonaws.com",
}
_ENDPOINT_PREFIX = {
    "monitoring.amazonaws.com": "monitoring",
    "ecr.amazonaws.com": "api.ecr",
    "sso.amazonaws.com": "portal.sso",
}
_TLS13 = ("TLSv1.3", "TLS_AES_128_GCM_SHA256")
_TLS12 = ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")


def default_host(source: str, region: str) -> str:
    """The host header of a call to ``source`` in ``region`` (global services have one)."""
    if source in _GLOBAL_HOSTS:
        return _GLOBAL_HOSTS[source]
    prefix = _ENDPOINT_PREFIX.get(source, source.split(".")[0])
    return f"{prefix}.{region}.amazonaws.com"


def ordered(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with its keys in CloudTrail's order."""
    return {k: fields[k] for k in KEY_ORDER if k in fields}


class EventFactory:
    """Builds events of the world's accounts; shares TLS details between events."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._tls: dict[tuple[str, bool], dict[str, str]] = {}

    def tls(self, host: str, tls12: bool) -> dict[str, str]:
        """The tlsDetails of a call to ``host`` (one shared dict per host and version)."""
        key = (host, tls12)
        details = self._tls.get(key)
        if details is None:
            version, suite = _TLS12 if tls12 else _TLS13
            details = self._tls[key] = {
                "tlsVersion": version,
                "cipherSuite": suite,
                "clientProvidedHostHeader": host,
            }
        return details

    def compose(
        self,
        kind: Kind,
        account_index: int,
        region_index: int,
        time: int,
        principal: Principal,
        fail: bool,
        rng: random.Random,
        build: Builder | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Build a variant: the full event with placeholders for the per-event fields
        (userIdentity, eventTime, eventID are None).

        :param fail: make it a failed call (error code and message, no response).
        :param build: a builder to use instead of the kind's own (scripted stories).
        :returns: the event and whether it carries a per-event sharedEventID.
        """
        world = self.world
        account = world.accounts[account_index]
        resources = world.resources[(account_index, region_index)]
        region = world.regions[region_index]
        call = CallContext(world, account, resources, principal, region, rng, time)
        built = (build or kind.build)(call)
        host = built.pop("_host", None)
        target = built.pop("_target", None)
        address = call.pick(principal.addresses or resources.nat_addresses)
        endpoint = None
        if principal.vpc and kind.source in VPC_ENDPOINT_SERVICES and rng.random() < 0.6:
            address = f"{resources.private_prefix}{rng.randrange(0, 64)}.{rng.randrange(4, 250)}"
            endpoint = resources.vpc_endpoints[kind.source]
        user_agent = call.pick(principal.user_agents)
        if kind.source == "s3.amazonaws.com" and not principal.service:
            user_agent = f"[{user_agent}]"
        fields: dict[str, Any] = {
            "eventVersion": EVENT_VERSIONS.get(kind.source, "1.08"),
            "userIdentity": None,
            "eventTime": None,
            "eventSource": kind.source,
            "eventName": kind.name,
            "awsRegion": region,
            "sourceIPAddress": address,
            "userAgent": user_agent,
            "requestParameters": built.get("requestParameters"),
            "responseElements": built.get("responseElements"),
            "eventID": None,
            "readOnly": kind.read_only,
            "eventType": kind.event_type,
            "managementEvent": not kind.data,
            "recipientAccountId": account.id,
            "eventCategory": "Data" if kind.data else "Management",
        }
        for key in ("additionalEventData", "resources", "sharedEventID", "serviceEventDetails"):
            if key in built:
                fields[key] = built[key]
        if kind.pooling.request_id:
            fields["requestID"] = built.get("requestID", "")
        if fail:
            code, message = error_for(kind, call, target)
            if code:
                fields["errorCode"] = code
            fields["errorMessage"] = message
            fields["responseElements"] = None
            details = fields.get("additionalEventData")
            if details and "bytesTransferredOut" in details:  # S3 sends an XML error body instead
                fields["additionalEventData"] = {**details, "bytesTransferredOut": 243}
        if endpoint:
            fields["vpcEndpointId"] = endpoint
            fields["vpcEndpointAccountId"] = account.id
        if not principal.service and kind.event_type == "AwsApiCall":
            fields["tlsDetails"] = self.tls(
                host or default_host(kind.source, region), principal.tls12
            )
        if principal.console:
            fields["sessionCredentialFromConsole"] = "true"
        return ordered(fields), principal.identity_type == "AWSAccount"
