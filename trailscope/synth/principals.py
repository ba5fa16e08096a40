"""Principals: someone or something making calls, with where from and with what."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import orjson

#: The groups of callers each account has; a call names the groups that make it.
PoolName = Literal[
    "workload",  # application roles (ECS tasks, Lambda functions, EC2 instances, ETL)
    "service",  # AWS services assuming roles
    "invoker",  # AWS services invoking Lambda functions
    "console",  # people in the console through Identity Center roles
    "cli",  # people on the command line
    "pipeline",  # CI: an IAM user running Terraform and a GitHub Actions role
    "bot",  # a backup job's IAM user
    "broker",  # a legacy IAM user handing out federation tokens (management account)
    "identity_center",  # Identity Center users in the access portal (management account)
    "saml",  # SAML-federated users (management account)
    "config",  # AWS Config's service-linked role
    "web_identity",  # GitHub Actions' OIDC identities
    "federated",  # federated users of the legacy broker
    "key_rotation",  # KMS itself, rotating keys
    "hammer",  # a misconfigured box retrying a denied call
    "cross_account",  # other accounts' roles reaching in
]
SessionIdentity = Callable[[int], dict[str, Any]]


class Principal:
    """Someone or something making calls, with where from and with what.

    Session-based identities (assumed roles, console users) get a new access key and
    creationDate every hour, built once per hour and then shared by all of that hour's events.
    """

    __slots__ = (
        "_by_hour",
        "_json_by_hour",
        "_session_identity",
        "addresses",
        "arn",
        "console",
        "identity_type",
        "static",
        "static_json",
        "tls12",
        "user_agents",
        "vpc",
    )

    def __init__(
        self,
        identity_type: str,
        arn: str | None,
        *,
        addresses: Sequence[str] | None,
        user_agents: Sequence[str],
        static: dict[str, Any] | None = None,
        session_identity: SessionIdentity | None = None,
        console: bool = False,
        vpc: bool = False,
        tls12: bool = False,
    ) -> None:
        """:param addresses: source IPs; None means the NAT addresses of the account/region.
        :param static: the userIdentity when it never changes (long-term keys, services).
        :param session_identity: builds the userIdentity of the session used in an hour.
        :param console: calls carry ``sessionCredentialFromConsole``.
        :param vpc: calls may go through the VPC endpoints of the account/region.
        :param tls12: calls negotiate TLS 1.2 instead of 1.3.
        """
        self.identity_type = identity_type
        self.arn = arn
        self.addresses = tuple(addresses) if addresses else None
        self.user_agents = tuple(user_agents)
        self.static = static
        self.static_json = orjson.dumps(static) if static is not None else None
        self._session_identity = session_identity
        self._by_hour: dict[int, dict[str, Any]] = {}
        self._json_by_hour: dict[int, bytes] = {}
        self.console = console
        self.vpc = vpc
        self.tls12 = tls12

    def identity(self, hour: int) -> dict[str, Any]:
        """The userIdentity of calls made during ``hour`` (hours since the epoch)."""
        if self.static is not None:
            return self.static
        identity = self._by_hour.get(hour)
        if identity is None:
            assert self._session_identity is not None
            identity = self._by_hour[hour] = self._session_identity(hour)
        return identity

    def identity_json(self, hour: int) -> bytes:
        """The serialised identity for an hour, spliced into pre-serialised event templates."""
        if self.static_json is not None:
            return self.static_json
        raw = self._json_by_hour.get(hour)
        if raw is None:
            raw = self._json_by_hour[hour] = orjson.dumps(self.identity(hour))
        return raw

    @property
    def service(self) -> bool:
        """AWS services call from their own host name, without TLS details."""
        return self.identity_type in ("AWSService", "ServiceEvent")


def service_principal(host: str) -> Principal:
    """An AWS service calling on an account's behalf."""
    return Principal(
        "AWSService",
        None,
        addresses=[host],
        user_agents=[host],
        static={"type": "AWSService", "invokedBy": host},
    )


def anonymous(address: str, user_agent: str) -> Principal:
    """A browser before any session exists (failed and first console sign-ins)."""
    return Principal("IAMUser", None, addresses=[address], user_agents=[user_agent])
