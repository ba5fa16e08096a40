"""Synthetic CloudTrail trails: realistic, deterministic and fast.

Why this exists: the demo, the round-trip tests and the benchmarks all need CloudTrail data that
looks like the real thing *on disk* (the S3 key layout, delivery-date folders, digest chains,
Insights files, re-delivered events, objects that are not logs at all), but real trails cannot be
shipped. ``synth_trail`` writes such a trail from a seed and reports exactly what it wrote, so a
correct ingest can be checked against the report instead of against hard-coded numbers.

How it stays fast (benchmarks write millions of events): each event kind keeps a small pool of
"variants" per account and region, built once and serialised once by orjson into a byte template
with holes for the per-event values (identity of the hour, eventTime, eventID, requestID). An
event is then one bytes-formatting operation; nested structures are never copied. Files are
joined from those bytes and compressed by zlib-ng.

How it stays deterministic: all randomness comes from ``random.Random`` instances seeded from
``seed`` and a purpose label, identifiers that must be stable (session keys, principal IDs) are
derived by hashing, files are produced in a fixed order, and gzip headers carry no timestamp.
Digest signatures use PKCS#1 v1.5, which is deterministic too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
import re
import shutil
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from zlib_ng import gzip_ng

from trailscope.errors import TrailscopeError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

__all__ = [
    "DEFAULT_END",
    "PUBLIC_KEY_FILE",
    "SAMPLE_BUCKET",
    "SIGNATURES_FILE",
    "PlantedIncident",
    "SynthReport",
    "synth_trail",
]

#: Bucket name written into every s3Bucket / digestS3Bucket field.
SAMPLE_BUCKET = "trailscope-sample-trail"
#: Last day of a synthetic trail unless ``end`` is given (fixed so output never depends on today).
DEFAULT_END = dt.date(2024, 7, 17)
#: Where digest signatures go: S3 keeps them in object metadata, which a local copy loses.
SIGNATURES_FILE = "_synth/digest-signatures.json"
#: The PEM public key matching the signatures (SubjectPublicKeyInfo).
PUBLIC_KEY_FILE = "_synth/public-key.pem"


@dataclass
class PlantedIncident:
    """A suspicious story planted on purpose, so detections can be tested against known IDs."""

    name: str
    description: str
    event_ids: list[str]


@dataclass
class SynthReport:
    """What ``synth_trail`` wrote; the reference a correct ingest is checked against."""

    root: Path
    events: int
    log_events: int
    insight_events: int
    redelivered_events: int
    log_files: int
    insight_files: int
    digest_files: int
    other_files: int
    accounts: list[str]
    regions: list[str]
    days: list[dt.date]
    org_id: str | None
    incidents: list[PlantedIncident]
    files: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Small helpers: time formatting and identifiers
# --------------------------------------------------------------------------------------------

_EPOCH = dt.date(1970, 1, 1)
_DAY = 86_400
_WINDOW = 300  # CloudTrail delivers about every five minutes per account and region.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_B32 = string.ascii_uppercase + "234567"  # alphabet of AWS unique IDs (AKIA..., AROA...)
_ALNUM = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"
_TRANSLATE: dict[str, bytes] = {}  # byte -> alphabet character tables for _World.hstr
# Building the 86,400 clock strings once beats strftime by an order of magnitude per event.
_HMS = [f"{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60)]
_HMS_JSON = [f'{hms}"'.encode() for hms in _HMS]  # with the closing quote of the JSON string


def _day_of(t: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=t // _DAY)


def _epoch(day: dt.date) -> int:
    return (day - _EPOCH).days * _DAY


def _iso(t: int) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``, the format of eventTime and of digest times."""
    return f"{_day_of(t).isoformat()}T{_HMS[t % _DAY]}"


def _stamp_min(t: int) -> str:
    """``YYYYMMDDTHHMMZ`` as in log file names."""
    d = _day_of(t)
    s = t % _DAY
    return f"{d:%Y%m%d}T{s // 3600:02d}{s % 3600 // 60:02d}Z"


def _stamp_sec(t: int) -> str:
    """``YYYYMMDDTHHMMSSZ`` as in digest file names."""
    d = _day_of(t)
    s = t % _DAY
    return f"{d:%Y%m%d}T{s // 3600:02d}{s % 3600 // 60:02d}{s % 60:02d}Z"


_LONG_DAYS: dict[int, str] = {}


def _long_time(t: int) -> str:
    """IAM/STS style response dates, e.g. ``Jul 16, 2024, 11:00:00 AM`` (hot: STS calls)."""
    day, s = divmod(t, _DAY)
    prefix = _LONG_DAYS.get(day)
    if prefix is None:
        d = _EPOCH + dt.timedelta(days=day)
        prefix = _LONG_DAYS[day] = f"{_MONTHS[d.month - 1]} {d.day}, {d.year}, "
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{prefix}{h % 12 or 12}:{m:02d}:{sec:02d} {'AM' if h < 12 else 'PM'}"


def _uuid(x: int) -> str:
    """Format 128 random bits as a version-4 UUID string (CloudTrail eventIDs look like this)."""
    h = f"{x:032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[x & 3]}{h[17:20]}-{h[20:32]}"


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in _HEX}


def _uuids_json(rng: random.Random, n: int) -> list[bytes]:
    """``n`` version-4 UUIDs as JSON strings, from one draw of random bytes (cheaper per ID)."""
    hx = rng.randbytes(16 * n).hex()
    v = _VARIANT
    return [
        f'"{hx[i : i + 8]}-{hx[i + 8 : i + 12]}-4{hx[i + 13 : i + 16]}-{v[hx[i + 16]]}'
        f'{hx[i + 17 : i + 20]}-{hx[i + 20 : i + 32]}"'.encode()
        for i in range(0, 32 * n, 32)
    ]


def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choices(alphabet, k=n))


def _action(source: str, name: str) -> str:
    """IAM action for an event, as quoted in AccessDenied messages (``s3:GetObject``)."""
    prefix = _IAM_PREFIX.get(source, source.split(".")[0])
    return f"{prefix}:{_API_VERSION_SUFFIX.sub('', name)}"


_API_VERSION_SUFFIX = re.compile(r"\d{8}(v\d+)?$")  # UpdateFunctionCode20150331v2
_IAM_PREFIX = {"monitoring.amazonaws.com": "cloudwatch", "sso.amazonaws.com": "sso"}

# Event keys in the order CloudTrail writes them; every event is assembled in this order.
_ORDER = (
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "requestID",
    "eventID",
    "readOnly",
    "resources",
    "eventType",
    "apiVersion",
    "managementEvent",
    "recipientAccountId",
    "serviceEventDetails",
    "sharedEventID",
    "vpcEndpointId",
    "vpcEndpointAccountId",
    "eventCategory",
    "tlsDetails",
    "sessionCredentialFromConsole",
)

# Placeholders: a variant is serialised once with these sentinels, which then become
# ``%(u)b``-style holes filled per event by bytes formatting (far cheaper than a dict copy
# plus a full serialisation per event).
_SENTINEL = "@@x@@"
_HOLE_KEYS = (b"u", b"t", b"e", b"r", b"s", b"x")


def _template(ev: dict[str, Any], rid: int, shared: bool, slot: _Slot | None) -> tuple[bytes, bool]:
    """Serialise a variant with holes for the per-event values; returns (template, has_slot)."""
    ev = dict(ev)
    ev["userIdentity"] = "@@u@@"
    ev["eventTime"] = "@@t@@"
    ev["eventID"] = "@@e@@"
    if rid in (1, 2):
        ev["requestID"] = "@@r@@"
    if shared:
        ev["sharedEventID"] = "@@s@@"
    has_slot = slot is not None and slot.hole(ev)
    raw = orjson.dumps(ev).replace(b"%", b"%%")
    for key in _HOLE_KEYS:
        raw = raw.replace(b'"@@' + key + b'@@"', b"%(" + key + b")b")
    return raw, has_slot


# eventVersion differs per service in real trails; spreading 1.08-1.11 exercises parsers.
_VERSIONS = {
    "s3.amazonaws.com": "1.10",
    "ec2.amazonaws.com": "1.10",
    "sso.amazonaws.com": "1.10",
    "sts.amazonaws.com": "1.09",
    "iam.amazonaws.com": "1.09",
    "signin.amazonaws.com": "1.09",
    "secretsmanager.amazonaws.com": "1.09",
    "cloudtrail.amazonaws.com": "1.11",
    "lambda.amazonaws.com": "1.11",
}

_GLOBAL_HOSTS = {
    "iam.amazonaws.com": "iam.amazonaws.com",
    "signin.amazonaws.com": "signin.aws.amazon.com",
    "organizations.amazonaws.com": "organizations.us-east-1.amazonaws.com",
}
_ENDPOINT_PREFIX = {
    "monitoring.amazonaws.com": "monitoring",
    "ecr.amazonaws.com": "api.ecr",
    "sso.amazonaws.com": "portal.sso",
}
_VPCE_SERVICES = frozenset(
    {
        "s3.amazonaws.com",
        "kms.amazonaws.com",
        "secretsmanager.amazonaws.com",
        "ssm.amazonaws.com",
        "sts.amazonaws.com",
        "dynamodb.amazonaws.com",
        "logs.amazonaws.com",
    }
)
_ERROR_CAP = 4  # failing variants kept per kind, account and region
_TLS13 = ("TLSv1.3", "TLS_AES_128_GCM_SHA256")
_TLS12 = ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")

# --------------------------------------------------------------------------------------------
# Population: names, user agents, addresses
# --------------------------------------------------------------------------------------------

_HUMANS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")
_ENV_NAMES = ("management", "prod", "staging", "dev", "security", "data", "sandbox", "shared")
_EMAIL = "example.com"
_ORG = "example-org"

_UA_BROWSERS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
)
_UA_CLI = (
    "aws-cli/2.17.12 md/awscrt#0.20.11 ua/2.0 os/macos#23.5.0 md/arch#arm64 lang/python#3.11.9 "
    "md/pyimpl#CPython cfg/retry-mode#standard md/installer#source md/prompt#off",
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-azure exe/x86_64.ubuntu.22 prompt/off",
    "aws-cli/1.33.20 md/Botocore#1.34.138 ua/2.0 os/linux#6.8.0-36-generic md/arch#x86_64 "
    "lang/python#3.12.3 md/pyimpl#CPython cfg/retry-mode#legacy botocore/1.34.138",
)
_UA_SDK = (
    "Boto3/1.34.140 md/Botocore#1.34.140 ua/2.0 os/linux#5.10.219 md/arch#x86_64 "
    "lang/python#3.12.4 exec-env/AWS_Lambda_python3.12",
    "aws-sdk-java/2.26.12 Linux/5.10.219 OpenJDK_64-Bit_Server_VM/21.0.3+9-LTS Java/21.0.3 "
    "exec-env/AWS_ECS_FARGATE",
    "aws-sdk-go-v2/1.30.1 os/linux lang/go#1.22.4 md/GOOS#linux md/GOARCH#amd64",
    "aws-sdk-js/3.614.0 ua/2.1 os/linux#5.10.219 lang/js md/nodejs#20.15.1",
)
_UA_TERRAFORM = (
    "APN/1.0 HashiCorp/1.0 Terraform/1.8.5 (+https://www.terraform.io) "
    "terraform-provider-aws/5.57.0 (+https://registry.terraform.io/providers/hashicorp/aws) "
    "aws-sdk-go-v2/1.30.1 os/linux lang/go#1.22.4 md/GOOS#linux md/GOARCH#amd64",
)
_UA_CONSOLE = ("AWS Internal", *_UA_BROWSERS[:2])

_APP_ROLES = (
    # (role name, session style, user agents index, in VPC)
    ("orders-api-task-role", "ecs", 1, True),
    ("ingest-events-lambda-role", "lambda:ingest-events", 0, True),
    ("thumbnailer-lambda-role", "lambda:thumbnailer", 0, False),
    ("web-ec2-instance-role", "ec2", 1, True),
    ("batch-etl-role", "etl", 0, True),
    ("eks-node-role", "ec2", 2, True),
)
_SSO_SETS = ("AdministratorAccess", "ReadOnlyAccess", "PowerUserAccess")
_SWITCH_ROLES = ("Admin", "ReadOnly", "OrganizationAccountAccessRole")
_AWS_SERVICES = (
    "lambda.amazonaws.com",
    "ec2.amazonaws.com",
    "ecs-tasks.amazonaws.com",
    "events.amazonaws.com",
)
_INVOKERS = ("apigateway.amazonaws.com", "events.amazonaws.com", "s3.amazonaws.com")


# --------------------------------------------------------------------------------------------
# The world: accounts, principals and resources
# --------------------------------------------------------------------------------------------


class _Principal:
    """Someone or something making calls, with where from and with what.

    Session-based identities (assumed roles, console users) get a new access key and
    creationDate every hour, built once per hour and then shared by all of that hour's events.
    """

    __slots__ = (
        "_bytes",
        "_cache",
        "_make",
        "arn",
        "console",
        "ips",
        "kind",
        "static",
        "static_json",
        "tls12",
        "uas",
        "vpc",
    )

    def __init__(
        self,
        kind: str,
        arn: str | None,
        *,
        ips: Sequence[str] | None,
        uas: Sequence[str],
        static: dict[str, Any] | None = None,
        make: Callable[[int], dict[str, Any]] | None = None,
        console: bool = False,
        vpc: bool = False,
        tls12: bool = False,
    ) -> None:
        self.kind = kind
        self.arn = arn
        self.ips = tuple(ips) if ips else None  # None: the account/region NAT addresses
        self.uas = tuple(uas)
        self.static = static
        self.static_json = orjson.dumps(static) if static is not None else None
        self._make = make
        self._cache: dict[int, dict[str, Any]] = {}
        self._bytes: dict[int, bytes] = {}
        self.console = console
        self.vpc = vpc
        self.tls12 = tls12

    def identity(self, hour: int) -> dict[str, Any]:
        if self.static is not None:
            return self.static
        ident = self._cache.get(hour)
        if ident is None:
            assert self._make is not None
            ident = self._cache[hour] = self._make(hour)
        return ident

    def identity_json(self, hour: int) -> bytes:
        """The serialised identity for an hour, spliced into pre-serialised event templates."""
        if self.static_json is not None:
            return self.static_json
        raw = self._bytes.get(hour)
        if raw is None:
            raw = self._bytes[hour] = orjson.dumps(self.identity(hour))
        return raw

    @property
    def service(self) -> bool:
        """AWS services call from their own host name, without TLS details."""
        return self.kind in ("AWSService", "ServiceEvent")


@dataclass
class _Env:
    """Resources of one account in one region."""

    buckets: list[str]
    kms_keys: list[str]
    functions: list[str]
    instances: list[str]
    sgs: list[tuple[str, str]]
    vpc: str
    subnets: list[str]
    enis: list[str]
    secrets: list[str]
    params: list[str]
    tables: list[str]
    asgs: list[str]
    dbs: list[str]
    stacks: list[str]
    target_groups: list[str]
    nat_ips: list[str]
    private_prefix: str
    vpce: dict[str, str]
    amis: list[str]


@dataclass
class _Account:
    idx: int
    id: str
    env_name: str
    weight: float
    roles: dict[str, str]  # role name -> role ARN
    pools: dict[str, list[_Principal]] = field(default_factory=dict)
    users: dict[str, _Principal] = field(default_factory=dict)  # programmatic IAM users
    identity_store: str = ""


