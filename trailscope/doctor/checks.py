"""The checks: what the CloudTrail setup guides and the CIS AWS Foundations Benchmark ask of a
trail and its bucket, each a verdict with the console step or AWS CLI command that fixes it.

Pure functions of :mod:`trailscope.doctor.facts`: no AWS calls here.
"""

from __future__ import annotations

import datetime
import shlex
from dataclasses import dataclass
from typing import Any

from trailscope.doctor.arns import parse_trail_arn
from trailscope.doctor.bucketpolicy import (
    Delivery,
    delivery_problems,
    denies_plain_http,
    scope_problems,
)
from trailscope.doctor.facts import (
    PUBLIC_ACCESS_FLAGS,
    AccountFacts,
    BucketFacts,
    TrailFacts,
    Unanswered,
)
from trailscope.doctor.model import Check, DoctorReport, Status
from trailscope.doctor.policyread import PolicyUnreadable, parse_policy

CIS = "CIS AWS Foundations Benchmark"
GUIDE = "CloudTrail user guide"
#: CIS asks that CloudWatch Logs have received the trail's events within the last day.
CLOUDWATCH_MAX_AGE = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Options:
    """What the user asked for beyond the baseline.

    :param require_kms: the trail must encrypt its logs with SSE-KMS (a KMS key of its own).
    :param require_cloudwatch: the trail must also send its events to CloudWatch Logs.
    :param now: the time CloudWatch delivery is measured against (tests pin it).
    """

    require_kms: bool = False
    require_cloudwatch: bool = False
    now: datetime.datetime | None = None


def q(value: object) -> str:
    """A value for a shell command line (names come from AWS; quote them anyway)."""
    return shlex.quote(str(value))


def report(facts: AccountFacts, options: Options | None = None) -> DoctorReport:
    """Every check for ``facts``: the account-wide ones, then each trail's."""
    options = options or Options()
    result = DoctorReport(facts.account, facts.region)
    if isinstance(facts.trails, Unanswered):
        result.checks.append(
            Check(
                "trail",
                "a trail exists",
                Status.UNCHECKED,
                facts.trails.describe(),
                "allow cloudtrail:DescribeTrails (e.g. the AWS managed policy "
                "AWSCloudTrail_ReadOnlyAccess) to the identity that runs the doctor",
            )
        )
        return result
    if facts.missing_trail is not None:
        names = ", ".join(facts.other_trails) or "none"
        result.checks.append(
            Check(
                "trail",
                "a trail exists",
                Status.FAIL,
                f"no trail named {facts.missing_trail} applies to {facts.region} "
                f"(trails there: {names})",
                "check --trail and --region (a single-region trail is listed only in its "
                "home region)",
            )
        )
        return result
    if not facts.trails:
        result.checks.append(
            Check(
                "trail",
                "a trail exists",
                Status.FAIL,
                f"no trail logs {facts.region}",
                _create_trail_fix(facts.account),
                reference=f"{CIS}: CloudTrail enabled in all regions",
            )
        )
        return result
    for trail in facts.trails:
        result.trails.append(trail.arn)
        result.checks.extend(trail_checks(trail, options))
    return result


def _create_trail_fix(account: str | None) -> str:
    acct = account or "ACCOUNT"
    return (
        "CloudTrail console > Trails > Create trail (it creates the bucket and its policy), or: "
        f"trailscope doctor bucket-policy --bucket BUCKET --account {acct} > policy.json; "
        "aws s3api create-bucket --bucket BUCKET; "
        "aws s3api put-bucket-policy --bucket BUCKET --policy file://policy.json; "
        "aws cloudtrail create-trail --name management-events --s3-bucket-name BUCKET "
        "--is-multi-region-trail --enable-log-file-validation; "
        "aws cloudtrail start-logging --name management-events"
    )


