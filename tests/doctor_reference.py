"""Bucket policies as the AWS documentation writes them, transcribed (placeholders filled in)
so the doctor is measured against AWS's examples rather than its own generator.

- CloudTrail user guide, "Amazon S3 bucket policy for CloudTrail": AWSCloudTrailAclCheck20150319
  and AWSCloudTrailWrite20150319, with aws:SourceArn.
- CloudTrail user guide, "Creating a trail for an organization with the AWS CLI": the same plus
  AWSCloudTrailOrganizationWrite20150319 for AWSLogs/<org id>/.
- AWS Config developer guide, "Permissions for the Amazon S3 bucket for the AWS Config delivery
  channel": AWSConfigBucketPermissionsCheck, AWSConfigBucketExistenceCheck,
  AWSConfigBucketDelivery, with AWS:SourceAccount.
- AWS Control Tower, "Amazon S3 bucket policy in the audit account": AllowSSLRequestsOnly.
"""

from __future__ import annotations

from typing import Any


def cloudtrail_guide_policy(
    bucket: str, account: str, trail_arn: str, org_id: str | None = None, prefix: str = ""
) -> dict[str, Any]:
    head = f"{prefix}/" if prefix else ""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AWSCloudTrailAclCheck20150319",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:GetBucketAcl",
            "Resource": f"arn:aws:s3:::{bucket}",
            "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
        },
        {
            "Sid": "AWSCloudTrailWrite20150319",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{bucket}/{head}AWSLogs/{account}/*",
            "Condition": {
                "StringEquals": {
                    "s3:x-amz-acl": "bucket-owner-full-control",
                    "aws:SourceArn": trail_arn,
                }
            },
        },
    ]
    if org_id:
        statements.append(
            {
                "Sid": "AWSCloudTrailOrganizationWrite20150319",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/{head}AWSLogs/{org_id}/*",
                "Condition": {
                    "StringEquals": {
                        "s3:x-amz-acl": "bucket-owner-full-control",
                        "aws:SourceArn": trail_arn,
                    }
                },
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def config_guide_statements(bucket: str, account: str, prefix: str = "") -> list[dict[str, Any]]:
    head = f"{prefix}/" if prefix else ""
    return [
        {
            "Sid": "AWSConfigBucketPermissionsCheck",
            "Effect": "Allow",
            "Principal": {"Service": "config.amazonaws.com"},
            "Action": "s3:GetBucketAcl",
            "Resource": f"arn:aws:s3:::{bucket}",
            "Condition": {"StringEquals": {"AWS:SourceAccount": account}},
        },
        {
            "Sid": "AWSConfigBucketExistenceCheck",
            "Effect": "Allow",
            "Principal": {"Service": "config.amazonaws.com"},
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{bucket}",
            "Condition": {"StringEquals": {"AWS:SourceAccount": account}},
        },
        {
            "Sid": "AWSConfigBucketDelivery",
            "Effect": "Allow",
            "Principal": {"Service": "config.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{bucket}/{head}AWSLogs/{account}/Config/*",
            "Condition": {
                "StringEquals": {
                    "s3:x-amz-acl": "bucket-owner-full-control",
                    "AWS:SourceAccount": account,
                }
            },
        },
    ]


def tls_only_statement(bucket: str) -> dict[str, Any]:
    return {
        "Sid": "AllowSSLRequestsOnly",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