class _World:
    """Everything that exists before the first event: accounts, principals, resources."""

    def __init__(
        self,
        seed: int,
        n_accounts: int,
        regions: Sequence[str],
        org_id: str | None,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(f"trailscope-synth:{seed}:world")
        self.regions = list(regions)
        self.global_region = "us-east-1" if "us-east-1" in self.regions else self.regions[0]
        self.global_idx = self.regions.index(self.global_region)
        self.org_id = org_id
        self.trail_name = "org-trail" if org_id else "management-events"
        ids: list[str] = []
        while len(ids) < n_accounts:
            candidate = str(self.rng.randrange(10**11, 10**12))
            if candidate not in ids:
                ids.append(candidate)
        self.accounts = [self._account(i, acct) for i, acct in enumerate(ids)]
        self.trail_arn = f"arn:aws:cloudtrail:{self.global_region}:{ids[0]}:trail/{self.trail_name}"
        self.envs = {
            (a.idx, r): self._env(a, region)
            for a in self.accounts
            for r, region in enumerate(self.regions)
        }
        # Shared home-office and laptop addresses (documentation ranges: no real hosts).
        self.human_ips = {
            h: [f"198.51.100.{10 + 11 * i + j}" for j in range(2)] for i, h in enumerate(_HUMANS)
        }
        self.human_ips["erin"].append("2001:db8:4f2a:100::7")
        self.human_ips["grace"] = ["2001:db8:85a3:12::1a2f"]
        self.ci_ips = [f"192.0.2.{200 + i}" for i in range(8)]
        for acc in self.accounts:
            self._principals(acc)
        prod = self.accounts[min(1, n_accounts - 1)]
        self.hammer_account = prod.idx
        self.hammer_region = 0
        self.hammer = self._hammer(prod)

    # -- identifiers -------------------------------------------------------------------------

    def hstr(self, alphabet: str, n: int, *parts: object) -> str:
        """A stable pseudo-random string derived from ``parts`` (independent of call order)."""
        table = _TRANSLATE.get(alphabet)
        if table is None:
            table = _TRANSLATE[alphabet] = bytes(
                ord(alphabet[b % len(alphabet)]) for b in range(256)
            )
        out = ""
        counter = 0
        while len(out) < n:
            key = "\x1f".join(map(str, (self.seed, counter, *parts))).encode()
            out += hashlib.blake2b(key, digest_size=64).digest().translate(table).decode()
            counter += 1
        return out[:n]

    def uid(self, prefix: str, *parts: object) -> str:
        return prefix + self.hstr(_B32, 17, prefix, *parts)

    # -- accounts and resources --------------------------------------------------------------

    def _account(self, idx: int, acct: str) -> _Account:
        env = _ENV_NAMES[idx] if idx < len(_ENV_NAMES) else f"workload{idx}"
        weight = {"management": 0.45, "prod": 1.7, "staging": 0.8, "dev": 0.9}.get(env, 0.6)
        roles: dict[str, str] = {}
        for name, *_ in _APP_ROLES:
            roles[name] = f"arn:aws:iam::{acct}:role/{name}"
        for name in _SWITCH_ROLES:
            roles[name] = f"arn:aws:iam::{acct}:role/{name}"
        for ps in _SSO_SETS:
            name = f"AWSReservedSSO_{ps}_{self.hstr(_HEX, 16, acct, ps)}"
            roles[name] = f"arn:aws:iam::{acct}:role/aws-reserved/sso.amazonaws.com/{name}"
        roles["github-actions-deploy"] = f"arn:aws:iam::{acct}:role/github-actions-deploy"
        roles["AWSServiceRoleForConfig"] = (
            f"arn:aws:iam::{acct}:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig"
        )
        roles["legacy-reporting-role"] = f"arn:aws:iam::{acct}:role/legacy-reporting-role"
        roles["saml-engineers"] = f"arn:aws:iam::{acct}:role/saml-engineers"
        return _Account(
            idx=idx,
            id=acct,
            env_name=env,
            weight=weight,
            roles=roles,
            identity_store=f"d-{self.hstr('0123456789', 10, acct, 'idstore')}",
        )

    def _env(self, acc: _Account, region: str) -> _Env:
        rng = self.rng
        a, e = acc.id, acc.env_name
        purposes = ["app-uploads", "data-lake", "static-assets", "backups", "athena-results"]
        if region == self.global_region:
            purposes.append("terraform-state")
        parts = region.split("-")
        short = parts[0] + "".join(x[0] for x in parts[1:-1]) + parts[-1]  # eu-west-1 -> euw1
        return _Env(
            buckets=[f"{e}-{p}-{a[-4:]}-{short}" for p in purposes],
            kms_keys=[
                f"arn:aws:kms:{region}:{a}:key/{_uuid(rng.getrandbits(128))}" for _ in range(3)
            ],
            functions=[
                f"arn:aws:lambda:{region}:{a}:function:{n}"
                for n in (
                    "orders-api",
                    "thumbnailer",
                    "ingest-events",
                    "nightly-report",
                    "notifier",
                )
            ],
            instances=[f"i-0{_rand(rng, _HEX, 16)}" for _ in range(14)],
            sgs=[
                (f"sg-0{_rand(rng, _HEX, 16)}", n)
                for n in ("web-alb", "web-app", "bastion", "orders-db", "eks-nodes", "default")
            ],
            vpc=f"vpc-0{_rand(rng, _HEX, 16)}",
            subnets=[f"subnet-0{_rand(rng, _HEX, 16)}" for _ in range(4)],
            enis=[f"eni-0{_rand(rng, _HEX, 16)}" for _ in range(8)],
            secrets=[
                f"arn:aws:secretsmanager:{region}:{a}:secret:{e}/{n}-{_rand(rng, _ALNUM, 6)}"
                for n in ("orders/db", "payments/api-key", "reporting/warehouse")
            ],
            params=[
                f"/{e}/{n}" for n in ("orders/db_host", "orders/feature_flags", "shared/vpc_id")
            ],
            tables=["orders", "sessions", "inventory"],
            asgs=["web-asg", "workers-asg"],
            dbs=["orders-db", "analytics-db"],
            stacks=["network", "orders-api", "monitoring"],
            target_groups=[
                f"arn:aws:elasticloadbalancing:{region}:{a}:targetgroup/{n}/{_rand(rng, _HEX, 16)}"
                for n in ("web-tg", "api-tg")
            ],
            nat_ips=[f"192.0.2.{rng.randrange(1, 190)}" for _ in range(2)],
            private_prefix=f"10.{acc.idx * 16 + self.regions.index(region)}.",
            vpce={s: f"vpce-0{_rand(rng, _HEX, 16)}" for s in sorted(_VPCE_SERVICES)},
            amis=[f"ami-0{_rand(rng, _HEX, 16)}" for _ in range(3)],
        )

    # -- principals --------------------------------------------------------------------------

    def role_session(
        self,
        acc: _Account,
        role: str,
        session: str,
        *,
        uas: Sequence[str],
        ips: Sequence[str] | None = None,
        mfa: bool = False,
        console: bool = False,
        web_provider: str | None = None,
        ec2: bool = False,
        vpc: bool = False,
        tls12: bool = False,
        created: int | None = None,
    ) -> _Principal:
        """An assumed-role session; one per hour unless ``created`` pins a single session
        (as when a person switches role in the console)."""
        acct = acc.id
        role_arn = acc.roles.get(role) or f"arn:aws:iam::{acct}:role/{role}"
        role_id = self.uid("AROA", acct, role)
        arn = f"arn:aws:sts::{acct}:assumed-role/{role}/{session}"
        issuer = {
            "type": "Role",
            "principalId": role_id,
            "arn": role_arn,
            "accountId": acct,
            "userName": role,
        }
        web = {"federatedProvider": web_provider, "attributes": {}} if web_provider else {}
        mfa_s = "true" if mfa else "false"

        def build(start: int) -> dict[str, Any]:
            ctx: dict[str, Any] = {
                "sessionIssuer": issuer,
                "webIdFederationData": web,
                "attributes": {"creationDate": _iso(start), "mfaAuthenticated": mfa_s},
            }
            if ec2:
                ctx["ec2RoleDelivery"] = "2.0"
            return {
                "type": "AssumedRole",
                "principalId": f"{role_id}:{session}",
                "arn": arn,
                "accountId": acct,
                "accessKeyId": "ASIA" + self.hstr(_B32, 16, arn, start),
                "sessionContext": ctx,
            }

        return _Principal(
            "AssumedRole",
            arn,
            ips=ips,
            uas=uas,
            static=build(created) if created is not None else None,
            make=lambda hour: build(self.session_start(arn, hour)),
            console=console,
            vpc=vpc,
            tls12=tls12,
        )

    def session_start(self, arn: str, hour: int) -> int:
        """When the session used during ``hour`` began: shortly before the hour."""
        return hour * 3600 - int(self.hstr("0123456789", 4, arn, hour)) % 2700

    def iam_user(
        self,
        acc: _Account,
        name: str,
        *,
        uas: Sequence[str],
        ips: Sequence[str] | None,
        console: bool = False,
        mfa: bool = True,
        created: int | None = None,
    ) -> _Principal:
        """An IAM user: a long-term access key, or console sessions (hourly, or the single one
        that started at ``created``)."""
        acct = acc.id
        arn = f"arn:aws:iam::{acct}:user/{name}"
        pid = self.uid("AIDA", acct, name)
        if not console:
            static = {
                "type": "IAMUser",
                "principalId": pid,
                "arn": arn,
                "accountId": acct,
                "accessKeyId": "AKIA" + self.hstr(_B32, 16, arn, "key"),
                "userName": name,
            }
            return _Principal("IAMUser", arn, ips=ips, uas=uas, static=static)
        mfa_s = "true" if mfa else "false"

        def build(start: int) -> dict[str, Any]:
            return {
                "type": "IAMUser",
                "principalId": pid,
                "arn": arn,
                "accountId": acct,
                "accessKeyId": "ASIA" + self.hstr(_B32, 16, arn, start),
                "userName": name,
                "sessionContext": {
                    "sessionIssuer": {},
                    "webIdFederationData": {},
                    "attributes": {"creationDate": _iso(start), "mfaAuthenticated": mfa_s},
                },
            }

        return _Principal(
            "IAMUser",
            arn,
            ips=ips,
            uas=uas,
            static=build(created) if created is not None else None,
            make=lambda hour: build(self.session_start(arn, hour)),
            console=True,
        )

    def root(self, acc: _Account, ips: Sequence[str], uas: Sequence[str]) -> _Principal:
        acct = acc.id
        arn = f"arn:aws:iam::{acct}:root"

        def make(hour: int) -> dict[str, Any]:
            created = self.session_start(arn, hour)
            return {
                "type": "Root",
                "principalId": acct,
                "arn": arn,
                "accountId": acct,
                "accessKeyId": "ASIA" + self.hstr(_B32, 16, arn, hour),
                "sessionContext": {
                    "sessionIssuer": {},
                    "webIdFederationData": {},
                    "attributes": {"creationDate": _iso(created), "mfaAuthenticated": "false"},
                },
            }

        return _Principal("Root", arn, ips=ips, uas=uas, make=make, console=True)

    def _service(self, host: str) -> _Principal:
        return _Principal(
            "AWSService",
            None,
            ips=[host],
            uas=[host],
            static={"type": "AWSService", "invokedBy": host},
        )

    def _principals(self, acc: _Account) -> None:
        """Who acts in an account; kinds draw principals from these named pools."""
        acct = acc.id
        pools = acc.pools
        mgmt = acc.idx == 0
        app = []
        for name, style, ua_idx, vpc in _APP_ROLES:
            uas = [_UA_SDK[ua_idx]]
            if style == "ec2":
                sessions = [f"i-0{self.hstr(_HEX, 16, acct, name, k)}" for k in range(3)]
            elif style.startswith("lambda:"):
                sessions = [style.split(":", 1)[1]]
            elif style == "ecs":
                sessions = [self.hstr(_HEX, 32, acct, name, k) for k in range(2)]
            else:
                sessions = ["botocore-session-" + self.hstr("0123456789", 10, acct, name)]
            for s in sessions:
                app.append(
                    self.role_session(
                        acc, name, s, uas=uas, ec2=style == "ec2", vpc=vpc, tls12=ua_idx == 1
                    )
                )
        pools["app"] = app
        pools["svc"] = [self._service(h) for h in _AWS_SERVICES]
        pools["invoker"] = [self._service(h) for h in _INVOKERS]
        humans = []
        for i, h in enumerate(_HUMANS[:6]):
            role = next(k for k in acc.roles if k.startswith(f"AWSReservedSSO_{_SSO_SETS[i % 3]}_"))
            humans.append(
                self.role_session(
                    acc,
                    role,
                    f"{h}@{_EMAIL}",
                    uas=_UA_CONSOLE,
                    ips=self.human_ips[h],
                    console=True,
                )
            )
        pools["human"] = humans
        cli = [
            self.role_session(
                acc,
                next(k for k in acc.roles if k.startswith("AWSReservedSSO_PowerUserAccess_")),
                f"{h}@{_EMAIL}",
                uas=_UA_CLI,
                ips=self.human_ips[h],
            )
            for h in _HUMANS[:4]
        ]
        ci = [
            self.iam_user(acc, "ci-deployer", uas=_UA_TERRAFORM, ips=self.ci_ips[:4]),
            self.role_session(
                acc,
                "github-actions-deploy",
                "GitHubActions",
                uas=(_UA_SDK[3], _UA_TERRAFORM[0]),
                ips=self.ci_ips[4:],
                web_provider=f"arn:aws:iam::{acct}:oidc-provider/token.actions.githubusercontent.com",
            ),
        ]
        pools["ci"] = ci
        acc.users["ci-deployer"] = ci[0]
        acc.users["backup-bot"] = self.iam_user(acc, "backup-bot", uas=[_UA_SDK[2]], ips=None)
        pools["bot"] = [acc.users["backup-bot"]]
        if mgmt:
            for h in _HUMANS[:3]:
                acc.users[h] = self.iam_user(acc, h, uas=_UA_CLI, ips=self.human_ips[h])
            cli.extend(acc.users[h] for h in _HUMANS[:3])
            acc.users["legacy-broker"] = self.iam_user(
                acc, "legacy-broker", uas=[_UA_SDK[1]], ips=self.ci_ips[:2]
            )
            pools["broker"] = [acc.users["legacy-broker"]]
            pools["idc"] = [self._idc_user(acc, h) for h in _HUMANS[:5]]
            pools["saml"] = [self._saml_user(h) for h in _HUMANS[3:7]]
        pools["cli"] = cli
        pools["config"] = [
            self.role_session(
                acc,
                "AWSServiceRoleForConfig",
                "AWSConfig-Describe",
                uas=["config.amazonaws.com"],
                ips=["config.amazonaws.com"],
            )
        ]
        pools["web"] = [self._web_user(acc, repo) for repo in ("infra", "orders-api")]
        pools["fed"] = [self._federated(acc, n) for n in ("partner-ops", "report-viewer")]
        pools["kms_svc"] = [
            _Principal(
                "ServiceEvent",
                None,
                ips=["kms.amazonaws.com"],
                uas=["kms.amazonaws.com"],
                static={"accountId": acct, "invokedBy": "kms.amazonaws.com"},
            )
        ]

    def cross_account(self) -> None:
        """AWSAccount principals need every account to exist first."""
        for acc in self.accounts:
            others = [o for o in self.accounts if o.idx != acc.idx]
            acc.pools["cross"] = [
                _Principal(
                    "AWSAccount",
                    None,
                    ips=["192.0.2.77"],
                    uas=[_UA_SDK[1]],
                    static={
                        "type": "AWSAccount",
                        "principalId": f"{self.uid('AROA', o.id, 'batch-etl-role')}:etl",
                        "accountId": o.id,
                    },
                )
                for o in others
            ]

    def _idc_user(self, acc: _Account, name: str) -> _Principal:
        store = f"arn:aws:identitystore::{acc.id}:identitystore/{acc.identity_store}"
        # Identity Store user IDs: ten digits, a dash, then the tail of a UUID.
        tail = _uuid(int(self.hstr(_HEX, 32, name), 16))[11:]
        uid = f"{self.hstr('0123456789', 10, name, 'idc')}-{tail}"

        def make(hour: int) -> dict[str, Any]:
            return {
                "type": "IdentityCenterUser",
                "accountId": acc.id,
                "onBehalfOf": {"userId": uid, "identityStoreArn": store},
                "credentialId": self.hstr(_ALNUM + "-_", 64, name, hour, "cred"),
            }

        return _Principal(
            "IdentityCenterUser", None, ips=self.human_ips[name], uas=_UA_BROWSERS, make=make
        )

    def _saml_user(self, name: str) -> _Principal:
        issuer = "Zx8e" + self.hstr(_ALNUM, 24, "saml-issuer") + "="
        user = f"{name}@{_EMAIL}"
        return _Principal(
            "SAMLUser",
            None,
            ips=self.human_ips[name],
            uas=_UA_BROWSERS[:2],
            static={
                "type": "SAMLUser",
                "principalId": f"{issuer}:{user}",
                "userName": user,
                "identityProvider": issuer,
            },
        )

    def _web_user(self, acc: _Account, repo: str) -> _Principal:
        provider = f"arn:aws:iam::{acc.id}:oidc-provider/token.actions.githubusercontent.com"
        sub = f"repo:{_ORG}/{repo}:ref:refs/heads/main"
        return _Principal(
            "WebIdentityUser",
            None,
            ips=self.ci_ips[4:],
            uas=[_UA_SDK[3]],
            static={
                "type": "WebIdentityUser",
                "principalId": f"{provider}:sts.amazonaws.com:{sub}",
                "userName": sub,
                "identityProvider": provider,
            },
        )

    def _federated(self, acc: _Account, name: str) -> _Principal:
        acct = acc.id
        arn = f"arn:aws:sts::{acct}:federated-user/{name}"
        broker = f"arn:aws:iam::{acct}:user/legacy-broker"
        issuer = {
            "type": "IAMUser",
            "principalId": self.uid("AIDA", acct, "legacy-broker"),
            "arn": broker,
            "accountId": acct,
            "userName": "legacy-broker",
        }

        def make(hour: int) -> dict[str, Any]:
            created = self.session_start(arn, hour)
            return {
                "type": "FederatedUser",
                "principalId": f"{acct}:{name}",
                "arn": arn,
                "accountId": acct,
                "accessKeyId": "ASIA" + self.hstr(_B32, 16, arn, hour),
                "sessionContext": {
                    "sessionIssuer": issuer,
                    "webIdFederationData": {},
                    "attributes": {"creationDate": _iso(created), "mfaAuthenticated": "false"},
                },
            }

        return _Principal("FederatedUser", arn, ips=["192.0.2.150"], uas=[_UA_SDK[1]], make=make)

    def _hammer(self, acc: _Account) -> _Principal:
        """A reporting box whose role lost access to a secret and retries forever."""
        session = f"i-0{self.hstr(_HEX, 16, acc.id, 'hammer')}"
        p = self.role_session(
            acc, "legacy-reporting-role", session, uas=[_UA_SDK[0]], ec2=True, vpc=False
        )
        acc.pools["hammer"] = [p]
        return p


# --------------------------------------------------------------------------------------------
# Event kinds
# --------------------------------------------------------------------------------------------


class _C:
    """Everything a kind builder may look at when it builds one variant."""

    __slots__ = ("acc", "env", "glob", "p", "region", "rng", "t", "w")

    def __init__(
        self,
        w: _World,
        acc: _Account,
        env: _Env,
        p: _Principal,
        region: str,
        rng: random.Random,
        t: int,
    ) -> None:
        self.w = w
        self.acc = acc
        self.env = env
        self.p = p
        self.region = region
        self.rng = rng
        self.t = t
        self.glob = region == w.global_region

    def pick(self, seq: Sequence[Any]) -> Any:
        return seq[int(self.rng.random() * len(seq))]

    def hex(self, n: int) -> str:
        return _rand(self.rng, _HEX, n)

    def uuid(self) -> str:
        return _uuid(self.rng.getrandbits(128))

    def s3_host(self, bucket: str) -> str:
        return f"{bucket}.s3.{self.region}.amazonaws.com"

    def s3_extra(self, bytes_in: int, bytes_out: int) -> dict[str, Any]:
        return {
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": bytes_in,
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": _rand(self.rng, _ALNUM + "+/", 76) + "=",
            "bytesTransferredOut": bytes_out,
        }

    def credentials(self) -> dict[str, Any]:
        """STS credentials as logged; ``expiration`` is set per event by _CredentialsSlot."""
        return {
            "accessKeyId": "ASIA" + _rand(self.rng, _B32, 16),
            "sessionToken": "IQoJb3JpZ2luX2Vj" + _rand(self.rng, _ALNUM + "+/", 180),
            "expiration": _long_time(self.t + 3600),
        }


Builder = Callable[[_C], dict[str, Any]]


@dataclass(frozen=True)
class _Kind:
    """One API call shape: how it looks, how often it happens, who makes it."""

    source: str
    name: str
    weight: float
    build: Builder
    who: tuple[tuple[str, float], ...]
    read_only: bool
    err: float = 0.065
    data: bool = False
    scope: str = "any"  # any | global | mgmt (global region of account 0) | hammer
    cap: int = 16  # variants pooled per account/region; 0 = build fresh every time
    event_type: str = "AwsApiCall"
    rid: int = 1  # 0: none, 1: uuid, 2: S3 style, 3: fixed by the builder
    slot: _Slot | None = None  # a nested value that changes per event
    errors: tuple[tuple[str | None, str, bool], ...] = ()


class _Slot:
    """A nested value that must differ per event although the rest of a variant is shared.

    ``hole`` puts a sentinel into a variant before it is serialised into a template, ``fill``
    supplies the serialised value for one event, ``patch`` does the same on a plain dict
    (scripted events are dicts, not templates).
    """

    key = b"x"

    def hole(self, ev: dict[str, Any]) -> bool:
        raise NotImplementedError

    def fill(self, values: dict[bytes, bytes], t: int) -> None:
        raise NotImplementedError

    def patch(self, ev: dict[str, Any], t: int) -> None:
        raise NotImplementedError


class _CredentialsSlot(_Slot):
    """STS credentials expire an hour after the call, whichever pooled variant was used."""

    def hole(self, ev: dict[str, Any]) -> bool:
        resp = ev["responseElements"]
        if not resp:
            return False
        ev["responseElements"] = {
            **resp,
            "credentials": {**resp["credentials"], "expiration": _SENTINEL},
        }
        return True

    def fill(self, values: dict[bytes, bytes], t: int) -> None:
        values[b"x"] = f'"{_long_time(t + 3600)}"'.encode()

    def patch(self, ev: dict[str, Any], t: int) -> None:
        resp = ev["responseElements"]
        if resp:
            creds = {**resp["credentials"], "expiration": _long_time(t + 3600)}
            ev["responseElements"] = {**resp, "credentials": creds}


class _LogStreamSlot(_Slot):
    """Lambda names log streams after the day and a fresh container ID; pooled variants get
    both per event (the eventID supplies the unique part)."""

    def hole(self, ev: dict[str, Any]) -> bool:
        ev["requestParameters"] = {**ev["requestParameters"], "logStreamName": _SENTINEL}
        return True

    def fill(self, values: dict[bytes, bytes], t: int) -> None:
        day = values[b"t"][1:11].replace(b"-", b"/")
        values[b"x"] = b'"%b/[$LATEST]%b"' % (day, values[b"e"][1:-1].replace(b"-", b""))

    def patch(self, ev: dict[str, Any], t: int) -> None:
        day = ev["eventTime"][:10].replace("-", "/")
        name = f"{day}/[$LATEST]{ev['eventID'].replace('-', '')}"
        ev["requestParameters"] = {**ev["requestParameters"], "logStreamName": name}


_CREDENTIALS = _CredentialsSlot()
_LOG_STREAM = _LogStreamSlot()


# -- builders: STS ---------------------------------------------------------------------------


def _b_assume_role(c: _C) -> dict[str, Any]:
    p = c.p
    if p.kind == "AWSService":
        host = p.uas[0]
        role = {
            "lambda.amazonaws.com": "ingest-events-lambda-role",
            "ec2.amazonaws.com": "web-ec2-instance-role",
            "ecs-tasks.amazonaws.com": "orders-api-task-role",
        }.get(host, "batch-etl-role")
        session = {
            "lambda.amazonaws.com": c.pick(["ingest-events", "thumbnailer", "notifier"]),
            "ec2.amazonaws.com": c.pick(c.env.instances),
        }.get(host, c.hex(32))
    else:
        role = c.pick(["batch-etl-role", "orders-api-task-role", "Admin", "ReadOnly"])
        session = c.pick(["etl-run", "deploy", "botocore-session-" + str(c.rng.randrange(10**9))])
    arn = c.acc.roles[role]
    role_id = c.w.uid("AROA", c.acc.id, role)
    out: dict[str, Any] = {
        "requestParameters": {"roleArn": arn, "roleSessionName": session, "durationSeconds": 3600},
        "responseElements": {
            "credentials": c.credentials(),
            "assumedRoleUser": {
                "assumedRoleId": f"{role_id}:{session}",
                "arn": f"arn:aws:sts::{c.acc.id}:assumed-role/{role}/{session}",
            },
        },
        "resources": [{"accountId": c.acc.id, "type": "AWS::IAM::Role", "ARN": arn}],
        "_target": arn,
    }
    if p.kind == "AWSAccount":
        out["sharedEventID"] = c.uuid()
    return out


def _b_no_params(c: _C) -> dict[str, Any]:
    return {"requestParameters": None, "responseElements": None}


def _b_assume_saml(c: _C) -> dict[str, Any]:
    ident = c.p.identity(0)
    user = ident["userName"]
    arn = c.acc.roles["saml-engineers"]
    provider = f"arn:aws:iam::{c.acc.id}:saml-provider/Okta"
    return {
        "requestParameters": {
            "sAMLAssertionID": "_" + c.hex(32),
            "roleSessionName": user,
            "principalArn": provider,
            "roleArn": arn,
            "durationSeconds": 3600,
        },
        "responseElements": {
            "credentials": c.credentials(),
            "assumedRoleUser": {
                "assumedRoleId": f"{c.w.uid('AROA', c.acc.id, 'saml-engineers')}:{user}",
                "arn": f"arn:aws:sts::{c.acc.id}:assumed-role/saml-engineers/{user}",
            },
            "subject": user,
            "subjectType": "persistent",
            "issuer": "http://www.okta.com/exk1a2b3c4d5e6f7g8h9",
            "audience": "https://signin.aws.amazon.com/saml",
            "nameQualifier": ident["identityProvider"],
        },
        "resources": [
            {"accountId": c.acc.id, "type": "AWS::IAM::Role", "ARN": arn},
            {"accountId": c.acc.id, "type": "AWS::IAM::SAMLProvider", "ARN": provider},
        ],
        "_target": arn,
    }


def _b_assume_web(c: _C) -> dict[str, Any]:
    ident = c.p.identity(0)
    arn = c.acc.roles["github-actions-deploy"]
    role_id = c.w.uid("AROA", c.acc.id, "github-actions-deploy")
    return {
        "requestParameters": {
            "roleArn": arn,
            "roleSessionName": "GitHubActions",
            "durationSeconds": 3600,
        },
        "responseElements": {
            "credentials": c.credentials(),
            "subjectFromWebIdentityToken": ident["userName"],
            "assumedRoleUser": {
                "assumedRoleId": f"{role_id}:GitHubActions",
                "arn": f"arn:aws:sts::{c.acc.id}:assumed-role/github-actions-deploy/GitHubActions",
            },
            "provider": ident["identityProvider"],
            "audience": "sts.amazonaws.com",
        },
        "additionalEventData": {"identityProviderConnectionVerificationMethod": "IAMTrustStore"},
        "resources": [
            {"accountId": c.acc.id, "type": "AWS::IAM::Role", "ARN": arn},
            {
                "accountId": c.acc.id,
                "type": "AWS::IAM::OidcProvider",
                "ARN": ident["identityProvider"],
            },
        ],
        "_target": arn,
    }


def _b_federation_token(c: _C) -> dict[str, Any]:
    name = c.pick(["partner-ops", "report-viewer"])
    return {
        "requestParameters": {"name": name, "durationSeconds": 43200},
        "responseElements": {
            "credentials": c.credentials(),
            "federatedUser": {
                "federatedUserId": f"{c.acc.id}:{name}",
                "arn": f"arn:aws:sts::{c.acc.id}:federated-user/{name}",
            },
            "packedPolicySize": 9,
        },
    }


# -- builders: S3 ----------------------------------------------------------------------------

_S3_KEYS = {
    "app-uploads": lambda c: f"uploads/{c.hex(2)}/{c.uuid()}.{c.pick(['jpg', 'png', 'pdf'])}",
    "data-lake": lambda c: (
        f"raw/{c.pick(['orders', 'clicks', 'payments'])}/part-{c.rng.randrange(10**5):05d}"
        f"-{c.uuid()}.snappy.parquet"
    ),
    "static-assets": lambda c: (
        f"assets/{c.pick(['js', 'css', 'img'])}/{c.hex(8)}.{c.pick(['js', 'css', 'svg'])}"
    ),
    "backups": lambda c: f"rds/{c.pick(['orders-db', 'analytics-db'])}/{c.hex(12)}.sql.gz",
    "athena-results": lambda c: f"queries/{c.uuid()}.csv",
    "terraform-state": lambda c: f"env/{c.pick(['prod', 'staging'])}/terraform.tfstate",
}


def _bucket_key(c: _C) -> tuple[str, str]:
    bucket = c.pick(c.env.buckets)
    purpose = next(p for p in _S3_KEYS if f"-{p}-" in bucket)
    return bucket, _S3_KEYS[purpose](c)


def _s3_object_resources(c: _C, bucket: str, key: str) -> list[dict[str, str]]:
    return [
        {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
        {"accountId": c.acc.id, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
    ]


def _b_get_object(c: _C) -> dict[str, Any]:
    bucket, key = _bucket_key(c)
    out = {
        "requestParameters": {"bucketName": bucket, "Host": c.s3_host(bucket), "key": key},
        "responseElements": None,
        "additionalEventData": c.s3_extra(0, int(c.rng.lognormvariate(10, 2))),
        "resources": _s3_object_resources(c, bucket, key),
        "_host": c.s3_host(bucket),
        "_target": f"arn:aws:s3:::{bucket}/{key}",
    }
    if c.p.kind == "AWSAccount":
        out["sharedEventID"] = c.uuid()
    return out


def _b_put_object(c: _C) -> dict[str, Any]:
    bucket, key = _bucket_key(c)
    size = int(c.rng.lognormvariate(10, 2))
    return {
        "requestParameters": {"bucketName": bucket, "Host": c.s3_host(bucket), "key": key},
        "responseElements": {"x-amz-server-side-encryption": "AES256"},
        "additionalEventData": {**c.s3_extra(size, 0), "SSEApplied": "Default_SSE_S3"},
        "resources": _s3_object_resources(c, bucket, key),
        "_host": c.s3_host(bucket),
        "_target": f"arn:aws:s3:::{bucket}/{key}",
    }


def _b_delete_object(c: _C) -> dict[str, Any]:
    bucket, key = _bucket_key(c)
    return {
        "requestParameters": {"bucketName": bucket, "Host": c.s3_host(bucket), "key": key},
        "responseElements": None,
        "additionalEventData": c.s3_extra(0, 0),
        "resources": _s3_object_resources(c, bucket, key),
        "_host": c.s3_host(bucket),
        "_target": f"arn:aws:s3:::{bucket}/{key}",
    }


def _s3_bucket_call(c: _C, sub: str, extra_params: dict[str, Any] | None = None) -> dict[str, Any]:
    bucket = c.pick(c.env.buckets)
    params: dict[str, Any] = {"bucketName": bucket, "Host": c.s3_host(bucket)}
    if sub:
        params[sub] = ""
    if extra_params:
        params.update(extra_params)
    return {
        "requestParameters": params,
        "responseElements": None,
        "additionalEventData": c.s3_extra(0, 0),
        "resources": [
            {"accountId": c.acc.id, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}
        ],
        "_host": c.s3_host(bucket),
        "_target": f"arn:aws:s3:::{bucket}",
    }


def _b_bucket_sub(sub: str) -> Builder:
    """Bucket sub-resource calls (GetBucketAcl & co.) carry the sub-resource as an empty
    request parameter, as S3 logs them."""

    def build(c: _C) -> dict[str, Any]:
        return _s3_bucket_call(c, sub)

    return build


def _b_list_buckets(c: _C) -> dict[str, Any]:
    return {
        "requestParameters": {"Host": "s3.amazonaws.com"},
        "responseElements": None,
        "additionalEventData": c.s3_extra(0, 2048 + c.rng.randrange(6000)),
        "_host": "s3.amazonaws.com",
    }


def _b_put_bucket_policy(c: _C) -> dict[str, Any]:
    out = _s3_bucket_call(c, "policy")
    bucket = out["requestParameters"]["bucketName"]
    out["requestParameters"]["bucketPolicy"] = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    return out


def _b_create_bucket(c: _C) -> dict[str, Any]:
    bucket = f"{c.acc.env_name}-scratch-{c.hex(8)}"
    host = c.s3_host(bucket)
    return {
        "requestParameters": {
            "CreateBucketConfiguration": {
                "LocationConstraint": c.region,
                "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
            },
            "bucketName": bucket,
            "Host": host,
        },
        "responseElements": None,
        "additionalEventData": c.s3_extra(153, 0),
        "resources": [
            {"accountId": c.acc.id, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}
        ],
        "_host": host,
        "_target": f"arn:aws:s3:::{bucket}",
    }


def _b_public_access_block(c: _C) -> dict[str, Any]:
    return _s3_bucket_call(
        c,
        "publicAccessBlock",
        {
            "PublicAccessBlockConfiguration": {
                "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
                "RestrictPublicBuckets": True,
                "BlockPublicPolicy": True,
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
            }
        },
    )


# -- builders: KMS, secrets, parameters ------------------------------------------------------


def _kms_context(c: _C) -> dict[str, str]:
    if c.p.kind == "AWSService" or c.rng.random() < 0.4:
        return {"aws:lambda:FunctionArn": c.pick(c.env.functions)}
    if c.rng.random() < 0.5:
        bucket, key = _bucket_key(c)
        return {"aws:s3:arn": f"arn:aws:s3:::{bucket}/{key}"}
    return {"SecretARN": c.pick(c.env.secrets), "SecretVersionId": c.uuid()}


def _b_decrypt(c: _C) -> dict[str, Any]:
    key = c.pick(c.env.kms_keys)
    return {
        "requestParameters": {
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "encryptionContext": _kms_context(c),
        },
        "responseElements": None,
        "resources": [{"accountId": c.acc.id, "type": "AWS::KMS::Key", "ARN": key}],
        "_target": key,
    }


def _b_generate_data_key(c: _C) -> dict[str, Any]:
    key = c.pick(c.env.kms_keys)
    return {
        "requestParameters": {
            "keyId": key,
            "encryptionContext": _kms_context(c),
            "keySpec": "AES_256",
        },
        "responseElements": None,
        "resources": [{"accountId": c.acc.id, "type": "AWS::KMS::Key", "ARN": key}],
        "_target": key,
    }


def _b_rotate_key(c: _C) -> dict[str, Any]:
    key = c.pick(c.env.kms_keys)
    return {
        "requestParameters": None,
        "responseElements": None,
        "additionalEventData": {"keyId": key.rsplit("/", 1)[1]},
        "resources": [{"accountId": c.acc.id, "type": "AWS::KMS::Key", "ARN": key}],
    }


def _b_get_secret(c: _C) -> dict[str, Any]:
    secret = c.pick(c.env.secrets)
    return {"requestParameters": {"secretId": secret}, "responseElements": None, "_target": secret}


def _b_get_parameter(c: _C) -> dict[str, Any]:
    name = c.pick(c.env.params)
    return {
        "requestParameters": {"name": name, "withDecryption": c.rng.random() < 0.5},
        "responseElements": None,
        "_target": f"arn:aws:ssm:{c.region}:{c.acc.id}:parameter{name}",
    }


# -- builders: EC2 ---------------------------------------------------------------------------


def _b_describe_instances(c: _C) -> dict[str, Any]:
    r = c.rng.random()
    if r < 0.5:
        params: dict[str, Any] = {"instancesSet": {}, "filterSet": {}}
    elif r < 0.8:
        params = {
            "instancesSet": {"items": [{"instanceId": c.pick(c.env.instances)}]},
            "filterSet": {},
        }
    else:
        params = {
            "instancesSet": {},
            "filterSet": {
                "items": [
                    {
                        "name": "tag:Name",
                        "valueSet": {
                            "items": [{"value": c.pick(["web-*", "worker-*", "bastion"])}]
                        },
                    }
                ]
            },
        }
    return {"requestParameters": params, "responseElements": None}


def _b_describe_sgs(c: _C) -> dict[str, Any]:
    if c.rng.random() < 0.5:
        params: dict[str, Any] = {"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}}
    else:
        params = {
            "securityGroupSet": {},
            "securityGroupIdSet": {"items": [{"groupId": c.pick(c.env.sgs)[0]}]},
            "filterSet": {},
        }
    return {"requestParameters": params, "responseElements": None}


def _b_fixed(params: dict[str, Any]) -> Builder:
    def build(c: _C) -> dict[str, Any]:
        return {"requestParameters": params, "responseElements": None}

    return build


def _b_describe_subnets(c: _C) -> dict[str, Any]:
    return {
        "requestParameters": {
            "subnetSet": {},
            "filterSet": {
                "items": [{"name": "vpc-id", "valueSet": {"items": [{"value": c.env.vpc}]}}]
            },
        },
        "responseElements": None,
    }


def _ec2_response(c: _C, **extra: Any) -> tuple[str, dict[str, Any]]:
    rid = c.uuid()
    return rid, {"requestId": rid, "_return": True, **extra}


def _b_create_tags(c: _C) -> dict[str, Any]:
    rid, resp = _ec2_response(c)
    return {
        "requestParameters": {
            "resourcesSet": {"items": [{"resourceId": c.pick(c.env.instances)}]},
            "tagSet": {
                "items": [
                    {"key": c.pick(["Owner", "CostCenter", "Team"]), "value": c.pick(_HUMANS)}
                ]
            },
        },
        "responseElements": resp,
        "requestID": rid,
    }


def _b_run_instances(c: _C) -> dict[str, Any]:
    rid = c.uuid()
    instance = f"i-0{c.hex(16)}"
    itype = c.pick(["t3.micro", "t3.large", "m6i.large", "c6i.xlarge"])
    ami = c.pick(c.env.amis)
    subnet = c.pick(c.env.subnets)
    sg, sg_name = c.pick(c.env.sgs)
    az = c.region + c.pick("abc")
    ip = f"{c.env.private_prefix}{c.rng.randrange(1, 250)}.{c.rng.randrange(2, 250)}"
    domain = "ec2.internal" if c.region == "us-east-1" else f"{c.region}.compute.internal"
    dns = f"ip-{ip.replace('.', '-')}.{domain}"
    token = c.uuid()
    eni = f"eni-0{c.hex(16)}"
    name = c.pick(["web", "worker", "batch", "bastion"]) + "-" + c.hex(4)
    return {
        "requestParameters": {
            "instancesSet": {"items": [{"imageId": ami, "minCount": 1, "maxCount": 1}]},
            "instanceType": itype,
            "blockDeviceMapping": {},
            "monitoring": {"enabled": False},
            "disableApiTermination": False,
            "disableApiStop": False,
            "clientToken": token,
            "networkInterfaceSet": {
                "items": [
                    {"deviceIndex": 0, "subnetId": subnet, "groupSet": {"items": [{"groupId": sg}]}}
                ]
            },
            "iamInstanceProfile": {
                "arn": f"arn:aws:iam::{c.acc.id}:instance-profile/web-ec2-instance-role"
            },
            "tagSpecificationSet": {
                "items": [{"resourceType": "instance", "tags": [{"key": "Name", "value": name}]}]
            },
            "metadataOptions": {"httpTokens": "required"},
        },
        "responseElements": {
            "requestId": rid,
            "reservationId": f"r-0{c.hex(16)}",
            "ownerId": c.acc.id,
            "groupSet": {},
            "instancesSet": {
                "items": [
                    {
                        "instanceId": instance,
                        "imageId": ami,
                        "currentInstanceBootMode": "uefi",
                        "instanceState": {"code": 0, "name": "pending"},
                        "privateDnsName": dns,
                        "amiLaunchIndex": 0,
                        "productCodes": {},
                        "instanceType": itype,
                        "launchTime": c.t * 1000,
                        "placement": {"availabilityZone": az, "tenancy": "default"},
                        "monitoring": {"state": "disabled"},
                        "subnetId": subnet,
                        "vpcId": c.env.vpc,
                        "privateIpAddress": ip,
                        "stateReason": {"code": "pending", "message": "pending"},
                        "architecture": "x86_64",
                        "rootDeviceType": "ebs",
                        "rootDeviceName": "/dev/xvda",
                        "blockDeviceMapping": {},
                        "virtualizationType": "hvm",
                        "hypervisor": "xen",
                        "tagSet": {"items": [{"key": "Name", "value": name}]},
                        "clientToken": token,
                        "groupSet": {"items": [{"groupId": sg, "groupName": sg_name}]},
                        "sourceDestCheck": True,
                        "networkInterfaceSet": {
                            "items": [
                                {
                                    "networkInterfaceId": eni,
                                    "subnetId": subnet,
                                    "vpcId": c.env.vpc,
                                    "ownerId": c.acc.id,
                                    "status": "in-use",
                                    "macAddress": ":".join(c.hex(2) for _ in range(6)),
                                    "privateIpAddress": ip,
                                    "privateDnsName": dns,
                                    "sourceDestCheck": True,
                                    "interfaceType": "interface",
                                    "groupSet": {"items": [{"groupId": sg, "groupName": sg_name}]},
                                    "attachment": {
                                        "attachmentId": f"eni-attach-0{c.hex(16)}",
                                        "deviceIndex": 0,
                                        "networkCardIndex": 0,
                                        "status": "attaching",
                                        "attachTime": c.t * 1000,
                                        "deleteOnTermination": True,
                                    },
                                    "privateIpAddressesSet": {
                                        "item": [
                                            {
                                                "privateIpAddress": ip,
                                                "privateDnsName": dns,
                                                "primary": True,
                                            }
                                        ]
                                    },
                                    "ipv6AddressesSet": {},
                                    "tagSet": {},
                                }
                            ]
                        },
                        "ebsOptimized": False,
                        "enaSupport": True,
                        "cpuOptions": {"coreCount": 1, "threadsPerCore": 2},
                        "capacityReservationSpecification": {
                            "capacityReservationPreference": "open"
                        },
                        "enclaveOptions": {"enabled": False},
                        "metadataOptions": {
                            "state": "pending",
                            "httpTokens": "required",
                            "httpPutResponseHopLimit": 2,
                            "httpEndpoint": "enabled",
                            "httpProtocolIpv4": "enabled",
                            "httpProtocolIpv6": "disabled",
                            "instanceMetadataTags": "disabled",
                        },
                        "maintenanceOptions": {"autoRecovery": "default"},
                        "privateDnsNameOptions": {
                            "hostnameType": "ip-name",
                            "enableResourceNameDnsARecord": False,
                            "enableResourceNameDnsAAAARecord": False,
                        },
                    }
                ]
            },
            "requesterId": "",
        },
        "requestID": rid,
    }


def _b_instance_state(action: str, code: int, state: str, prev: tuple[int, str]) -> Builder:
    def build(c: _C) -> dict[str, Any]:
        instance = c.pick(c.env.instances)
        rid = c.uuid()
        params: dict[str, Any] = {"instancesSet": {"items": [{"instanceId": instance}]}}
        if action == "StopInstances":
            params["force"] = False
        return {
            "requestParameters": params,
            "responseElements": {
                "requestId": rid,
                "instancesSet": {
                    "items": [
                        {
                            "instanceId": instance,
                            "currentState": {"code": code, "name": state},
                            "previousState": {"code": prev[0], "name": prev[1]},
                        }
                    ]
                },
            },
            "requestID": rid,
            "_target": f"arn:aws:ec2:{c.region}:{c.acc.id}:instance/{instance}",
        }

    return build


def _b_modify_instance_type(c: _C) -> dict[str, Any]:
    instance = c.pick(c.env.instances)
    rid, resp = _ec2_response(c)
    return {
        "requestParameters": {
            "instanceId": instance,
            "instanceType": {
                "value": c.pick(["m6i.2xlarge", "c6i.4xlarge", "t3.medium", "r6i.large"])
            },
        },
        "responseElements": resp,
        "requestID": rid,
        "_target": f"arn:aws:ec2:{c.region}:{c.acc.id}:instance/{instance}",
    }


def _perm(
    proto: str,
    port: int,
    *,
    cidr: str | None = None,
    cidr6: str | None = None,
    group: str | None = None,
) -> dict[str, Any]:
    """One ipPermissions item in the exact shape EC2 logs it (empty sets as ``{}``)."""
    return {
        "ipProtocol": proto,
        "fromPort": port,
        "toPort": port,
        "groups": {"items": [{"groupId": group}]} if group else {},
        "ipRanges": {"items": [{"cidrIp": cidr}]} if cidr else {},
        "ipv6Ranges": {"items": [{"cidrIpv6": cidr6}]} if cidr6 else {},
        "prefixListIds": {},
    }


def _sg_rule(c: _C, sg: str, perm: dict[str, Any], egress: bool) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "groupOwnerId": c.acc.id,
        "groupId": sg,
        "securityGroupRuleId": f"sgr-0{c.hex(16)}",
        "isEgress": egress,
        "ipProtocol": perm["ipProtocol"],
        "fromPort": perm["fromPort"],
        "toPort": perm["toPort"],
    }
    if perm["ipRanges"]:
        rule["cidrIpv4"] = perm["ipRanges"]["items"][0]["cidrIp"]
    elif perm["ipv6Ranges"]:
        rule["cidrIpv6"] = perm["ipv6Ranges"]["items"][0]["cidrIpv6"]
    else:
        rule["referencedGroupInfo"] = {
            "groupId": perm["groups"]["items"][0]["groupId"],
            "userId": c.acc.id,
        }
    return rule


def _random_perm(c: _C) -> dict[str, Any]:
    port = c.pick([443, 443, 80, 5432, 6379, 8080, 22])
    if c.rng.random() < 0.3:
        return _perm("tcp", port, group=c.pick(c.env.sgs)[0])
    return _perm("tcp", port, cidr=c.pick(["10.0.0.0/16", "10.20.0.0/16", "172.31.0.0/16"]))


def _sg_change(c: _C, name: str, perm: dict[str, Any], sg: str | None = None) -> dict[str, Any]:
    sg = sg or c.pick(c.env.sgs)[0]
    rid = c.uuid()
    egress = name.endswith("Egress")
    resp: dict[str, Any] = {"requestId": rid, "_return": True}
    if name.startswith("Authorize"):
        resp["securityGroupRuleSet"] = {"items": [_sg_rule(c, sg, perm, egress)]}
    return {
        "requestParameters": {"groupId": sg, "ipPermissions": {"items": [perm]}},
        "responseElements": resp,
        "requestID": rid,
        "_target": f"arn:aws:ec2:{c.region}:{c.acc.id}:security-group/{sg}",
    }


def _b_sg(name: str) -> Builder:
    def build(c: _C) -> dict[str, Any]:
        return _sg_change(c, name, _random_perm(c))

    return build


def _b_modify_eni(c: _C) -> dict[str, Any]:
    rid, resp = _ec2_response(c)
    eni = c.pick(c.env.enis)
    groups = [c.pick(c.env.sgs)[0] for _ in range(c.rng.randrange(1, 3))]
    return {
        "requestParameters": {
            "networkInterfaceId": eni,
            "groupSet": {"items": [{"groupId": g} for g in dict.fromkeys(groups)]},
        },
        "responseElements": resp,
        "requestID": rid,
        "_target": f"arn:aws:ec2:{c.region}:{c.acc.id}:network-interface/{eni}",
    }


def _b_create_sg(c: _C) -> dict[str, Any]:
    rid = c.uuid()
    sg = f"sg-0{c.hex(16)}"
    name = c.pick(["lambda-egress", "tmp-debug", "partner-vpn", "cache"]) + "-" + c.hex(4)
    return {
        "requestParameters": {
            "groupName": name,
            "groupDescription": f"{name} managed by terraform",
            "vpcId": c.env.vpc,
        },
        "responseElements": {
            "requestId": rid,
            "_return": True,
            "groupId": sg,
            "securityGroupArn": f"arn:aws:ec2:{c.region}:{c.acc.id}:security-group/{sg}",
        },
        "requestID": rid,
    }


# -- builders: IAM, organizations, SSO -------------------------------------------------------


def _b_iam_role_param(c: _C) -> dict[str, Any]:
    role = c.pick(list(c.acc.roles))
    return {
        "requestParameters": {"roleName": role},
        "responseElements": None,
        "_target": c.acc.roles[role],
    }


def _b_create_user(c: _C) -> dict[str, Any]:
    name = f"svc-{c.pick(['reports', 'vendor', 'migration', 'monitor'])}-{c.hex(4)}"
    return {
        "requestParameters": {"userName": name},
        "responseElements": {
            "user": {
                "path": "/",
                "userName": name,
                "userId": "AIDA" + _rand(c.rng, _B32, 17),
                "arn": f"arn:aws:iam::{c.acc.id}:user/{name}",
                "createDate": _long_time(c.t),
            }
        },
        "_target": f"arn:aws:iam::{c.acc.id}:user/{name}",
    }


def _b_attach_role_policy(c: _C) -> dict[str, Any]:
    role = c.pick([r for r in c.acc.roles if not r.startswith("AWS")])
    policy = c.pick(
        [
            "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
            "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy",
            "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
            "arn:aws:iam::aws:policy/AdministratorAccess",
        ]
    )
    return {
        "requestParameters": {"roleName": role, "policyArn": policy},
        "responseElements": None,
        "_target": c.acc.roles[role],
    }


def _b_put_role_policy(c: _C) -> dict[str, Any]:
    role = c.pick([r for r in c.acc.roles if not r.startswith("AWS")])
    doc = orjson.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:ListBucket"],
                    "Resource": [f"arn:aws:s3:::{c.pick(c.env.buckets)}/*"],
                }
            ],
        }
    ).decode()
    return {
        "requestParameters": {
            "roleName": role,
            "policyName": "inline-" + c.hex(6),
            "policyDocument": doc,
        },
        "responseElements": None,
        "_target": c.acc.roles[role],
    }


