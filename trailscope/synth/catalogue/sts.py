"""AWS STS: role assumption in its four forms, and federation tokens."""

from __future__ import annotations

from typing import Any

from trailscope.synth.catalogue.call import CallContext

SOURCE = "sts.amazonaws.com"

# The role a service assumes, and how it names the session.
_SERVICE_ROLES = {
    "lambda.amazonaws.com": "ingest-events-lambda-role",
    "ec2.amazonaws.com": "web-ec2-instance-role",
    "ecs-tasks.amazonaws.com": "orders-api-task-role",
}


def assume_role(call: CallContext) -> dict[str, Any]:
    principal = call.principal
    if principal.identity_type == "AWSService":
        host = principal.user_agents[0]
        role = _SERVICE_ROLES.get(host, "batch-etl-role")
        session = {
            "lambda.amazonaws.com": call.pick(["ingest-events", "thumbnailer", "notifier"]),
            "ec2.amazonaws.com": call.pick(call.resources.instances),
        }.get(host, call.hex(32))
    else:
        role = call.pick(["batch-etl-role", "orders-api-task-role", "Admin", "ReadOnly"])
        session = call.pick(
            ["etl-run", "deploy", "botocore-session-" + str(call.rng.randrange(10**9))]
        )
    account = call.account
    arn = account.roles[role]
    role_id = call.world.ids.unique_id("AROA", account.id, role)
    out: dict[str, Any] = {
        "requestParameters": {"roleArn": arn, "roleSessionName": session, "durationSeconds": 3600},
        "responseElements": {
            "credentials": call.credentials(),
            "assumedRoleUser": {
                "assumedRoleId": f"{role_id}:{session}",
                "arn": f"arn:aws:sts::{account.id}:assumed-role/{role}/{session}",
            },
        },
        "resources": [{"accountId": account.id, "type": "AWS::IAM::Role", "ARN": arn}],
        "_target": arn,
    }
    if principal.identity_type == "AWSAccount":
        out["sharedEventID"] = call.uuid()
    return out


def assume_role_with_saml(call: CallContext) -> dict[str, Any]:
    identity = call.principal.identity(0)
    user = identity["userName"]
    account = call.account
    arn = account.roles["saml-engineers"]
    provider = f"arn:aws:iam::{account.id}:saml-provider/Okta"
    role_id = call.world.ids.unique_id("AROA", account.id, "saml-engineers")
    return {
        "requestParameters": {
            "sAMLAssertionID": "_" + call.hex(32),
            "roleSessionName": user,
            "principalArn": provider,
            "roleArn": arn,
            "durationSeconds": 3600,
        },
        "responseElements": {
            "credentials": call.credentials(),
            "assumedRoleUser": {
                "assumedRoleId": f"{role_id}:{user}",
                "arn": f"arn:aws:sts::{account.id}:assumed-role/saml-engineers/{user}",
            },
            "subject": user,
            "subjectType": "persistent",
            "issuer": "http://www.okta.com/exk1a2b3c4d5e6f7g8h9",
            "audience": "https://signin.aws.amazon.com/saml",
            "nameQualifier": identity["identityProvider"],
        },
        "resources": [
            {"accountId": account.id, "type": "AWS::IAM::Role", "ARN": arn},
            {"accountId": account.id, "type": "AWS::IAM::SAMLProvider", "ARN": provider},
        ],
        "_target": arn,
    }


def assume_role_with_web_identity(call: CallContext) -> dict[str, Any]:
    identity = call.principal.identity(0)
    account = call.account
    arn = account.roles["github-actions-deploy"]
    role_id = call.world.ids.unique_id("AROA", account.id, "github-actions-deploy")
    session_arn = f"arn:aws:sts::{account.id}:assumed-role/github-actions-deploy/GitHubActions"
    return {
        "requestParameters": {
            "roleArn": arn,
            "roleSessionName": "GitHubActions",
            "durationSeconds": 3600,
        },
        "responseElements": {
            "credentials": call.credentials(),
            "subjectFromWebIdentityToken": identity["userName"],
            "assumedRoleUser": {
                "assumedRoleId": f"{role_id}:GitHubActions",
                "arn": session_arn,
            },
            "provider": identity["identityProvider"],
            "audience": "sts.amazonaws.com",
        },
        "additionalEventData": {"identityProviderConnectionVerificationMethod": "IAMTrustStore"},
        "resources": [
            {"accountId": account.id, "type": "AWS::IAM::Role", "ARN": arn},
            {
                "accountId": account.id,
                "type": "AWS::IAM::OidcProvider",
                "ARN": identity["identityProvider"],
            },
        ],
        "_target": arn,
    }


def get_federation_token(call: CallContext) -> dict[str, Any]:
    name = call.pick(["partner-ops", "report-viewer"])
    return {
        "requestParameters": {"name": name, "durationSeconds": 43200},
        "responseElements": {
            "credentials": call.credentials(),
            "federatedUser": {
                "federatedUserId": f"{call.account.id}:{name}",
                "arn": f"arn:aws:sts::{call.account.id}:federated-user/{name}",
            },
            "packedPolicySize": 9,
        },
    }
