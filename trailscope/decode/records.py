"""Find the CloudTrail events inside one object's bytes, whatever wraps them.

CloudTrail events reach people in many envelopes: the trail's own ``{"Records": [...]}`` files
(gzip or not), NDJSON exports, JSON arrays, single events, EventBridge ``detail``, CloudWatch Logs
subscription ``logEvents`` (events as JSON strings), ``LookupEvents`` output (``CloudTrailEvent``
strings) and test-case wrappers with a ``data`` member. This module only unwraps; mapping an event
onto the schema is ``normalize``'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import deflate
import orjson
from zlib_ng import gzip_ng

GZIP_MAGIC = b"\x1f\x8b"
#: Keys whose presence makes an object a CloudTrail event rather than an envelope.
EVENT_KEYS = frozenset({"eventName", "eventSource", "eventTime", "eventVersion", "eventID"})
_EVENT_KEYS_LOWER = frozenset(k.lower() for k in EVENT_KEYS)
SNS_REASON = (
    "SNS notification, not a CloudTrail event "
    "(CloudTrail's notices only name new log files: ingest those instead)"
)


class NotCloudTrail(Exception):
    """The bytes are not (or not only) CloudTrail; the message is the one-line reason."""


@dataclass
class Unwrapped:
    """Events found in one object, plus what could not be understood inside it."""

    events: list[dict[str, Any]] = field(default_factory=list)
    is_digest: bool = False
    #: (position, reason) of pieces that looked like content but were not events.
    rejects: list[tuple[int, str]] = field(default_factory=list)


#: Deflate cannot expand data more than about 1032 times; a larger size in a gzip trailer is
#: damage, and must not size a buffer.
_MAX_DEFLATE_RATIO = 1032


def gunzip_if_needed(data: bytes) -> bytes | bytearray:
    """Decompress gzip (detected by magic number, not by file name)."""
    if not data.startswith(GZIP_MAGIC):
        return data
    whole = _gunzip_one_member(data)
    if whole is not None:
        return whole
    try:
        return gzip_ng.decompress(data)
    except (OSError, EOFError, ValueError) as exc:  # zlib-ng raises these for damaged streams
        raise NotCloudTrail(f"damaged gzip: {_short(exc)}") from exc


def _gunzip_one_member(data: bytes) -> bytearray | None:
    """A gzip object of one member, in one call to libdeflate; None for anything else.

    libdeflate decompresses a whole buffer in about half the CPU time of zlib-ng's streaming
    reader, which is a tenth of a worker's time. It reads only the first member of a gzip
    object, though, and ignores what follows it, so its result is taken only when that
    member's length and CRC are the ones in the object's last eight bytes, the trailer of its
    last member. Anything else (several members, trailing bytes, damage, a trailer claiming
    more than deflate can expand to) is read by zlib-ng, which reads every member and names
    the damage. One shape reads alike both ways and is left so: an object made of
    identical members, whose repeated events would be dropped as re-delivered copies anyway.
    """
    size = int.from_bytes(data[-4:], "little")
    if not 0 < size <= _MAX_DEFLATE_RATIO * len(data):
        return None
    try:
        out = deflate.gzip_decompress(data, size)
    except deflate.DeflateError:
        return None
    if len(out) != size or deflate.crc32(out) != int.from_bytes(data[-8:-4], "little"):
        return None
    return out


def parse_json_documents(text: bytes) -> list[Any]:
    """One JSON document, or NDJSON (one per line); raises NotCloudTrail if neither.

    Error positions are the file's own line numbers, so a user can open the file at the spot.
    """
    if not text.strip():
        raise NotCloudTrail("empty object")
    try:
        return [orjson.loads(text)]
    except orjson.JSONDecodeError as whole_err:
        lines = [(n, ln) for n, ln in enumerate(text.split(b"\n"), 1) if ln.strip()]
        if len(lines) < 2:
            raise NotCloudTrail(f"not JSON: {_short(whole_err)}") from whole_err
        docs = []
        for i, (n, line) in enumerate(lines):
            try:
                docs.append(orjson.loads(line))
            except orjson.JSONDecodeError as line_err:
                if i == 0:  # not NDJSON either: the whole-document error says where it breaks
                    raise NotCloudTrail(f"not JSON: {_short(whole_err)}") from whole_err
                where = f"line {n} column {line_err.colno}"
                raise NotCloudTrail(f"not JSON or NDJSON: {where}: {line_err.msg}") from line_err
        return docs


def looks_like_event(obj: dict[str, Any]) -> bool:
    if not EVENT_KEYS.isdisjoint(obj.keys()):
        return True
    return any(k.lower() in _EVENT_KEYS_LOWER for k in obj)


def looks_like_digest(obj: dict[str, Any]) -> bool:
    return "digestStartTime" in obj and ("logFiles" in obj or "digestS3Object" in obj)


def looks_like_sns_notification(obj: dict[str, Any]) -> bool:
    return obj.get("Type") == "Notification" and "TopicArn" in obj


def unwrap(docs: list[Any]) -> Unwrapped:
    """Walk the documents and collect events; never raises for odd shapes."""
    out = Unwrapped()
    for doc in docs:
        _walk(doc, out, depth=0)
    return out


def _walk(node: Any, out: Unwrapped, depth: int) -> None:
    if depth > 8:
        out.rejects.append((len(out.events), "nesting too deep"))
        return
    if isinstance(node, list):
        for item in node:
            _walk(item, out, depth + 1)
        return
    if isinstance(node, str):
        # CloudWatch Logs messages and LookupEvents' CloudTrailEvent carry events as JSON text.
        try:
            parsed = orjson.loads(node)
        except orjson.JSONDecodeError:
            out.rejects.append((len(out.events), "embedded text is not JSON"))
            return
        _walk(parsed, out, depth + 1)
        return
    if not isinstance(node, dict):
        out.rejects.append((len(out.events), f"a JSON {type(node).__name__} is not an event"))
        return
    if looks_like_event(node):
        out.events.append(node)
        return
    if looks_like_digest(node):
        out.is_digest = True
        return
    if looks_like_sns_notification(node):
        out.rejects.append((len(out.events), SNS_REASON))
        return
    for key in ("Records", "logEvents", "Events"):
        if isinstance(node.get(key), list):
            _walk(node[key], out, depth + 1)
            return
    if isinstance(node.get("detail"), dict) and "detail-type" in node:
        _walk(node["detail"], out, depth + 1)
        return
    for key in ("message", "CloudTrailEvent"):
        if isinstance(node.get(key), str):
            _walk(node[key], out, depth + 1)
            return
    if isinstance(node.get("data"), dict | list):
        _walk(node["data"], out, depth + 1)
        return
    keys = ", ".join(list(node)[:5])
    out.rejects.append((len(out.events), f"object is not a CloudTrail event (keys: {keys})"))


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