def _b_create_role(c: _C) -> dict[str, Any]:
    name = f"{c.pick(['lambda', 'glue', 'ecs'])}-{c.pick(['reports', 'sync', 'export'])}-{c.hex(4)}"
    trust = orjson.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    ).decode()
    arn = f"arn:aws:iam::{c.acc.id}:role/{name}"
    return {
        "requestParameters": {"roleName": name, "assumeRolePolicyDocument": trust},
        "responseElements": {
            "role": {
                "path": "/",
                "roleName": name,
                "roleId": "AROA" + _rand(c.rng, _B32, 17),
                "arn": arn,
                "createDate": _long_time(c.t),
                "assumeRolePolicyDocument": trust.replace('"', "%22").replace(" ", "%20"),
            }
        },
        "_target": arn,
    }


def _access_key(c: _C, user: str) -> dict[str, Any]:
    return {
        "accessKey": {
            "userName": user,
            "accessKeyId": "AKIA" + _rand(c.rng, _B32, 16),
            "status": "Active",
            "createDate": _long_time(c.t),
        }
    }


def _b_create_access_key(c: _C) -> dict[str, Any]:
    user = c.pick(["backup-bot", "ci-deployer"])
    return {
        "requestParameters": {"userName": user},
        "responseElements": _access_key(c, user),
        "_target": f"arn:aws:iam::{c.acc.id}:user/{user}",
    }


