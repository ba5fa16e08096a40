"""JSON in and out of the tolerant path, keeping every number exactly as written.

orjson, fast as it is, reads an integer beyond 64 bits as a float (a 30-digit id becomes
``1.2345678901234568e+29``) and refuses to write one back; msgspec reads integers of any size,
and with ``float_hook=Decimal`` a non-integer number keeps its digits too (``1e400`` is not
turned into infinity). Both sides of the tolerant path therefore use msgspec, as the fast path
already does (it keeps free-form values as their raw text).

Nesting is measured here as well: CloudTrail's own events are about a dozen levels deep, and a
limit far above that (see :mod:`trailscope.decode.limits`) keeps an odd event from exhausting
any reader's recursion, trailscope's or a query engine's.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import msgspec

_DECODER = msgspec.json.Decoder(float_hook=Decimal)
_ENCODER = msgspec.json.Encoder(decimal_format="number")

#: What :func:`loads` raises for input it cannot read (RecursionError: nested past what
#: msgspec can follow, about a thousand levels).
READ_ERRORS: tuple[type[BaseException], ...] = (
    msgspec.DecodeError,
    msgspec.ValidationError,  # an integer of more than 4,300 digits
    RecursionError,
)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Strict JSON (UTF-8, no lone surrogates), numbers exact."""
    return _DECODER.decode(data)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _exact_int(digits: str) -> int | Decimal:
    # Python refuses to read integers of more than 4,300 digits (sys.int_info): kept exact
    # as a Decimal, which is written back digit for digit.
    return int(digits) if len(digits) <= 4000 else Decimal(digits)


_LENIENT = json.JSONDecoder(parse_float=Decimal, parse_int=_exact_int, parse_constant=_no_constants)


def loads_lenient(data: bytes | bytearray) -> Any:
    """JSON whose strings may hold lone surrogates (``"\\ud800"``) or bytes that are not
    UTF-8: both come back as lone surrogates in ``str`` values, which :func:`dumps` refuses,
    so the caller can set aside just the records that hold them. Integers of any length are
    read too. Otherwise as strict as :func:`loads`; raises ``ValueError``
    (``json.JSONDecodeError``) or ``RecursionError``."""
    return _LENIENT.decode(bytes(data).decode("utf-8", "surrogateescape"))


def dumps(value: Any) -> bytes:
    """Compact JSON text; raises UnicodeEncodeError for a string holding a lone surrogate."""
    return _ENCODER.encode(value)


def dumps_text(value: Any) -> str:
    return _ENCODER.encode(value).decode()


def brackets(text: bytes | bytearray | str, start: int = 0, end: int | None = None) -> int:
    """Opening brackets in ``text[start:end]``: no JSON text nests deeper than this, so a
    count at or under a limit settles the question without parsing."""
    if isinstance(text, str):
        return text.count("{", start, end) + text.count("[", start, end)
    return text.count(b"{", start, end) + text.count(b"[", start, end)


def nests_deeper(value: Any, limit: int) -> bool:
    """Whether a decoded value nests more than ``limit`` levels (a container is one level
    more than its deepest member; a scalar is 0)."""
    if not isinstance(value, dict | list):
        return limit < 0
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if level > limit:
            return True
        items = node.values() if isinstance(node, dict) else node
        stack.extend((item, level + 1) for item in items if isinstance(item, dict | list))
    return False


def text_nests_deeper(text: bytes | bytearray | memoryview, limit: int) -> bool:
    """Whether a JSON text nests more than ``limit`` levels: counted first, parsed only when
    the count allows it (a text too deep to parse at all is deeper than any limit set)."""
    data = bytes(text)
    if brackets(data) <= limit:
        return False
    try:
        value = loads(data)
    except RecursionError:
        return True
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False  # not this check's business: the reader reports it
    return nests_deeper(value, limit)