def trail_checks(facts: TrailFacts, options: Options) -> list[Check]:
    """The checks of one trail and its bucket."""
    t = _Trail(facts)
    checks = [
        t.multi_region(),
        t.logging(),
        t.delivery(),
        t.management_events(),
        t.log_file_validation(),
        t.kms(options.require_kms),
        t.cloudwatch(options.require_cloudwatch, options.now),
        t.insights(),
    ]
    if facts.org is not None:
        checks.append(t.organization())
    checks.extend(t.bucket_checks())
    return checks


class _Trail:
    """One trail's facts, with the names its fixes use."""

    def __init__(self, facts: TrailFacts) -> None:
        self.facts = facts
        self.t = facts.trail
        self.arn = facts.arn
        self.parts = parse_trail_arn(self.arn) or {}
        self.home = str(self.t.get("HomeRegion") or self.parts.get("region") or "")
        self.cli = f"--name {q(self.arn)}" + (f" --region {q(self.home)}" if self.home else "")
        self.console = f"CloudTrail console ({self.home or 'home region'}) > Trails > {facts.name}"

    def check(
        self, id_: str, title: str, status: Status, detail: str, fix: str = "", ref: str = ""
    ) -> Check:
        return Check(
            id_, title, status, detail, fix if status != Status.PASS else "", self.arn, ref
        )

    # -- the trail -----------------------------------------------------------------------

    def multi_region(self) -> Check:
        title = "logs every region"
        ref = f"{CIS}: CloudTrail enabled in all regions"
        if self.t.get("IsMultiRegionTrail"):
            kind = "an organization trail" if self.t.get("IsOrganizationTrail") else "a trail"
            return self.check(
                "multi-region", title, Status.PASS, f"{kind} for all regions", ref=ref
            )
        return self.check(
            "multi-region",
            title,
            Status.FAIL,
            f"a single-region trail: it logs only {self.home or 'its home region'}",
            f"aws cloudtrail update-trail {self.cli} --is-multi-region-trail "
            f"(console: {self.console} > Edit; trails made in the console are multi-region)",
            ref,
        )

    def logging(self) -> Check:
        title = "is logging"
        ref = f"{CIS}: CloudTrail enabled in all regions"
        status = self.facts.status
        if isinstance(status, Unanswered):
            return self._unanswered("logging", title, status, ref)
        if status.get("IsLogging"):
            return self.check("logging", title, Status.PASS, "logging is on", ref=ref)
        stopped = status.get("StopLoggingTime") or status.get("TimeLoggingStopped")
        since = f" (stopped {_utc(stopped)})" if stopped else ""
        return self.check(
            "logging",
            title,
            Status.FAIL,
            f"logging is off{since}: no events are recorded",
            f"aws cloudtrail start-logging {self.cli} (console: {self.console} > Start logging)",
            ref,
        )

    def delivery(self) -> Check:
        title = "delivers to its bucket"
        status = self.facts.status
        if isinstance(status, Unanswered):
            return self._unanswered("delivery", title, status, GUIDE)
        error = status.get("LatestDeliveryError")
        digest_error = status.get("LatestDigestDeliveryError")
        if not error and not digest_error:
            when = status.get("LatestDeliveryTime")
            detail = f"last delivery {_utc(when)}" if when else "no delivery error reported"
            return self.check("delivery", title, Status.PASS, str(detail), ref=GUIDE)
        failed = []
        if error:
            failed.append(f"the last delivery failed: {error}")
        if digest_error:
            failed.append(f"the last digest delivery failed: {digest_error}")
        both = f"{error or ''} {digest_error or ''}"
        bucket = self.t.get("S3BucketName", "BUCKET")
        fix = (
            "the bucket policy (or the KMS key policy) refuses CloudTrail: " + self._policy_fix()
            if "AccessDenied" in both or "KMS" in both
            else f"make sure the bucket {bucket} exists and CloudTrail may write to it: "
            + self._policy_fix()
        )
        return self.check("delivery", title, Status.FAIL, "; ".join(failed), fix, GUIDE)

    def management_events(self) -> Check:
        title = "logs management events, read and write"
        ref = f"{CIS}: CloudTrail enabled in all regions"
        selectors = self.facts.selectors
        if isinstance(selectors, Unanswered):
            return self._unanswered("management-events", title, selectors, ref)
        basic = selectors.get("EventSelectors") or []
        advanced = selectors.get("AdvancedEventSelectors") or []
        kinds, notes = _advanced_coverage(advanced) if advanced else _basic_coverage(basic)
        note = f" ({'; '.join(notes)})" if notes else ""
        if {"read", "write"} <= kinds:
            return self.check(
                "management-events", title, Status.PASS, f"read and write{note}", ref=ref
            )
        found = " and ".join(sorted(kinds)) + " only" if kinds else "no management events"
        if advanced:
            fix = (
                f"aws cloudtrail put-event-selectors --trail-name {q(self.arn)}"
                f"{' --region ' + q(self.home) if self.home else ''} --advanced-event-selectors "
                """'[{"Name":"Management events","FieldSelectors":"""
                """[{"Field":"eventCategory","Equals":["Management"]}]}]'"""
            )
        else:
            fix = (
                f"aws cloudtrail put-event-selectors --trail-name {q(self.arn)}"
                f"{' --region ' + q(self.home) if self.home else ''} --event-selectors "
                """'[{"ReadWriteType":"All","IncludeManagementEvents":true}]'"""
            )
        fix += (
            " (this replaces the trail's selectors: add its data event selectors to the list; "
            f"console: {self.console} > Management events > Edit > Read and Write)"
        )
        return self.check("management-events", title, Status.FAIL, f"{found}{note}", fix, ref)

    def log_file_validation(self) -> Check:
        title = "log file validation is on"
        ref = f"{CIS}: CloudTrail log file validation"
        if self.t.get("LogFileValidationEnabled"):
            return self.check(
                "log-file-validation", title, Status.PASS, "digest files are written", ref=ref
            )
        return self.check(
            "log-file-validation",
            title,
            Status.FAIL,
            "no digest files: changed or deleted log files cannot be detected "
            "(trailscope verify needs them)",
            f"aws cloudtrail update-trail {self.cli} --enable-log-file-validation "
            f"(console: {self.console} > Edit > Log file validation)",
            ref,
        )

    def kms(self, required: bool) -> Check:
        title = "logs are encrypted with SSE-KMS"
        ref = f"{CIS}: CloudTrail logs encrypted at rest using KMS keys"
        key = self.t.get("KmsKeyId")
        if key:
            return self.check("kms", title, Status.PASS, f"KMS key {key}", ref=ref)
        detail = "the trail names no KMS key" + _bucket_default(self.facts.bucket)
        if not required:
            return self.check("kms", title, Status.INFO, detail + "; --require-kms to require it")
        return self.check(
            "kms",
            title,
            Status.FAIL,
            detail,
            f"aws cloudtrail update-trail {self.cli} --kms-key-id alias/KEY (the key policy must "
            "let cloudtrail.amazonaws.com GenerateDataKey*, and readers kms:Decrypt; console: "
            f"{self.console} > Edit > Log file SSE-KMS encryption)",
            ref,
        )

    def cloudwatch(self, required: bool, now: datetime.datetime | None) -> Check:
        title = "events also go to CloudWatch Logs"
        ref = f"{CIS}: CloudTrail trails integrated with CloudWatch Logs"
        group = self.t.get("CloudWatchLogsLogGroupArn")
        fix = (
            f"aws cloudtrail update-trail {self.cli} --cloud-watch-logs-log-group-arn "
            "arn:aws:logs:REGION:ACCOUNT:log-group:GROUP:* --cloud-watch-logs-role-arn "
            "arn:aws:iam::ACCOUNT:role/ROLE (a role CloudTrail may assume, allowed "
            f"logs:CreateLogStream and logs:PutLogEvents; console: {self.console} > "
            "CloudWatch Logs > Edit)"
        )
        status = self.facts.status
        if not group:
            detail = "not sent to CloudWatch Logs"
            if not required:
                return self.check(
                    "cloudwatch-logs",
                    title,
                    Status.INFO,
                    detail + "; --require-cloudwatch to require it",
                )
            return self.check("cloudwatch-logs", title, Status.FAIL, detail, fix, ref)
        failing = Status.FAIL if required else Status.INFO
        if isinstance(status, Unanswered):
            if required:
                return self._unanswered("cloudwatch-logs", title, status, ref)
            return self.check("cloudwatch-logs", title, Status.INFO, f"log group {group}")
        error = status.get("LatestCloudWatchLogsDeliveryError")
        if error:
            return self.check(
                "cloudwatch-logs",
                title,
                failing,
                f"log group {group}: the last delivery failed: {error}",
                "check the role's trust policy and logs:PutLogEvents permission: " + fix,
                ref,
            )
        last = status.get("LatestCloudWatchLogsDeliveryTime")
        if not isinstance(last, datetime.datetime):
            return self.check(
                "cloudwatch-logs",
                title,
                failing,
                f"log group {group}: CloudTrail reports no delivery to it yet",
                "wait a few minutes after setting it up; if it stays so: " + fix,
                ref,
            )
        moment = now or datetime.datetime.now(datetime.UTC)
        if last.tzinfo is None:
            last = last.replace(tzinfo=datetime.UTC)
        if moment - last > CLOUDWATCH_MAX_AGE:
            return self.check(
                "cloudwatch-logs",
                title,
                failing,
                f"log group {group}: last delivery {_utc(last)}, over a day ago",
                fix,
                ref,
            )
        return self.check(
            "cloudwatch-logs",
            title,
            Status.PASS,
            f"log group {group}, last delivery {_utc(last)}",
            ref=ref,
        )

    def insights(self) -> Check:
        title = "CloudTrail Insights"
        insights = self.facts.insights
        if isinstance(insights, Unanswered):
            return self.check("insights", title, Status.INFO, insights.describe())
        kinds = [str(i.get("InsightType")) for i in insights or []]
        detail = ", ".join(kinds) if kinds else "off (optional: unusual API call rates)"
        return self.check("insights", title, Status.INFO, detail)

    def organization(self) -> Check:
        title = "the organization allows organization trails"
        org = self.facts.org
        assert org is not None
        if isinstance(org.organization, Unanswered):
            return self._unanswered("organization", title, org.organization, GUIDE)
        problems = []
        fixes = []
        if org.organization.get("FeatureSet") != "ALL":
            problems.append(f"feature set {org.organization.get('FeatureSet')}, not ALL")
            fixes.append("aws organizations enable-all-features")
        if isinstance(org.services, Unanswered):
            problems.append(org.services.describe())
        elif "cloudtrail.amazonaws.com" not in org.services:
            problems.append("CloudTrail has no trusted access to the organization")
            fixes.append(
                "aws organizations enable-aws-service-access --service-principal "
                "cloudtrail.amazonaws.com"
            )
        org_id = org.organization.get("Id")
        if not problems:
            return self.check(
                "organization",
                title,
                Status.PASS,
                f"{org_id}: all features, trusted access",
                ref=GUIDE,
            )
        status = (
            Status.UNCHECKED if all(p.startswith("cannot check") for p in problems) else Status.FAIL
        )
        return self.check(
            "organization",
            title,
            status,
            f"{org_id}: " + "; ".join(problems),
            "; ".join(fixes) or "run the doctor from the management account",
            GUIDE,
        )

    # -- the bucket ----------------------------------------------------------------------

    def bucket_checks(self) -> list[Check]:
        bucket = self.facts.bucket
        if bucket is None:
            return [
                self.check(
                    "bucket",
                    "has a bucket",
                    Status.FAIL,
                    "the trail names no S3 bucket",
                    f"aws cloudtrail update-trail {self.cli} --s3-bucket-name BUCKET",
                )
            ]
        missing = _missing_bucket(bucket)
        if missing:
            return [
                self.check(
                    "bucket",
                    "its bucket exists",
                    Status.FAIL,
                    f"the bucket {bucket.name} does not exist: nothing is delivered",
                    f"aws s3api create-bucket --bucket {q(bucket.name)}, then "
                    + self._policy_fix(),
                )
            ]
        return [
            self.public_access(bucket),
            *self.policy_checks(bucket),
            self.access_logging(bucket),
            self.versioning(bucket),
        ]

    def public_access(self, bucket: BucketFacts) -> Check:
        title = "bucket: public access blocked"
        ref = f"{CIS}: the CloudTrail bucket is not publicly accessible"
        config = bucket.public_access
        if isinstance(config, Unanswered):
            return self._unanswered("bucket-public-access", title, config, ref)
        account = bucket.account_public_access
        account_flags = account if isinstance(account, dict) else {}
        off = [
            flag
            for flag in PUBLIC_ACCESS_FLAGS
            if not (config or {}).get(flag) and not account_flags.get(flag)
        ]
        if not off:
            where = "all four settings on"
            if account_flags:
                where += " (with the account-wide settings)"
            return self.check("bucket-public-access", title, Status.PASS, where, ref=ref)
        detail = (
            "no Block Public Access settings on the bucket"
            if config is None
            else f"off: {', '.join(off)}"
        )
        if isinstance(account, Unanswered):
            detail += f" (account-wide settings: {account.describe()})"
        elif account_flags:
            detail = (
                "no Block Public Access settings on the bucket, and not all on its account"
                if config is None
                else f"off on the bucket and its account: {', '.join(off)}"
            )
        return self.check(
            "bucket-public-access",
            title,
            Status.FAIL,
            detail,
            f"aws s3api put-public-access-block --bucket {q(bucket.name)} "
            "--public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,"
            "BlockPublicPolicy=true,RestrictPublicBuckets=true (console: S3 > "
            f"{bucket.name} > Permissions > Block public access > Edit > Block all)",
            ref,
        )

    def policy_checks(self, bucket: BucketFacts) -> list[Check]:
        titles = {
            "bucket-policy-delivery": "bucket policy: CloudTrail may deliver",
            "bucket-policy-scope": "bucket policy: grants only CloudTrail/Config delivery",
            "bucket-tls-only": "bucket policy: denies requests without TLS",
        }
        policy = bucket.policy
        if isinstance(policy, Unanswered):
            return [self._unanswered(k, v, policy, GUIDE) for k, v in titles.items()]
        if policy is None:
            detail = "the bucket has no policy"
            return [
                self.check(k, v, Status.FAIL, detail, self._policy_fix(), GUIDE)
                for k, v in titles.items()
            ]
        try:
            statements = parse_policy(policy)
        except PolicyUnreadable as exc:
            return [
                self.check(k, v, Status.FAIL, str(exc), self._policy_fix(), GUIDE)
                for k, v in titles.items()
            ]
        delivery = self._delivery(bucket.name)
        partition = delivery.partition
        checks = []
        problems = delivery_problems(statements, delivery)
        checks.append(
            self._verdict(
                "bucket-policy-delivery",
                titles["bucket-policy-delivery"],
                problems,
                "GetBucketAcl and PutObject (bucket-owner-full-control) allowed for this trail",
                self._policy_fix(),
            )
        )
        problems = scope_problems(statements, bucket.name, partition)
        checks.append(
            self._verdict(
                "bucket-policy-scope",
                titles["bucket-policy-scope"],
                problems,
                "only CloudTrail/Config delivery, scoped to the source",
                "remove the other grants (or keep them knowingly), and scope the service "
                "statements: " + self._policy_fix(),
            )
        )
        if denies_plain_http(statements, bucket.name, partition):
            checks.append(
                self.check(
                    "bucket-tls-only",
                    titles["bucket-tls-only"],
                    Status.PASS,
                    "aws:SecureTransport false is denied",
                    ref="AWS S3 security best practices",
                )
            )
        else:
            checks.append(
                self.check(
                    "bucket-tls-only",
                    titles["bucket-tls-only"],
                    Status.FAIL,
                    "no Deny for aws:SecureTransport = false on the bucket and its objects",
                    "add the AllowSSLRequestsOnly statement that " + self._policy_fix() + " prints",
                    "AWS S3 security best practices",
                )
            )
        return checks

    def access_logging(self, bucket: BucketFacts) -> Check:
        title = "bucket: server access logging on"
        ref = f"{CIS}: S3 bucket access logging on the CloudTrail bucket"
        logging_ = bucket.logging
        if isinstance(logging_, Unanswered):
            return self._unanswered("bucket-access-logging", title, logging_, ref)
        if logging_:
            target = f"s3://{logging_.get('TargetBucket')}/{logging_.get('TargetPrefix', '')}"
            return self.check("bucket-access-logging", title, Status.PASS, f"to {target}", ref=ref)
        return self.check(
            "bucket-access-logging",
            title,
            Status.FAIL,
            "who read or deleted log files is not recorded",
            f"aws s3api put-bucket-logging --bucket {q(bucket.name)} --bucket-logging-status "
            + q(
                '{"LoggingEnabled":{"TargetBucket":"LOG-BUCKET","TargetPrefix":"'
                + bucket.name
                + '/"}}'
            )
            + " (LOG-BUCKET: another bucket that lets logging.s3.amazonaws.com write; console: "
            f"S3 > {bucket.name} > Properties > Server access logging > Edit)",
            ref,
        )

    def versioning(self, bucket: BucketFacts) -> Check:
        title = "bucket: versioning on"
        ref = "CloudTrail security best practices"
        answer = bucket.versioning
        if isinstance(answer, Unanswered):
            return self._unanswered("bucket-versioning", title, answer, ref)
        state = answer.get("Status") or "never enabled"
        if state == "Enabled":
            mfa = answer.get("MFADelete") == "Enabled"
            detail = "enabled" + (", MFA delete on" if mfa else "")
            return self.check("bucket-versioning", title, Status.PASS, detail, ref=ref)
        return self.check(
            "bucket-versioning",
            title,
            Status.FAIL,
            f"versioning {state}: an overwritten or deleted log file is gone",
            f"aws s3api put-bucket-versioning --bucket {q(bucket.name)} "
            "--versioning-configuration Status=Enabled (console: S3 > "
            f"{bucket.name} > Properties > Bucket Versioning > Edit)",
            ref,
        )

    # -- helpers -------------------------------------------------------------------------

    def _delivery(self, bucket: str) -> Delivery:
        org_id = None
        org = self.facts.org
        if org is not None and not isinstance(org.organization, Unanswered):
            org_id = org.organization.get("Id")
        return Delivery(
            bucket=bucket,
            prefix=str(self.t.get("S3KeyPrefix") or "").strip("/"),
            partition=self.parts.get("partition", "aws"),
            trail_arn=self.arn,
            account=self.parts.get("account", ""),
            region=self.home or "us-east-1",
            org_id=org_id,
        )

    def _policy_fix(self) -> str:
        bucket = str(self.t.get("S3BucketName") or "BUCKET")
        args = [f"--bucket {q(bucket)}", f"--account {q(self.parts.get('account', 'ACCOUNT'))}"]
        org = self.facts.org
        if org is not None:
            org_id = (
                org.organization.get("Id") if not isinstance(org.organization, Unanswered) else None
            )
            args.append(f"--org-id {q(org_id or 'o-ORGID')}")
        args.append(f"--trail {q(self.arn)}")
        prefix = str(self.t.get("S3KeyPrefix") or "").strip("/")
        if prefix:
            args.append(f"--prefix {q(prefix)}")
        return (
            f"trailscope doctor bucket-policy {' '.join(args)} > policy.json, merge in the "
            "statements you still need, then aws s3api put-bucket-policy --bucket "
            f"{q(bucket)} --policy file://policy.json"
        )

    def _verdict(self, id_: str, title: str, problems: list[str], ok: str, fix: str) -> Check:
        if problems:
            return self.check(id_, title, Status.FAIL, "; ".join(problems), fix, GUIDE)
        return self.check(id_, title, Status.PASS, ok, ref=GUIDE)

    def _unanswered(self, id_: str, title: str, answer: Unanswered, ref: str) -> Check:
        action = answer.api
        return self.check(
            id_,
            title,
            Status.UNCHECKED,
            answer.describe(),
            f"allow {action} to the identity that runs the doctor (or run it where it is allowed)",
            ref,
        )


