"""CloudTrail events of the nine Stratus Red Team AWS techniques that have no detonation log.

Stratus Red Team documents each technique by the API calls its detonation makes (its
technique pages); these builders write those calls as the CloudTrail events AWS records for
them (field names and shapes from the AWS API and CloudTrail documentation), so the
detections can be tested on all 44 techniques. Each builder returns the events of one
detonation, by an IAM user of account 111122223333, one second apart.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ACCOUNT = "111122223333"
ATTACKER_IP = "198.18.7.7"
_USER = {
    "type": "IAMUser",
    "principalId": "AIDAEXAMPLESTRATUS01",
    "arn": f"arn:aws:iam::{ACCOUNT}:user/stratus",
    "accountId": ACCOUNT,
    "accessKeyId": "AKIAEXAMPLESTRATUS01",
    "userName": "stratus",
}
_INSTANCE_ROLE = {
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLEINSTANCE1:i-0adc17a5acb70d9ae",
    "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/stratus-instance-role/i-0adc17a5acb70d9ae",
    "accountId": ACCOUNT,
    "accessKeyId": "ASIAEXAMPLEINSTANCE1",
    "sessionContext": {
        "sessionIssuer": {
            "type": "Role",
            "principalId": "AROAEXAMPLEINSTANCE1",
            "arn": f"arn:aws:iam::{ACCOUNT}:role/stratus-instance-role",
            "accountId": ACCOUNT,
            "userName": "stratus-instance-role",
        },
        "ec2RoleDelivery": "2.0",
    },
}
BUCKET = "stratus-target-bucket"
TRAIL_BUCKET = "stratus-cloudtrail-bucket"
OBJECTS = 20  # "a number of files" the ransomware techniques create, then destroy


class _Trail:
    def __init__(self, technique: str, start: datetime) -> None:
        self.technique = technique
        self.when = start
        self.events: list[dict[str, Any]] = []

    def call(
        self,
        source: str,
        name: str,
        request: dict[str, Any] | None = None,
        response: dict[str, Any] | None = None,
        *,
        identity: dict[str, Any] | None = None,
        read_only: bool = False,
        data: bool = False,
    ) -> None:
        self.when += timedelta(seconds=1)
        number = len(self.events) + 1
        self.events.append(
            {
                "eventVersion": "1.09",
                "userIdentity": dict(identity or _USER),
                "eventTime": self.when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "eventSource": f"{source}.amazonaws.com",
                "eventName": name,
                "awsRegion": "us-east-1",
                "sourceIPAddress": ATTACKER_IP,
                "userAgent": f"stratus-red-team_{self.technique}",
                "requestParameters": request,
                "responseElements": response,
                "requestID": f"{self.technique}-request-{number}",
                "eventID": f"{self.technique}-{number:04d}",
                "readOnly": read_only,
                "eventType": "AwsApiCall",
                "managementEvent": not data,
                "recipientAccountId": ACCOUNT,
                "eventCategory": "Data" if data else "Management",
            }
        )


def cloudtrail_lifecycle_rule(t: _Trail) -> None:
    rule = {
        "ID": "stratus",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "Expiration": {"Days": 1},
    }
    t.call(
        "s3",
        "PutBucketLifecycle",
        {"bucketName": TRAIL_BUCKET, "lifecycle": "", "LifecycleConfiguration": {"Rule": rule}},
    )


def ec2_enumerate_from_instance(t: _Trail) -> None:
    for source, name in (
        ("sts", "GetCallerIdentity"),
        ("s3", "ListBuckets"),
        ("iam", "GetAccountSummary"),
        ("iam", "ListRoles"),
        ("iam", "ListUsers"),
        ("iam", "GetAccountAuthorizationDetails"),
        ("ec2", "DescribeSnapshots"),
        ("cloudtrail", "DescribeTrails"),
        ("guardduty", "ListDetectors"),
    ):
        t.call(source, name, {}, identity=_INSTANCE_ROLE, read_only=True)


def ses_enumerate(t: _Trail) -> None:
    t.call("ses", "GetAccountSendingEnabled", read_only=True)
    t.call("ses", "GetSendQuota", read_only=True)
    t.call(
        "ses", "ListIdentities", {"maxItems": 100}, {"identities": ["example.com"]}, read_only=True
    )
    t.call(
        "ses", "GetIdentityVerificationAttributes", {"identities": ["example.com"]}, read_only=True
    )


def sagemaker_update_lifecycle_config(t: _Trail) -> None:
    notebook = "stratus-notebook"
    config = "stratus-malicious-lifecycle"
    t.call(
        "sagemaker",
        "CreateNotebookInstanceLifecycleConfig",
        {
            "notebookInstanceLifecycleConfigName": config,
            "onStart": [{"content": "HIDDEN_DUE_TO_SECURITY_REASONS"}],
        },
    )
    t.call("sagemaker", "StopNotebookInstance", {"notebookInstanceName": notebook})
    t.call(
        "sagemaker",
        "UpdateNotebookInstance",
        {"notebookInstanceName": notebook, "lifecycleConfigName": config},
    )
    t.call("sagemaker", "StartNotebookInstance", {"notebookInstanceName": notebook})


def s3_backdoor_bucket_policy(t: _Trail) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::193672423079:root"},
                "Action": ["s3:GetObject", "s3:GetBucketLocation", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{BUCKET}/*", f"arn:aws:s3:::{BUCKET}"],
            }
        ],
    }
    t.call("s3", "PutBucketPolicy", {"bucketName": BUCKET, "policy": "", "bucketPolicy": policy})


def ec2_deregister_ami(t: _Trail) -> None:
    t.call(
        "ec2",
        "DeregisterImage",
        {"imageId": "ami-0b87ea1d007078d18", "deleteAssociatedSnapshots": False},
        {"_return": True},
    )


def _list_versions(t: _Trail) -> None:
    t.call(
        "s3",
        "ListObjectVersions",
        {"bucketName": BUCKET, "versions": ""},
        read_only=True,
        data=True,
    )


def _ransom_note(t: _Trail) -> None:
    t.call("s3", "PutObject", {"bucketName": BUCKET, "key": "FILES-DELETED.txt"}, data=True)


def s3_ransomware_batch_deletion(t: _Trail) -> None:
    _list_versions(t)
    t.call(
        "s3",
        "DeleteObjects",
        {"bucketName": BUCKET, "delete": "", "x-id": "DeleteObjects"},
        data=True,
    )
    _ransom_note(t)


def s3_ransomware_client_side_encryption(t: _Trail) -> None:
    t.call("s3", "ListObjects", {"bucketName": BUCKET}, read_only=True, data=True)
    for i in range(OBJECTS):
        key = f"file-{i}.dat"
        header = {"x-amz-server-side-encryption-customer-algorithm": "AES256"}
        request = {
            "bucketName": BUCKET,
            "key": key,
            "x-amz-copy-source": f"{BUCKET}/{key}",
            **header,
        }
        t.call("s3", "CopyObject", request, header, data=True)
    _ransom_note(t)


def s3_ransomware_individual_deletion(t: _Trail) -> None:
    _list_versions(t)
    for i in range(OBJECTS):
        t.call(
            "s3",
            "DeleteObject",
            {"bucketName": BUCKET, "key": f"file-{i}.dat", "versionId": f"v{i}"},
            data=True,
        )
    _ransom_note(t)


#: technique id -> builder of its detonation's events
TECHNIQUES: dict[str, Callable[[_Trail], None]] = {
    "aws.defense-evasion.cloudtrail-lifecycle-rule": cloudtrail_lifecycle_rule,
    "aws.discovery.ec2-enumerate-from-instance": ec2_enumerate_from_instance,
    "aws.discovery.ses-enumerate": ses_enumerate,
    "aws.execution.sagemaker-update-lifecycle-config": sagemaker_update_lifecycle_config,
    "aws.exfiltration.s3-backdoor-bucket-policy": s3_backdoor_bucket_policy,
    "aws.impact.ec2-deregister-ami": ec2_deregister_ami,
    "aws.impact.s3-ransomware-batch-deletion": s3_ransomware_batch_deletion,
    "aws.impact.s3-ransomware-client-side-encryption": s3_ransomware_client_side_encryption,
    "aws.impact.s3-ransomware-individual-deletion": s3_ransomware_individual_deletion,
}


def write_trail(folder: Path) -> None:
    """One ``<technique>.json`` log file per technique (a day apart), as the real logs are."""
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    for day, (technique, build) in enumerate(TECHNIQUES.items()):
        trail = _Trail(technique, start + timedelta(days=day))
        build(trail)
        (folder / f"{technique}.json").write_text(json.dumps({"Records": trail.events}))
