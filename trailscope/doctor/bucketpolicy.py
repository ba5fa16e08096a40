"""What a trail bucket's policy must and must not say.

Three questions, each its own check: can CloudTrail deliver this trail's logs (GetBucketAcl on
the bucket, PutObject under ``AWSLogs/<account or org id>/`` with bucket-owner-full-control, no
Deny in the way); does the policy grant nothing else (only the CloudTrail and Config service
principals, only their delivery actions, each scoped with aws:SourceArn/SourceAccount/OrgID);
and are requests without TLS denied.
"""

from __future__ import annotations

from dataclasses import dataclass

from trailscope.doctor.arns import (
    CLOUDTRAIL,
    CONFIG,
    OWNER_FULL_CONTROL,
    bucket_arn,
    logs_arn,
)
from trailscope.doctor.policyread import Request, Statement, Unevaluable, applies

#: The actions log delivery needs, per service principal (Config also checks the bucket exists).
DELIVERY_ACTIONS = {
    CLOUDTRAIL: frozenset({"s3:getbucketacl", "s3:putobject"}),
    CONFIG: frozenset({"s3:getbucketacl", "s3:listbucket", "s3:putobject"}),
}
#: Condition keys that tie a service principal's access to one's own trails or accounts.
SCOPING_KEYS = frozenset({"aws:sourcearn", "aws:sourceaccount", "aws:sourceorgid"})


@dataclass(frozen=True)
class Delivery:
    """Where and as whom CloudTrail delivers one trail's logs."""

    bucket: str
    prefix: str
    partition: str
    trail_arn: str
    account: str
    region: str
    #: The organization id of an organization trail (its logs go under AWSLogs/<org id>/).
    org_id: str | None = None

    def owners(self) -> list[str]:
        return [self.account] + ([self.org_id] if self.org_id else [])

    def log_object(self, owner: str) -> str:
        """A log file's ARN under ``owner``'s folder, as CloudTrail names it."""
        day = f"CloudTrail/{self.region}/2024/01/01/"
        if owner.startswith("o-"):
            tail = f"{self.account}/{day}{self.account}_CloudTrail_{self.region}_x.json.gz"
        else:
            tail = f"{day}{owner}_CloudTrail_{self.region}_x.json.gz"
        return logs_arn(self.partition, self.bucket, self.prefix, owner, tail)

    def context(self, *, acl: bool) -> tuple[tuple[str, str], ...]:
        values = [
            ("aws:SourceArn", self.trail_arn),
            ("aws:SourceAccount", self.account),
            ("aws:SecureTransport", "true"),
        ]
        if self.org_id:
            values.append(("aws:SourceOrgID", self.org_id))
        if acl:
            values.append(("s3:x-amz-acl", OWNER_FULL_CONTROL))
        return tuple(values)


def delivery_problems(statements: list[Statement], delivery: Delivery) -> list[str]:
    """Why CloudTrail could not deliver this trail's logs as the guides set it up ([] if it
    can)."""
    problems: list[str] = []
    acl_check = Request(
        "s3:GetBucketAcl",
        bucket_arn(delivery.partition, delivery.bucket),
        CLOUDTRAIL,
        delivery.context(acl=False),
    )
    problems += _allowed(statements, acl_check, "s3:GetBucketAcl on the bucket")
    for owner in delivery.owners():
        obj = delivery.log_object(owner)
        folder = obj[: obj.index("/AWSLogs/") + len("/AWSLogs/") + len(owner) + 1]
        write = Request("s3:PutObject", obj, CLOUDTRAIL, delivery.context(acl=True))
        found = _allowed(statements, write, f"s3:PutObject under {folder}")
        problems += found
        if not found:
            without_acl = Request("s3:PutObject", obj, CLOUDTRAIL, delivery.context(acl=False))
            if _grants(statements, without_acl):
                problems.append(
                    f"CloudTrail may write under {folder} without "
                    f"s3:x-amz-acl = {OWNER_FULL_CONTROL} (add that StringEquals condition)"
                )
    return problems


def _grants(statements: list[Statement], request: Request) -> bool:
    for statement in statements:
        if statement.effect == "Allow":
            try:
                if applies(statement, request):
                    return True
            except Unevaluable:
                continue
    return False


def _allowed(statements: list[Statement], request: Request, what: str) -> list[str]:
    """[] when an Allow covers ``request`` and no Deny does; else the reason."""
    allowed = False
    unread: set[str] = set()
    for statement in statements:
        try:
            hit = applies(statement, request)
        except Unevaluable as exc:
            unread.add(exc.operator)
            continue
        if hit and statement.effect == "Deny":
            return [f"{statement.label} denies CloudTrail {what}"]
        allowed = allowed or (hit and statement.effect == "Allow")
    if allowed:
        return []
    if unread:
        ops = ", ".join(sorted(unread))
        return [f"no statement clearly allows CloudTrail {what} (conditions with {ops} not read)"]
    return [f"no statement allows CloudTrail {what} for this trail"]


def scope_problems(statements: list[Statement], bucket: str, partition: str) -> list[str]:
    """What the policy grants beyond CloudTrail/Config delivery ([] if nothing)."""
    problems: list[str] = []
    logs = f"{bucket_arn(partition, bucket)}/"
    for statement in statements:
        if statement.effect != "Allow":
            continue
        label = statement.label
        actions = ", ".join(statement.actions) or "?"
        if statement.not_principal or statement.not_action or statement.not_resource:
            problems.append(f"{label} uses NotPrincipal/NotAction/NotResource (grants broadly)")
            continue
        if statement.everyone:
            problems.append(f"{label} allows anyone (Principal *) {actions}")
            continue
        if statement.others:
            who = ", ".join(statement.others)
            problems.append(f"{label} also grants {who}: {actions}")
        for service in sorted(statement.services):
            allowed = DELIVERY_ACTIONS.get(service)
            if allowed is None:
                problems.append(f"{label} grants the service {service}: {actions}")
                continue
            extra = [a for a in statement.actions if a.lower() not in allowed]
            if extra:
                problems.append(f"{label} grants {service} more than delivery: {', '.join(extra)}")
            if not statement.condition_keys() & SCOPING_KEYS:
                problems.append(
                    f"{label} lets {service} act for any account: add an aws:SourceArn "
                    "(or aws:SourceAccount) condition"
                )
            for resource in statement.resources:
                if resource.startswith(logs) and "/AWSLogs/" not in resource:
                    problems.append(
                        f"{label} lets {service} write anywhere in the bucket ({resource}), "
                        "not only under AWSLogs/"
                    )
    return problems


def denies_plain_http(statements: list[Statement], bucket: str, partition: str) -> bool:
    """True when a Deny refuses every request made without TLS, to the bucket and its objects."""
    plain = (("aws:SecureTransport", "false"),)
    probes = [
        Request("s3:GetObject", f"{bucket_arn(partition, bucket)}/AWSLogs/x", None, plain),
        Request("s3:PutObject", f"{bucket_arn(partition, bucket)}/x", None, plain),
        Request("s3:ListBucket", bucket_arn(partition, bucket), None, plain),
    ]
    for probe in probes:
        denied = False
        for statement in statements:
            if statement.effect != "Deny" or not statement.everyone:
                continue
            try:
                denied = applies(statement, probe)
            except Unevaluable:
                denied = False
            if denied:
                break
        if not denied:
            return False
    return True
