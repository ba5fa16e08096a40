"""What ``trailscope doctor`` says when it cannot ask AWS, or AWS refuses some calls."""

from __future__ import annotations

import json
import socket
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from trailscope.cli import app
from trailscope.exitcodes import ExitCode

runner = CliRunner()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _error_lines(result: Any) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_no_credentials_is_one_clear_line(s3_server: str) -> None:
    env = {
        "AWS_ACCESS_KEY_ID": None,
        "AWS_SECRET_ACCESS_KEY": None,
        "AWS_SESSION_TOKEN": None,
        "AWS_SECURITY_TOKEN": None,
    }
    result = runner.invoke(app, ["doctor", "--endpoint-url", s3_server], env=env)
    assert result.exit_code == ExitCode.ERROR
    lines = _error_lines(result)
    assert lines[0] == "error: no AWS credentials found"
    assert lines[1].startswith("hint: pass --profile NAME, set AWS_PROFILE")
    assert "Traceback" not in result.output and result.stdout == ""


def test_unknown_profile_is_named(s3_server: str) -> None:
    result = runner.invoke(app, ["doctor", "--profile", "no-such-profile"])
    assert result.exit_code == ExitCode.ERROR
    lines = _error_lines(result)
    assert lines[0] == "error: AWS profile not found: no-such-profile"
    assert lines[1] == "hint: check the name in ~/.aws/config, or leave out --profile"


def test_unreachable_endpoint_is_one_clear_line(s3_server: str) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    result = runner.invoke(
        app,
        ["doctor", "--endpoint-url", url, "--region", "us-east-1"],
        env={"TRAILSCOPE_S3_CONNECT_TIMEOUT": "1"},
    )
    assert result.exit_code == ExitCode.ERROR
    lines = _error_lines(result)
    assert lines[0].startswith(f"error: cannot reach {url}: Could not connect to the endpoint URL")
    assert lines[1].startswith("hint: check the network and --endpoint-url")


def test_no_region_says_how_to_give_one(s3_server: str) -> None:
    result = runner.invoke(
        app,
        ["doctor", "--endpoint-url", s3_server],
        env={"AWS_DEFAULT_REGION": None, "AWS_REGION": None},
    )
    assert result.exit_code == ExitCode.ERROR
    assert _error_lines(result)[0] == "error: no AWS region given"


def test_an_account_without_trails_fails_with_how_to_create_one(s3_server: str) -> None:
    # A region where no test made a trail; the tests that make multi-region ones delete them.
    result = runner.invoke(
        app, ["doctor", "--endpoint-url", s3_server, "--region", "ap-southeast-2", "--json"]
    )
    report = json.loads(result.stdout)
    [check] = report["checks"]
    assert (check["id"], check["status"]) == ("trail", "fail")
    assert check["detail"] == "no trail logs ap-southeast-2"
    assert (
        "aws cloudtrail create-trail" in check["fix"] and "--is-multi-region-trail" in check["fix"]
    )
    assert result.exit_code == ExitCode.DOCTOR_PROBLEMS


# --------------------------------------------------------------------------- refused calls


@pytest.fixture
def iam_enforced(s3_server: str) -> Iterator[dict[str, str]]:
    """moto checks IAM policies from here on: a user that may read everything the doctor asks
    except the bucket policy. Yields the user's credentials as environment variables."""
    tag = uuid.uuid4().hex[:8]
    iam = boto3.client("iam", endpoint_url=s3_server, region_name="us-east-1")
    iam.create_user(UserName=f"doctor-{tag}")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["cloudtrail:*", "sts:*"], "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": [
                    "s3:GetBucketPublicAccessBlock",
                    "s3:GetPublicAccessBlock",  # moto's name for the same permission
                    "s3:GetEncryptionConfiguration",
                    "s3:GetBucketVersioning",
                    "s3:GetBucketLogging",
                ],
                "Resource": "*",
            },
        ],
    }
    iam.put_user_policy(
        UserName=f"doctor-{tag}", PolicyName="doctor", PolicyDocument=json.dumps(policy)
    )
    key = iam.create_access_key(UserName=f"doctor-{tag}")["AccessKey"]
    _set_auth(s3_server, "0")
    try:
        yield {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
            "AWS_SESSION_TOKEN": None,
            "AWS_SECURITY_TOKEN": None,
        }
    finally:
        _set_auth(s3_server, "inf")