def _b_sso(name: str) -> Builder:
    def build(c: _C) -> dict[str, Any]:
        acct = c.pick(c.w.accounts).id
        params: dict[str, Any] | None = None
        if name == "ListAccountRoles":
            params = {"accountId": acct}
        elif name == "GetRoleCredentials":
            params = {"accountId": acct, "roleName": c.pick(_SSO_SETS)}
        return {"requestParameters": params, "responseElements": None}

    return build


# -- builders: everything else ---------------------------------------------------------------


def _b_invoke(c: _C) -> dict[str, Any]:
    fn = c.pick(c.env.functions)
    return {
        "requestParameters": {"functionName": fn, "invocationType": "RequestResponse"},
        "responseElements": None,
        "additionalEventData": {"functionVersion": f"{fn}:$LATEST"},
        "resources": [{"accountId": c.acc.id, "type": "AWS::Lambda::Function", "ARN": fn}],
        "_target": fn,
    }


def _b_update_function(c: _C) -> dict[str, Any]:
    fn = c.pick(c.env.functions)
    name = fn.rsplit(":", 1)[1]
    stamp = _iso(c.t)[:-1] + ".000+0000"
    return {
        "requestParameters": {
            "functionName": name,
            "s3Bucket": c.env.buckets[0],
            "s3Key": f"lambda/{name}/{c.hex(40)}.zip",
            "publish": False,
            "dryRun": False,
        },
        "responseElements": {
            "functionName": name,
            "functionArn": fn,
            "runtime": c.pick(["python3.12", "nodejs20.x"]),
            "role": c.acc.roles["ingest-events-lambda-role"],
            "handler": "app.handler",
            "codeSize": c.rng.randrange(10**4, 10**7),
            "description": "",
            "timeout": 30,
            "memorySize": c.pick([256, 512, 1024]),
            "lastModified": stamp,
            "codeSha256": _rand(c.rng, _ALNUM + "+/", 43) + "=",
            "version": "$LATEST",
            "tracingConfig": {"mode": "PassThrough"},
            "revisionId": c.uuid(),
            "state": "Active",
            "lastUpdateStatus": "InProgress",
            "lastUpdateStatusReason": "The function is being created.",
            "lastUpdateStatusReasonCode": "Creating",
            "packageType": "Zip",
            "architectures": ["arm64"],
            "ephemeralStorage": {"size": 512},
            "snapStart": {"applyOn": "None", "optimizationStatus": "Off"},
            "loggingConfig": {"logFormat": "Text", "logGroup": f"/aws/lambda/{name}"},
        },
        "_target": fn,
    }


