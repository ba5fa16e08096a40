"""Find the CloudTrail events inside one object's bytes, whatever wraps them.

CloudTrail events reach people in many envelopes: the trail's own ``{"Records": [...]}`` files
(gzip or not), NDJSON exports, JSON arrays, single events, EventBridge ``detail``, CloudWatch Logs
subscription ``logEvents`` (events as JSON strings), ``LookupEvents`` output (``CloudTrailEvent``
strings) and test-case wrappers with a ``data`` member. This module only unwraps; mapping an event
onto the schema is ``normalize``'s job.

Every step is bounded (decompressed size, nesting) and every failure is a one-line reason:
:class:`NotCloudTrail` for the whole object, ``Unwrapped.rejects`` for single records. A record's
position is its place among the records of the object (the ``Records`` items, the NDJSON lines,
the ``logEvents``...), counted from 0.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import deflate
import orjson
from zlib_ng.zlib_ng import _GzipReader

from trailscope.decode import jsontext
from trailscope.decode.limits import DEFAULT_LIMITS, DecodeLimits, too_deep_reason, too_large_reason

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
#: Keys whose presence makes an object a CloudTrail event rather than an envelope.
EVENT_KEYS = frozenset({"eventName", "eventSource", "eventTime", "eventVersion", "eventID"})
_EVENT_KEYS_LOWER = frozenset(k.lower() for k in EVENT_KEYS)
SNS_REASON = (
    "SNS notification, not a CloudTrail event "
    "(CloudTrail's notices only name new log files: ingest those instead)"
)
#: Event sources of the records AWS services hand to Lambda functions and queues: they carry
#: CloudTrail-like keys (eventSource, eventName, eventTime) but are not API activity.
NOTIFICATION_SOURCES = {
    "aws:s3": "S3 event notification",
    "aws:dynamodb": "DynamoDB Streams record",
    "aws:kinesis": "Kinesis Data Streams record",
    "aws:sqs": "SQS message",
    "aws:sns": "SNS message",
    "aws:ses": "SES notification",
    "aws:codecommit": "CodeCommit trigger",
}
#: Envelopes are unwrapped at most this many levels deep.
MAX_ENVELOPES = 8
#: Bytes decompressed at a time when the size is not known in advance.
_READ_PIECE = 4 * 1024 * 1024


class NotCloudTrail(Exception):
    """The bytes are not (or not only) CloudTrail; the message is the one-line reason."""


@dataclass
class Unwrapped:
    """Events found in one object, plus what could not be understood inside it."""

    events: list[dict[str, Any]] = field(default_factory=list)
    #: each event's position among the object's records
    positions: list[int] = field(default_factory=list)
    is_digest: bool = False
    #: (position, reason) of records that are not events
    rejects: list[tuple[int, str]] = field(default_factory=list)
    #: some text was read leniently: its strings may hold lone surrogates
    lenient: bool = False
    records: int = 0
    max_depth: int = DEFAULT_LIMITS.max_depth

    def reject(self, reason: str) -> None:
        self.rejects.append((self.records, reason))
        self.records += 1

    def add(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self.positions.append(self.records)
        self.records += 1


# --------------------------------------------------------------------------- bytes to text


#: Deflate cannot expand data more than about 1032 times; a larger size in a gzip trailer is
#: damage, and must not size a buffer.
_MAX_DEFLATE_RATIO = 1032


#: An object's content: libdeflate and the streaming reader give a bytearray, which every
#: reader here takes as it takes bytes (copying hundreds of MB to make it bytes is avoided).
Text = bytes | bytearray


def gunzip_if_needed(
    data: bytes, max_bytes: int = DEFAULT_LIMITS.max_object_bytes, key: str = ""
) -> Text:
    """Decompress gzip (detected by magic number, not by file name), to at most ``max_bytes``.

    Raises NotCloudTrail for damage and for content larger than ``max_bytes``, which is found
    out while decompressing: a small object that expands to gigabytes never takes more
    memory than the limit. An object named ``.gz`` that is neither gzip nor JSON text is the
    damaged gzip it claims to be.
    """
    if len(data) > max_bytes:
        raise NotCloudTrail(too_large_reason(max_bytes, decompressed=False))
    if not data.startswith(GZIP_MAGIC):
        if key.lower().endswith(".gz") and not _looks_like_json(data):
            raise NotCloudTrail("damaged gzip: not gzip data (no gzip header)")
        return data
    whole = _gunzip_one_member(data, max_bytes)
    if whole is not None:
        return whole
    return _gunzip_stream(data, max_bytes)


def _gunzip_one_member(data: bytes, max_bytes: int) -> bytearray | None:
    """A gzip object of one member, in one call to libdeflate; None for anything else.

    libdeflate decompresses a whole buffer in about half the CPU time of zlib-ng's streaming
    reader, which is a tenth of a worker's time. It reads only the first member of a gzip
    object, though, and ignores what follows it, so its result is taken only when that
    member's length and CRC are the ones in the object's last eight bytes, the trailer of its
    last member. Anything else (several members, trailing bytes, damage, a trailer claiming
    more than deflate can expand to or than the limit allows) is read by zlib-ng, which reads
    every member and names the damage. One shape reads alike both ways and is left so: an
    object made of identical members, whose repeated events would be dropped as re-delivered
    copies anyway.
    """
    size = int.from_bytes(data[-4:], "little")
    if not 0 < size <= min(_MAX_DEFLATE_RATIO * len(data), max_bytes):
        return None
    try:
        out = deflate.gzip_decompress(data, size)
    except deflate.DeflateError:
        return None
    if len(out) != size or deflate.crc32(out) != int.from_bytes(data[-8:-4], "little"):
        return None
    return out


def _gunzip_stream(data: bytes, max_bytes: int) -> bytearray:
    """Every member, piece by piece, stopping as soon as the output passes ``max_bytes``."""
    reader = _GzipReader(io.BytesIO(data))
    out = bytearray()
    try:
        while piece := reader.read(min(_READ_PIECE, max_bytes + 1 - len(out))):
            out += piece
            if len(out) > max_bytes:
                break
    except Exception as exc:  # OSError, EOFError or zlib's error: the stream is damaged
        raise NotCloudTrail(f"damaged gzip: {_gzip_damage(exc)}") from exc
    if len(out) > max_bytes:
        raise NotCloudTrail(too_large_reason(max_bytes, decompressed=True))
    return out


def _gzip_damage(exc: BaseException) -> str:
    text = _short(exc)
    if text.startswith("CRC check failed"):
        return "CRC check failed"  # the reader adds both sums, which tell a user nothing
    # zlib's own errors read "Error -3 while decompressing data: invalid block type".
    return text.split("decompressing data: ", 1)[-1]


def plain_text(data: Text) -> Text:
    """UTF-8 text from an object's decompressed bytes: a UTF-8 byte order mark is dropped (as
    Python's json does), UTF-16 and UTF-32 (as Windows tools write) are converted."""
    head = bytes(data[:4])
    if head[:1] in (b"{", b"[") and head[1:2] != b"\x00":
        return data  # the usual case, decided by two bytes
    if head.startswith(UTF8_BOM):
        return data[3:]
    if len(head) < 4 or (b"\x00" not in head and not head.startswith(_UTF16_BOMS)):
        return data
    encoding = json.detect_encoding(head)
    try:
        text = bytes(data).decode(encoding)
    except UnicodeError as exc:
        if head.startswith(_UTF16_BOMS):
            name = encoding.upper().replace("-SIG", "")
            raise NotCloudTrail(f"not JSON: not valid {name} text") from exc
        return data  # not text in any of these encodings: the reader says what it is
    return text.lstrip("\ufeff").encode() if text.lstrip("\ufeff \t\r\n")[:1] in "{[" else data


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _looks_like_json(data: Text) -> bool:
    """Whether bytes start as JSON text does (in any encoding :func:`plain_text` reads)."""
    head = bytes(data[:64])
    if len(head) >= 4 and (b"\x00" in head[:4] or head.startswith(_UTF16_BOMS)):
        head = head.decode(json.detect_encoding(head[:4]), "ignore").encode()
    start = head.lstrip(b" \t\r\n").removeprefix(UTF8_BOM).lstrip(b" \t\r\n")[:1]
    return start in (b"", b"{", b"[")