def _utc(value: object) -> str:
    """A time from a response as ISO 8601 UTC (boto3 gives datetimes, moto sometimes text)."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return f"{value.astimezone(datetime.UTC):%Y-%m-%dT%H:%M:%SZ}"
    return str(value)


def _bucket_default(bucket: BucketFacts | None) -> str:
    """What the bucket's default encryption is, as a note (CloudTrail's own key is what counts)."""
    if bucket is None or isinstance(bucket.encryption, Unanswered) or not bucket.encryption:
        return ""
    rules = bucket.encryption.get("Rules") or []
    algorithms = [
        str(r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm")) for r in rules
    ]
    return f" (bucket default: {', '.join(algorithms)})" if algorithms else ""


def _missing_bucket(bucket: BucketFacts) -> bool:
    answers: list[Any] = [
        bucket.public_access,
        bucket.policy,
        bucket.encryption,
        bucket.versioning,
        bucket.logging,
    ]
    return any(isinstance(a, Unanswered) and a.code == "NoSuchBucket" for a in answers)


def _basic_coverage(selectors: list[dict[str, Any]]) -> tuple[set[str], list[str]]:
    """Which management events basic event selectors log (read, write), and any exclusions."""
    kinds: set[str] = set()
    notes: list[str] = []
    for selector in selectors:
        if not selector.get("IncludeManagementEvents", True):
            continue
        kind = selector.get("ReadWriteType", "All")
        kinds |= {"read", "write"} if kind == "All" else {"read" if kind == "ReadOnly" else "write"}
        excluded = selector.get("ExcludeManagementEventSources") or []
        if excluded:
            notes.append(f"excluding {', '.join(excluded)}")
    return kinds, notes


def _advanced_coverage(selectors: list[dict[str, Any]]) -> tuple[set[str], list[str]]:
    """Which management events advanced event selectors log, and what they leave out."""
    kinds: set[str] = set()
    notes: list[str] = []
    for selector in selectors:
        fields = {f.get("Field"): f for f in selector.get("FieldSelectors", [])}
        category = fields.get("eventCategory", {})
        if "Management" not in (category.get("Equals") or []):
            continue
        read_only = fields.get("readOnly")
        if read_only is None:
            kinds |= {"read", "write"}
        else:
            values = [str(v).lower() for v in read_only.get("Equals") or []]
            kinds |= {"read"} if "true" in values else set()
            kinds |= {"write"} if "false" in values else set()
        for name, field in fields.items():
            if name not in ("eventCategory", "readOnly"):
                rule = ", ".join(f"{op} {field[op]}" for op in field if op != "Field" and field[op])
                notes.append(f"only where {name} {rule}")
    return kinds, notes
