"""Ask AWS what the checks need: CloudTrail, S3, STS and (for organization trails) Organizations.

A refused call (AccessDenied, a missing feature) becomes :class:`Unanswered` and only the checks
that need it say "cannot check"; no credentials, an unknown profile or an unreachable endpoint
stop the run with one line and a hint, as everywhere else in trailscope.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from trailscope.doctor.facts import (
    PUBLIC_ACCESS_FLAGS,
    AccountFacts,
    BucketFacts,
    OrgFacts,
    TrailFacts,
    Unanswered,
)
from trailscope.errors import TrailscopeError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Error codes that mean "this configuration does not exist" rather than "cannot tell".
_ABSENT = frozenset(
    {
        "NoSuchPublicAccessBlockConfiguration",
        "NoSuchBucketPolicy",
        "ServerSideEncryptionConfigurationNotFoundError",
        "InsightNotEnabledException",
    }
)
#: Credentials that AWS refused: every later call would fail the same way.
_REJECTED = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "InvalidToken",
        "TokenRefreshRequired",
    }
)


class Clients:
    """boto3 clients for one profile, endpoint and region (CloudTrail per home region)."""

    def __init__(self, profile: str | None, region: str | None, endpoint_url: str | None) -> None:
        import boto3
        from botocore.exceptions import ProfileNotFound

        self.profile = profile
        self.endpoint_url = endpoint_url
        try:
            self.session = boto3.Session(profile_name=profile, region_name=region)
        except ProfileNotFound as exc:
            from trailscope.sources.s3 import profile_not_found

            raise profile_not_found(exc, profile) from None
        resolved = region or self.session.region_name
        if not resolved:
            raise TrailscopeError(
                "no AWS region given",
                hint="pass --region REGION, set AWS_REGION, or set a region in the profile",
            )
        self.region: str = resolved
        self._made: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str | None = None) -> Any:
        """The client for ``service`` in ``region`` (the run's region by default)."""
        key = (service, region or self.region)
        if key not in self._made:
            from botocore.config import Config

            from trailscope.aws import MAX_ATTEMPTS, timeouts

            connect, read = timeouts()
            options: dict[str, Any] = {
                "user_agent_extra": "trailscope",
                "connect_timeout": connect,
                "read_timeout": read,
                "retries": {"mode": "standard", "max_attempts": MAX_ATTEMPTS},
            }
            if service == "s3" and self.endpoint_url:
                options["s3"] = {"addressing_style": "path"}  # as trailscope.aws does
            # From this run's session, not trailscope.aws's shared S3 client: every answer then
            # comes from the same credentials.
            client = self.session.client(
                service,
                region_name=key[1],
                endpoint_url=self.endpoint_url,
                config=Config(**options),
            )
            if service == "s3control" and self.endpoint_url and _literal_host(self.endpoint_url):
                # S3 Control puts the account id before the host; an IP or localhost has no such
                # names, so the request goes to the endpoint as given.
                client.meta.events.register("before-send.s3-control", _drop_account_prefix)
            self._made[key] = client
        return self._made[key]


def gather(
    *,
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    trail: str | None = None,
) -> AccountFacts:
    """Everything the checks need about the trails that apply to ``region``.

    :param trail: only this trail (name or ARN); by default every trail that applies.
    :raises TrailscopeError: no credentials, unknown profile, unreachable endpoint, rejected
        credentials.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        clients = Clients(profile, region, endpoint_url)
        return _gather(clients, trail)
    except (BotoCoreError, ClientError, ValueError) as exc:  # ValueError: a malformed URL
        raise _fatal(exc, endpoint_url) from None


def _gather(clients: Clients, wanted: str | None) -> AccountFacts:
    identity = _ask("sts:GetCallerIdentity", lambda: clients.client("sts").get_caller_identity())
    account = identity.get("Account") if isinstance(identity, dict) else None
    listed = _ask(
        "cloudtrail:DescribeTrails",
        lambda: clients.client("cloudtrail").describe_trails(includeShadowTrails=True),
    )
    if not isinstance(listed, dict):
        return AccountFacts(account, clients.region, _required(listed, "cloudtrail:DescribeTrails"))
    trails = listed.get("trailList", [])
    chosen = trails
    if wanted:
        chosen = [t for t in trails if wanted in (t.get("Name"), t.get("TrailARN"))]
        if not chosen:
            names = sorted(str(t.get("Name")) for t in trails)
            return AccountFacts(account, clients.region, [], wanted, names)
    buckets: dict[str, BucketFacts] = {}
    org: OrgFacts | None = None
    result = []
    for described in chosen:
        if described.get("IsOrganizationTrail") and org is None:
            org = _organization(clients)
        bucket_name = described.get("S3BucketName")
        bucket = None
        if bucket_name:
            if bucket_name not in buckets:
                buckets[bucket_name] = _bucket(clients, bucket_name, account)
            bucket = buckets[bucket_name]
        result.append(_trail(clients, described, bucket, org))
    return AccountFacts(account, clients.region, result)


def _trail(
    clients: Clients, described: dict[str, Any], bucket: BucketFacts | None, org: OrgFacts | None
) -> TrailFacts:
    # A multi-region trail is listed in every region, but answers about it only in its home.
    home = described.get("HomeRegion") or clients.region
    cloudtrail = clients.client("cloudtrail", home)
    arn = described.get("TrailARN") or described.get("Name")
    status = _ask("cloudtrail:GetTrailStatus", lambda: cloudtrail.get_trail_status(Name=arn))
    selectors = _ask(
        "cloudtrail:GetEventSelectors", lambda: cloudtrail.get_event_selectors(TrailName=arn)
    )
    insights = _ask(
        "cloudtrail:GetInsightSelectors",
        lambda: cloudtrail.get_insight_selectors(TrailName=arn).get("InsightSelectors"),
    )
    return TrailFacts(
        trail=described,
        status=_strip(status),
        selectors=_strip(selectors),
        insights=insights,
        bucket=bucket,
        org=org if described.get("IsOrganizationTrail") else None,
    )


def _bucket(clients: Clients, name: str, account: str | None) -> BucketFacts:
    s3 = clients.client("s3")
    facts = BucketFacts(
        name=name,
        public_access=_ask(
            "s3:GetBucketPublicAccessBlock",
            lambda: s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"],
        ),
        policy=_ask("s3:GetBucketPolicy", lambda: s3.get_bucket_policy(Bucket=name)["Policy"]),
        encryption=_ask(
            "s3:GetEncryptionConfiguration",
            lambda: s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"],
        ),
        versioning=_strip(
            _ask("s3:GetBucketVersioning", lambda: s3.get_bucket_versioning(Bucket=name))
        ),
        logging=_ask(
            "s3:GetBucketLogging", lambda: s3.get_bucket_logging(Bucket=name).get("LoggingEnabled")
        ),
    )
    if account and not _fully_blocked(facts.public_access):
        facts.account_public_access = _account_public_access(clients, name, account)
    return facts


def _fully_blocked(config: object) -> bool:
    return isinstance(config, dict) and all(config.get(flag) for flag in PUBLIC_ACCESS_FLAGS)


def _account_public_access(clients: Clients, bucket: str, account: str) -> Any:
    """The account-wide Block Public Access settings, when ``account`` owns the bucket (they
    protect only its own buckets); None when it does not or has none."""
    s3 = clients.client("s3")
    owned = _ask(
        "s3:ListBucket", lambda: s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=account)
    )
    if not isinstance(owned, dict):
        return None
    return _ask(
        "s3:GetAccountPublicAccessBlock",
        lambda: clients.client("s3control").get_public_access_block(AccountId=account)[
            "PublicAccessBlockConfiguration"
        ],
    )


def _literal_host(url: str) -> bool:
    import ipaddress
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _drop_account_prefix(request: Any, **_: Any) -> None:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(request.url)
    head, _dot, rest = parts.netloc.partition(".")
    if head.isdigit() and rest:
        request.url = urlunsplit((parts.scheme, rest, parts.path, parts.query, parts.fragment))


def _organization(clients: Clients) -> OrgFacts:
    organizations = clients.client("organizations")
    org = _ask(
        "organizations:DescribeOrganization",
        lambda: organizations.describe_organization()["Organization"],
    )
    services = _ask(
        "organizations:ListAWSServiceAccessForOrganization",
        lambda: [
            s["ServicePrincipal"]
            for page in organizations.get_paginator(
                "list_aws_service_access_for_organization"
            ).paginate()
            for s in page.get("EnabledServicePrincipals", [])
        ],
    )
    return OrgFacts(
        _required(org, "organizations:DescribeOrganization"),
        _required(services, "organizations:ListAWSServiceAccessForOrganization"),
    )


def _required(answer: T | Unanswered | None, api: str) -> T | Unanswered:
    """An answer that cannot be "not configured": None would be a broken response."""
    return Unanswered(api, "EmptyResponse") if answer is None else answer


def _ask(api: str, call: Callable[[], T]) -> T | Unanswered | None:
    """The call's answer; None when the configuration does not exist; Unanswered when AWS
    refused or failed. Network and credential problems propagate (they end the run)."""
    from botocore.exceptions import ClientError

    try:
        return call()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(
            error.get("Code")
            or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "error")
        )
        if code in _ABSENT:
            return None
        if code in _REJECTED:
            raise
        log.debug("%s failed: %s", api, code)
        return Unanswered(api, code, str(error.get("Message") or ""))


def _strip(answer: Any) -> Any:
    """An answer without boto3's ResponseMetadata (it is not AWS's data)."""
    if isinstance(answer, dict):
        return {k: v for k, v in answer.items() if k != "ResponseMetadata"}
    return answer


def _fatal(exc: Exception, endpoint_url: str | None) -> TrailscopeError:
    """A failure no check can work around, as one line and a hint."""
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
        ReadTimeoutError,
    )

    from trailscope.sources.s3 import _CREDENTIALS_HINT, profile_not_found

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return TrailscopeError("no AWS credentials found", hint=_CREDENTIALS_HINT)
    if isinstance(exc, ProfileNotFound):
        return profile_not_found(exc, None)
    if isinstance(exc, NoRegionError):
        return TrailscopeError("no AWS region given", hint="pass --region REGION or set AWS_REGION")
    if isinstance(
        exc,
        EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError | ConnectionClosedError,
    ):
        where = endpoint_url or "AWS"
        return TrailscopeError(
            f"cannot reach {where}: {exc}",
            hint="check the network and --endpoint-url; wait longer with "
            "TRAILSCOPE_S3_CONNECT_TIMEOUT and TRAILSCOPE_S3_READ_TIMEOUT (seconds)",
        )
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        return TrailscopeError(f"AWS rejected the credentials ({code})", hint=_CREDENTIALS_HINT)
    if isinstance(exc, ValueError) and endpoint_url:
        return TrailscopeError(
            f"bad endpoint URL: {endpoint_url} ({exc})", hint="write it like https://host[:port]"
        )
    log.debug("AWS call failed", exc_info=exc)
    return TrailscopeError(f"cannot ask AWS: {type(exc).__name__}: {exc}")