# --------------------------------------------------------------------------- text to documents


def parse_json_documents(
    text: Text, limits: DecodeLimits = DEFAULT_LIMITS
) -> tuple[list[Any], bool]:
    """One JSON document, or NDJSON (one per line); raises NotCloudTrail if neither.

    Returns the documents and whether they were read leniently (some string holds a lone
    surrogate or bytes that are not UTF-8: the caller sets aside the records that do). A line of
    NDJSON that does not read is returned as :class:`BadLine`, to be rejected on its own.
    Error positions are the file's own line numbers, so a user can open the file at the spot.
    """
    if not text.strip():
        raise NotCloudTrail("empty object")
    try:
        return [jsontext.loads(text)], False
    except RecursionError:
        whole_err: BaseException = RecursionError()
    except jsontext.READ_ERRORS as exc:
        whole_err = exc
    pieces: list[Text] = list(text.split(b"\n"))
    lines = [(n, ln) for n, ln in enumerate(pieces, 1) if ln.strip()]
    if len(lines) > 1:
        docs, lenient = _read_lines(lines, limits)
        if docs is not None:
            return docs, lenient
    if isinstance(whole_err, RecursionError):
        raise NotCloudTrail(too_deep_reason(limits.max_depth))
    try:
        return [jsontext.loads_lenient(text)], True
    except RecursionError:
        raise NotCloudTrail(too_deep_reason(limits.max_depth)) from None
    except ValueError:
        pass
    raise NotCloudTrail(f"not JSON: {_not_json(text, whole_err)}") from whole_err