def _b_create_log_stream(c: _C) -> dict[str, Any]:
    fn = c.pick(c.env.functions).rsplit(":", 1)[1]
    return {
        "requestParameters": {"logGroupName": f"/aws/lambda/{fn}", "logStreamName": ""},
        "responseElements": None,
        "_target": f"arn:aws:logs:{c.region}:{c.acc.id}:log-group:/aws/lambda/{fn}",
    }


def _b_param(key: str, attr: str, wrap: bool = False) -> Builder:
    """A call whose only parameter is one resource name taken from the environment."""

    def build(c: _C) -> dict[str, Any]:
        value = c.pick(getattr(c.env, attr))
        return {"requestParameters": {key: [value] if wrap else value}, "responseElements": None}

    return build


def _b_lookup_events(c: _C) -> dict[str, Any]:
    return {
        "requestParameters": {
            "lookupAttributes": [
                {
                    "attributeKey": "EventName",
                    "attributeValue": c.pick(["ConsoleLogin", "RunInstances", "DeleteBucket"]),
                }
            ],
            "maxResults": 50,
        },
        "responseElements": None,
    }


# -- errors ----------------------------------------------------------------------------------

_DENY = (
    "AccessDenied",
    "User: {arn} is not authorized to perform: {action} on resource: {target} because no "
    "identity-based policy allows the {action} action",
    True,
)
_THROTTLE = ("ThrottlingException", "Rate exceeded", False)
_SERVICE_ERRORS: dict[str, tuple[tuple[str | None, str, bool], ...]] = {
    "s3.amazonaws.com": (
        ("AccessDenied", "Access Denied", False),
        ("NoSuchKey", "The specified key does not exist.", False),
        ("NoSuchBucket", "The specified bucket does not exist", False),
    ),
    "ec2.amazonaws.com": (
        (
            "Client.UnauthorizedOperation",
            "You are not authorized to perform this operation. User: {arn} is not authorized to "
            "perform: {action} because no identity-based policy allows the {action} action",
            True,
        ),
        ("Client.RequestLimitExceeded", "Request limit exceeded.", False),
    ),
    "iam.amazonaws.com": (
        _DENY,
        ("NoSuchEntityException", "The role with name {name} cannot be found.", False),
    ),
    "kms.amazonaws.com": (
        _DENY,
        (
            "ThrottlingException",
            "You have exceeded the rate at which you may call KMS. "
            "Reduce the frequency of your calls.",
            False,
        ),
    ),
    "lambda.amazonaws.com": (("TooManyRequestsException", "Rate Exceeded.", False), _DENY),
    "dynamodb.amazonaws.com": (
        (
            "ValidationException",
            "1 validation error detected: Value '{name}' at 'tableName' failed to satisfy "
            "constraint: Member must have length less than or equal to 255",
            False,
        ),
        (
            "ResourceNotFoundException",
            "Requested resource not found: Table: {name} not found",
            False,
        ),
    ),
    "secretsmanager.amazonaws.com": (
        _DENY,
        ("ResourceNotFoundException", "Secrets Manager can't find the specified secret.", False),
    ),
    "ssm.amazonaws.com": (_THROTTLE, ("ParameterNotFound", "", False)),
    "cloudformation.amazonaws.com": (
        ("ValidationError", "Stack with id {name} does not exist", False),
    ),
}
_GENERIC_ERRORS = (_DENY, _THROTTLE)


def _error_for(kind: _Kind, c: _C, target: str | None) -> tuple[str | None, str]:
    options = kind.errors or _SERVICE_ERRORS.get(kind.source, _GENERIC_ERRORS)
    if c.p.arn is None:  # service principals are throttled, never denied
        options = tuple(o for o in options if not o[2]) or (_THROTTLE,)
    code, template, _ = c.pick(options)
    target = target or f"arn:aws:{kind.source.split('.')[0]}:{c.region}:{c.acc.id}:*"
    message = template.format(
        arn=c.p.arn,
        action=_action(kind.source, kind.name),
        target=target,
        name=target.rsplit("/", 1)[-1].rsplit(":", 1)[-1],
    )
    return code, message


# -- the catalogue ---------------------------------------------------------------------------

_APP = (("app", 1.0),)
_READERS = (
    ("app", 0.55),
    ("cli", 0.15),
    ("human", 0.12),
    ("config", 0.08),
    ("ci", 0.06),
    ("fed", 0.04),
)
_WRITERS = (("ci", 0.5), ("human", 0.3), ("cli", 0.2))
S3, EC2, IAM, STS = (
    "s3.amazonaws.com",
    "ec2.amazonaws.com",
    "iam.amazonaws.com",
    "sts.amazonaws.com",
)
LOGS, SSM, ECR, DDB = (
    "logs.amazonaws.com",
    "ssm.amazonaws.com",
    "ecr.amazonaws.com",
    "dynamodb.amazonaws.com",
)
CW, ELB, ASG = (
    "monitoring.amazonaws.com",
    "elasticloadbalancing.amazonaws.com",
    "autoscaling.amazonaws.com",
)
RDS, EKS, CFN = "rds.amazonaws.com", "eks.amazonaws.com", "cloudformation.amazonaws.com"
ORGS = "organizations.amazonaws.com"
_SVC_EVENT = "AwsServiceEvent"
_SG_IN, _SG_OUT = "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress"
_SG_REVOKE = "RevokeSecurityGroupIngress"
_ENI_FILTER = {"networkInterfaceIdSet": {}, "filterSet": {}}
_HAMMER: dict[str, Any] = {"scope": "hammer", "cap": 4, "errors": (_DENY,)}


def _kinds() -> list[_Kind]:
    """Roughly 60 call shapes with a Zipf-like volume skew (reads dwarf writes).

    Columns: service, eventName, relative volume, builder, who calls it, readOnly.
    """
    s3, ec2, iam, sts = S3, EC2, IAM, STS
    kms, lam, sm = "kms.amazonaws.com", "lambda.amazonaws.com", "secretsmanager.amazonaws.com"
    sso, ct = "sso.amazonaws.com", "cloudtrail.amazonaws.com"
    k, ro, rw, w = _Kind, True, False, _WRITERS
    assume_who = (("svc", 0.55), ("app", 0.3), ("ci", 0.1), ("cross", 0.05))
    get_who = (("app", 0.85), ("bot", 0.05), ("cross", 0.05), ("cli", 0.05))
    app_svc = (("app", 0.7), ("svc", 0.3))
    app_bot = (("app", 0.85), ("bot", 0.15))
    config = (("config", 0.7), ("human", 0.2), ("ci", 0.1))
    ci_cli = (("ci", 0.4), ("cli", 0.3), ("app", 0.3))
    human = (("human", 0.7), ("cli", 0.3))
    app_ci = (("app", 0.6), ("ci", 0.4))
    idc, saml, web = (("idc", 1.0),), (("saml", 1.0),), (("web", 1.0),)
    broker, kms_svc, hammer = (("broker", 1.0),), (("kms_svc", 1.0),), (("hammer", 1.0),)
    ci_human = (("ci", 0.6), ("human", 0.4))
    mgmt: dict[str, Any] = {"scope": "mgmt"}
    svc_event: dict[str, Any] = {"event_type": _SVC_EVENT, "rid": 0, "err": 0}
    creds = {"slot": _CREDENTIALS}
    hot = {"cap": 32}
    fresh = {"cap": 0, "rid": 3}  # writes: unique content, EC2 requestId echoed in the response
    s3_fresh = {"cap": 0, "rid": 2}
    terminate = _b_instance_state("TerminateInstances", 32, "shutting-down", (16, "running"))
    stop = _b_instance_state("StopInstances", 64, "stopping", (16, "running"))
    start = _b_instance_state("StartInstances", 0, "pending", (80, "stopped"))
    asgs = _b_param("autoScalingGroupNames", "asgs", wrap=True)
    return [
        k(sts, "AssumeRole", 14, _b_assume_role, assume_who, ro, err=0.01, **creds, **hot),
        k(s3, "GetObject", 12, _b_get_object, get_who, ro, err=0.06, data=True, rid=2, **hot),
        k(kms, "Decrypt", 10, _b_decrypt, app_svc, ro, err=0.02, **hot),
        k(ec2, "DescribeInstances", 7, _b_describe_instances, _READERS, ro, **hot),
        k(s3, "PutObject", 6, _b_put_object, app_bot, rw, err=0.02, data=True, rid=2, **hot),
        k(sts, "GetCallerIdentity", 5, _b_no_params, ci_cli, ro, err=0.005, **hot),
        k(lam, "Invoke", 6, _b_invoke, (("invoker", 0.8), ("app", 0.2)), rw, data=True, **hot),
        k(kms, "GenerateDataKey", 5, _b_generate_data_key, app_svc, ro, err=0.02, **hot),
        k(s3, "ListBuckets", 3, _b_list_buckets, _READERS, ro, rid=2),
        k(ec2, "DescribeSecurityGroups", 3, _b_describe_sgs, _READERS, ro),
        k(s3, "GetBucketAcl", 2.5, _b_bucket_sub("acl"), config, ro, rid=2),
        k(LOGS, "CreateLogStream", 2.5, _b_create_log_stream, _APP, rw, slot=_LOG_STREAM),
        k(sm, "GetSecretValue", 2.5, _b_get_secret, _APP, ro, err=0.02),
        k(SSM, "GetParameter", 2.5, _b_get_parameter, (("app", 0.8), ("ci", 0.2)), ro),
        k(iam, "ListRoles", 1.5, _b_no_params, config, ro, scope="global"),
        k(ECR, "GetAuthorizationToken", 1.5, _b_no_params, app_ci, ro, err=0.01),
        k(DDB, "DescribeTable", 1.5, _b_param("tableName", "tables"), _APP, ro),
        k(ec2, "DescribeVolumes", 1, _b_fixed({"volumeSet": {}, "filterSet": {}}), _READERS, ro),
        k(ec2, "DescribeSubnets", 1, _b_describe_subnets, _READERS, ro),
        k(ec2, "DescribeNetworkInterfaces", 0.8, _b_fixed(_ENI_FILTER), _READERS, ro),
        k(CW, "DescribeAlarms", 1, _b_fixed({"maxRecords": 100}), _READERS, ro),
        k(ELB, "DescribeTargetHealth", 1.2, _b_param("targetGroupArn", "target_groups"), _APP, ro),
        k(iam, "GetRole", 1, _b_iam_role_param, config, ro, scope="global"),
        k(iam, "ListAttachedRolePolicies", 0.6, _b_iam_role_param, config, ro, scope="global"),
        k(s3, "GetBucketPolicy", 0.8, _b_bucket_sub("policy"), config, ro, rid=2),
        k(s3, "GetBucketEncryption", 0.6, _b_bucket_sub("encryption"), config, ro, rid=2),
        k(sso, "ListAccounts", 0.5, _b_sso("ListAccounts"), idc, ro, err=0, **mgmt),
        k(sso, "ListAccountRoles", 0.4, _b_sso("ListAccountRoles"), idc, ro, **mgmt),
        k(sso, "GetRoleCredentials", 0.5, _b_sso("GetRoleCredentials"), idc, ro, **mgmt),
        k(sts, "AssumeRoleWithSAML", 0.4, _b_assume_saml, saml, ro, **mgmt, **creds),
        k(sts, "AssumeRoleWithWebIdentity", 0.8, _b_assume_web, web, ro, err=0.01, **creds),
        k(sts, "GetFederationToken", 0.15, _b_federation_token, broker, ro, **mgmt, **creds),
        k(ASG, "DescribeAutoScalingGroups", 0.8, asgs, _READERS, ro),
        k(RDS, "DescribeDBInstances", 0.6, _b_param("dBInstanceIdentifier", "dbs"), _READERS, ro),
        k(ct, "DescribeTrails", 0.3, _b_fixed({"includeShadowTrails": True}), config, ro),
        k(ct, "LookupEvents", 0.3, _b_lookup_events, human, ro),
        k(EKS, "DescribeCluster", 0.6, _b_fixed({"name": "main"}), app_ci, ro),
        k(CFN, "DescribeStacks", 0.8, _b_param("stackName", "stacks"), ci_human, ro),
        k(ORGS, "DescribeOrganization", 0.3, _b_no_params, config, ro, **mgmt),
        k(kms, "RotateKey", 0.05, _b_rotate_key, kms_svc, rw, **svc_event),
        k(s3, "DeleteObject", 0.5, _b_delete_object, app_bot, rw, err=0.02, data=True, rid=2),
        k(ec2, "CreateTags", 0.4, _b_create_tags, w, rw, **fresh),
        k(ec2, "RunInstances", 0.15, _b_run_instances, w, rw, **fresh),
        k(ec2, "TerminateInstances", 0.1, terminate, w, rw, **fresh),
        k(ec2, "StopInstances", 0.08, stop, w, rw, **fresh),
        k(ec2, "StartInstances", 0.08, start, w, rw, **fresh),
        k(ec2, "ModifyInstanceAttribute", 0.05, _b_modify_instance_type, w, rw, **fresh),
        k(ec2, "AuthorizeSecurityGroupIngress", 0.08, _b_sg(_SG_IN), w, rw, **fresh),
        k(ec2, "AuthorizeSecurityGroupEgress", 0.04, _b_sg(_SG_OUT), w, rw, **fresh),
        k(ec2, "RevokeSecurityGroupIngress", 0.05, _b_sg(_SG_REVOKE), w, rw, **fresh),
        k(ec2, "ModifyNetworkInterfaceAttribute", 0.04, _b_modify_eni, w, rw, **fresh),
        k(ec2, "CreateSecurityGroup", 0.03, _b_create_sg, w, rw, **fresh),
        k(iam, "CreateUser", 0.02, _b_create_user, w, rw, cap=0, scope="global"),
        k(iam, "AttachRolePolicy", 0.04, _b_attach_role_policy, w, rw, cap=0, scope="global"),
        k(iam, "PutRolePolicy", 0.03, _b_put_role_policy, w, rw, cap=0, scope="global"),
        k(iam, "CreateRole", 0.03, _b_create_role, w, rw, cap=0, scope="global"),
        k(iam, "CreateAccessKey", 0.02, _b_create_access_key, w, rw, cap=0, scope="global"),
        k(s3, "PutBucketPolicy", 0.02, _b_put_bucket_policy, w, rw, **s3_fresh),
        k(s3, "CreateBucket", 0.02, _b_create_bucket, w, rw, **s3_fresh),
        k(s3, "PutBucketPublicAccessBlock", 0.02, _b_public_access_block, w, rw, **s3_fresh),
        k(lam, "UpdateFunctionCode20150331v2", 0.08, _b_update_function, w, rw, cap=0),
        # The misconfigured reporting box: same call, same denial, all day long.
        k(sm, "GetSecretValue", 3, _b_get_secret, hammer, ro, err=1.0, **_HAMMER),
    ]


