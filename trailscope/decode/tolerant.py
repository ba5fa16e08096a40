"""The tolerant path: every shape of input, walked event by event in Python.

It matches keys case-insensitively, coerces wrong types where that is safe, keeps unknown
fields in the ``extra`` column, and quarantines single events (no usable ``eventTime``, too
large, nested too deep, text that is not valid Unicode, anything that cannot be stored) without
losing the rest of the object.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

import pyarrow as pa

from trailscope.decode import jsontext, records
from trailscope.decode.limits import DEFAULT_LIMITS, DecodeLimits, too_deep_reason
from trailscope.decode.parts import (
    BATCH_ROWS,
    MAX_EVENT_BYTES,
    STORED_ROWS,
    ObjectOutcome,
    Part,
    Text,
)
from trailscope.decode.schema import (
    BY_JSON_NAME,
    BY_LOWER_NAME,
    EXTRA,
    Field,
    Kind,
    children_by_lower,
)

log = logging.getLogger(__name__)

LONE_SURROGATE = "event with a lone surrogate in a string (not valid Unicode)"
NOT_UTF8 = "event with text that is not valid UTF-8"


def slow_decode(
    text: Text, outcome: ObjectOutcome, limits: DecodeLimits = DEFAULT_LIMITS
) -> Part | None:
    """One object by the tolerant path: its rows, or None when it has none (the outcome
    says why)."""
    try:
        docs, lenient = records.parse_json_documents(text, limits)
    except records.NotCloudTrail as exc:
        outcome.reject(str(exc))
        return None
    found = records.unwrap(docs, limits)
    outcome.is_digest = found.is_digest
    if not found.events:
        if found.is_digest or _is_empty_records(docs):
            return None  # digests are skipped by kind; an empty log file is simply empty
        outcome.reject(_no_events_reason(found.rejects))
        return None
    outcome.quarantined.extend(found.rejects)
    checks = _EventChecks(text, lenient or found.lenient, limits)
    rows: list[dict[str, Any]] = []
    positions: list[int] = []
    for pos, event in zip(found.positions, found.events, strict=True):
        problem = checks.problem(event)
        if problem is None:
            try:
                row, unknown, coerced = normalize_event(event, limits.max_depth)
            except Exception as exc:  # one odd event never costs the others
                log.warning("%s: event #%d cannot be stored", outcome.key, pos, exc_info=True)
                problem = f"event cannot be stored: {type(exc).__name__}: {_short(exc)}"
        if problem is not None:
            outcome.quarantined.append((pos, problem))
            continue
        outcome.unknown_fields += unknown
        outcome.coerced_values += coerced
        rows.append(row)
        positions.append(pos)
    if not rows:
        return None
    # Built plain, then encoded: pyarrow's row-wise builder leaves dictionary indices under
    # null structs that point nowhere.
    plain = pa.Table.from_pylist(rows, schema=STORED_ROWS)
    part = Part(plain.cast(BATCH_ROWS), texts=[(outcome, text)])
    part.add(outcome, positions)
    return part


class _EventChecks:
    """What is checked of each event before it is normalized, and only when it can matter:
    the size when the object is larger than an event may be, the nesting when the object
    holds more brackets than the limit, the text when it was read leniently."""

    def __init__(self, text: Text, lenient: bool, limits: DecodeLimits) -> None:
        self.text = text
        self.lenient = lenient
        self.limit = limits.max_depth
        self.size = len(text) > MAX_EVENT_BYTES
        self.depth = jsontext.brackets(text) > self.limit
        self._utf8: bool | None = None

    def problem(self, event: dict[str, Any]) -> str | None:
        if not (self.size or self.depth or self.lenient):
            return None
        try:
            encoded = jsontext.dumps(event)
        except UnicodeEncodeError:
            return LONE_SURROGATE if self._text_is_utf8() else NOT_UTF8
        except RecursionError:
            return too_deep_reason(self.limit)
        if self.size and len(encoded) > MAX_EVENT_BYTES:
            return f"event larger than {MAX_EVENT_BYTES >> 20} MB"
        if (
            self.depth
            and jsontext.brackets(encoded) > self.limit
            and jsontext.nests_deeper(event, self.limit)
        ):
            return too_deep_reason(self.limit)
        return None

    def _text_is_utf8(self) -> bool:
        """A lone surrogate in valid UTF-8 text came from a ``\\ud800`` escape; otherwise the
        text had bytes that are not UTF-8 (read as surrogates)."""
        if self._utf8 is None:
            try:
                bytes(self.text).decode()
                self._utf8 = True
            except UnicodeDecodeError:
                self._utf8 = False
        return self._utf8


def _no_events_reason(rejects: list[tuple[int, str]]) -> str:
    if not rejects:
        return "no CloudTrail events found"
    if len(rejects) == 1:
        return rejects[0][1]
    return f"no CloudTrail events found in {len(rejects)} items; first: {rejects[0][1]}"


def _is_empty_records(docs: list[Any]) -> bool:
    return all(isinstance(d, dict) and d.get("Records") == [] for d in docs)


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__


# --------------------------------------------------------------------------- one event


def normalize_event(
    event: dict[str, Any], max_depth: int = DEFAULT_LIMITS.max_depth
) -> tuple[dict[str, Any], int, int]:
    """One event dict -> (row keyed by lake column names, unknown field count, coerced count).

    ``max_depth`` bounds what is read out of JSON text found in a field (a struct written as
    text): read deeper, it stays text, in ``extra``.
    """
    row: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    coerced = 0
    for key, value in event.items():
        f = BY_JSON_NAME.get(key) or BY_LOWER_NAME.get(key.lower())
        if f is None or f.name in row:
            extra[key] = value
            continue
        stored, c = _coerce(value, f, key, extra, max_depth)
        row[f.name] = stored
        coerced += c
    row[EXTRA] = jsontext.dumps_text(extra) if extra else None
    return row, len(extra), coerced


def map_text(value: dict[str, Any]) -> dict[str, str | None]:
    """map<string,string>: nested values (webIdFederationData.attributes) as JSON text."""
    return {
        str(k): (v if isinstance(v, str) or v is None else jsontext.dumps_text(v))
        for k, v in value.items()
    }


def _coerce(
    value: Any, f: Field, path: str, extra: dict[str, Any], max_depth: int
) -> tuple[Any, int]:
    """Return (stored value, number of coercions); unstorable values go to ``extra``."""
    if value is None:
        return None, 0
    kind = f.kind
    if kind is Kind.JSON:
        return (value if isinstance(value, str) else jsontext.dumps_text(value)), 0
    if kind is Kind.STR:
        if isinstance(value, str):
            return value, 0
        if isinstance(value, bool):
            return ("true" if value else "false"), 1
        return jsontext.dumps_text(value), 1
    if kind is Kind.BOOL:
        if isinstance(value, bool):
            return ("true" if value else "false"), 0
        if isinstance(value, str):
            low = value.strip().lower()
            return (low, 1) if low in ("true", "false") else (value, 1)
        return jsontext.dumps_text(value), 1
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        # A struct written as JSON text (CSV exports, LookupEvents): read it if we can.
        parsed = _read_text(value, max_depth)
        if parsed is None:
            extra[path] = value
            return None, 1
        stored, c = _coerce(parsed, f, path, extra, max_depth)
        return stored, c + 1
    if kind is Kind.MAP:
        if isinstance(value, dict):
            return map_text(value), 0
        extra[path] = value
        return None, 1
    if kind is Kind.STRUCT:
        if isinstance(value, dict):
            return _coerce_struct(value, f, path, extra, max_depth)
        extra[path] = value
        return None, 1
    # Kind.LIST of structs
    if isinstance(value, dict):
        value = [value]
        wrapped = 1
    else:
        wrapped = 0
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        out, total = [], wrapped
        for i, item in enumerate(value):
            stored, c = _coerce_struct(item, f, f"{path}[{i}]", extra, max_depth)
            out.append(stored)
            total += c
        return out, total
    extra[path] = value
    return None, 1


def _read_text(value: str, max_depth: int) -> Any:
    """JSON text found in a field, or None if it is not JSON or nests too deep to keep."""
    try:
        data = value.encode()
        if jsontext.text_nests_deeper(data, max_depth - 1):
            return None
        return jsontext.loads(data)
    except UnicodeEncodeError:
        return None
    except jsontext.READ_ERRORS:
        return None


def _coerce_struct(
    value: dict[str, Any], f: Field, path: str, extra: dict[str, Any], max_depth: int
) -> tuple[dict[str, Any], int]:
    kids = _children(f)
    out: dict[str, Any] = {}
    total = 0
    for key, item in value.items():
        child = kids.get(key) or kids.get(key.lower())
        if child is None or child.name in out:
            extra[f"{path}.{key}"] = item
            continue
        stored, c = _coerce(item, child, f"{path}.{key}", extra, max_depth)
        out[child.name] = stored
        total += c
    return out, total


@cache
def _children(f: Field) -> dict[str, Field]:
    kids = {c.json_name: c for c in f.children}
    for low, c in children_by_lower(f).items():
        kids.setdefault(low, c)
    return kids
