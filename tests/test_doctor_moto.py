"""``trailscope doctor`` against moto's CloudTrail, S3 and STS on loopback, as a user types it.

The well-configured account is set up by hand the way the AWS guides say (the bucket policy is
the CloudTrail user guide's example, transcribed in ``doctor_reference``), not with the doctor's
own policy generator; then each misconfiguration must fail exactly its own check.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from doctor_reference import cloudtrail_guide_policy, tls_only_statement
from typer.testing import CliRunner

from trailscope.cli import app
from trailscope.doctor import diagnose
from trailscope.exitcodes import ExitCode

runner = CliRunner()
ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"


@dataclass
class Setup:
    """One trail and its buckets on the test server, set up as the guides say."""

    endpoint: str
    trail: str
    bucket: str
    log_bucket: str
    arn: str = ""

    def client(self, service: str, region: str = REGION) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=region)


def _well_configured(endpoint: str) -> Setup:
    tag = uuid.uuid4().hex[:10]
    setup = Setup(endpoint, f"trail-{tag}", f"trail-logs-{tag}", f"access-logs-{tag}")
    s3 = setup.client("s3")
    s3.create_bucket(Bucket=setup.log_bucket)
    s3.put_bucket_acl(Bucket=setup.log_bucket, ACL="log-delivery-write")
    s3.create_bucket(Bucket=setup.bucket)
    setup.arn = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/{setup.trail}"
    policy = cloudtrail_guide_policy(setup.bucket, ACCOUNT, setup.arn)
    policy["Statement"].append(tls_only_statement(setup.bucket))
    s3.put_bucket_policy(Bucket=setup.bucket, Policy=json.dumps(policy))
    s3.put_public_access_block(
        Bucket=setup.bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_versioning(Bucket=setup.bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_logging(
        Bucket=setup.bucket,
        BucketLoggingStatus={
            "LoggingEnabled": {"TargetBucket": setup.log_bucket, "TargetPrefix": "trail/"}
        },
    )
    cloudtrail = setup.client("cloudtrail")
    cloudtrail.create_trail(
        Name=setup.trail,
        S3BucketName=setup.bucket,
        IsMultiRegionTrail=True,
        EnableLogFileValidation=True,
    )
    # A new trail logs management events by default on AWS; moto starts with no selectors.
    cloudtrail.put_event_selectors(
        TrailName=setup.trail,
        EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}],
    )
    cloudtrail.start_logging(Name=setup.trail)
    return setup


@pytest.fixture
def setup(s3_server: str) -> Iterator[Setup]:
    made = _well_configured(s3_server)
    yield made
    made.client("cloudtrail").delete_trail(Name=made.trail)


def _doctor(setup: Setup, *extra: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(
        app,
        [
            "doctor",
            "--endpoint-url",
            setup.endpoint,
            "--region",
            REGION,
            "--trail",
            setup.trail,
            "--format",
            "json",
            *extra,
        ],
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def _statuses(report: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["status"] for c in report["checks"]}


BASELINE = {
    "multi-region",
    "logging",
    "delivery",
    "management-events",
    "log-file-validation",
    "bucket-public-access",
    "bucket-policy-delivery",
    "bucket-policy-scope",
    "bucket-tls-only",
    "bucket-access-logging",
    "bucket-versioning",
}


def test_a_well_configured_account_passes_every_check(setup: Setup) -> None:
    code, report = _doctor(setup)
    statuses = _statuses(report)
    assert {k for k, v in statuses.items() if v == "pass"} == BASELINE, report
    assert {k for k, v in statuses.items() if v != "pass"} == {"kms", "cloudwatch-logs", "insights"}
    assert {statuses[k] for k in ("kms", "cloudwatch-logs", "insights")} == {"info"}
    assert code == ExitCode.OK
    assert report["ok"] is True
    assert report["account"] == ACCOUNT
    assert report["trails"] == [setup.arn]
    assert all(c["fix"] is None for c in report["checks"] if c["status"] == "pass")


def _single_region(s: Setup) -> None:
    s.client("cloudtrail").update_trail(Name=s.trail, IsMultiRegionTrail=False)


def _logging_off(s: Setup) -> None:
    s.client("cloudtrail").stop_logging(Name=s.trail)


def _validation_off(s: Setup) -> None:
    s.client("cloudtrail").update_trail(Name=s.trail, EnableLogFileValidation=False)


def _public_bucket(s: Setup) -> None:
    s.client("s3").delete_public_access_block(Bucket=s.bucket)


def _missing_write_statement(s: Setup) -> None:
    s3 = s.client("s3")
    policy = json.loads(s3.get_bucket_policy(Bucket=s.bucket)["Policy"])
    policy["Statement"] = [st for st in policy["Statement"] if st["Action"] != "s3:PutObject"]
    s3.put_bucket_policy(Bucket=s.bucket, Policy=json.dumps(policy))


def _no_tls_statement(s: Setup) -> None:
    s3 = s.client("s3")
    policy = json.loads(s3.get_bucket_policy(Bucket=s.bucket)["Policy"])
    policy["Statement"] = [st for st in policy["Statement"] if st["Effect"] != "Deny"]
    s3.put_bucket_policy(Bucket=s.bucket, Policy=json.dumps(policy))


def _write_without_acl(s: Setup) -> None:
    s3 = s.client("s3")
    policy = json.loads(s3.get_bucket_policy(Bucket=s.bucket)["Policy"])
    for st in policy["Statement"]:
        if st["Action"] == "s3:PutObject":
            del st["Condition"]["StringEquals"]["s3:x-amz-acl"]
    s3.put_bucket_policy(Bucket=s.bucket, Policy=json.dumps(policy))


def _extra_grant(s: Setup) -> None:
    s3 = s.client("s3")
    policy = json.loads(s3.get_bucket_policy(Bucket=s.bucket)["Policy"])
    policy["Statement"].append(
        {
            "Sid": "ReadForAnalytics",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{s.bucket}/*",
        }
    )
    s3.put_bucket_policy(Bucket=s.bucket, Policy=json.dumps(policy))


def _no_access_logging(s: Setup) -> None:
    s.client("s3").put_bucket_logging(Bucket=s.bucket, BucketLoggingStatus={})


def _versioning_suspended(s: Setup) -> None:
    s.client("s3").put_bucket_versioning(
        Bucket=s.bucket, VersioningConfiguration={"Status": "Suspended"}
    )


def _write_only_selectors(s: Setup) -> None:
    s.client("cloudtrail").put_event_selectors(
        TrailName=s.trail,
        EventSelectors=[{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}],
    )


CASES: dict[str, tuple[Callable[[Setup], None], str, str]] = {
    # case: (break it, the one check that must fail, words its detail must have)
    "single-region": (_single_region, "multi-region", "single-region trail"),
    "logging off": (_logging_off, "logging", "logging is off"),
    "validation off": (_validation_off, "log-file-validation", "no digest files"),
    "public bucket": (_public_bucket, "bucket-public-access", "no Block Public Access"),
    "missing write statement": (
        _missing_write_statement,
        "bucket-policy-delivery",
        "no statement allows CloudTrail s3:PutObject under",
    ),
    "write without the ACL condition": (
        _write_without_acl,
        "bucket-policy-delivery",
        "without s3:x-amz-acl = bucket-owner-full-control",
    ),
    "no TLS deny": (_no_tls_statement, "bucket-tls-only", "aws:SecureTransport"),
    "extra grant": (
        _extra_grant,
        "bucket-policy-scope",
        "also grants AWS:arn:aws:iam::210987654321",
    ),
    "no access logging": (_no_access_logging, "bucket-access-logging", "not recorded"),
    "versioning suspended": (_versioning_suspended, "bucket-versioning", "Suspended"),
    "write-only selectors": (_write_only_selectors, "management-events", "write only"),
}
FIXES = {
    "multi-region": "aws cloudtrail update-trail --name arn:aws:cloudtrail:us-east-1:",
    "logging": "aws cloudtrail start-logging --name arn:aws:cloudtrail:us-east-1:",
    "log-file-validation": "--enable-log-file-validation",
    "bucket-public-access": "aws s3api put-public-access-block --bucket trail-logs-",
    "bucket-policy-delivery": "trailscope doctor bucket-policy --bucket trail-logs-",
    "bucket-tls-only": "AllowSSLRequestsOnly",
    "bucket-policy-scope": "remove the other grants",
    "bucket-access-logging": "aws s3api put-bucket-logging --bucket trail-logs-",
    "bucket-versioning": "Status=Enabled",
    "management-events": """'[{"ReadWriteType":"All","IncludeManagementEvents":true}]'""",
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_misconfiguration_fails_exactly_its_check(setup: Setup, case: str) -> None:
    breaks, failing, words = CASES[case]
    breaks(setup)
    code, report = _doctor(setup)
    not_passing = {k: v for k, v in _statuses(report).items() if v not in ("pass", "info")}
    assert not_passing == {failing: "fail"}, report
    check = next(c for c in report["checks"] if c["id"] == failing)
    assert words in check["detail"]
    assert FIXES[failing] in check["fix"]
    assert code == ExitCode.DOCTOR_PROBLEMS


def test_kms_is_reported_and_fails_only_when_required(setup: Setup) -> None:
    code, report = _doctor(setup)
    assert _statuses(report)["kms"] == "info" and code == ExitCode.OK
    code, report = _doctor(setup, "--require-kms")
    not_passing = {k: v for k, v in _statuses(report).items() if v not in ("pass", "info")}
    assert not_passing == {"kms": "fail"}
    check = next(c for c in report["checks"] if c["id"] == "kms")
    assert "--kms-key-id" in check["fix"] and code == ExitCode.DOCTOR_PROBLEMS
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    setup.client("cloudtrail").update_trail(Name=setup.trail, KmsKeyId=key)
    code, report = _doctor(setup, "--require-kms")
    assert _statuses(report)["kms"] == "pass" and code == ExitCode.OK


def test_cloudwatch_required_but_not_set_up_fails_with_the_command(setup: Setup) -> None:
    code, report = _doctor(setup, "--require-cloudwatch")
    check = next(c for c in report["checks"] if c["id"] == "cloudwatch-logs")
    assert check["status"] == "fail" and "--cloud-watch-logs-log-group-arn" in check["fix"]
    assert code == ExitCode.DOCTOR_PROBLEMS


def test_the_generated_policy_is_accepted_by_s3_and_passes_the_doctor(setup: Setup) -> None:
    policy = runner.invoke(
        app,
        [
            "doctor",
            "bucket-policy",
            "--bucket",
            setup.bucket,
            "--account",
            ACCOUNT,
            "--trail",
            setup.trail,
            "--region",
            REGION,
        ],
    )
    assert policy.exit_code == 0, policy.output
    document = json.loads(policy.stdout)
    s3 = setup.client("s3")
    s3.put_bucket_policy(Bucket=setup.bucket, Policy=policy.stdout)
    assert json.loads(s3.get_bucket_policy(Bucket=setup.bucket)["Policy"]) == document
    code, report = _doctor(setup)
    assert code == ExitCode.OK, report


def test_a_single_region_trail_of_another_region_is_not_listed(setup: Setup) -> None:
    _single_region(setup)
    result = runner.invoke(
        app,
        [
            "doctor",
            "--endpoint-url",
            setup.endpoint,
            "--region",
            "eu-west-1",
            "--trail",
            setup.trail,
            "--json",
        ],
    )
    report = json.loads(result.stdout)
    assert result.exit_code == ExitCode.DOCTOR_PROBLEMS
    [check] = report["checks"]
    assert check["id"] == "trail" and check["status"] == "fail"
    assert f"no trail named {setup.trail} applies to eu-west-1" in check["detail"]


def test_a_multi_region_trail_is_checked_from_another_region(setup: Setup) -> None:
    report = diagnose(endpoint_url=setup.endpoint, region="eu-west-1", trail=setup.trail)
    assert report.ok, report.to_json()
    assert report.trails == [setup.arn]


def test_table_output_names_each_failing_check_and_its_fix(setup: Setup) -> None:
    _validation_off(setup)
    result = runner.invoke(
        app,
        ["doctor", "--endpoint-url", setup.endpoint, "--region", REGION, "--trail", setup.trail],
        env={"COLUMNS": "300"},
    )
    assert result.exit_code == ExitCode.DOCTOR_PROBLEMS
    lines = result.stdout.splitlines()
    failing = [line for line in lines if "FAIL" in line]
    assert len(failing) == 1 and "log file validation is on" in failing[0]
    fix_line = lines[lines.index(failing[0]) + 1]
    assert fix_line.strip().startswith("fix: aws cloudtrail update-trail --name ")
    assert "problems found" in lines[-1]


def test_json_and_format_table_contradict(setup: Setup) -> None:
    result = runner.invoke(
        app,
        ["doctor", "--endpoint-url", setup.endpoint, "--json", "--format", "table"],
    )
    assert result.exit_code not in (ExitCode.OK, ExitCode.DOCTOR_PROBLEMS)
    assert "--json and --format table contradict each other" in result.output


def _organization(s: Setup) -> str:
    """The test server's organization (made once; moto keeps it for the session)."""
    organizations = s.client("organizations")
    try:
        return str(organizations.describe_organization()["Organization"]["Id"])
    except organizations.exceptions.AWSOrganizationsNotInUseException:
        return str(organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"])


def test_an_organization_trail_needs_trusted_access_and_the_org_folder(setup: Setup) -> None:
    org_id = _organization(setup)
    setup.client("cloudtrail").update_trail(Name=setup.trail, IsOrganizationTrail=True)
    organizations = setup.client("organizations")
    organizations.disable_aws_service_access(ServicePrincipal="cloudtrail.amazonaws.com")
    code, report = _doctor(setup)
    not_passing = {k: v for k, v in _statuses(report).items() if v not in ("pass", "info")}
    # The guide's single-account policy lacks AWSLogs/<org id>/; trusted access is off.
    assert not_passing == {"organization": "fail", "bucket-policy-delivery": "fail"}, report
    checks = {c["id"]: c for c in report["checks"]}
    assert f"AWSLogs/{org_id}/" in checks["bucket-policy-delivery"]["detail"]
    assert f"--org-id {org_id}" in checks["bucket-policy-delivery"]["fix"]
    assert "enable-aws-service-access" in checks["organization"]["fix"]
    assert code == ExitCode.DOCTOR_PROBLEMS

    organizations.enable_aws_service_access(ServicePrincipal="cloudtrail.amazonaws.com")
    policy = cloudtrail_guide_policy(setup.bucket, ACCOUNT, setup.arn, org_id=org_id)
    policy["Statement"].append(tls_only_statement(setup.bucket))
    setup.client("s3").put_bucket_policy(Bucket=setup.bucket, Policy=json.dumps(policy))
    code, report = _doctor(setup)
    assert code == ExitCode.OK, report
    assert _statuses(report)["organization"] == "pass"


def test_text_from_aws_is_shown_inert_in_the_table(setup: Setup) -> None:
    # Whoever may edit the bucket policy chooses its Sids; the doctor quotes them.
    sid = "[bold green]PASS[/]\x1b]0;owned\x07\u202e"
    s3 = setup.client("s3")
    policy = json.loads(s3.get_bucket_policy(Bucket=setup.bucket)["Policy"])
    policy["Statement"].append(
        {
            "Sid": sid,
            "Effect": "Deny",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{setup.bucket}/*",
        }
    )
    s3.put_bucket_policy(Bucket=setup.bucket, Policy=json.dumps(policy))
    result = runner.invoke(
        app,
        ["doctor", "--endpoint-url", setup.endpoint, "--region", REGION, "--trail", setup.trail],
        env={"COLUMNS": "300"},
    )
    assert result.exit_code == ExitCode.DOCTOR_PROBLEMS
    [line] = [line for line in result.stdout.splitlines() if "denies CloudTrail" in line]
    assert "statement '[bold green]PASS[/]\\x1b]0;owned\\x07\\u202e' denies CloudTrail" in line
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout


def test_the_account_wide_public_access_block_covers_the_bucket(setup: Setup) -> None:
    from trailscope.doctor.gather import _drop_account_prefix

    _public_bucket(setup)
    control = setup.client("s3control")
    control.meta.events.register("before-send.s3-control", _drop_account_prefix)
    control.put_public_access_block(
        AccountId=ACCOUNT,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    try:
        code, report = _doctor(setup)
    finally:
        control.delete_public_access_block(AccountId=ACCOUNT)
    check = next(c for c in report["checks"] if c["id"] == "bucket-public-access")
    assert (check["status"], check["detail"]) == (
        "pass",
        "all four settings on (with the account-wide settings)",
    )
    assert code == ExitCode.OK
    code, report = _doctor(setup)
    assert _statuses(report)["bucket-public-access"] == "fail"
