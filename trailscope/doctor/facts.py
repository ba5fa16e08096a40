"""What the checks look at: the answers of the AWS APIs, or why an answer is missing.

Kept apart from the AWS calls (``gather``) so the checks can be tested on responses shaped
exactly as the AWS API reference documents them, including the fields a test server leaves out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias


@dataclass(frozen=True)
class Unanswered:
    """An API call that was refused or failed: the check that needs it cannot be made."""

    api: str
    code: str
    message: str = ""

    def describe(self) -> str:
        return f"cannot check: {self.code} on {self.api}"


Json: TypeAlias = dict[str, Any]

#: The four S3 Block Public Access settings; all on blocks every kind of public access.
PUBLIC_ACCESS_FLAGS = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)


@dataclass
class BucketFacts:
    """The trail bucket's settings; None where the bucket has no such configuration."""

    name: str
    #: GetPublicAccessBlock's PublicAccessBlockConfiguration.
    public_access: Json | Unanswered | None = None
    #: The owning account's Block Public Access settings (S3 Control), asked only when the
    #: bucket's own do not block everything and the caller's account owns the bucket.
    account_public_access: Json | Unanswered | None = None
    #: GetBucketPolicy's Policy (a JSON text).
    policy: str | Unanswered | None = None
    #: GetBucketEncryption's ServerSideEncryptionConfiguration.
    encryption: Json | Unanswered | None = None
    #: GetBucketVersioning's answer (Status and MFADelete are absent until first set).
    versioning: Json | Unanswered = field(default_factory=dict)
    #: GetBucketLogging's LoggingEnabled.
    logging: Json | Unanswered | None = None


@dataclass
class OrgFacts:
    """The organization of an organization trail."""

    #: DescribeOrganization's Organization.
    organization: Json | Unanswered
    #: ListAWSServiceAccessForOrganization's service principals.
    services: list[str] | Unanswered


@dataclass
class TrailFacts:
    """One trail as DescribeTrails lists it, with its status, selectors and bucket."""

    trail: Json
    status: Json | Unanswered
    selectors: Json | Unanswered
    #: GetInsightSelectors' InsightSelectors (None: Insights are not enabled).
    insights: list[Json] | Unanswered | None
    bucket: BucketFacts | None
    org: OrgFacts | None = None

    @property
    def arn(self) -> str:
        return str(self.trail.get("TrailARN") or self.trail.get("Name") or "?")

    @property
    def name(self) -> str:
        return str(self.trail.get("Name") or self.arn)


@dataclass
class AccountFacts:
    """Everything one run asked AWS."""

    account: str | None
    region: str
    #: The trails that apply to ``region`` (its own and other regions' multi-region trails).
    trails: list[TrailFacts] | Unanswered
    #: ``--trail`` when it named no trail that applies here.
    missing_trail: str | None = None
    #: Names of the trails that exist, for the message when ``--trail`` names none of them.
    other_trails: list[str] = field(default_factory=list)