# --------------------------------------------------------------------------------------------
# Assembling events
# --------------------------------------------------------------------------------------------

_LOGIN_TO = "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1_{h}"
_HIDDEN_USER = "HIDDEN_DUE_TO_SECURITY_REASONS"


def _default_host(source: str, region: str) -> str:
    if source in _GLOBAL_HOSTS:
        return _GLOBAL_HOSTS[source]
    prefix = _ENDPOINT_PREFIX.get(source, source.split(".")[0])
    return f"{prefix}.{region}.amazonaws.com"


class _Entry:
    """A kind as available in one account/region, with its pools of ready variants."""

    __slots__ = ("bad", "cap", "cats", "err", "kind", "ok", "rid")

    def __init__(self, kind: _Kind, cats: list[tuple[str, float]]) -> None:
        self.kind = kind
        self.cats = cats
        self.err = kind.err
        self.cap = kind.cap
        self.rid = kind.rid
        self.ok: list[tuple[Any, ...]] = []
        self.bad: list[tuple[Any, ...]] = []


@dataclass
class _Plan:
    """One log file to write: which account/region, which five minutes, how many events."""

    a: int
    r: int
    w: int
    delivery: int
    n: int
    suffix: str
    scripted: list[tuple[int, bytes]] = field(default_factory=list)


def _store(path: Path, data: bytes, level: int | None) -> None:
    """Compress (gzip without a timestamp, so output is reproducible) and write one file."""
    path.write_bytes(data if level is None else gzip_ng.compress(data, level, mtime=0))


