"""AWS IAM: role reads by AWS Config, and the rarer writes (users, keys, roles, policies)."""

from __future__ import annotations

from typing import Any

import orjson

from trailscope.synth.catalogue.call import CallContext
from trailscope.synth.clock import long_time
from trailscope.synth.ids import BASE32

SOURCE = "iam.amazonaws.com"
_MANAGED_POLICIES = [
    "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
    "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy",
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
    "arn:aws:iam::aws:policy/AdministratorAccess",
]


def role_name_only(call: CallContext) -> dict[str, Any]:
    """GetRole and ListAttachedRolePolicies: one role by name."""
    role = call.pick(list(call.account.roles))
    return {
        "requestParameters": {"roleName": role},
        "responseElements": None,
        "_target": call.account.roles[role],
    }


def create_user(call: CallContext) -> dict[str, Any]:
    name = f"svc-{call.pick(['reports', 'vendor', 'migration', 'monitor'])}-{call.hex(4)}"
    arn = f"arn:aws:iam::{call.account.id}:user/{name}"
    return {
        "requestParameters": {"userName": name},
        "responseElements": {
            "user": {
                "path": "/",
                "userName": name,
                "userId": "AIDA" + call.text(BASE32, 17),
                "arn": arn,
                "createDate": long_time(call.time),
            }
        },
        "_target": arn,
    }


def _customer_role(call: CallContext) -> str:
    return call.pick([r for r in call.account.roles if not r.startswith("AWS")])


def attach_role_policy(call: CallContext) -> dict[str, Any]:
    role = _customer_role(call)
    policy = call.pick(_MANAGED_POLICIES)
    return {
        "requestParameters": {"roleName": role, "policyArn": policy},
        "responseElements": None,
        "_target": call.account.roles[role],
    }


def put_role_policy(call: CallContext) -> dict[str, Any]:
    role = _customer_role(call)
    statement = {
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:ListBucket"],
        "Resource": [f"arn:aws:s3:::{call.pick(call.resources.buckets)}/*"],
    }
    document = orjson.dumps({"Version": "2012-10-17", "Statement": [statement]}).decode()
    return {
        "requestParameters": {
            "roleName": role,
            "policyName": "inline-" + call.hex(6),
            "policyDocument": document,
        },
        "responseElements": None,
        "_target": call.account.roles[role],
    }


def create_role(call: CallContext) -> dict[str, Any]:
    kind = call.pick(["lambda", "glue", "ecs"])
    purpose = call.pick(["reports", "sync", "export"])
    name = f"{kind}-{purpose}-{call.hex(4)}"
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    trust = orjson.dumps({"Version": "2012-10-17", "Statement": [statement]}).decode()
    arn = f"arn:aws:iam::{call.account.id}:role/{name}"
    return {
        "requestParameters": {"roleName": name, "assumeRolePolicyDocument": trust},
        "responseElements": {
            "role": {
                "path": "/",
                "roleName": name,
                "roleId": "AROA" + call.text(BASE32, 17),
                "arn": arn,
                "createDate": long_time(call.time),
                "assumeRolePolicyDocument": trust.replace('"', "%22").replace(" ", "%20"),
            }
        },
        "_target": arn,
    }


def access_key(call: CallContext, user: str) -> dict[str, Any]:
    """CreateAccessKey's response for ``user``."""
    return {
        "accessKey": {
            "userName": user,
            "accessKeyId": "AKIA" + call.text(BASE32, 16),
            "status": "Active",
            "createDate": long_time(call.time),
        }
    }


def create_access_key(call: CallContext) -> dict[str, Any]:
    user = call.pick(["backup-bot", "ci-deployer"])
    return {
        "requestParameters": {"userName": user},
        "responseElements": access_key(call, user),
        "_target": f"arn:aws:iam::{call.account.id}:user/{user}",
    }
