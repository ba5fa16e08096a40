"""Sigma rules for AWS CloudTrail, compiled with pySigma to Athena SQL over the lake.

Two parts, kept apart as pySigma intends:

* the processing pipeline (:func:`cloudtrail_pipeline`) refuses rules that are not for
  ``product: aws, service: cloudtrail`` and maps Sigma's CloudTrail field names onto the lake:
  ``eventName`` → ``eventname``, ``userIdentity.sessionContext.sessionIssuer.type`` →
  ``useridentity.sessioncontext.sessionissuer.type`` (struct access), and any path below a JSON
  text column, ``requestParameters.x.y`` → the value at ``$.x.y`` of ``requestparameters``. The
  mapping is derived from the events schema, so a field the schema gains is mapped for free; a
  field it does not know stops the rule with the field's name as the reason.
* the backend (:class:`AthenaBackend`) writes the WHERE condition: Sigma's case-insensitive
  matching as ``lower(x) = 'v'`` or ``lower(x) LIKE 'pat' ESCAPE '\\'`` (contains, startswith,
  endswith, wildcards), ``|cased`` without ``lower``, ``|re`` as ``regexp_like``, ``|cidr`` as
  Trino's ``contains(network, ip)``, ``|exists``, ``null``, ``|fieldref``, numeric comparisons.

The condition is then wrapped in the same finding query as a built-in filter rule (aggregations
and correlations are read by :mod:`.sigma_windows`). Rules that cannot run here raise
:class:`UnsupportedRule` with a reason that starts with its category
(``aggregation:``, ``correlation:``, ``field:``, ``logsource:``, ``modifier:``,
``placeholder:``, ``keyword:``, ``invalid:``), so reports can count them by category.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, cast

from sigma.conditions import ConditionFieldEqualsValueExpression
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import (
    FieldFunctionTransformation,
    RuleFailureTransformation,
)
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaCIDRExpression,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from trailscope.decode.schema import EVENT_FIELDS, Field, Kind
from trailscope.detect import attack
from trailscope.detect.model import Rule, Severity, UnsupportedRule
from trailscope.detect.query import finish

#: A field the schema cannot map; raised inside pySigma's pipeline, reported as the reason.
_UNMAPPED = "field:"


class _UnmappableField(SigmaError):
    pass


#: Fields Sigma rules use that CloudTrail has no column for, as expressions of the columns.
VIRTUAL_FIELDS = {
    # Sigma's generic outcome field: CloudTrail records failures as an errorCode.
    "status": "CASE WHEN errorcode IS NULL THEN 'success' ELSE 'failure' END",
}


def sql_for_field(name: str) -> str:
    """The SQL expression of a Sigma CloudTrail field (camelCase, dotted, any case)."""
    if name.lower() in VIRTUAL_FIELDS:
        return VIRTUAL_FIELDS[name.lower()]
    parts = name.split(".")
    fields: tuple[Field, ...] = EVENT_FIELDS
    path: list[str] = []
    for i, part in enumerate(parts):
        match = next((f for f in fields if f.json_name.lower() == part.lower()), None)
        if match is None:
            raise _UnmappableField(f"{_UNMAPPED} '{name}' is not a CloudTrail field of the lake")
        path.append(match.name)
        rest = parts[i + 1 :]
        if match.kind is Kind.JSON:
            column = ".".join(path)
            if not rest:
                return column
            json_path = "$." + ".".join(rest)
            if "'" in json_path:
                raise _UnmappableField(f"{_UNMAPPED} '{name}' has a quote in its path")
            # A scalar's text, or the JSON text of an object or array (so |contains still works)
            return (
                f"coalesce(json_extract_scalar({column}, '{json_path}'), "
                f"json_format(json_extract({column}, '{json_path}')))"
            )
        if match.kind is Kind.STRUCT:
            if not rest:
                raise _UnmappableField(f"{_UNMAPPED} '{name}' is a structure, not a value")
            fields = match.children
            continue
        if match.kind in (Kind.LIST, Kind.MAP):
            raise _UnmappableField(f"{_UNMAPPED} '{name}' is inside a list or map")
        if rest:
            raise _UnmappableField(f"{_UNMAPPED} '{name}': '{match.json_name}' has no sub-fields")
        return ".".join(path)
    raise _UnmappableField(f"{_UNMAPPED} '{name}' is empty")  # pragma: no cover


def _map_field(name: str | None) -> str:
    if name is None:  # a keyword (a value without a field): refused by the backend
        return ""
    return sql_for_field(name)


def cloudtrail_pipeline() -> ProcessingPipeline:
    """Refuse rules for other log sources; map CloudTrail field names onto the lake."""
    return ProcessingPipeline(
        name="trailscope CloudTrail lake",
        priority=20,
        items=[
            ProcessingItem(
                identifier="cloudtrail_only",
                transformation=RuleFailureTransformation(
                    "logsource: the rule is not for product aws, service cloudtrail"
                ),
                rule_conditions=[LogsourceCondition(product="aws", service="cloudtrail")],
                rule_condition_negation=True,
            ),
            ProcessingItem(
                identifier="cloudtrail_fields",
                transformation=FieldFunctionTransformation(mapping={}, transform_func=_map_field),
            ),
        ],
    )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_LIKE_ESCAPE = "\\"


class AthenaBackend(TextQueryBackend):
    """Sigma conditions as Athena (Trino) SQL over the lake's columns."""

    name: ClassVar[str] = "trailscope Athena SQL"
    formats: ClassVar[dict[str, str]] = {"default": "WHERE condition in Athena SQL"}
    requires_pipeline: ClassVar[bool] = True

    group_expression: ClassVar[str] = "({expr})"
    token_separator: str = " "
    or_token: ClassVar[str] = "OR"
    and_token: ClassVar[str] = "AND"
    not_token: ClassVar[str] = "NOT"
    eq_token: ClassVar[str] = " = "
    str_quote: ClassVar[str] = "'"
    field_null_expression: ClassVar[str] = "{field} IS NULL"
    field_exists_expression: ClassVar[str] = "{field} IS NOT NULL"
    field_not_exists_expression: ClassVar[str] = "{field} IS NULL"
    compare_op_expression: ClassVar[str] = "TRY_CAST({field} AS DOUBLE) {operator} {value}"
    compare_operators: ClassVar[dict[CompareOperators, str]] = {
        CompareOperators.LT: "<",
        CompareOperators.LTE: "<=",
        CompareOperators.GT: ">",
        CompareOperators.GTE: ">=",
    }
    field_equals_field_expression: ClassVar[str] = "lower({field1}) = lower({field2})"
    field_equals_field_startswith_expression: ClassVar[str] = (
        "starts_with(lower({field1}), lower({field2}))"
    )
    field_equals_field_endswith_expression: ClassVar[str] = (
        "starts_with(reverse(lower({field1})), reverse(lower({field2})))"
    )
    field_equals_field_contains_expression: ClassVar[str] = (
        "strpos(lower({field1}), lower({field2})) > 0"
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(processing_pipeline=cloudtrail_pipeline(), **kwargs)

    # ---- NOT: Sigma is two-valued (a missing field simply does not match), SQL is not

    def convert_condition_not(self, cond: Any, state: ConversionState) -> str:
        inner = self.convert_condition(cond.args[0], state)
        if not isinstance(inner, str):
            raise UnsupportedRule("modifier: a negated expression the backend cannot write")
        return f"NOT coalesce(({inner}), false)"

    # ---- strings

    def _like_or_eq(self, field: str, value: SigmaString, *, cased: bool) -> str:
        column = field if cased else f"lower({field})"
        if not value.contains_special():
            plain = self._plain(value)
            return f"{column} = {_quote(plain if cased else plain.lower())}"
        pattern = []
        for part in value.s:
            if part is SpecialChars.WILDCARD_MULTI:
                pattern.append("%")
            elif part is SpecialChars.WILDCARD_SINGLE:
                pattern.append("_")
            elif isinstance(part, Placeholder):
                raise UnsupportedRule(f"placeholder: %{part.name}% has no value here")
            else:
                text = part if cased else part.lower()
                for ch in (_LIKE_ESCAPE, "%", "_"):
                    text = text.replace(ch, _LIKE_ESCAPE + ch)
                pattern.append(text)
        return f"{column} LIKE {_quote(''.join(pattern))} ESCAPE {_quote(_LIKE_ESCAPE)}"

    @staticmethod
    def _plain(value: SigmaString) -> str:
        out = []
        for part in value.s:
            if isinstance(part, Placeholder):
                raise UnsupportedRule(f"placeholder: %{part.name}% has no value here")
            out.append(str(part))
        return "".join(out)

    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return self._like_or_eq(self._field(cond), cast(SigmaString, cond.value), cased=False)

    def convert_condition_field_eq_val_str_case_sensitive(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return self._like_or_eq(self._field(cond), cast(SigmaString, cond.value), cased=True)

    def convert_condition_field_eq_val_num(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return f"{self._field(cond)} = {_quote(str(cond.value))}"

    def convert_condition_field_eq_val_bool(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return f"lower({self._field(cond)}) = {_quote(str(bool(cond.value)).lower())}"

    def convert_condition_field_eq_val_re(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        value = cast(SigmaRegularExpression, cond.value)
        flags = {
            SigmaRegularExpressionFlag.IGNORECASE: "i",
            SigmaRegularExpressionFlag.MULTILINE: "m",
            SigmaRegularExpressionFlag.DOTALL: "s",
        }
        prefix = "".join(flags[f] for f in sorted(value.flags, key=lambda f: f.name))
        regex = (f"(?{prefix})" if prefix else "") + self._plain(value.regexp)
        return f"regexp_like({self._field(cond)}, {_quote(regex)})"

    def convert_condition_field_eq_val_cidr(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        cidr = cast(SigmaCIDRExpression, cond.value)
        return f"contains({_quote(str(cidr.network))}, TRY_CAST({self._field(cond)} AS IPADDRESS))"

    def convert_condition_field_eq_val_timestamp_part(self, cond: Any, state: Any) -> str:
        raise UnsupportedRule(
            "modifier: time-part modifiers (|minute, |hour, ...) are not supported"
        )

    def convert_condition_val_str(self, cond: Any, state: Any) -> str:
        raise UnsupportedRule("keyword: a value without a field (keyword search) is not supported")

    convert_condition_val_num = convert_condition_val_str
    convert_condition_val_re = convert_condition_val_str

    def _field(self, cond: ConditionFieldEqualsValueExpression) -> str:
        if not cond.field:
            raise UnsupportedRule(
                "keyword: a value without a field (keyword search) is not supported"
            )
        return cond.field


# --------------------------------------------------------------------------- compiling


def sigma_condition(rule: SigmaRule) -> str:
    """The WHERE condition of one Sigma rule (its detection), or :class:`UnsupportedRule`."""
    backend = AthenaBackend()
    try:
        queries = backend.convert_rule(rule)
        if not queries and getattr(rule, "_backreferences", None):
            # pySigma 2 keeps a correlation's base rules out of convert_rule's output
            queries = rule.get_conversion_result()
    except UnsupportedRule:
        raise
    except SigmaError as exc:
        raise UnsupportedRule(_reason(exc)) from None
    except NotImplementedError as exc:
        raise UnsupportedRule(f"modifier: {_first_line(exc)}") from None
    if not queries:
        raise UnsupportedRule("invalid: the rule produced no condition")
    return " OR ".join(f"({q})" for q in queries) if len(queries) > 1 else str(queries[0])


def sigma_rule(rule: SigmaRule | SigmaCorrelationRule, path: Path, *, rule_id: str) -> Rule:
    """The metadata of a Sigma rule as a :class:`Rule` with no logic yet."""
    level = rule.level.name.lower() if rule.level else "medium"
    techniques, tactic = attack.from_sigma_tags(f"{t.namespace}.{t.name}" for t in rule.tags)
    return Rule(
        id=rule_id,
        title=rule.title or path.stem,
        severity=Severity.parse(level),
        origin="sigma",
        mitre=techniques,
        tactic=tactic,
        description=" ".join((rule.description or "").split()),
        runbook=_runbook(rule),
        path=path,
    )


def _runbook(rule: SigmaRule | SigmaCorrelationRule) -> str:
    """Sigma's known false positives, as the first thing a responder checks."""
    fps = [str(f) for f in (rule.falsepositives or []) if str(f).strip().lower() != "unknown"]
    return ("Known false positives: " + "; ".join(fps)) if fps else ""


def compile_sigma_rule(rule: SigmaRule, path: Path, *, rule_id: str | None = None) -> Rule:
    """One plain Sigma rule (a filter) as a :class:`Rule`."""
    condition = sigma_condition(rule)
    meta = sigma_rule(rule, path, rule_id=rule_id or path.stem.lower())
    return finish(meta.with_(condition=condition))


def _reason(exc: SigmaError) -> str:
    text = _first_line(exc)
    if text.startswith(("field:", "logsource:", "placeholder:", "modifier:", "keyword:")):
        return text
    return f"invalid: {text}"


def _first_line(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    text = re.sub(r"\s*\(while .*\)$", "", text.strip().splitlines()[0] if text else "")
    return text or type(exc).__name__
