"""Read a bucket policy the way S3 evaluates it, for the few requests the checks care about.

Not a full IAM evaluator: it answers "would this statement apply to CloudTrail's PutObject of a
log file, with these condition values?" for the operators bucket policies for log delivery use
(String*, Arn*, Bool, Null, with ...IfExists). A condition it cannot evaluate never counts as
allowing delivery, so the check says what it could not read instead of passing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

EVERYONE = "*"


@dataclass(frozen=True)
class Statement:
    """One policy statement, with every list-or-string field made a tuple."""

    sid: str
    effect: str
    everyone: bool
    services: frozenset[str]
    others: tuple[str, ...]  # AWS/Federated/CanonicalUser principals, as "AWS:arn"
    not_principal: bool
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    conditions: dict[str, dict[str, tuple[str, ...]]]

    @property
    def label(self) -> str:
        return f"statement {self.sid!r}" if self.sid else "a statement without Sid"

    def condition_keys(self) -> set[str]:
        return {key.lower() for keys in self.conditions.values() for key in keys}


class PolicyUnreadable(ValueError):
    """The policy text is not a policy document."""


def parse_policy(text: str) -> list[Statement]:
    """The statements of a bucket policy (as GetBucketPolicy returns it)."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise PolicyUnreadable(f"the bucket policy is not JSON ({exc})") from None
    if not isinstance(document, dict) or "Statement" not in document:
        raise PolicyUnreadable("the bucket policy has no Statement")
    raw = document["Statement"]
    items = raw if isinstance(raw, list) else [raw]
    return [_statement(item) for item in items if isinstance(item, dict)]


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(_text(v) for v in value)
    return (_text(value),)


def _text(value: Any) -> str:
    # Bool conditions may be written as JSON true/false; IAM compares their text.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _statement(item: dict[str, Any]) -> Statement:
    not_principal = "NotPrincipal" in item
    principal = item.get("NotPrincipal" if not_principal else "Principal")
    everyone = principal == EVERYONE
    services: set[str] = set()
    others: list[str] = []
    if isinstance(principal, dict):
        for kind, values in principal.items():
            for value in _strings(values):
                if kind == "Service":
                    services.add(value.lower())
                elif kind == "AWS" and value == EVERYONE:
                    everyone = True
                else:
                    others.append(f"{kind}:{value}")
    conditions: dict[str, dict[str, tuple[str, ...]]] = {}
    raw_conditions = item.get("Condition") or {}
    if isinstance(raw_conditions, dict):
        for operator, tests in raw_conditions.items():
            if isinstance(tests, dict):
                conditions[str(operator)] = {str(k): _strings(v) for k, v in tests.items()}
    not_action = "NotAction" in item
    not_resource = "NotResource" in item
    return Statement(
        sid=str(item.get("Sid") or ""),
        effect=str(item.get("Effect") or ""),
        everyone=everyone,
        services=frozenset(services),
        others=tuple(others),
        not_principal=not_principal,
        actions=_strings(item.get("NotAction" if not_action else "Action")),
        not_action=not_action,
        resources=_strings(item.get("NotResource" if not_resource else "Resource")),
        not_resource=not_resource,
        conditions=conditions,
    )


@cache
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM's wildcards: * any run of characters, ? one character; nothing else is special."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return bool(_glob(pattern, ignore_case).match(value))


@dataclass(frozen=True)
class Request:
    """What a caller asks S3 for, and the condition values its request carries."""

    action: str
    resource: str
    service: str | None = None  # the calling service principal, or None for an AWS account
    context: tuple[tuple[str, str], ...] = ()

    def value(self, key: str) -> str | None:
        for name, value in self.context:
            if name.lower() == key.lower():
                return value
        return None


class Unevaluable(Exception):
    """A condition operator the reader does not evaluate."""

    def __init__(self, operator: str) -> None:
        super().__init__(operator)
        self.operator = operator


def applies(statement: Statement, request: Request) -> bool:
    """True when ``statement`` covers ``request`` (principal, action, resource, conditions).

    :raises Unevaluable: a condition uses an operator this reader does not know.
    """
    named = statement.everyone or (
        request.service is not None and request.service in statement.services
    )
    if named == statement.not_principal:
        return False
    action_hit = any(matches(p, request.action, ignore_case=True) for p in statement.actions)
    if action_hit == statement.not_action:
        return False
    resource_hit = any(matches(p, request.resource) for p in statement.resources)
    if resource_hit == statement.not_resource:
        return False
    return all(
        _condition(operator, key, values, request)
        for operator, tests in statement.conditions.items()
        for key, values in tests.items()
    )


_POSITIVE = {
    "stringequals": lambda p, v: p == v,
    "stringequalsignorecase": lambda p, v: p.lower() == v.lower(),
    "stringlike": lambda p, v: matches(p, v),
    "arnequals": lambda p, v: p == v,
    "arnlike": lambda p, v: matches(p, v),
    "bool": lambda p, v: p.lower() == v.lower(),
}
_NEGATIVE = {
    "stringnotequals": "stringequals",
    "stringnotequalsignorecase": "stringequalsignorecase",
    "stringnotlike": "stringlike",
    "arnnotequals": "arnequals",
    "arnnotlike": "arnlike",
}


def _condition(operator: str, key: str, values: tuple[str, ...], request: Request) -> bool:
    name = operator.lower()
    if_exists = name.endswith("ifexists")
    if if_exists:
        name = name[: -len("ifexists")]
    actual = request.value(key)
    if name == "null":
        wants_absent = any(v.lower() == "true" for v in values)
        return (actual is None) == wants_absent
    if name in _POSITIVE:
        if actual is None:
            return if_exists
        return any(_POSITIVE[name](v, actual) for v in values)
    if name in _NEGATIVE:
        if actual is None:
            return True
        return not any(_POSITIVE[_NEGATIVE[name]](v, actual) for v in values)
    raise Unevaluable(operator)
