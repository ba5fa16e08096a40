"""The shared SQL vocabulary: how trailscope says "who", "from where" and "did it work" in
Athena SQL over the ``cloudtrail`` table.

Detections, dashboards and saved queries all need the same few expressions (the principal of
an event, the name of whoever acts, the outcome of a console sign-in). Written once here, they
cannot drift apart: a rule that groups by ``principal`` and a page that filters on it mean the
same column. Every expression is Athena (Trino) SQL over the lake's columns, so it runs on
DuckDB, Athena and Spark through the same translation as any query.

This module sits below the engines and everything that builds SQL; it imports nothing of
trailscope's.
"""

from __future__ import annotations

#: Who did it, in one column: an ARN when there is one, else the name CloudTrail gives.
PRINCIPAL = (
    "coalesce(useridentity.arn, useridentity.username, useridentity.principalid, "
    "useridentity.invokedby)"
)

#: The name of whoever acts, comparable with an IAM user name in a request: the source
#: identity a role session carries (set by the person or tool that assumed it), else the IAM
#: user's name, else a role session's name (the last part of its ARN; for a person who signed
#: in through SSO or SAML that is their user name or e-mail), else 'root' for the root user.
ACTOR_NAME = (
    "coalesce(useridentity.sessioncontext.sourceidentity, "
    "CASE WHEN useridentity.type = 'IAMUser' THEN useridentity.username "
    "WHEN useridentity.type = 'AssumedRole' THEN element_at(split(useridentity.arn, '/'), -1) "
    "WHEN useridentity.type = 'Root' THEN 'root' END)"
)

#: The source address column (an IP address, or a service name such as ``ec2.amazonaws.com``).
SOURCE_IP = "sourceipaddress"
#: The account the event belongs to (the one whose resources were acted on).
ACCOUNT = "recipientaccountid"
REGION = "awsregion"

#: 'Success' or 'Failure' for a console sign-in (older events put failures in errorMessage only).
CONSOLE_LOGIN_OUTCOME = (
    "CASE WHEN json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure' "
    "OR errormessage = 'Failed authentication' THEN 'Failure' "
    "ELSE json_extract_scalar(responseelements, '$.ConsoleLogin') END"
)

#: True for calls that failed (CloudTrail records an error code; a few record only a message).
FAILED = "(errorcode IS NOT NULL AND errorcode <> '')"
#: 'success' or 'failure', Sigma's generic outcome field.
OUTCOME = f"CASE WHEN {FAILED} THEN 'failure' ELSE 'success' END"

#: Authorization errors: the call was refused for lack of permission.
ACCESS_DENIED = (
    "(errorcode LIKE '%AccessDenied%' OR errorcode LIKE '%UnauthorizedOperation%' "
    "OR errorcode LIKE '%Unauthorized%Exception' OR errorcode = 'Forbidden')"
)

#: A person or program calling AWS directly (not AWS acting on its own behalf).
NOT_AWS_SERVICE = (
    "coalesce(useridentity.type, '') NOT IN ('AWSService') "
    "AND coalesce(eventtype, '') <> 'AwsServiceEvent'"
)

#: Names a rule or saved query can use for these expressions (``group_by: [principal]``).
NAMED: dict[str, str] = {
    "principal": PRINCIPAL,
    "actor": ACTOR_NAME,
    "source_ip": SOURCE_IP,
    "account": ACCOUNT,
    "region": REGION,
    "user_agent": "useragent",
    "event_name": "eventname",
    "event_source": "eventsource",
    "user_name": "useridentity.username",
    "access_key": "useridentity.accesskeyid",
    "outcome": OUTCOME,
}


def named(name_or_sql: str) -> str:
    """The expression for a vocabulary name, or the text itself when it is SQL already."""
    return NAMED.get(name_or_sql.strip().lower(), name_or_sql.strip())


def sql_string(text: str) -> str:
    """A SQL string literal of ``text`` (quotes doubled): for values that come from the logs."""
    return "'" + str(text).replace("'", "''") + "'"
