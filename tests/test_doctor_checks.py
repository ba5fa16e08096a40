"""The checks on recorded responses, shaped as the AWS API reference documents them, for what
moto does not do: delivery errors, CloudWatch Logs delivery times, advanced event selectors
with exclusions, organization trails, missing buckets, unreadable policies."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest
from doctor_reference import cloudtrail_guide_policy, config_guide_statements, tls_only_statement

from trailscope.doctor.checks import Options, report
from trailscope.doctor.facts import AccountFacts, BucketFacts, OrgFacts, TrailFacts, Unanswered

ACCOUNT = "111111111111"
ORG = "o-exampleorgid"
BUCKET = "amzn-s3-demo-bucket"
ARN = f"arn:aws:cloudtrail:us-east-2:{ACCOUNT}:trail/my-trail"
NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)

# DescribeTrails' trailList entry (AWS CLI reference example, with validation on).
DESCRIBED = {
    "Name": "my-trail",
    "S3BucketName": BUCKET,
    "IncludeGlobalServiceEvents": True,
    "IsMultiRegionTrail": True,
    "HomeRegion": "us-east-2",
    "TrailARN": ARN,
    "LogFileValidationEnabled": True,
    "HasCustomEventSelectors": False,
    "HasInsightSelectors": False,
    "IsOrganizationTrail": False,
}
# GetTrailStatus (API reference fields; times are timestamps, boto3 makes them datetimes).
STATUS = {
    "IsLogging": True,
    "LatestDeliveryTime": dt.datetime(2024, 6, 1, 11, 55, tzinfo=dt.UTC),
    "StartLoggingTime": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    "LatestDigestDeliveryTime": dt.datetime(2024, 6, 1, 11, 0, tzinfo=dt.UTC),
    "TimeLoggingStarted": "2024-01-01T00:00:00Z",
    "TimeLoggingStopped": "",
}
# GetEventSelectors for a new trail: the default selector AWS creates.
SELECTORS = {
    "TrailARN": ARN,
    "EventSelectors": [
        {
            "ReadWriteType": "All",
            "IncludeManagementEvents": True,
            "DataResources": [],
            "ExcludeManagementEventSources": [],
        }
    ],
}
PUBLIC_ACCESS = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def _policy(org_id: str | None = None, **extra: Any) -> str:
    document = cloudtrail_guide_policy(BUCKET, ACCOUNT, ARN, org_id=org_id, **extra)
    document["Statement"].append(tls_only_statement(BUCKET))
    return json.dumps(document)


def _bucket(**changes: Any) -> BucketFacts:
    values: dict[str, Any] = {
        "name": BUCKET,
        "public_access": dict(PUBLIC_ACCESS),
        "policy": _policy(),
        "encryption": {
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
        "versioning": {"Status": "Enabled", "MFADelete": "Disabled"},
        "logging": {"TargetBucket": "amzn-s3-demo-logs", "TargetPrefix": f"{BUCKET}/"},
    }
    values.update(changes)
    return BucketFacts(**values)


def _facts(
    trail: dict[str, Any] | None = None,
    status: Any = None,
    selectors: Any = None,
    bucket: BucketFacts | None = None,
    org: OrgFacts | None = None,
    insights: Any = None,
) -> AccountFacts:
    facts = TrailFacts(
        trail=trail or copy.deepcopy(DESCRIBED),
        status=copy.deepcopy(STATUS) if status is None else status,
        selectors=copy.deepcopy(SELECTORS) if selectors is None else selectors,
        insights=insights,
        bucket=bucket or _bucket(),
        org=org,
    )
    return AccountFacts(ACCOUNT, "us-east-2", [facts])


def _verdicts(facts: AccountFacts, **options: Any) -> dict[str, tuple[str, str, str]]:
    result = report(facts, Options(now=NOW, **options))
    return {c.id: (c.status.value, c.detail, c.fix) for c in result.checks}


def _not_passing(facts: AccountFacts, **options: Any) -> dict[str, str]:
    return {k: v[0] for k, v in _verdicts(facts, **options).items() if v[0] not in ("pass", "info")}


def test_the_recorded_good_setup_passes() -> None:
    assert _not_passing(_facts()) == {}


def test_a_delivery_error_fails_delivery_with_the_policy_fix() -> None:
    status = dict(STATUS, LatestDeliveryError="AccessDenied")
    assert _not_passing(_facts(status=status)) == {"delivery": "fail"}
    _, detail, fix = _verdicts(_facts(status=status))["delivery"]
    assert detail == "the last delivery failed: AccessDenied"
    assert "trailscope doctor bucket-policy --bucket amzn-s3-demo-bucket" in fix
    assert f"--account {ACCOUNT}" in fix and f"--trail {ARN}" in fix


def test_a_digest_delivery_error_fails_delivery_too() -> None:
    status = dict(STATUS, LatestDigestDeliveryError="NoSuchBucket")
    state, detail, fix = _verdicts(_facts(status=status))["delivery"]
    assert (state, detail) == ("fail", "the last digest delivery failed: NoSuchBucket")
    assert fix.startswith("make sure the bucket amzn-s3-demo-bucket exists")


@pytest.mark.parametrize(
    ("selectors", "verdict", "words"),
    [
        # Two basic selectors, one read-only and one write-only, cover both.
        (
            [
                {"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True},
                {"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True},
            ],
            "pass",
            "read and write",
        ),
        (
            [{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}],
            "fail",
            "read only",
        ),
        (
            [
                {
                    "ReadWriteType": "All",
                    "IncludeManagementEvents": False,
                    "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}],
                }
            ],
            "fail",
            "no management events",
        ),
        (
            [
                {
                    "ReadWriteType": "All",
                    "IncludeManagementEvents": True,
                    "ExcludeManagementEventSources": ["kms.amazonaws.com"],
                }
            ],
            "pass",
            "excluding kms.amazonaws.com",
        ),
        ([], "fail", "no management events"),
    ],
)
def test_basic_event_selectors(selectors: list[Any], verdict: str, words: str) -> None:
    state, detail, fix = _verdicts(_facts(selectors={"EventSelectors": selectors}))[
        "management-events"
    ]
    assert state == verdict and words in detail
    if verdict == "fail":
        assert '"ReadWriteType":"All","IncludeManagementEvents":true' in fix


@pytest.mark.parametrize(
    ("field_selectors", "verdict", "words"),
    [
        ([{"Field": "eventCategory", "Equals": ["Management"]}], "pass", "read and write"),
        (
            [
                {"Field": "eventCategory", "Equals": ["Management"]},
                {"Field": "readOnly", "Equals": ["false"]},
            ],
            "fail",
            "write only",
        ),
        (
            [
                {"Field": "eventCategory", "Equals": ["Management"]},
                {"Field": "eventSource", "NotEquals": ["kms.amazonaws.com"]},
            ],
            "pass",
            "only where eventSource NotEquals ['kms.amazonaws.com']",
        ),
        (
            [
                {"Field": "eventCategory", "Equals": ["Data"]},
                {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
            ],
            "fail",
            "no management events",
        ),
    ],
)
def test_advanced_event_selectors(field_selectors: list[Any], verdict: str, words: str) -> None:
    selectors = {
        "TrailARN": ARN,
        "AdvancedEventSelectors": [{"Name": "selector", "FieldSelectors": field_selectors}],
    }
    state, detail, fix = _verdicts(_facts(selectors=selectors))["management-events"]
    assert state == verdict and words in detail
    if verdict == "fail":
        assert "--advanced-event-selectors" in fix and '"Equals":["Management"]' in fix


def test_cloudwatch_logs_when_required() -> None:
    trail = dict(
        DESCRIBED,
        CloudWatchLogsLogGroupArn="arn:aws:logs:us-east-2:111111111111:log-group:ct:*",
        CloudWatchLogsRoleArn="arn:aws:iam::111111111111:role/ct",
    )
    recent = dict(STATUS, LatestCloudWatchLogsDeliveryTime=NOW - dt.timedelta(minutes=5))
    assert _verdicts(_facts(trail, recent), require_cloudwatch=True)["cloudwatch-logs"][0] == "pass"
    stale = dict(STATUS, LatestCloudWatchLogsDeliveryTime=NOW - dt.timedelta(days=2))
    state, detail, _ = _verdicts(_facts(trail, stale), require_cloudwatch=True)["cloudwatch-logs"]
    assert state == "fail" and "over a day ago" in detail
    assert _verdicts(_facts(trail, stale))["cloudwatch-logs"][0] == "info"
    failing = dict(recent, LatestCloudWatchLogsDeliveryError="AccessDeniedException")
    state, detail, _ = _verdicts(_facts(trail, failing), require_cloudwatch=True)["cloudwatch-logs"]
    assert state == "fail" and detail.endswith("the last delivery failed: AccessDeniedException")
    state, detail, _ = _verdicts(_facts(trail), require_cloudwatch=True)["cloudwatch-logs"]
    assert state == "fail" and "no delivery to it yet" in detail


def test_insights_are_shown_not_judged() -> None:
    insights = [{"InsightType": "ApiCallRateInsight"}, {"InsightType": "ApiErrorRateInsight"}]
    state, detail, _ = _verdicts(_facts(insights=insights))["insights"]
    assert (state, detail) == ("info", "ApiCallRateInsight, ApiErrorRateInsight")


def test_a_missing_bucket_is_one_failure() -> None:
    gone = Unanswered("s3:GetBucketPolicy", "NoSuchBucket")
    bucket = _bucket(
        policy=gone, public_access=Unanswered("s3:GetBucketPublicAccessBlock", "NoSuchBucket")
    )
    verdicts = _verdicts(_facts(bucket=bucket))
    assert _not_passing(_facts(bucket=bucket)) == {"bucket": "fail"}
    assert "aws s3api create-bucket --bucket amzn-s3-demo-bucket" in verdicts["bucket"][2]


def test_an_unreadable_policy_fails_the_policy_checks() -> None:
    bucket = _bucket(policy="{not json")
    assert _not_passing(_facts(bucket=bucket)) == {
        "bucket-policy-delivery": "fail",
        "bucket-policy-scope": "fail",
        "bucket-tls-only": "fail",
    }


def test_no_policy_at_all() -> None:
    verdicts = _verdicts(_facts(bucket=_bucket(policy=None)))
    assert verdicts["bucket-policy-delivery"][:2] == ("fail", "the bucket has no policy")


def test_a_policy_for_another_trail_does_not_let_this_one_deliver() -> None:
    other = f"arn:aws:cloudtrail:us-east-2:{ACCOUNT}:trail/other-trail"
    document = cloudtrail_guide_policy(BUCKET, ACCOUNT, other)
    document["Statement"].append(tls_only_statement(BUCKET))
    state, detail, _ = _verdicts(_facts(bucket=_bucket(policy=json.dumps(document))))[
        "bucket-policy-delivery"
    ]
    assert state == "fail"
    assert "no statement allows CloudTrail s3:GetBucketAcl on the bucket" in detail


def test_a_deny_in_the_way_is_named() -> None:
    document = json.loads(_policy())
    document["Statement"].append(
        {
            "Sid": "NoWritesFromServices",
            "Effect": "Deny",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/*",
        }
    )
    state, detail, _ = _verdicts(_facts(bucket=_bucket(policy=json.dumps(document))))[
        "bucket-policy-delivery"
    ]
    assert state == "fail" and "statement 'NoWritesFromServices' denies CloudTrail" in detail


def test_a_deny_for_everyone_but_one_role_blocks_cloudtrail_too() -> None:
    document = json.loads(_policy())
    document["Statement"].append(
        {
            "Sid": "OnlyTheLogReader",
            "Effect": "Deny",
            "NotPrincipal": {"AWS": "arn:aws:iam::111111111111:role/log-reader"},
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
        }
    )
    state, detail, _ = _verdicts(_facts(bucket=_bucket(policy=json.dumps(document))))[
        "bucket-policy-delivery"
    ]
    assert state == "fail"
    assert detail.startswith("statement 'OnlyTheLogReader' denies CloudTrail s3:GetBucketAcl")


def test_a_public_grant_fails_the_scope_check() -> None:
    document = json.loads(_policy())
    document["Statement"].append(
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/*",
        }
    )
    state, detail, _ = _verdicts(_facts(bucket=_bucket(policy=json.dumps(document))))[
        "bucket-policy-scope"
    ]
    assert (state, detail) == (
        "fail",
        "a statement without Sid allows anyone (Principal *) s3:GetObject",
    )


def test_unscoped_service_statements_fail_the_scope_check() -> None:
    # The CloudTrail guide's policy before aws:SourceArn was added to it.
    document = json.loads(_policy())
    for statement in document["Statement"]:
        condition = statement.get("Condition", {}).get("StringEquals", {})
        condition.pop("aws:SourceArn", None)
        if statement.get("Condition") == {"StringEquals": {}}:
            del statement["Condition"]
    verdicts = _verdicts(_facts(bucket=_bucket(policy=json.dumps(document))))
    assert verdicts["bucket-policy-delivery"][0] == "pass"
    state, detail, _ = verdicts["bucket-policy-scope"]
    assert state == "fail"
    assert detail.count("lets cloudtrail.amazonaws.com act for any account") == 2


def test_config_statements_from_the_config_guide_are_in_scope() -> None:
    document = json.loads(_policy())
    document["Statement"].extend(config_guide_statements(BUCKET, ACCOUNT))
    assert _not_passing(_facts(bucket=_bucket(policy=json.dumps(document)))) == {}


def test_a_key_prefix_is_part_of_the_log_path() -> None:
    trail = dict(DESCRIBED, S3KeyPrefix="cloudtrail")
    policy = _policy(prefix="cloudtrail")
    assert _not_passing(_facts(trail, bucket=_bucket(policy=policy))) == {}
    state, detail, fix = _verdicts(_facts(trail))["bucket-policy-delivery"]
    assert state == "fail" and f"/cloudtrail/AWSLogs/{ACCOUNT}/" in detail
    assert "--prefix cloudtrail" in fix


ORG_DESCRIBED = dict(DESCRIBED, IsOrganizationTrail=True)
# DescribeOrganization's Organization (API reference example).
ORGANIZATION = {
    "Id": ORG,
    "Arn": f"arn:aws:organizations::{ACCOUNT}:organization/{ORG}",
    "FeatureSet": "ALL",
    "MasterAccountArn": f"arn:aws:organizations::{ACCOUNT}:account/{ORG}/{ACCOUNT}",
    "MasterAccountId": ACCOUNT,
    "MasterAccountEmail": "bill@example.com",
}


def test_an_organization_trail_needs_the_org_folder_in_the_policy() -> None:
    org = OrgFacts(dict(ORGANIZATION), ["cloudtrail.amazonaws.com", "config.amazonaws.com"])
    good = _bucket(policy=_policy(org_id=ORG))
    assert _not_passing(_facts(ORG_DESCRIBED, bucket=good, org=org)) == {}
    state, detail, fix = _verdicts(_facts(ORG_DESCRIBED, org=org))["bucket-policy-delivery"]
    assert state == "fail" and f"AWSLogs/{ORG}/" in detail
    assert f"--org-id {ORG}" in fix


def test_an_organization_without_trusted_access_or_all_features() -> None:
    organization = dict(ORGANIZATION, FeatureSet="CONSOLIDATED_BILLING")
    org = OrgFacts(organization, ["config.amazonaws.com"])
    good = _bucket(policy=_policy(org_id=ORG))
    verdicts = _verdicts(_facts(ORG_DESCRIBED, bucket=good, org=org))
    state, detail, fix = verdicts["organization"]
    assert state == "fail"
    assert "feature set CONSOLIDATED_BILLING" in detail and "no trusted access" in detail
    assert "aws organizations enable-all-features" in fix
    assert "enable-aws-service-access --service-principal cloudtrail.amazonaws.com" in fix


def test_a_member_account_cannot_check_the_organization() -> None:
    denied = Unanswered("organizations:DescribeOrganization", "AccessDeniedException")
    org = OrgFacts(
        denied,
        Unanswered("organizations:ListAWSServiceAccessForOrganization", "AccessDeniedException"),
    )
    verdicts = _verdicts(_facts(ORG_DESCRIBED, org=org))
    assert verdicts["organization"][:2] == (
        "cannot check",
        "cannot check: AccessDeniedException on organizations:DescribeOrganization",
    )


def test_describe_trails_refused() -> None:
    facts = AccountFacts(
        ACCOUNT, "us-east-2", Unanswered("cloudtrail:DescribeTrails", "AccessDeniedException")
    )
    result = report(facts)
    assert [(c.id, c.status.value) for c in result.checks] == [("trail", "cannot check")]
    assert not result.ok


def test_account_wide_public_access_settings_count_with_the_buckets() -> None:
    half = {"BlockPublicAcls": True, "IgnorePublicAcls": True}
    rest = {"BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    both = _bucket(public_access=dict(half), account_public_access=dict(rest))
    assert _verdicts(_facts(bucket=both))["bucket-public-access"][0] == "pass"
    partial = _bucket(public_access=dict(half), account_public_access={"BlockPublicPolicy": True})
    state, detail, _ = _verdicts(_facts(bucket=partial))["bucket-public-access"]
    assert (state, detail) == ("fail", "off on the bucket and its account: RestrictPublicBuckets")
    refused = Unanswered("s3:GetAccountPublicAccessBlock", "AccessDenied")
    state, detail, _ = _verdicts(
        _facts(bucket=_bucket(public_access=None, account_public_access=refused))
    )["bucket-public-access"]
    assert state == "fail"
    assert detail == (
        "no Block Public Access settings on the bucket (account-wide settings: "
        "cannot check: AccessDenied on s3:GetAccountPublicAccessBlock)"
    )