class _Synth:
    """Holds the world, the random streams and the counters while a trail is written."""

    def __init__(
        self,
        dest: Path,
        *,
        seed: int,
        world: _World,
        first_day: dt.date,
        days: int,
        compresslevel: int,
    ) -> None:
        self.dest = dest
        self.seed = seed
        self.w = world
        self.day0 = _epoch(first_day)
        self.ndays = days
        self.level = compresslevel
        self.erng = random.Random(f"trailscope-synth:{seed}:events")
        self.srng = random.Random(f"trailscope-synth:{seed}:script")
        self.prng = random.Random(f"trailscope-synth:{seed}:plan")
        self.kinds = _kinds()
        self.by_name = {}
        for kind in self.kinds:
            self.by_name.setdefault(kind.name, kind)
        self.tables = self._tables()
        self.tls_cache: dict[tuple[str, bool], dict[str, str]] = {}
        self.files: list[Path] = []
        self.dirs: set[Path] = set()

    # -- output ------------------------------------------------------------------------------

    def prefix(self, a: int) -> str:
        org = f"{self.w.org_id}/" if self.w.org_id else ""
        return f"AWSLogs/{org}{self.w.accounts[a].id}"

    def write(self, rel: str, data: bytes, *, gzip: bool = True) -> None:
        """Write one object under the root, gzipped unless told otherwise."""
        path = self.dest / rel
        parent = path.parent
        if parent not in self.dirs:
            parent.mkdir(parents=True, exist_ok=True)
            self.dirs.add(parent)
        _store(path, data, self.level if gzip else None)
        self.files.append(Path(rel))

    def pick(self, seq: Sequence[Any]) -> Any:
        """Choose with the scripted-stories stream (keeps the generic stream undisturbed)."""
        return seq[int(self.srng.random() * len(seq))]

    # -- kinds per account/region ------------------------------------------------------------

    def _tables(self) -> dict[tuple[int, int], tuple[list[_Entry], list[float]]]:
        w = self.w
        tables = {}
        for acc in w.accounts:
            for r in range(len(w.regions)):
                entries: list[_Entry] = []
                cum: list[float] = []
                total = 0.0
                for kind in self.kinds:
                    glob = r == w.global_idx
                    if kind.scope == "global" and not glob:
                        continue
                    if kind.scope == "mgmt" and not (glob and acc.idx == 0):
                        continue
                    if kind.scope == "hammer" and (acc.idx, r) != (
                        w.hammer_account,
                        w.hammer_region,
                    ):
                        continue
                    cats = [(c, wt) for c, wt in kind.who if acc.pools.get(c)]
                    if not cats:
                        continue
                    weight = kind.weight
                    if kind.data and acc.env_name == "management":
                        weight *= 0.2
                    total += weight
                    entries.append(_Entry(kind, cats))
                    cum.append(total)
                tables[(acc.idx, r)] = (entries, cum)
        return tables

    def _tls(self, host: str, tls12: bool) -> dict[str, str]:
        key = (host, tls12)
        tls = self.tls_cache.get(key)
        if tls is None:
            version, suite = _TLS12 if tls12 else _TLS13
            tls = self.tls_cache[key] = {
                "tlsVersion": version,
                "cipherSuite": suite,
                "clientProvidedHostHeader": host,
            }
        return tls

    # -- variants ----------------------------------------------------------------------------

    def _pick_principal(
        self, acc: _Account, cats: list[tuple[str, float]], rng: random.Random
    ) -> _Principal:
        """Draw a caller: first the kind of caller (weighted), then one of that kind."""
        x = rng.random() * sum(wt for _, wt in cats)
        chosen = cats[-1][0]
        for cat, wt in cats:
            x -= wt
            if x < 0:
                chosen = cat
                break
        pool = acc.pools[chosen]
        return pool[int(rng.random() * len(pool))]

    def compose(
        self,
        kind: _Kind,
        a: int,
        r: int,
        t: int,
        p: _Principal,
        fail: bool,
        rng: random.Random,
        build: Builder | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Build a variant: the full event with placeholders for the per-event fields.

        Returns the event and whether it carries a per-event sharedEventID.
        """
        w = self.w
        acc = w.accounts[a]
        env = w.envs[(a, r)]
        region = w.regions[r]
        c = _C(w, acc, env, p, region, rng, t)
        f = (build or kind.build)(c)
        host = f.pop("_host", None)
        target = f.pop("_target", None)
        ip = c.pick(p.ips or env.nat_ips)
        vpce = None
        if p.vpc and kind.source in _VPCE_SERVICES and rng.random() < 0.6:
            ip = f"{env.private_prefix}{rng.randrange(0, 64)}.{rng.randrange(4, 250)}"
            vpce = env.vpce[kind.source]
        ua = c.pick(p.uas)
        if kind.source == "s3.amazonaws.com" and not p.service:
            ua = f"[{ua}]"
        fields: dict[str, Any] = {
            "eventVersion": _VERSIONS.get(kind.source, "1.08"),
            "userIdentity": None,
            "eventTime": None,
            "eventSource": kind.source,
            "eventName": kind.name,
            "awsRegion": region,
            "sourceIPAddress": ip,
            "userAgent": ua,
            "requestParameters": f.get("requestParameters"),
            "responseElements": f.get("responseElements"),
            "eventID": None,
            "readOnly": kind.read_only,
            "eventType": kind.event_type,
            "managementEvent": not kind.data,
            "recipientAccountId": acc.id,
            "eventCategory": "Data" if kind.data else "Management",
        }
        for key in ("additionalEventData", "resources", "sharedEventID", "serviceEventDetails"):
            if key in f:
                fields[key] = f[key]
        if kind.rid:
            fields["requestID"] = f.get("requestID", "")
        if fail:
            code, message = _error_for(kind, c, target)
            if code:
                fields["errorCode"] = code
            fields["errorMessage"] = message
            fields["responseElements"] = None
            extra = fields.get("additionalEventData")
            if extra and "bytesTransferredOut" in extra:  # S3 sends an XML error body instead
                fields["additionalEventData"] = {**extra, "bytesTransferredOut": 243}
        if vpce:
            fields["vpcEndpointId"] = vpce
            fields["vpcEndpointAccountId"] = acc.id
        if not p.service and kind.event_type == "AwsApiCall":
            fields["tlsDetails"] = self._tls(host or _default_host(kind.source, region), p.tls12)
        if p.console:
            fields["sessionCredentialFromConsole"] = "true"
        return {k: fields[k] for k in _ORDER if k in fields}, p.kind == "AWSAccount"

    def _variant(self, e: _Entry, a: int, r: int, t: int, fail: bool) -> tuple[Any, ...]:
        rng = self.erng
        kind = e.kind
        p = self._pick_principal(self.w.accounts[a], e.cats, rng)
        base, shared = self.compose(kind, a, r, t, p, fail, rng)
        template, has_slot = _template(base, kind.rid, shared, kind.slot)
        return template, p, kind.rid, kind.slot if has_slot else None, shared

    # -- scripted events ---------------------------------------------------------------------

    def finish(
        self, ev: dict[str, Any], t: int, p: _Principal | None, rng: random.Random, rid: int = 1
    ) -> dict[str, Any]:
        """Fill the per-event fields of a scripted event (same rules as the hot loop)."""
        if p is not None and ev.get("userIdentity") is None:
            ev["userIdentity"] = p.identity(t // 3600)
        ev["eventTime"] = _iso(t)
        ev["eventID"] = _uuid(rng.getrandbits(128))
        if "requestID" in ev and not ev["requestID"]:
            ev["requestID"] = (
                _uuid(rng.getrandbits(128)) if rid != 2 else f"{rng.getrandbits(64):016X}"
            )
        if ev.get("sharedEventID") == "":
            ev["sharedEventID"] = _uuid(rng.getrandbits(128))
        return ev

    def api(
        self,
        kind: _Kind,
        a: int,
        r: int,
        t: int,
        p: _Principal,
        build: Builder | None = None,
        fail: bool = False,
    ) -> dict[str, Any]:
        rng = self.srng
        ev, shared = self.compose(kind, a, r, t, p, fail, rng, build)
        if shared:
            ev["sharedEventID"] = ""
        ev = self.finish(ev, t, p, rng, kind.rid)
        if kind.slot is not None:
            kind.slot.patch(ev, t)
        return ev

    def signin(
        self,
        a: int,
        t: int,
        p: _Principal,
        name: str,
        *,
        response: dict[str, Any] | None,
        extra: dict[str, Any] | None,
        identity: dict[str, Any] | None = None,
        error_message: str | None = None,
        shared: str | None = None,
        ip: str | None = None,
        ua: str | None = None,
    ) -> dict[str, Any]:
        """A console sign-in event (ConsoleLogin, CheckMfa, SwitchRole), logged in the
        global region, without requestID, as the sign-in service writes them."""
        rng = self.srng
        w = self.w
        fields: dict[str, Any] = {
            "eventVersion": _VERSIONS["signin.amazonaws.com"],
            "userIdentity": identity,
            "eventTime": None,
            "eventSource": "signin.amazonaws.com",
            "eventName": name,
            "awsRegion": w.global_region,
            "sourceIPAddress": ip or (p.ips[0] if p.ips else "192.0.2.1"),
            "userAgent": ua or p.uas[0],
            "requestParameters": None,
            "responseElements": response,
            "eventID": None,
            "readOnly": False,
            "eventType": "AwsConsoleSignIn",
            "managementEvent": True,
            "recipientAccountId": w.accounts[a].id,
            "eventCategory": "Management",
            "tlsDetails": self._tls("signin.aws.amazon.com", False),
        }
        if extra is not None:
            fields["additionalEventData"] = extra
        if error_message:
            fields["errorMessage"] = error_message
        if shared:
            fields["sharedEventID"] = shared
        ev = {k: fields[k] for k in _ORDER if k in fields}
        return self.finish(ev, t, p, rng, rid=0)

    # -- planning ----------------------------------------------------------------------------

    def plan(self, n_generic: int, events_per_file: int) -> list[_Plan]:
        """Spread the generic events over five-minute files, busier by day than by night."""
        if n_generic <= 0:
            return []
        rng = self.prng
        w = self.w
        n_files = max(1, math.ceil(n_generic / events_per_file))
        pairs = [(acc.idx, r) for acc in w.accounts for r in range(len(w.regions))]
        reg_w = [1.0, 0.45, 0.25] + [0.15] * max(0, len(w.regions) - 3)
        pair_cum = []
        total = 0.0
        for a, r in pairs:
            total += w.accounts[a].weight * reg_w[r]
            pair_cum.append(total)
        n_windows = self.ndays * (_DAY // _WINDOW)
        win_cum = []
        total = 0.0
        for i in range(n_windows):
            day = _day_of(self.day0 + i * _WINDOW)
            hour = (i % (_DAY // _WINDOW)) * _WINDOW / 3600 + 1 / 24
            factor = 0.3 + 1.4 * math.exp(-(((hour - 14.5) / 4.2) ** 2))
            if day.weekday() >= 5:
                factor *= 0.45
            total += factor
            win_cum.append(total)
        chosen_pairs = rng.choices(pairs, cum_weights=pair_cum, k=n_files)
        chosen_windows = rng.choices(range(n_windows), cum_weights=win_cum, k=n_files)
        sizes = [rng.uniform(0.35, 1.65) for _ in range(n_files)]
        scale = n_generic / sum(sizes)
        counts = [int(s * scale) for s in sizes]
        short = n_generic - sum(counts)
        order = sorted(range(n_files), key=lambda i: sizes[i] * scale - counts[i], reverse=True)
        for i in order[:short]:
            counts[i] += 1
        plans = []
        for (a, r), win, n in zip(chosen_pairs, chosen_windows, counts, strict=True):
            if n == 0:
                continue
            start = self.day0 + win * _WINDOW
            plans.append(self._new_plan(a, r, start, n))
        return plans

    def _new_plan(self, a: int, r: int, start: int, n: int) -> _Plan:
        rng = self.prng
        delivery = start + _WINDOW + rng.randrange(0, 600)
        return _Plan(a, r, start, delivery, n, _rand(rng, _ALNUM, 16))

    def attach(
        self, plans: list[_Plan], scripted: list[tuple[int, int, int, dict[str, Any]]]
    ) -> None:
        """Put each scripted event into a file of its account/region/window, making one if
        no generic file exists there."""
        index: dict[tuple[int, int, int], _Plan] = {}
        for p in plans:
            index.setdefault((p.a, p.r, p.w), p)
        for a, r, t, ev in scripted:
            start = t - t % _WINDOW
            plan = index.get((a, r, start))
            if plan is None:
                plan = index[(a, r, start)] = self._new_plan(a, r, start, 0)
                plans.append(plan)
            plan.scripted.append((t, orjson.dumps(ev)))

    # -- the hot loop ------------------------------------------------------------------------

    def events_for(self, plan: _Plan) -> list[tuple[int, bytes]]:
        """Serialised events of one file (generic ones generated here, scripted ones merged
        in), sorted by time."""
        rng = self.erng
        rand = rng.random
        bits = rng.getrandbits
        n = plan.n
        out: list[tuple[int, bytes]] = []
        if n:
            entries, cum = self.tables[(plan.a, plan.r)]
            chosen = rng.choices(entries, cum_weights=cum, k=n)
            start = plan.w
            times = sorted([start + int(rand() * _WINDOW) for _ in range(n)])
            day_start = start - start % _DAY
            hour = start // 3600  # a five-minute window never spans two hours
            prefix = f'"{_day_of(start).isoformat()}T'.encode()
            hms = _HMS_JSON
            ids = _uuids_json(rng, n + sum([e.rid == 1 for e in chosen]))
            next_id = n
            a, r = plan.a, plan.r
            for j, e, t in zip(range(n), chosen, times, strict=True):
                err = e.err
                if err and rand() < err:
                    pool = e.bad
                    if len(pool) < _ERROR_CAP:
                        pool.append(self._variant(e, a, r, t, True))
                else:
                    pool = e.ok
                    if len(pool) < e.cap:
                        pool.append(self._variant(e, a, r, t, False))
                    elif not e.cap:
                        pool = [self._variant(e, a, r, t, False)]
                template, p, rid, slot, shared = pool[int(rand() * len(pool))]
                ident = p.static_json or p.identity_json(hour)
                values = {b"u": ident, b"t": prefix + hms[t - day_start], b"e": ids[j]}
                if rid == 1:
                    values[b"r"] = ids[next_id]
                    next_id += 1
                elif rid == 2:
                    values[b"r"] = b'"%016X"' % bits(64)
                if shared:
                    values[b"s"] = _uuids_json(rng, 1)[0]
                if slot is not None:
                    slot.fill(values, t)
                out.append((t, template % values))
        if plan.scripted:
            out.extend(plan.scripted)
            out.sort(key=lambda item: item[0])
        return out


# --------------------------------------------------------------------------------------------
# Scripted stories: incidents, daily federation, console sessions
# --------------------------------------------------------------------------------------------

_Scripted = list[tuple[int, int, int, dict[str, Any]]]  # (account idx, region idx, time, event)

_CONSOLE_ACTIONS = (
    "DescribeInstances",
    "DescribeSecurityGroups",
    "ListBuckets",
    "GetBucketPolicy",
    "DescribeAlarms",
    "DescribeStacks",
    "LookupEvents",
    "DescribeDBInstances",
    "ListRoles",
    "GetRole",
    "DescribeSubnets",
)


def _adhoc(source: str, name: str, read_only: bool, build: Builder = _b_no_params) -> _Kind:
    """A call used only by a scripted story (it has no weight in the generic mix)."""
    return _Kind(source, name, 0, build, (), read_only)


def _login_to(s: _Synth) -> str:
    return _LOGIN_TO.format(h=_rand(s.srng, _ALNUM, 12))


def _login_identity(s: _Synth, acc: _Account, user: str | None, *, success: bool) -> dict[str, Any]:
    """ConsoleLogin identities: no session yet, unknown names are hidden by AWS."""
    if user is None:
        return {
            "type": "IAMUser",
            "principalId": "",
            "accountId": acc.id,
            "accessKeyId": "",
            "userName": _HIDDEN_USER,
        }
    ident: dict[str, Any] = {
        "type": "IAMUser",
        "principalId": s.w.uid("AIDA", acc.id, user),
        "arn": f"arn:aws:iam::{acc.id}:user/{user}",
        "accountId": acc.id,
        "userName": user,
    }
    if not success:
        del ident["arn"]
        ident["accessKeyId"] = ""
    return ident


def _inc_root_login(s: _Synth) -> tuple[_Scripted, PlantedIncident]:
    w, rng = s.w, s.srng
    a = min(1, len(w.accounts) - 1)
    acc, g = w.accounts[a], w.global_idx
    t = s.day0 + (s.ndays // 2) * _DAY + 3 * 3600 + rng.randrange(300, 3000)
    root = w.root(acc, ["203.0.113.45"], [_UA_BROWSERS[1]])
    login = s.signin(
        a,
        t,
        root,
        "ConsoleLogin",
        response={"ConsoleLogin": "Success"},
        extra={"LoginTo": _login_to(s), "MobileVersion": "No", "MFAUsed": "No"},
        identity={
            "type": "Root",
            "principalId": acc.id,
            "arn": f"arn:aws:iam::{acc.id}:root",
            "accountId": acc.id,
            "accessKeyId": "",
        },
    )
    out: _Scripted = [(a, g, t, login)]
    for i, name in enumerate(("GetAccountSummary", "ListUsers", "ListAccessKeys")):
        ti = t + 40 + 50 * i + rng.randrange(30)
        out.append((a, g, ti, s.api(_adhoc("iam.amazonaws.com", name, True), a, g, ti, root)))
    return out, PlantedIncident(
        "root-console-login-without-mfa",
        f"The root user of account {acc.id} signed in to the console without MFA at night from "
        "an address never seen before, then listed users and access keys.",
        [login["eventID"]],
    )


def _inc_brute_force(s: _Synth) -> tuple[_Scripted, PlantedIncident]:
    w, rng = s.w, s.srng
    acc, g = w.accounts[0], w.global_idx
    ip, ua = "203.0.113.201", _UA_BROWSERS[3]
    attacker = _Principal("IAMUser", None, ips=[ip], uas=[ua])
    t = s.day0 + max(0, s.ndays - 2) * _DAY + 2 * 3600 + rng.randrange(0, 1800)
    out: _Scripted = []
    for i in range(24):
        t += rng.randrange(12, 22)
        ev = s.signin(
            0,
            t,
            attacker,
            "ConsoleLogin",
            response={"ConsoleLogin": "Failure"},
            extra={"LoginTo": _login_to(s), "MobileVersion": "No", "MFAUsed": "No"},
            identity=_login_identity(s, acc, "alice" if i % 4 == 0 else None, success=False),
            error_message="Failed authentication",
        )
        out.append((0, g, t, ev))
    return out, PlantedIncident(
        "console-login-brute-force",
        f"24 failed console sign-ins to account {acc.id} from {ip} within ten minutes, "
        "mostly for user names that do not exist.",
        [ev["eventID"] for *_, ev in out],
    )


def _inc_open_ssh(s: _Synth) -> tuple[_Scripted, PlantedIncident]:
    w, rng = s.w, s.srng
    a = min(1, len(w.accounts) - 1)
    acc = w.accounts[a]
    env = w.envs[(a, 0)]
    bastion = next(sg for sg, name in env.sgs if name == "bastion")
    t = s.day0 + min(1, s.ndays - 1) * _DAY + 14 * 3600 + rng.randrange(0, 3000)
    p = acc.pools["human"][3]
    kind = s.by_name["AuthorizeSecurityGroupIngress"]
    v4 = s.api(
        kind,
        a,
        0,
        t,
        p,
        lambda c: _sg_change(c, kind.name, _perm("tcp", 22, cidr="0.0.0.0/0"), bastion),
    )
    v6 = s.api(
        kind,
        a,
        0,
        t + 45,
        p,
        lambda c: _sg_change(c, kind.name, _perm("tcp", 22, cidr6="::/0"), bastion),
    )
    return [(a, 0, t, v4), (a, 0, t + 45, v6)], PlantedIncident(
        "security-group-ssh-open-to-world",
        f"Security group {bastion} in {w.regions[0]} was opened to 0.0.0.0/0 and ::/0 on port 22.",
        [v4["eventID"], v6["eventID"]],
    )


def _inc_stop_logging(s: _Synth) -> tuple[_Scripted, PlantedIncident]:
    w, rng = s.w, s.srng
    acc, g = w.accounts[0], w.global_idx
    p = w.role_session(acc, "Admin", "heidi", uas=[_UA_CLI[1]], ips=["203.0.113.99"])

    def build(c: _C) -> dict[str, Any]:
        return {
            "requestParameters": {"name": w.trail_arn},
            "responseElements": None,
            "_target": w.trail_arn,
        }

    t = s.day0 + (s.ndays - 1) * _DAY + 21 * 3600 + rng.randrange(0, 1800)
    stop = s.api(_adhoc("cloudtrail.amazonaws.com", "StopLogging", False, build), 0, g, t, p)
    t2 = t + 1500 + rng.randrange(600)
    start = s.api(_adhoc("cloudtrail.amazonaws.com", "StartLogging", False, build), 0, g, t2, p)
    return [(0, g, t, stop), (0, g, t2, start)], PlantedIncident(
        "cloudtrail-stop-logging",
        f"Trail {w.trail_name} was stopped by an assumed role from an unusual address "
        "(and restarted about half an hour later).",
        [stop["eventID"]],
    )


def _inc_foreign_access_key(s: _Synth) -> tuple[_Scripted, PlantedIncident]:
    w, rng = s.w, s.srng
    acc, g = w.accounts[0], w.global_idx
    alice = acc.users["alice"]
    t = s.day0 + (s.ndays // 3) * _DAY + 11 * 3600 + rng.randrange(0, 3000)

    def build(c: _C) -> dict[str, Any]:
        return {
            "requestParameters": {"userName": "bob"},
            "responseElements": _access_key(c, "bob"),
            "_target": f"arn:aws:iam::{acc.id}:user/bob",
        }

    ev = s.api(s.by_name["CreateAccessKey"], 0, g, t, alice, build)
    return [(0, g, t, ev)], PlantedIncident(
        "access-key-created-for-another-user",
        "IAM user alice created an access key for IAM user bob.",
        [ev["eventID"]],
    )


def _daily_federation(s: _Synth, day: int) -> _Scripted:
    """A working day's federated sign-ins: SAML, Identity Center, GitHub OIDC, a broker."""
    w, rng = s.w, s.srng
    acc0, g = w.accounts[0], w.global_idx
    a = min(1, len(w.accounts) - 1)
    acc = w.accounts[a]
    t = s.day0 + day * _DAY + 8 * 3600 + rng.randrange(0, 3600)
    k = s.by_name
    out: _Scripted = []

    def add(ai: int, r: int, ti: int, kind: _Kind, p: _Principal) -> None:
        out.append((ai, r, ti, s.api(kind, ai, r, ti, p)))

    add(0, g, t, k["AssumeRoleWithSAML"], s.pick(acc0.pools["saml"]))
    idc = s.pick(acc0.pools["idc"])
    add(0, g, t + 60, k["ListAccounts"], idc)
    add(0, g, t + 75, k["GetRoleCredentials"], idc)
    add(0, g, t + 300, k["GetFederationToken"], acc0.pools["broker"][0])
    add(0, 0, t + 420, k["ListBuckets"], s.pick(acc0.pools["fed"]))
    add(a, 0, t + 1800, k["AssumeRoleWithWebIdentity"], s.pick(acc.pools["web"]))
    add(a, 0, t + 1900, k["AssumeRole"], acc.pools["svc"][0])
    if acc.pools.get("cross"):
        add(a, 0, t + 2000, k["GetObject"], s.pick(acc.pools["cross"]))
    return out


def _daily_changes(s: _Synth, day: int) -> _Scripted:
    """The afternoon deploy: a pipeline reshapes security groups and instances."""
    w, rng = s.w, s.srng
    a = min(1, len(w.accounts) - 1)
    p = w.accounts[a].pools["ci"][1]
    t = s.day0 + day * _DAY + 15 * 3600 + rng.randrange(0, 3600)
    out: _Scripted = []
    for name in (
        "CreateSecurityGroup",
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupIngress",
        "ModifyNetworkInterfaceAttribute",
        "RunInstances",
        "CreateTags",
        "ModifyInstanceAttribute",
    ):
        t += rng.randrange(2, 40)
        out.append((a, 0, t, s.api(s.by_name[name], a, 0, t, p)))
    return out


def _console_session(s: _Synth) -> _Scripted:
    """A person signs in (sometimes after a typo), switches role into a workload account
    and clicks around there."""
    w, rng = s.w, s.srng
    acc0, g = w.accounts[0], w.global_idx
    name = s.pick(_HUMANS[:6])
    ip, ua = s.pick(w.human_ips[name]), s.pick(_UA_BROWSERS)
    browser = _Principal("IAMUser", None, ips=[ip], uas=[ua])  # before a session exists
    mfa = name != "frank"
    t = s.day0 + rng.randrange(s.ndays) * _DAY + rng.randrange(7 * 3600, 19 * 3600)
    out: _Scripted = []
    base_extra = {"LoginTo": _login_to(s), "MobileVersion": "No"}
    if rng.random() < 0.25:
        ev = s.signin(
            0,
            t,
            browser,
            "ConsoleLogin",
            response={"ConsoleLogin": "Failure"},
            extra={**base_extra, "MFAUsed": "Yes" if mfa else "No"},
            identity=_login_identity(s, acc0, name, success=False),
            error_message="Failed authentication",
            ip=ip,
            ua=ua,
        )
        out.append((0, g, t, ev))
        t += rng.randrange(15, 60)
    if mfa and rng.random() < 0.5:
        ev = s.signin(
            0,
            t,
            browser,
            "CheckMfa",
            response={"CheckMfa": "Success"},
            extra={"MfaType": "Virtual MFA"},
            identity=_login_identity(s, acc0, name, success=False),
            ip=ip,
            ua=ua,
        )
        out.append((0, g, t, ev))
        t += rng.randrange(5, 20)
    extra = {**base_extra, "MFAUsed": "No"}
    if mfa:
        extra = {
            **base_extra,
            "MFAIdentifier": f"arn:aws:iam::{acc0.id}:mfa/{name}",
            "MFAUsed": "Yes",
        }
    login = s.signin(
        0,
        t,
        browser,
        "ConsoleLogin",
        response={"ConsoleLogin": "Success"},
        extra=extra,
        identity=_login_identity(s, acc0, name, success=True),
        ip=ip,
        ua=ua,
    )
    out.append((0, g, t, login))
    user = w.iam_user(acc0, name, uas=[ua], ips=[ip], console=True, mfa=mfa, created=t)
    t += rng.randrange(20, 90)
    k = rng.randrange(1, len(w.accounts)) if len(w.accounts) > 1 else 0
    dst_acc = w.accounts[k]
    role = s.pick(_SWITCH_ROLES)
    dst = w.role_session(
        dst_acc, role, name, uas=_UA_CONSOLE, ips=[ip], console=True, mfa=mfa, created=t
    )
    region = w.regions[0]
    switch_extra = {
        "SwitchFrom": user.arn,
        "RedirectTo": f"https://{region}.console.aws.amazon.com/console/home?region={region}#",
    }
    shared = _uuid(rng.getrandbits(128)) if k else None
    if k:
        ev = s.signin(
            0,
            t,
            user,
            "SwitchRole",
            response={"SwitchRole": "Success"},
            extra=switch_extra,
            shared=shared,
            ip=ip,
            ua=ua,
        )
        out.append((0, g, t, ev))
    ev = s.signin(
        k,
        t,
        dst,
        "SwitchRole",
        response={"SwitchRole": "Success"},
        extra=switch_extra,
        shared=shared,
        ip=ip,
        ua=ua,
    )
    out.append((k, g, t, ev))
    for _ in range(rng.randrange(4, 11)):
        t += rng.randrange(8, 120)
        kind = s.by_name[s.pick(_CONSOLE_ACTIONS)]
        r = (
            g
            if kind.scope == "global"
            else (0 if rng.random() < 0.7 else rng.randrange(len(w.regions)))
        )
        out.append((k, r, t, s.api(kind, k, r, t, dst, fail=rng.random() < 0.04)))
    return out


def _scenarios(s: _Synth, budget: int, incidents: bool) -> tuple[_Scripted, list[PlantedIncident]]:
    """All scripted events, most important first, as many groups as ``budget`` allows."""
    events: _Scripted = []
    planted: list[PlantedIncident] = []

    def fits(group: _Scripted) -> bool:
        if len(events) + len(group) > budget:
            return False
        events.extend(group)
        return True

    if incidents:
        for make in (
            _inc_root_login,
            _inc_brute_force,
            _inc_open_ssh,
            _inc_stop_logging,
            _inc_foreign_access_key,
        ):
            group, incident = make(s)
            if fits(group):
                planted.append(incident)
    for day in range(s.ndays):
        fits(_daily_federation(s, day))
        fits(_daily_changes(s, day))
    n_sessions = max(3, min(budget // 2500, 12 * s.ndays))
    for _ in range(n_sessions):
        fits(_console_session(s))
    return events, planted


# --------------------------------------------------------------------------------------------
# Insights and digests
# --------------------------------------------------------------------------------------------


def _insight_files(s: _Synth) -> list[tuple[int, int, int, list[dict[str, Any]]]]:
    """A call-rate and an error-rate Insight per account, each a Start and an End event."""
    w = s.w
    rng = random.Random(f"trailscope-synth:{s.seed}:insights")
    files = []
    for acc in w.accounts:
        hammered = acc.idx == w.hammer_account
        rate_call = rng.choice(
            [
                ("ec2.amazonaws.com", "CreateTags", None),
                ("ec2.amazonaws.com", "RunInstances", None),
                ("iam.amazonaws.com", "AttachRolePolicy", None),
            ]
        )
        error_call = (
            ("secretsmanager.amazonaws.com", "GetSecretValue", "AccessDenied")
            if hammered
            else ("ec2.amazonaws.com", "DescribeInstances", "Client.UnauthorizedOperation")
        )
        for (source, name, code), itype in (
            (rate_call, "ApiCallRateInsight"),
            (error_call, "ApiErrorRateInsight"),
        ):
            if source == "iam.amazonaws.com":
                r = w.global_idx
            elif hammered and code:
                r = w.hammer_region
            else:
                r = rng.randrange(len(w.regions))
            role = "legacy-reporting-role" if hammered and code else "github-actions-deploy"
            who = f"arn:aws:sts::{acc.id}:assumed-role/{role}"
            ua = _UA_SDK[0] if hammered and code else _UA_TERRAFORM[0]
            start = s.day0 + rng.randrange(s.ndays) * _DAY + rng.randrange(9 * 3600, 17 * 3600)
            start -= start % 60
            minutes = rng.randrange(3, 40)
            baseline = round(rng.uniform(0.0005, 0.05), 7)
            burst = round(rng.uniform(0.8, 12.0), 4)
            baseline_minutes = 10080 + rng.randrange(0, 4000)
            shared = _uuid(rng.getrandbits(128))

            def attribution(
                attr: str, value: str, b: float = baseline, i: float = burst
            ) -> dict[str, Any]:
                return {
                    "attribute": attr,
                    "insight": [{"value": value, "average": i}],
                    "baseline": [{"value": value, "average": b}],
                }

            for state, t in (("Start", start), ("End", start + minutes * 60)):
                ev = {
                    "eventVersion": "1.08",
                    "eventTime": _iso(t),
                    "awsRegion": w.regions[r],
                    "eventID": _uuid(rng.getrandbits(128)),
                    "eventType": "AwsCloudTrailInsight",
                    "recipientAccountId": acc.id,
                    "sharedEventID": shared,
                    "insightDetails": {
                        "state": state,
                        "eventSource": source,
                        "eventName": name,
                        "insightType": itype,
                        "insightContext": {
                            "statistics": {
                                "baseline": {"average": baseline},
                                "insight": {"average": burst},
                                "insightDuration": minutes,
                                "baselineDuration": baseline_minutes,
                            },
                            "attributions": [
                                attribution("userIdentityArn", who),
                                attribution("userAgent", ua),
                                attribution("errorCode", code or "null"),
                            ],
                        },
                    },
                    "eventCategory": "Insight",
                }
                files.append((acc.idx, r, t + rng.randrange(1200, 2400), [ev]))
    files.sort(key=lambda f: (f[2], f[0], f[1]))
    return files


class _Gaps:
    """Gaps between re-delivered events: geometric, so picking a fraction of a million
    events costs a few thousand draws instead of a million."""

    def __init__(self, rng: random.Random, fraction: float) -> None:
        self.rng = rng
        self.log_keep = math.log1p(-fraction) if fraction > 0 else 0.0

    def __call__(self) -> int | float:
        if not self.log_keep:
            return math.inf
        return int(math.log(1.0 - self.rng.random()) / self.log_keep)


@dataclass
class _LogRef:
    delivery: int
    key: str
    sha256: str
    oldest: int
    newest: int


def _write_digests(
    s: _Synth,
    logs: dict[tuple[int, int], list[_LogRef]],
    until: int,
    signing_key: RSAPrivateKey | None,
) -> tuple[int, dict[str, str]]:
    """Hourly digest chains per account and region, covering every delivered log file."""
    w = s.w
    rng = random.Random(f"trailscope-synth:{s.seed}:digests")
    fingerprint = ""
    if signing_key is not None:
        from cryptography.hazmat.primitives import serialization

        der = signing_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.PKCS1
        )
        fingerprint = hashlib.md5(der).hexdigest()  # what CloudTrail puts in the digest
    signatures: dict[str, str] = {}
    count = 0
    for acc in w.accounts:
        for r, region in enumerate(w.regions):
            refs = logs.get((acc.idx, r), [])
            i = 0
            start = s.day0
            end = s.day0 + rng.randrange(60, 3600)
            prev: tuple[str, str, str] | None = None
            while True:
                batch = []
                while i < len(refs) and refs[i].delivery < end:
                    batch.append(refs[i])
                    i += 1
                key = (
                    f"{s.prefix(acc.idx)}/CloudTrail-Digest/{region}/{_day_of(end):%Y/%m/%d}/"
                    f"{acc.id}_CloudTrail-Digest_{region}_{w.trail_name}_{w.global_region}_"
                    f"{_stamp_sec(end)}.json.gz"
                )
                doc = {
                    "awsAccountId": acc.id,
                    "digestStartTime": _iso(start),
                    "digestEndTime": _iso(end),
                    "digestS3Bucket": SAMPLE_BUCKET,
                    "digestS3Object": key,
                    "digestPublicKeyFingerprint": fingerprint,
                    "digestSignatureAlgorithm": "SHA256withRSA",
                    "newestEventTime": _iso(max(b.newest for b in batch)) if batch else None,
                    "oldestEventTime": _iso(min(b.oldest for b in batch)) if batch else None,
                    "previousDigestS3Bucket": SAMPLE_BUCKET if prev else None,
                    "previousDigestS3Object": prev[0] if prev else None,
                    "previousDigestHashValue": prev[1] if prev else None,
                    "previousDigestHashAlgorithm": "SHA-256" if prev else None,
                    "previousDigestSignature": prev[2] if prev else None,
                    "logFiles": [
                        {
                            "s3Bucket": SAMPLE_BUCKET,
                            "s3Object": b.key,
                            "hashValue": b.sha256,
                            "hashAlgorithm": "SHA-256",
                            "newestEventTime": _iso(b.newest),
                            "oldestEventTime": _iso(b.oldest),
                        }
                        for b in batch
                    ],
                }
                raw = orjson.dumps(doc)
                digest_hash = hashlib.sha256(raw).hexdigest()
                signature = ""
                if signing_key is not None:
                    from cryptography.hazmat.primitives import hashes
                    from cryptography.hazmat.primitives.asymmetric import padding

                    to_sign = (
                        f"{_iso(end)}\n{SAMPLE_BUCKET}/{key}\n{digest_hash}\n"
                        f"{prev[2] if prev else 'null'}"
                    )
                    signature = signing_key.sign(
                        to_sign.encode(), padding.PKCS1v15(), hashes.SHA256()
                    ).hex()
                    signatures[key] = signature
                s.write(key, raw)
                count += 1
                prev = (key, digest_hash, signature)
                if end > until and i >= len(refs):
                    break
                start, end = end, end + 3600
    return count, signatures


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def _prepare(root: Path, overwrite: bool) -> None:
    """Refuse to mix two trails in one folder unless asked to replace the old one."""
    owned = [root / "AWSLogs", root / "_synth"]
    existing = [p for p in owned if p.exists()]
    if existing and not overwrite:
        raise TrailscopeError(
            f"{root} already holds a trail ({existing[0].name}/)",
            hint="choose an empty folder, or pass overwrite=True to replace it",
        )
    for p in existing:
        shutil.rmtree(p)
    root.mkdir(parents=True, exist_ok=True)


def synth_trail(
    dest: Path | str,
    *,
    events: int = 200_000,
    seed: int = 7,
    accounts: int = 3,
    regions: tuple[str, ...] = ("us-east-1", "eu-west-1", "ap-southeast-2"),
    days: int = 7,
    end: dt.date | None = None,
    org_id: str | None = None,
    events_per_file: int = 128,
    digests: bool = True,
    insights: bool = True,
    incidents: bool = True,
    redeliver_fraction: float = 0.001,
    signing_key: RSAPrivateKey | None = None,
    progress: Callable[[int], None] | None = None,
    compresslevel: int = 2,
    overwrite: bool = False,
) -> SynthReport:
    """Write a deterministic, realistic CloudTrail trail under ``dest`` and report it.

    ``events`` unique events go into ``CloudTrail/`` log files (Insight events come on top);
    ``redeliver_fraction`` of them are written a second time, byte-identical, in a later file.
    The trail covers ``days`` days ending on ``end`` (default :data:`DEFAULT_END`). With
    ``signing_key`` the digests are signed and the signatures (which S3 would keep as object
    metadata) are written to :data:`SIGNATURES_FILE` with the key in :data:`PUBLIC_KEY_FILE`.
    ``progress`` receives the number of unique events of each log file as it is written; the
    calls add up to ``report.log_events``. ``compresslevel`` is the gzip level (1-9);
    ``overwrite`` replaces a trail already in ``dest`` instead of refusing.
    """
    if events < 0:
        raise ValueError("events must be >= 0")
    if accounts < 1 or days < 1 or events_per_file < 1:
        raise ValueError("accounts, days and events_per_file must be >= 1")
    if not regions:
        raise ValueError("at least one region is needed")
    if len(set(regions)) != len(regions):
        raise ValueError("regions must be distinct")
    if not 0.0 <= redeliver_fraction < 1.0:
        raise ValueError("redeliver_fraction must be in [0, 1)")
    root = Path(dest)
    _prepare(root, overwrite)
    last_day = end or DEFAULT_END
    first_day = last_day - dt.timedelta(days=days - 1)
    world = _World(seed, accounts, regions, org_id)
    world.cross_account()
    s = _Synth(
        root,
        seed=seed,
        world=world,
        first_day=first_day,
        days=days,
        compresslevel=compresslevel,
    )
    return _run(
        s,
        events=events,
        events_per_file=events_per_file,
        digests=digests,
        insights=insights,
        incidents=incidents,
        redeliver_fraction=redeliver_fraction,
        signing_key=signing_key,
        progress=progress,
    )


def _run(
    s: _Synth,
    *,
    events: int,
    events_per_file: int,
    digests: bool,
    insights: bool,
    incidents: bool,
    redeliver_fraction: float,
    signing_key: RSAPrivateKey | None,
    progress: Callable[[int], None] | None,
) -> SynthReport:
    """Plan, generate and write everything; the body of :func:`synth_trail`."""
    world, seed, days = s.w, s.seed, s.ndays
    first_day = _day_of(s.day0)

    scripted, planted = _scenarios(s, events, incidents)
    plans = s.plan(events - len(scripted), events_per_file)
    s.attach(plans, scripted)
    plans.sort(key=lambda p: (p.delivery, p.a, p.r, p.suffix))

    gap = _Gaps(random.Random(f"trailscope-synth:{seed}:redelivery"), redeliver_fraction)
    next_pick = gap()  # index, counted over all unique events, of the next one to re-deliver
    pending: dict[tuple[int, int], list[tuple[int, bytes]]] = {}
    logs: dict[tuple[int, int], list[_LogRef]] = {}
    log_events = redelivered = log_files = 0
    last_delivery = s.day0 + days * _DAY
    for plan in plans:
        records = s.events_for(plan)
        unique = len(records)
        ar = (plan.a, plan.r)
        waiting = pending.pop(ar, None)
        if waiting:
            # Re-deliveries come soon after the original: never more than a day later.
            day = plan.delivery // _DAY
            again = [item for item in waiting if day - item[0] // _DAY <= 1]
            records.extend(again)
            redelivered += len(again)
        chosen = []
        while next_pick < unique:
            chosen.append(records[next_pick])
            next_pick += 1 + gap()
        next_pick -= unique
        if chosen:
            pending[ar] = chosen
        # Own events are sorted; re-delivered copies (appended) are older still.
        oldest = min(t for t, _ in (records[0], *records[unique:]))
        newest = records[unique - 1][0]
        raw = b'{"Records":[' + b",".join([ev for _, ev in records]) + b"]}"
        acct = world.accounts[plan.a].id
        region = world.regions[plan.r]
        key = (
            f"{s.prefix(plan.a)}/CloudTrail/{region}/{_day_of(plan.delivery):%Y/%m/%d}/"
            f"{acct}_CloudTrail_{region}_{_stamp_min(plan.delivery)}_{plan.suffix}.json.gz"
        )
        s.write(key, raw)
        logs.setdefault(ar, []).append(
            _LogRef(plan.delivery, key, hashlib.sha256(raw).hexdigest(), oldest, newest)
        )
        log_files += 1
        log_events += unique
        last_delivery = max(last_delivery, plan.delivery)
        if progress is not None:
            progress(unique)

    insight_events = insight_files = 0
    if insights:
        rng = random.Random(f"trailscope-synth:{seed}:insight-names")
        for a, r, delivery, evs in _insight_files(s):
            acct, region = world.accounts[a].id, world.regions[r]
            key = (
                f"{s.prefix(a)}/CloudTrail-Insight/{region}/{_day_of(delivery):%Y/%m/%d}/"
                f"{acct}_CloudTrail-Insight_{region}_{_stamp_min(delivery)}_"
                f"{_rand(rng, _ALNUM, 16)}.json.gz"
            )
            s.write(key, orjson.dumps({"Records": evs}))
            insight_files += 1
            insight_events += len(evs)

    other_files = 0
    for acc in world.accounts:
        key = f"{s.prefix(acc.idx)}/CloudTrail/ConfigWritabilityCheckFile"
        s.write(key, b"Configuration writability check\n", gzip=False)
        other_files += 1

    digest_files = 0
    if digests:
        digest_files, signatures = _write_digests(s, logs, last_delivery, signing_key)
        if signing_key is not None:
            from cryptography.hazmat.primitives import serialization

            listing = orjson.dumps(signatures, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
            s.write(SIGNATURES_FILE, listing, gzip=False)
            pem = signing_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            s.write(PUBLIC_KEY_FILE, pem, gzip=False)
            other_files += 2

    return SynthReport(
        root=s.dest,
        events=log_events + insight_events,
        log_events=log_events,
        insight_events=insight_events,
        redelivered_events=redelivered,
        log_files=log_files,
        insight_files=insight_files,
        digest_files=digest_files,
        other_files=other_files,
        accounts=[acc.id for acc in world.accounts],
        regions=list(world.regions),
        days=[first_day + dt.timedelta(days=i) for i in range(days)],
        org_id=world.org_id,
        incidents=planted,
        files=s.files,
    )
