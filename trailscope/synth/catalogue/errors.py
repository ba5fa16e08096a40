"""How calls fail: each service's usual error codes and messages, and IAM action names."""

from __future__ import annotations

import re

from trailscope.synth.catalogue.call import CallContext
from trailscope.synth.catalogue.kind import ErrorCase, Kind

DENY = ErrorCase(
    "AccessDenied",
    "User: {arn} is not authorized to perform: {action} on resource: {target} because no "
    "identity-based policy allows the {action} action",
    True,
)
THROTTLE = ErrorCase("ThrottlingException", "Rate exceeded", False)
_SERVICE_ERRORS: dict[str, tuple[ErrorCase, ...]] = {
    "s3.amazonaws.com": (
        ErrorCase("AccessDenied", "Access Denied", False),
        ErrorCase("NoSuchKey", "The specified key does not exist.", False),
        ErrorCase("NoSuchBucket", "The specified bucket does not exist", False),
    ),
    "ec2.amazonaws.com": (
        ErrorCase(
            "Client.UnauthorizedOperation",
            "You are not authorized to perform this operation. User: {arn} is not authorized to "
            "perform: {action} because no identity-based policy allows the {action} action",
            True,
        ),
        ErrorCase("Client.RequestLimitExceeded", "Request limit exceeded.", False),
    ),
    "iam.amazonaws.com": (
        DENY,
        ErrorCase("NoSuchEntityException", "The role with name {name} cannot be found.", False),
    ),
    "kms.amazonaws.com": (
        DENY,
        ErrorCase(
            "ThrottlingException",
            "You have exceeded the rate at which you may call KMS. "
            "Reduce the frequency of your calls.",
            False,
        ),
    ),
    "lambda.amazonaws.com": (ErrorCase("TooManyRequestsException", "Rate Exceeded.", False), DENY),
    "dynamodb.amazonaws.com": (
        ErrorCase(
            "ValidationException",
            "1 validation error detected: Value '{name}' at 'tableName' failed to satisfy "
            "constraint: Member must have length less than or equal to 255",
            False,
        ),
        ErrorCase(
            "ResourceNotFoundException",
            "Requested resource not found: Table: {name} not found",
            False,
        ),
    ),
    "secretsmanager.amazonaws.com": (
        DENY,
        ErrorCase(
            "ResourceNotFoundException", "Secrets Manager can't find the specified secret.", False
        ),
    ),
    "ssm.amazonaws.com": (THROTTLE, ErrorCase("ParameterNotFound", "", False)),
    "cloudformation.amazonaws.com": (
        ErrorCase("ValidationError", "Stack with id {name} does not exist", False),
    ),
}
_GENERIC_ERRORS = (DENY, THROTTLE)
_API_VERSION_SUFFIX = re.compile(r"\d{8}(v\d+)?$")  # UpdateFunctionCode20150331v2
_IAM_PREFIX = {"monitoring.amazonaws.com": "cloudwatch", "sso.amazonaws.com": "sso"}


def iam_action(source: str, name: str) -> str:
    """IAM action for an event, as quoted in AccessDenied messages (``s3:GetObject``)."""
    prefix = _IAM_PREFIX.get(source, source.split(".")[0])
    return f"{prefix}:{_API_VERSION_SUFFIX.sub('', name)}"


def error_for(kind: Kind, call: CallContext, target: str | None) -> tuple[str | None, str]:
    """The errorCode and errorMessage of one failing call of ``kind``."""
    options = kind.errors or _SERVICE_ERRORS.get(kind.source, _GENERIC_ERRORS)
    if call.principal.arn is None:  # service principals are throttled, never denied
        options = tuple(o for o in options if not o.names_caller) or (THROTTLE,)
    code, template, _ = call.pick(options)
    target = target or f"arn:aws:{kind.source.split('.')[0]}:{call.region}:{call.account.id}:*"
    message = template.format(
        arn=call.principal.arn,
        action=iam_action(kind.source, kind.name),
        target=target,
        name=target.rsplit("/", 1)[-1].rsplit(":", 1)[-1],
    )
    return code, message
