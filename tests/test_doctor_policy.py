"""``trailscope doctor bucket-policy``: the policy the AWS guides write, valid and least
privilege, measured against the guides' own examples and an independent IAM policy linter."""

from __future__ import annotations

import json
from typing import Any

import parliament
import pytest
from doctor_reference import cloudtrail_guide_policy, config_guide_statements, tls_only_statement
from typer.testing import CliRunner

from trailscope.cli import app
from trailscope.doctor import PolicyRequest, bucket_policy
from trailscope.doctor.bucketpolicy import (
    Delivery,
    delivery_problems,
    denies_plain_http,
    scope_problems,
)
from trailscope.doctor.policyread import parse_policy
from trailscope.errors import TrailscopeError

runner = CliRunner()
ACCOUNT = "111111111111"
ORG = "o-exampleorgid"
BUCKET = "amzn-s3-demo-bucket"
ARN = f"arn:aws:cloudtrail:us-east-2:{ACCOUNT}:trail/my-trail"


def _without_sids(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Statements compared as S3 reads them: Sids are labels, condition keys are case-blind."""
    result = []
    for statement in statements:
        copy = {k: v for k, v in statement.items() if k != "Sid"}
        if "Condition" in copy:
            copy["Condition"] = {
                op: {key.lower(): value for key, value in tests.items()}
                for op, tests in copy["Condition"].items()
            }
        result.append(copy)
    return result


def _by_effect(document: dict[str, Any], service: str) -> list[dict[str, Any]]:
    return [
        s
        for s in document["Statement"]
        if isinstance(s["Principal"], dict) and s["Principal"].get("Service") == service
    ]


@pytest.mark.parametrize(
    ("org_id", "prefix"), [(None, ""), (ORG, ""), (None, "cloudtrail"), (ORG, "logs/ct")]
)
def test_cloudtrail_statements_are_the_guides(org_id: str | None, prefix: str) -> None:
    document = bucket_policy(
        PolicyRequest(BUCKET, ACCOUNT, org_id=org_id, trail=ARN, prefix=prefix)
    )
    guide = cloudtrail_guide_policy(BUCKET, ACCOUNT, ARN, org_id=org_id, prefix=prefix)
    assert _without_sids(_by_effect(document, "cloudtrail.amazonaws.com")) == _without_sids(
        guide["Statement"]
    )


def test_config_statements_are_the_guides() -> None:
    document = bucket_policy(PolicyRequest(BUCKET, ACCOUNT, trail=ARN, config=True))
    assert _without_sids(_by_effect(document, "config.amazonaws.com")) == _without_sids(
        config_guide_statements(BUCKET, ACCOUNT)
    )


def test_requests_without_tls_are_denied_as_control_tower_writes_it() -> None:
    document = bucket_policy(PolicyRequest(BUCKET, ACCOUNT))
    [deny] = [s for s in document["Statement"] if s["Effect"] == "Deny"]
    assert deny == tls_only_statement(BUCKET)


def test_without_a_trail_any_trail_of_the_account_is_allowed_with_the_documented_wildcard() -> None:
    document = bucket_policy(PolicyRequest(BUCKET, ACCOUNT))
    [write] = [s for s in document["Statement"] if s["Action"] == "s3:PutObject"]
    assert write["Condition"] == {
        "StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"},
        "StringLike": {"aws:SourceArn": f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"},
    }


def test_a_trail_name_and_region_make_its_arn_and_partition() -> None:
    document = bucket_policy(
        PolicyRequest(BUCKET, "222222222222", trail="audit", region="cn-north-1")
    )
    [write] = [s for s in document["Statement"] if s["Action"] == "s3:PutObject"]
    assert write["Resource"] == f"arn:aws-cn:s3:::{BUCKET}/AWSLogs/222222222222/*"
    assert write["Condition"]["StringEquals"]["aws:SourceArn"] == (
        "arn:aws-cn:cloudtrail:cn-north-1:222222222222:trail/audit"
    )


@pytest.mark.parametrize("config", [False, True])
@pytest.mark.parametrize("org_id", [None, ORG])
def test_an_iam_linter_finds_nothing_wrong(org_id: str | None, config: bool) -> None:
    document = bucket_policy(
        PolicyRequest(BUCKET, ACCOUNT, org_id=org_id, trail=ARN, config=config)
    )
    findings = parliament.analyze_policy_string(json.dumps(document)).findings
    # parliament's list of global condition keys predates aws:SourceOrgID (documented by AWS
    # for service principals, e.g. in Control Tower's audit bucket policy).
    real = [
        f
        for f in findings
        if not (f.issue == "UNKNOWN_CONDITION_FOR_ACTION" and "aws:SourceOrgID" in str(f.detail))
    ]
    assert real == [], [(f.issue, f.detail) for f in real]


def test_the_linter_does_catch_a_broken_policy() -> None:
    document = bucket_policy(PolicyRequest(BUCKET, ACCOUNT, trail=ARN))
    document["Statement"][1]["Action"] = "s3:GetBucketAcls"
    findings = parliament.analyze_policy_string(json.dumps(document)).findings
    assert [f.issue for f in findings] == ["UNKNOWN_ACTION"]


@pytest.mark.parametrize("org_id", [None, ORG])
def test_the_doctor_reads_the_generated_policy_as_delivering_and_least_privilege(
    org_id: str | None,
) -> None:
    document = bucket_policy(PolicyRequest(BUCKET, ACCOUNT, org_id=org_id, trail=ARN, config=True))
    statements = parse_policy(json.dumps(document))
    delivery = Delivery(BUCKET, "", "aws", ARN, ACCOUNT, "us-east-2", org_id)
    assert delivery_problems(statements, delivery) == []
    assert scope_problems(statements, BUCKET, "aws") == []
    assert denies_plain_http(statements, BUCKET, "aws")
    # Scoped to the trail: another trail of another account may not write.
    stranger = Delivery(
        BUCKET,
        "",
        "aws",
        "arn:aws:cloudtrail:us-east-2:999999999999:trail/x",
        "999999999999",
        "us-east-2",
    )
    assert delivery_problems(statements, stranger) != []


def test_cli_prints_valid_json(tmp_path: Any) -> None:
    result = runner.invoke(
        app,
        [
            "doctor",
            "bucket-policy",
            "--bucket",
            BUCKET,
            "--account",
            ACCOUNT,
            "--org-id",
            ORG,
            "--config",
            "--trail",
            ARN,
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document == bucket_policy(
        PolicyRequest(BUCKET, ACCOUNT, org_id=ORG, trail=ARN, config=True)
    )
    assert [s["Sid"] for s in document["Statement"]] == [
        "AllowSSLRequestsOnly",
        "AWSCloudTrailAclCheck",
        "AWSCloudTrailWrite",
        "AWSCloudTrailOrganizationWrite",
        "AWSConfigBucketPermissionsCheck",
        "AWSConfigBucketExistenceCheck",
        "AWSConfigBucketDelivery",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bucket", "s3://b", "--account", ACCOUNT], "not an S3 bucket name: 's3://b'"),
        (["--bucket", BUCKET, "--account", "12345"], "not an AWS account id: '12345'"),
        (["--bucket", BUCKET, "--account", ACCOUNT, "--org-id", "org-1"], "not an organization id"),
        (["--bucket", BUCKET, "--account", ACCOUNT, "--region", "Mars"], "not an AWS region"),
    ],
)
def test_bad_values_are_usage_errors(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["doctor", "bucket-policy", *args], env={"COLUMNS": "200"})
    assert result.exit_code not in (0, 1)
    assert message in result.output
    assert result.stdout.strip().startswith("{") is False


def test_a_trail_of_another_account_or_without_region_is_refused() -> None:
    with pytest.raises(TrailscopeError, match="belongs to account 111111111111, not 222222222222"):
        bucket_policy(PolicyRequest(BUCKET, "222222222222", trail=ARN))
    result = runner.invoke(
        app, ["doctor", "bucket-policy", "--bucket", BUCKET, "--account", ACCOUNT, "--trail", "t1"]
    )
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "error: the trail 't1' needs its home region to be named in aws:SourceArn"
    assert lines[1] == "hint: add --region REGION, or give the trail's ARN"
    assert result.stdout == ""
