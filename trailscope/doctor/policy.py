"""The consolidated bucket policy the CloudTrail and AWS Config guides have users paste by hand.

Statements follow the AWS documentation: CloudTrail may read the bucket ACL and write under
``[prefix/]AWSLogs/<account>/`` (and ``AWSLogs/<org id>/`` for an organization trail) only with
``s3:x-amz-acl = bucket-owner-full-control``, scoped to the trail with ``aws:SourceArn``; AWS
Config may read the ACL, list the bucket and write under ``AWSLogs/<account>/Config/``, scoped
with ``aws:SourceAccount`` (``aws:SourceOrgID`` for a whole organization); and every request
that does not use TLS is denied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trailscope.doctor.arns import (
    CLOUDTRAIL,
    CONFIG,
    OWNER_FULL_CONTROL,
    bucket_arn,
    check_account,
    check_bucket,
    check_org_id,
    check_region,
    clean_prefix,
    logs_arn,
    parse_trail_arn,
    partition_of,
    trail_arn,
)
from trailscope.errors import TrailscopeError


@dataclass(frozen=True)
class PolicyRequest:
    """What the policy is for.

    :param bucket: the bucket name (no ``s3://``).
    :param account: the account whose trail writes (for an organization trail, the management
        or delegated administrator account that owns it).
    :param org_id: the organization id, for an organization trail (and Config for all members).
    :param trail: the trail's name (with ``region``) or ARN: ``aws:SourceArn`` then names it
        exactly; without it, any trail of ``account`` (a documented wildcard, ``StringLike``).
    :param region: the trail's home region (also picks the partition: aws-cn, aws-us-gov).
    :param prefix: the trail's S3 key prefix, if it has one.
    :param config: also let AWS Config deliver to the bucket.
    """

    bucket: str
    account: str
    org_id: str | None = None
    trail: str | None = None
    region: str | None = None
    prefix: str | None = None
    config: bool = False


def bucket_policy(request: PolicyRequest) -> dict[str, Any]:
    """The bucket policy document (a dict ready for ``json.dumps``) for ``request``.

    Raises :class:`TrailscopeError` for a bucket, account, organization id, region or trail
    that cannot be what it says.
    """
    bucket = check_bucket(request.bucket)
    account = check_account(request.account)
    org_id = check_org_id(request.org_id) if request.org_id else None
    region = check_region(request.region) if request.region else None
    prefix = clean_prefix(request.prefix)
    partition = partition_of(region)
    source_arn = _source_arn(request.trail, region, account, partition)
    if source_arn.startswith("arn:"):
        partition = source_arn.split(":")[1]
    bucket_resource = bucket_arn(partition, bucket)
    trail_test = "StringLike" if "*" in source_arn else "StringEquals"

    def trail_condition(acl: bool) -> dict[str, Any]:
        condition: dict[str, dict[str, str]] = {}
        if acl:
            condition["StringEquals"] = {"s3:x-amz-acl": OWNER_FULL_CONTROL}
        condition.setdefault(trail_test, {})["aws:SourceArn"] = source_arn
        return condition

    statements: list[dict[str, Any]] = [
        {
            "Sid": "AllowSSLRequestsOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_resource, f"{bucket_resource}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        _allow(
            "AWSCloudTrailAclCheck",
            CLOUDTRAIL,
            "s3:GetBucketAcl",
            bucket_resource,
            trail_condition(acl=False),
        ),
        _allow(
            "AWSCloudTrailWrite",
            CLOUDTRAIL,
            "s3:PutObject",
            logs_arn(partition, bucket, prefix, account),
            trail_condition(acl=True),
        ),
    ]
    if org_id:
        statements.append(
            _allow(
                "AWSCloudTrailOrganizationWrite",
                CLOUDTRAIL,
                "s3:PutObject",
                logs_arn(partition, bucket, prefix, org_id),
                trail_condition(acl=True),
            )
        )
    if request.config:
        statements.extend(_config_statements(partition, bucket, prefix, account, org_id))
    return {"Version": "2012-10-17", "Statement": statements}


def _source_arn(trail: str | None, region: str | None, account: str, partition: str) -> str:
    """The trail ARN for ``aws:SourceArn``, or the account-wide wildcard AWS documents."""
    if trail is None:
        return f"arn:{partition}:cloudtrail:*:{account}:trail/*"
    if trail.startswith("arn:"):
        parts = parse_trail_arn(trail)
        if parts is None:
            raise TrailscopeError(
                f"not a trail ARN: {trail!r}",
                hint="arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME, or give the name and --region",
            )
        if parts["account"] != account:
            raise TrailscopeError(
                f"the trail {trail} belongs to account {parts['account']}, not {account}",
                hint="--account is the account that owns the trail (for an organization trail, "
                "the management or delegated administrator account)",
            )
        return trail
    if region is None:
        raise TrailscopeError(
            f"the trail {trail!r} needs its home region to be named in aws:SourceArn",
            hint="add --region REGION, or give the trail's ARN",
        )
    return trail_arn(partition, region, account, trail)


def _allow(
    sid: str, service: str, action: str, resource: str, condition: dict[str, Any]
) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": action,
        "Resource": resource,
        "Condition": condition,
    }


def _config_statements(
    partition: str, bucket: str, prefix: str, account: str, org_id: str | None
) -> list[dict[str, Any]]:
    """AWS Config's three statements: for one account (``aws:SourceAccount``) or, given an
    organization, for every member account (``aws:SourceOrgID``)."""
    if org_id:
        scope = {"aws:SourceOrgID": org_id}
        write = logs_arn(partition, bucket, prefix, "*", "Config/*")
    else:
        scope = {"aws:SourceAccount": account}
        write = logs_arn(partition, bucket, prefix, account, "Config/*")
    resource = bucket_arn(partition, bucket)
    return [
        _allow(
            "AWSConfigBucketPermissionsCheck",
            CONFIG,
            "s3:GetBucketAcl",
            resource,
            {"StringEquals": dict(scope)},
        ),
        _allow(
            "AWSConfigBucketExistenceCheck",
            CONFIG,
            "s3:ListBucket",
            resource,
            {"StringEquals": dict(scope)},
        ),
        _allow(
            "AWSConfigBucketDelivery",
            CONFIG,
            "s3:PutObject",
            write,
            {"StringEquals": {"s3:x-amz-acl": OWNER_FULL_CONTROL, **scope}},
        ),
    ]
