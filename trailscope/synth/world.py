"""The world of a synthetic trail: accounts, their resources per region, and who acts in them.

Everything here exists before the first event. Resources are drawn from one seeded stream in a
fixed order; identifiers of principals are derived by hashing, so adding a principal never
changes another one.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from trailscope.synth.clock import iso
from trailscope.synth.homes import home_addresses
from trailscope.synth.ids import (
    ALPHANUMERIC,
    BASE32,
    DIGITS,
    HEX,
    StableIds,
    random_text,
    uuid4_text,
)
from trailscope.synth.people import (
    APP_ROLES,
    EMAIL_DOMAIN,
    ENVIRONMENTS,
    GITHUB_ORG,
    HUMANS,
    INVOKERS,
    ROLE_SERVICES,
    SSO_PERMISSION_SETS,
    SWITCH_ROLES,
    UA_BROWSERS,
    UA_CLI,
    UA_CONSOLE,
    UA_SDK,
    UA_TERRAFORM,
)
from trailscope.synth.principals import PoolName, Principal, service_principal

#: Services that accounts reach through interface or gateway VPC endpoints.
VPC_ENDPOINT_SERVICES = frozenset(
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
_ACCOUNT_WEIGHTS = {"management": 0.45, "prod": 1.7, "staging": 0.8, "dev": 0.9}


@dataclass
class Resources:
    """Resources of one account in one region."""

    buckets: list[str]
    kms_keys: list[str]
    functions: list[str]
    instances: list[str]
    security_groups: list[tuple[str, str]]  # (group id, name)
    vpc: str
    subnets: list[str]
    network_interfaces: list[str]
    secrets: list[str]
    parameters: list[str]
    tables: list[str]
    autoscaling_groups: list[str]
    databases: list[str]
    stacks: list[str]
    target_groups: list[str]
    nat_addresses: list[str]
    private_prefix: str  # the first two octets of the VPC's addresses, with the dot
    vpc_endpoints: dict[str, str]  # service -> vpce id
    images: list[str]


@dataclass
class Account:
    """One AWS account: its roles and the principals acting in it."""

    index: int
    id: str
    environment: str
    weight: float  # relative volume of calls
    roles: dict[str, str]  # role name -> role ARN
    pools: dict[PoolName, list[Principal]] = field(default_factory=dict)
    users: dict[str, Principal] = field(default_factory=dict)  # programmatic IAM users
    identity_store: str = ""


class World:
    """Everything that exists before the first event: accounts, principals, resources."""

    def __init__(
        self,
        seed: int,
        account_count: int,
        regions: Sequence[str],
        org_id: str | None,
        geography: bool = False,
    ) -> None:
        self.seed = seed
        self.ids = StableIds(seed)
        self.rng = random.Random(f"trailscope-synth:{seed}:world")
        self.regions = list(regions)
        #: Where global services (IAM, sign-in, Organizations) log: us-east-1 when covered.
        self.global_region = "us-east-1" if "us-east-1" in self.regions else self.regions[0]
        self.global_index = self.regions.index(self.global_region)
        self.org_id = org_id
        self.trail_name = "org-trail" if org_id else "management-events"
        account_ids: list[str] = []
        while len(account_ids) < account_count:
            candidate = str(self.rng.randrange(10**11, 10**12))
            if candidate not in account_ids:
                account_ids.append(candidate)
        self.accounts = [self._account(i, acct) for i, acct in enumerate(account_ids)]
        self.trail_arn = (
            f"arn:aws:cloudtrail:{self.global_region}:{account_ids[0]}:trail/{self.trail_name}"
        )
        self.resources = {
            (account.index, r): self._resources(account, region)
            for account in self.accounts
            for r, region in enumerate(self.regions)
        }
        # Shared home-office and laptop addresses (documentation ranges: no real hosts).
        self.human_addresses = {
            h: [f"198.51.100.{10 + 11 * i + j}" for j in range(2)] for i, h in enumerate(HUMANS)
        }
        self.human_addresses["erin"].append("2001:db8:4f2a:100::7")
        self.human_addresses["grace"] = ["2001:db8:85a3:12::1a2f"]
        if geography:  # real providers' addresses in each person's home country
            self.human_addresses = home_addresses()
        self.ci_addresses = [f"192.0.2.{200 + i}" for i in range(8)]
        for account in self.accounts:
            self._principals(account)
        prod = self.accounts[min(1, account_count - 1)]
        #: The account and region where a misconfigured box retries a denied call all day.
        self.hammer_account = prod.index
        self.hammer_region = 0
        self.hammer = self._hammer(prod)
        self._cross_account()

    # -- accounts and resources --------------------------------------------------------------

    def _account(self, index: int, acct: str) -> Account:
        environment = ENVIRONMENTS[index] if index < len(ENVIRONMENTS) else f"workload{index}"
        roles: dict[str, str] = {}
        for app in APP_ROLES:
            roles[app.name] = f"arn:aws:iam::{acct}:role/{app.name}"
        for name in SWITCH_ROLES:
            roles[name] = f"arn:aws:iam::{acct}:role/{name}"
        for permission_set in SSO_PERMISSION_SETS:
            name = f"AWSReservedSSO_{permission_set}_{self.ids.text(HEX, 16, acct, permission_set)}"
            roles[name] = f"arn:aws:iam::{acct}:role/aws-reserved/sso.amazonaws.com/{name}"
        roles["github-actions-deploy"] = f"arn:aws:iam::{acct}:role/github-actions-deploy"
        roles["AWSServiceRoleForConfig"] = (
            f"arn:aws:iam::{acct}:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig"
        )
        roles["legacy-reporting-role"] = f"arn:aws:iam::{acct}:role/legacy-reporting-role"
        roles["saml-engineers"] = f"arn:aws:iam::{acct}:role/saml-engineers"
        return Account(
            index=index,
            id=acct,
            environment=environment,
            weight=_ACCOUNT_WEIGHTS.get(environment, 0.6),
            roles=roles,
            identity_store=f"d-{self.ids.text(DIGITS, 10, acct, 'idstore')}",
        )

    def _resources(self, account: Account, region: str) -> Resources:
        rng = self.rng
        acct, env = account.id, account.environment
        purposes = ["app-uploads", "data-lake", "static-assets", "backups", "athena-results"]
        if region == self.global_region:
            purposes.append("terraform-state")
        parts = region.split("-")
        short = parts[0] + "".join(x[0] for x in parts[1:-1]) + parts[-1]  # eu-west-1 -> euw1

        def hex_id(prefix: str) -> str:
            return f"{prefix}-0{random_text(rng, HEX, 16)}"

        return Resources(
            buckets=[f"{env}-{p}-{acct[-4:]}-{short}" for p in purposes],
            kms_keys=[
                f"arn:aws:kms:{region}:{acct}:key/{uuid4_text(rng.getrandbits(128))}"
                for _ in range(3)
            ],
            functions=[
                f"arn:aws:lambda:{region}:{acct}:function:{n}"
                for n in (
                    "orders-api",
                    "thumbnailer",
                    "ingest-events",
                    "nightly-report",
                    "notifier",
                )
            ],
            instances=[hex_id("i") for _ in range(14)],
            security_groups=[
                (hex_id("sg"), n)
                for n in ("web-alb", "web-app", "bastion", "orders-db", "eks-nodes", "default")
            ],
            vpc=hex_id("vpc"),
            subnets=[hex_id("subnet") for _ in range(4)],
            network_interfaces=[hex_id("eni") for _ in range(8)],
            secrets=[
                f"arn:aws:secretsmanager:{region}:{acct}:secret:{env}/{n}-"
                f"{random_text(rng, ALPHANUMERIC, 6)}"
                for n in ("orders/db", "payments/api-key", "reporting/warehouse")
            ],
            parameters=[
                f"/{env}/{n}" for n in ("orders/db_host", "orders/feature_flags", "shared/vpc_id")
            ],
            tables=["orders", "sessions", "inventory"],
            autoscaling_groups=["web-asg", "workers-asg"],
            databases=["orders-db", "analytics-db"],
            stacks=["network", "orders-api", "monitoring"],
            target_groups=[
                f"arn:aws:elasticloadbalancing:{region}:{acct}:targetgroup/{n}/"
                f"{random_text(rng, HEX, 16)}"
                for n in ("web-tg", "api-tg")
            ],
            nat_addresses=[f"192.0.2.{rng.randrange(1, 190)}" for _ in range(2)],
            private_prefix=f"10.{account.index * 16 + self.regions.index(region)}.",
            vpc_endpoints={s: hex_id("vpce") for s in sorted(VPC_ENDPOINT_SERVICES)},
            images=[hex_id("ami") for _ in range(3)],
        )

    # -- principals --------------------------------------------------------------------------

    def session_start(self, arn: str, hour: int) -> int:
        """When the session used during ``hour`` began: shortly before the hour."""
        return hour * 3600 - int(self.ids.text(DIGITS, 4, arn, hour)) % 2700

    def role_session(
        self,
        account: Account,
        role: str,
        session: str,
        *,
        user_agents: Sequence[str],
        addresses: Sequence[str] | None = None,
        mfa: bool = False,
        console: bool = False,
        web_provider: str | None = None,
        ec2: bool = False,
        vpc: bool = False,
        tls12: bool = False,
        created: int | None = None,
    ) -> Principal:
        """An assumed-role session; one per hour unless ``created`` pins a single session
        (as when a person switches role in the console).

        :param web_provider: the OIDC provider of a web-identity session.
        :param ec2: the session is an instance profile's (``ec2RoleDelivery``).
        """
        acct = account.id
        role_arn = account.roles.get(role) or f"arn:aws:iam::{acct}:role/{role}"
        role_id = self.ids.unique_id("AROA", acct, role)
        arn = f"arn:aws:sts::{acct}:assumed-role/{role}/{session}"
        issuer = {
            "type": "Role",
            "principalId": role_id,
            "arn": role_arn,
            "accountId": acct,
            "userName": role,
        }
        web = {"federatedProvider": web_provider, "attributes": {}} if web_provider else {}
        mfa_text = "true" if mfa else "false"

        def build(start: int) -> dict[str, Any]:
            context: dict[str, Any] = {
                "sessionIssuer": issuer,
                "webIdFederationData": web,
                "attributes": {"creationDate": iso(start), "mfaAuthenticated": mfa_text},
            }
            if ec2:
                context["ec2RoleDelivery"] = "2.0"
            return {
                "type": "AssumedRole",
                "principalId": f"{role_id}:{session}",
                "arn": arn,
                "accountId": acct,
                "accessKeyId": "ASIA" + self.ids.text(BASE32, 16, arn, start),
                "sessionContext": context,
            }

        return Principal(
            "AssumedRole",
            arn,
            addresses=addresses,
            user_agents=user_agents,
            static=build(created) if created is not None else None,
            session_identity=lambda hour: build(self.session_start(arn, hour)),
            console=console,
            vpc=vpc,
            tls12=tls12,
        )

    def iam_user(
        self,
        account: Account,
        name: str,
        *,
        user_agents: Sequence[str],
        addresses: Sequence[str] | None,
        console: bool = False,
        mfa: bool = True,
        created: int | None = None,
    ) -> Principal:
        """An IAM user: a long-term access key, or console sessions (hourly, or the single one
        that started at ``created``)."""
        acct = account.id
        arn = f"arn:aws:iam::{acct}:user/{name}"
        principal_id = self.ids.unique_id("AIDA", acct, name)
        if not console:
            static = {
                "type": "IAMUser",
                "principalId": principal_id,
                "arn": arn,
                "accountId": acct,
                "accessKeyId": "AKIA" + self.ids.text(BASE32, 16, arn, "key"),
                "userName": name,
            }
            return Principal(
                "IAMUser", arn, addresses=addresses, user_agents=user_agents, static=static
            )
        mfa_text = "true" if mfa else "false"

        def build(start: int) -> dict[str, Any]:
            return {
                "type": "IAMUser",
                "principalId": principal_id,
                "arn": arn,
                "accountId": acct,
                "accessKeyId": "ASIA" + self.ids.text(BASE32, 16, arn, start),
                "userName": name,
                "sessionContext": {
                    "sessionIssuer": {},
                    "webIdFederationData": {},
                    "attributes": {"creationDate": iso(start), "mfaAuthenticated": mfa_text},
                },
            }

        return Principal(
            "IAMUser",
            arn,
            addresses=addresses,
            user_agents=user_agents,
            static=build(created) if created is not None else None,
            session_identity=lambda hour: build(self.session_start(arn, hour)),
            console=True,
        )

    def root(
        self, account: Account, addresses: Sequence[str], user_agents: Sequence[str]
    ) -> Principal:
        """The account's root user in console sessions without MFA."""
        acct = account.id
        arn = f"arn:aws:iam::{acct}:root"

        def build(hour: int) -> dict[str, Any]:
            created = self.session_start(arn, hour)
            return {
                "type": "Root",
                "principalId": acct,
                "arn": arn,
                "accountId": acct,
                "accessKeyId": "ASIA" + self.ids.text(BASE32, 16, arn, hour),
                "sessionContext": {
                    "sessionIssuer": {},
                    "webIdFederationData": {},
                    "attributes": {"creationDate": iso(created), "mfaAuthenticated": "false"},
                },
            }

        return Principal(
            "Root",
            arn,
            addresses=addresses,
            user_agents=user_agents,
            session_identity=build,
            console=True,
        )

    def _principals(self, account: Account) -> None:
        """Who acts in an account; calls draw principals from these named pools."""
        acct = account.id
        pools = account.pools
        ids = self.ids
        workloads = []
        for app in APP_ROLES:
            user_agents = [UA_SDK[app.sdk]]
            if app.sessions == "ec2":
                sessions = [f"i-0{ids.text(HEX, 16, acct, app.name, k)}" for k in range(3)]
            elif app.sessions.startswith("lambda:"):
                sessions = [app.sessions.split(":", 1)[1]]
            elif app.sessions == "ecs":
                sessions = [ids.text(HEX, 32, acct, app.name, k) for k in range(2)]
            else:
                sessions = ["botocore-session-" + ids.text(DIGITS, 10, acct, app.name)]
            for session in sessions:
                workloads.append(
                    self.role_session(
                        account,
                        app.name,
                        session,
                        user_agents=user_agents,
                        ec2=app.sessions == "ec2",
                        vpc=app.in_vpc,
                        tls12=app.sdk == 1,
                    )
                )
        pools["workload"] = workloads
        pools["service"] = [service_principal(h) for h in ROLE_SERVICES]
        pools["invoker"] = [service_principal(h) for h in INVOKERS]
        console_users = []
        for i, human in enumerate(HUMANS[:6]):
            prefix = f"AWSReservedSSO_{SSO_PERMISSION_SETS[i % 3]}_"
            role = next(k for k in account.roles if k.startswith(prefix))
            console_users.append(
                self.role_session(
                    account,
                    role,
                    f"{human}@{EMAIL_DOMAIN}",
                    user_agents=UA_CONSOLE,
                    addresses=self.human_addresses[human],
                    console=True,
                )
            )
        pools["console"] = console_users
        power_user = next(
            k for k in account.roles if k.startswith("AWSReservedSSO_PowerUserAccess_")
        )
        cli = [
            self.role_session(
                account,
                power_user,
                f"{human}@{EMAIL_DOMAIN}",
                user_agents=UA_CLI,
                addresses=self.human_addresses[human],
            )
            for human in HUMANS[:4]
        ]
        pipeline = [
            self.iam_user(
                account, "ci-deployer", user_agents=UA_TERRAFORM, addresses=self.ci_addresses[:4]
            ),
            self.role_session(
                account,
                "github-actions-deploy",
                "GitHubActions",
                user_agents=(UA_SDK[3], UA_TERRAFORM[0]),
                addresses=self.ci_addresses[4:],
                web_provider=f"arn:aws:iam::{acct}:oidc-provider/token.actions.githubusercontent.com",
            ),
        ]
        pools["pipeline"] = pipeline
        account.users["ci-deployer"] = pipeline[0]
        account.users["backup-bot"] = self.iam_user(
            account, "backup-bot", user_agents=[UA_SDK[2]], addresses=None
        )
        pools["bot"] = [account.users["backup-bot"]]
        if account.index == 0:  # the management account
            for human in HUMANS[:3]:
                account.users[human] = self.iam_user(
                    account, human, user_agents=UA_CLI, addresses=self.human_addresses[human]
                )
            cli.extend(account.users[h] for h in HUMANS[:3])
            account.users["legacy-broker"] = self.iam_user(
                account, "legacy-broker", user_agents=[UA_SDK[1]], addresses=self.ci_addresses[:2]
            )
            pools["broker"] = [account.users["legacy-broker"]]
            pools["identity_center"] = [self._identity_center_user(account, h) for h in HUMANS[:5]]
            pools["saml"] = [self._saml_user(h) for h in HUMANS[3:7]]
        pools["cli"] = cli
        pools["config"] = [
            self.role_session(
                account,
                "AWSServiceRoleForConfig",
                "AWSConfig-Describe",
                user_agents=["config.amazonaws.com"],
                addresses=["config.amazonaws.com"],
            )
        ]
        pools["web_identity"] = [
            self._web_identity_user(account, r) for r in ("infra", "orders-api")
        ]
        pools["federated"] = [
            self._federated_user(account, n) for n in ("partner-ops", "report-viewer")
        ]
        pools["key_rotation"] = [
            Principal(
                "ServiceEvent",
                None,
                addresses=["kms.amazonaws.com"],
                user_agents=["kms.amazonaws.com"],
                static={"accountId": acct, "invokedBy": "kms.amazonaws.com"},
            )
        ]

    def _cross_account(self) -> None:
        """AWSAccount principals: the other accounts' ETL role reaching in."""
        for account in self.accounts:
            others = [o for o in self.accounts if o.index != account.index]
            account.pools["cross_account"] = [
                Principal(
                    "AWSAccount",
                    None,
                    addresses=["192.0.2.77"],
                    user_agents=[UA_SDK[1]],
                    static={
                        "type": "AWSAccount",
                        "principalId": f"{self.ids.unique_id('AROA', o.id, 'batch-etl-role')}:etl",
                        "accountId": o.id,
                    },
                )
                for o in others
            ]

    def _identity_center_user(self, account: Account, name: str) -> Principal:
        store = f"arn:aws:identitystore::{account.id}:identitystore/{account.identity_store}"
        # Identity Store user IDs: ten digits, a dash, then the tail of a UUID.
        tail = uuid4_text(int(self.ids.text(HEX, 32, name), 16))[11:]
        user_id = f"{self.ids.text(DIGITS, 10, name, 'idc')}-{tail}"

        def build(hour: int) -> dict[str, Any]:
            return {
                "type": "IdentityCenterUser",
                "accountId": account.id,
                "onBehalfOf": {"userId": user_id, "identityStoreArn": store},
                "credentialId": self.ids.text(ALPHANUMERIC + "-_", 64, name, hour, "cred"),
            }

        return Principal(
            "IdentityCenterUser",
            None,
            addresses=self.human_addresses[name],
            user_agents=UA_BROWSERS,
            session_identity=build,
        )

    def _saml_user(self, name: str) -> Principal:
        issuer = "Zx8e" + self.ids.text(ALPHANUMERIC, 24, "saml-issuer") + "="
        user = f"{name}@{EMAIL_DOMAIN}"
        return Principal(
            "SAMLUser",
            None,
            addresses=self.human_addresses[name],
            user_agents=UA_BROWSERS[:2],
            static={
                "type": "SAMLUser",
                "principalId": f"{issuer}:{user}",
                "userName": user,
                "identityProvider": issuer,
            },
        )

    def _web_identity_user(self, account: Account, repo: str) -> Principal:
        provider = f"arn:aws:iam::{account.id}:oidc-provider/token.actions.githubusercontent.com"
        subject = f"repo:{GITHUB_ORG}/{repo}:ref:refs/heads/main"
        return Principal(
            "WebIdentityUser",
            None,
            addresses=self.ci_addresses[4:],
            user_agents=[UA_SDK[3]],
            static={
                "type": "WebIdentityUser",
                "principalId": f"{provider}:sts.amazonaws.com:{subject}",
                "userName": subject,
                "identityProvider": provider,
            },
        )

    def _federated_user(self, account: Account, name: str) -> Principal:
        acct = account.id
        arn = f"arn:aws:sts::{acct}:federated-user/{name}"
        issuer = {
            "type": "IAMUser",
            "principalId": self.ids.unique_id("AIDA", acct, "legacy-broker"),
            "arn": f"arn:aws:iam::{acct}:user/legacy-broker",
            "accountId": acct,
            "userName": "legacy-broker",
        }

        def build(hour: int) -> dict[str, Any]:
            created = self.session_start(arn, hour)
            return {
                "type": "FederatedUser",
                "principalId": f"{acct}:{name}",
                "arn": arn,
                "accountId": acct,
                "accessKeyId": "ASIA" + self.ids.text(BASE32, 16, arn, hour),
                "sessionContext": {
                    "sessionIssuer": issuer,
                    "webIdFederationData": {},
                    "attributes": {"creationDate": iso(created), "mfaAuthenticated": "false"},
                },
            }

        return Principal(
            "FederatedUser",
            arn,
            addresses=["192.0.2.150"],
            user_agents=[UA_SDK[1]],
            session_identity=build,
        )

    def _hammer(self, account: Account) -> Principal:
        """A reporting box whose role lost access to a secret and retries forever."""
        session = f"i-0{self.ids.text(HEX, 16, account.id, 'hammer')}"
        principal = self.role_session(
            account, "legacy-reporting-role", session, user_agents=[UA_SDK[0]], ec2=True
        )
        account.pools["hammer"] = [principal]
        return principal
