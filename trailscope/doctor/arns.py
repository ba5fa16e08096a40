"""The names a CloudTrail bucket policy is written in: partitions, ARNs, ids, log paths.

Shared by the policy generator and the policy reader so both agree on where CloudTrail and
AWS Config write (``[prefix/]AWSLogs/<account or org id>/...``).
"""

from __future__ import annotations

import re

from trailscope.errors import TrailscopeError

CLOUDTRAIL = "cloudtrail.amazonaws.com"
CONFIG = "config.amazonaws.com"
#: What the bucket owner must get on every delivered object (the guides' PutObject condition).
OWNER_FULL_CONTROL = "bucket-owner-full-control"

_ACCOUNT = re.compile(r"^\d{12}$")
_ORG_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
# S3's rules for new bucket names: 3-63 of a-z 0-9 . -, starting and ending with a letter/digit.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_TRAIL_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):cloudtrail:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"trail/(?P<name>.+)$"
)


def partition_of(region: str | None) -> str:
    """The ARN partition a region belongs to (``aws``, ``aws-cn``, ``aws-us-gov``)."""
    if region and region.startswith("cn-"):
        return "aws-cn"
    if region and region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def check_account(account: str) -> str:
    if not _ACCOUNT.match(account):
        raise TrailscopeError(
            f"not an AWS account id: {account!r}", hint="an account id is 12 digits"
        )
    return account


def check_org_id(org_id: str) -> str:
    if not _ORG_ID.match(org_id):
        raise TrailscopeError(
            f"not an organization id: {org_id!r}",
            hint="it looks like o-a1b2c3d4e5 (aws organizations describe-organization)",
        )
    return org_id


def check_bucket(bucket: str) -> str:
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise TrailscopeError(
            f"not an S3 bucket name: {bucket!r}",
            hint="3-63 lowercase letters, digits, dots and hyphens (no s3:// and no key)",
        )
    return bucket


def check_region(region: str) -> str:
    if not _REGION.match(region):
        raise TrailscopeError(f"not an AWS region: {region!r}", hint="e.g. us-east-1")
    return region


def clean_prefix(prefix: str | None) -> str:
    """A trail's S3KeyPrefix without the slashes around it ('' for none)."""
    return (prefix or "").strip("/")


def bucket_arn(partition: str, bucket: str) -> str:
    return f"arn:{partition}:s3:::{bucket}"


def logs_arn(partition: str, bucket: str, prefix: str, owner: str, tail: str = "*") -> str:
    """Where logs of ``owner`` (an account or organization id) land, as an object ARN pattern."""
    head = f"{prefix}/" if prefix else ""
    return f"{bucket_arn(partition, bucket)}/{head}AWSLogs/{owner}/{tail}"


def trail_arn(partition: str, region: str, account: str, name: str) -> str:
    return f"arn:{partition}:cloudtrail:{region}:{account}:trail/{name}"


def parse_trail_arn(arn: str) -> dict[str, str] | None:
    """partition, region, account and name of a trail ARN, or None if it is not one."""
    match = _TRAIL_ARN.match(arn)
    return match.groupdict() if match else None