def _set_auth(endpoint: str, count: str) -> None:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=count.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},  # a form body would be parsed away
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def test_a_refused_call_makes_only_its_checks_unchecked(
    s3_server: str, iam_enforced: dict[str, str]
) -> None:
    from test_doctor_moto import _well_configured

    _set_auth(s3_server, "inf")
    setup = _well_configured(s3_server)
    _set_auth(s3_server, "0")
    try:
        result = runner.invoke(
            app,
            [
                "doctor",
                "--endpoint-url",
                s3_server,
                "--region",
                "us-east-1",
                "--trail",
                setup.trail,
                "--json",
            ],
            env=iam_enforced,
        )
    finally:
        _set_auth(s3_server, "inf")
        setup.client("cloudtrail").delete_trail(Name=setup.trail)
    assert result.stdout, result.stderr
    report = json.loads(result.stdout)
    statuses = {c["id"]: c["status"] for c in report["checks"]}
    unchecked = {k for k, v in statuses.items() if v == "cannot check"}
    assert unchecked == {"bucket-policy-delivery", "bucket-policy-scope", "bucket-tls-only"}
    assert {k for k, v in statuses.items() if v == "fail"} == set()
    check = next(c for c in report["checks"] if c["id"] == "bucket-policy-delivery")
    assert check["detail"] == "cannot check: AccessDenied on s3:GetBucketPolicy"
    assert "allow s3:GetBucketPolicy" in check["fix"]
    assert result.exit_code == ExitCode.DOCTOR_PROBLEMS


def test_doctor_problems_has_its_own_documented_exit_code() -> None:
    from trailscope.exitcodes import DESCRIPTIONS

    assert int(ExitCode.DOCTOR_PROBLEMS) == 7
    assert DESCRIPTIONS[ExitCode.DOCTOR_PROBLEMS].startswith("doctor found a setup problem")
    assert len({int(code) for code in ExitCode}) == len(ExitCode) == len(DESCRIPTIONS)


def test_account_wide_settings_count_only_for_a_bucket_known_to_be_the_accounts(
    s3_server: str, iam_enforced: dict[str, str]
) -> None:
    from test_doctor_moto import ACCOUNT, _public_bucket, _well_configured

    from trailscope.doctor.gather import _drop_account_prefix

    _set_auth(s3_server, "inf")
    setup = _well_configured(s3_server)
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
    _set_auth(s3_server, "0")
    try:
        # The user may not HeadBucket (s3:ListBucket): who owns the bucket is unknown.
        result = runner.invoke(
            app,
            [
                "doctor",
                "--endpoint-url",
                s3_server,
                "--region",
                "us-east-1",
                "--trail",
                setup.trail,
                "--json",
            ],
            env=iam_enforced,
        )
    finally:
        _set_auth(s3_server, "inf")
        control.delete_public_access_block(AccountId=ACCOUNT)
        setup.client("cloudtrail").delete_trail(Name=setup.trail)
    assert result.stdout, result.stderr
    check = next(
        c for c in json.loads(result.stdout)["checks"] if c["id"] == "bucket-public-access"
    )
    assert (check["status"], check["detail"]) == (
        "fail",
        "no Block Public Access settings on the bucket",
    )


def test_rejected_credentials_are_one_clear_line(
    s3_server: str, iam_enforced: dict[str, str]
) -> None:
    bogus = dict(iam_enforced, AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE")
    result = runner.invoke(
        app, ["doctor", "--endpoint-url", s3_server, "--region", "us-east-1"], env=bogus
    )
    assert result.exit_code == ExitCode.ERROR
    lines = _error_lines(result)
    assert lines[0] == "error: AWS rejected the credentials (InvalidClientTokenId)"
    assert lines[1].startswith("hint: pass --profile NAME")


def test_a_malformed_endpoint_url_is_named() -> None:
    result = runner.invoke(app, ["doctor", "--endpoint-url", "notaurl", "--region", "us-east-1"])
    assert result.exit_code == ExitCode.ERROR
    assert _error_lines(result) == [
        "error: bad endpoint URL: notaurl (Invalid endpoint: notaurl)",
        "hint: write it like https://host[:port]",
    ]
