"""``trailscope doctor``: is the trail set up the way the guides and the CIS benchmark say?

:func:`diagnose` asks AWS (CloudTrail, S3, STS, Organizations) and returns one verdict per
check with its fix; :func:`bucket_policy` writes the consolidated CloudTrail/Config bucket
policy. Layout: ``gather`` (the AWS calls) -> ``facts`` (their answers) -> ``checks`` (pure
verdicts; ``bucketpolicy`` and ``policyread`` read the bucket policy) -> ``model``.
"""

from __future__ import annotations

import datetime

from trailscope.doctor.checks import Options, report
from trailscope.doctor.model import Check, DoctorReport, Status
from trailscope.doctor.policy import PolicyRequest, bucket_policy

__all__ = [
    "Check",
    "DoctorReport",
    "Options",
    "PolicyRequest",
    "Status",
    "bucket_policy",
    "diagnose",
]


def diagnose(
    *,
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    trail: str | None = None,
    require_kms: bool = False,
    require_cloudwatch: bool = False,
    now: datetime.datetime | None = None,
) -> DoctorReport:
    """Check the trails that log ``region`` (or only ``trail``) and their buckets.

    :param profile: AWS profile (default: the credential chain, as the AWS CLI).
    :param region: the region whose trails to check (default: the profile's region).
    :param endpoint_url: one endpoint for every service (a test server or an AWS-compatible
        stack).
    :param trail: only this trail, by name or ARN.
    :param require_kms: fail when logs are not encrypted with SSE-KMS.
    :param require_cloudwatch: fail when events do not also go to CloudWatch Logs.
    :param now: when "the last day" ends for the CloudWatch Logs check (default: now).
    :raises TrailscopeError: no credentials, unknown profile, unreachable endpoint.
    """
    from trailscope.doctor.gather import gather

    facts = gather(profile=profile, region=region, endpoint_url=endpoint_url, trail=trail)
    return report(facts, Options(require_kms, require_cloudwatch, now))