@dataclass
class BadLine:
    """A line of NDJSON that does not read; the rest of the object does."""

    reason: str


def _read_lines(
    lines: list[tuple[int, Text]], limits: DecodeLimits
) -> tuple[list[Any] | None, bool]:
    """NDJSON, when its first line reads on its own; None otherwise (then the object is
    one broken document, reported as such)."""
    docs: list[Any] = []
    lenient = False
    for i, (n, line) in enumerate(lines):
        try:
            docs.append(jsontext.loads(line))
            continue
        except jsontext.READ_ERRORS as exc:
            err: BaseException = exc
        try:
            docs.append(jsontext.loads_lenient(line))
            lenient = True
            continue
        except RecursionError:
            err = RecursionError()
        except ValueError:
            pass
        if i == 0:
            return None, False
        if isinstance(err, RecursionError):
            docs.append(BadLine(too_deep_reason(limits.max_depth)))
        else:
            docs.append(BadLine(f"not JSON: {_syntax_error(line, err, line=n)}"))
    return docs, lenient


def _not_json(text: Text, err: BaseException) -> str:
    """Text that is not UTF-8 is said to be so (where, and which byte); else the syntax error."""
    try:
        bytes(text).decode()
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
    return _syntax_error(text, err)


def _syntax_error(text: Text, err: BaseException, line: int = 1) -> str:
    """What is wrong and where, as ``<what>: line L column C (char N)``; orjson names both
    best, so it is asked again here (only on this error path)."""
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if line == 1:
            return _short(exc)
        return f"{exc.msg}: line {line} column {exc.colno}"
    return _short(err)  # something only msgspec refuses


# --------------------------------------------------------------------------- documents to events


def looks_like_event(obj: dict[str, Any]) -> bool:
    if not EVENT_KEYS.isdisjoint(obj.keys()):
        return True
    return any(k.lower() in _EVENT_KEYS_LOWER for k in obj)


def looks_like_digest(obj: dict[str, Any]) -> bool:
    return "digestStartTime" in obj and ("logFiles" in obj or "digestS3Object" in obj)


def looks_like_sns_notification(obj: dict[str, Any]) -> bool:
    return obj.get("Type") == "Notification" and "TopicArn" in obj


def notification_reason(event: dict[str, Any]) -> str | None:
    """Why a record shaped like an event is not one: its ``eventSource`` is ``aws:<service>``,
    the mark of the records AWS services send to Lambda (CloudTrail's are host names such as
    ``s3.amazonaws.com``)."""
    source = event.get("eventSource")
    if source is None:
        source = next((v for k, v in event.items() if k.lower() == "eventsource"), None)
    if not isinstance(source, str) or not source.startswith("aws:"):
        return None
    kind = NOTIFICATION_SOURCES.get(source, f"{source[:40]} record")
    return f"{kind}, not a CloudTrail event"


def unwrap(docs: list[Any], limits: DecodeLimits = DEFAULT_LIMITS) -> Unwrapped:
    """Walk the documents and collect events; never raises for odd shapes."""
    out = Unwrapped(max_depth=limits.max_depth)
    for doc in docs:
        _walk(doc, out, depth=0)
    return out


def _walk(node: Any, out: Unwrapped, depth: int) -> None:
    if isinstance(node, BadLine):
        out.reject(node.reason)
        return
    if depth > MAX_ENVELOPES:
        out.reject(f"wrapped in more than {MAX_ENVELOPES} envelopes")
        return
    if isinstance(node, list):
        for item in node:
            _walk(item, out, depth + 1)
        return
    if isinstance(node, str):
        # CloudWatch Logs messages and LookupEvents' CloudTrailEvent carry events as JSON text.
        _walk_text(node, out, depth)
        return
    if not isinstance(node, dict):
        out.reject(f"a JSON {_json_type(node)} is not an event")
        return
    if looks_like_event(node):
        reason = notification_reason(node)
        if reason is None:
            out.add(node)
        else:
            out.reject(reason)
        return
    if looks_like_digest(node):
        out.is_digest = True
        return
    if looks_like_sns_notification(node):
        out.reject(SNS_REASON)
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
    if not node:
        out.reject("an empty JSON object is not an event")
        return
    keys = ", ".join(list(node)[:5])
    out.reject(f"object is not a CloudTrail event (keys: {keys[:200]})")


def _walk_text(text: str, out: Unwrapped, depth: int) -> None:
    try:
        data = text.encode()
    except UnicodeEncodeError:
        out.reject("embedded text is not valid Unicode (a lone surrogate)")
        return
    try:
        parsed = jsontext.loads(data)
    except RecursionError:
        out.reject(too_deep_reason(out.max_depth))
        return
    except jsontext.READ_ERRORS:
        try:
            parsed = jsontext.loads_lenient(data)
        except (ValueError, RecursionError):
            out.reject("embedded text is not JSON")
            return
        out.lenient = True
    _walk(parsed, out, depth + 1)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    if isinstance(value, str):
        return "string"
    return "number"


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
