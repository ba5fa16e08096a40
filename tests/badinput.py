"""A corpus of bad input: each case is built here, from real events, by one line of the table.

The events come from ``trailscope.synth`` (read back with plain ``gzip``/``json``), so every
case is made of realistic CloudTrail; each case then damages, wraps, re-encodes or hides them
in one way. A case knows what a run must make of it: which events must reach the lake, and the
exact one-line reason of everything quarantined (by file and record position, ``None`` for a
whole file). Nothing here calls trailscope's decoder: expectations are the test's own.

Cases are grouped by what they need from the place they are read from: ``CONTENT`` cases are
bytes only (a local folder and an S3 bucket must agree on them), ``LOCAL`` cases need a file
system (names, links, permissions, special files), ``CHANGING`` cases change after listing.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zlib_ng import zlib_ng

#: The largest object the corpus runs accept once decompressed (``--max-object-size``).
CAP = 32 << 20
CAP_TEXT = "32 MB"
#: The nesting limit of the decoder (an event is level 1).
DEPTH = 100

Special = Callable[[Path], None]  # makes a file-system entry at the given path


@dataclass
class Built:
    """What a case puts in its folder and what a run must make of it."""

    files: dict[str, bytes | Special] = field(default_factory=dict)
    #: event ids that must be in the lake, once each, from this case's folder
    keep: list[str] = field(default_factory=list)
    #: (file, record position or None for the whole file) -> the exact reason
    quarantine: dict[tuple[str, int | None], str] = field(default_factory=dict)
    #: files that are listed as skipped, not quarantined (digests, hidden files)
    skipped: set[str] = field(default_factory=set)
    #: what becomes of files after they are listed (None: deleted)
    changes: dict[str, bytes | Special | None] = field(default_factory=dict)

    def __add__(self, other: Built) -> Built:
        return Built(
            {**self.files, **other.files},
            self.keep + other.keep,
            {**self.quarantine, **other.quarantine},
            self.skipped | other.skipped,
            {**self.changes, **other.changes},
        )


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Kit], Built]


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["eventID"] for e in events]


def stored_id(record: Any) -> str:
    """The eventid a kept record is stored with (text as it is, anything else as JSON)."""
    while isinstance(record, list):
        (record,) = record
    value = record["eventID"]
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def compact(events: list[Any]) -> bytes:
    """As CloudTrail writes its files: one line, no spaces."""
    return json.dumps({"Records": events}, separators=(",", ":"), ensure_ascii=False).encode()


def pretty(events: list[Any]) -> bytes:
    return json.dumps({"Records": events}, indent=2, ensure_ascii=False).encode()


def ndjson(events: list[Any]) -> bytes:
    return b"".join(json.dumps(e, ensure_ascii=False).encode() + b"\n" for e in events)


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def gz_stream(chunk: bytes, times: int, level: int = 6) -> bytes:
    """One gzip member of ``chunk`` repeated ``times`` (built without holding it all)."""
    comp = zlib_ng.compressobj(level, zlib_ng.DEFLATED, 31)
    parts = [comp.compress(chunk) for _ in range(times)]
    return b"".join([*parts, comp.flush()])


def nested(levels: int, leaf: Any = "x") -> Any:
    """A value ``levels`` deep: objects and arrays in turn (a scalar is 0 levels)."""
    value = leaf
    for i in range(levels):
        value = {"k": value} if i % 2 else [value]
    return value


def with_field(event: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``event`` with ``value`` at a dotted ``path`` (made where missing)."""
    out = copy.deepcopy(event)
    node = out
    *parents, last = path.split(".")
    for name in parents:
        if not isinstance(node.get(name), dict):
            node[name] = {}
        node = node[name]
    node[last] = value
    return out


def symlink(target: str) -> Special:
    return lambda path: path.symlink_to(target)


def hardlink(target: str) -> Special:
    return lambda path: os.link(path.parent / target, path)


def fifo(path: Path) -> None:
    os.mkfifo(path)


def unreadable(data: bytes) -> Special:
    def make(path: Path) -> None:
        path.write_bytes(data)
        path.chmod(0)

    return make


def unlistable_folder(files: dict[str, bytes], mode: int = 0) -> Special:
    def make(path: Path) -> None:
        path.mkdir()
        for name, data in files.items():
            (path / name).write_bytes(data)
        path.chmod(mode)

    return make


class Kit:
    """Hands out fresh events (each eventID used by one case only) and the usual shapes."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self._events: Iterator[dict[str, Any]] = iter(events)

    def events(self, n: int = 3) -> list[dict[str, Any]]:
        try:
            return [copy.deepcopy(next(self._events)) for _ in range(n)]
        except StopIteration:
            raise AssertionError("the corpus needs a larger synthetic trail") from None

    def good(self, name: str, encode: Callable[[list[Any]], bytes] = compact, n: int = 3) -> Built:
        """A file of good events, all kept."""
        events = self.events(n)
        return Built({name: encode(events)}, ids(events))

    def whole(self, name: str, data: bytes | Special, reason: str) -> Built:
        """A file quarantined as a whole; nothing of it kept."""
        return Built({name: data}, [], {(name, None): reason})

    def one_bad(
        self,
        name: str,
        spoil: Callable[[dict[str, Any]], Any],
        reason: str | None,
        encode: Callable[[list[Any]], bytes] = compact,
        at: int = 1,
    ) -> Built:
        """Three records, the one ``at`` spoiled: it is quarantined with ``reason`` (or kept,
        when ``reason`` is None), the others kept."""
        events = self.events(3)
        records: list[Any] = list(events)
        records[at] = spoil(events[at])
        keep = [e["eventID"] for i, e in enumerate(events) if i != at]
        if reason is None:
            keep.append(stored_id(records[at]))
        quarantine = {} if reason is None else {(name, at): reason}
        return Built({name: encode(records)}, keep, quarantine)

    def text_bad(self, name: str, damage: Callable[[bytes], bytes], reason: str) -> Built:
        """Three good events, then the file's bytes damaged: quarantined as a whole."""
        return self.whole(name, damage(compact(self.events(3))), reason)


def _cut(data: bytes, fraction: float) -> bytes:
    return data[: int(len(data) * fraction)]


def _eof(data: bytes) -> str:
    """orjson's words for text that ends too early, with its place as an editor shows it."""
    line = data.count(b"\n") + 1
    column = len(data) - (data.rfind(b"\n") + 1) + 1
    return f"not JSON: unexpected end of data: line {line} column {column} (char {len(data)})"


def _truncated(k: Kit, encode: Callable[[list[Any]], bytes], cut: float | int) -> Built:
    data = encode(k.events(3))
    data = data[: int(len(data) * cut)] if isinstance(cut, float) else data[:cut]
    return k.whole("cut.json", data, _eof(data))


def _ndjson_cut(k: Kit) -> Built:
    events = k.events(3)
    data = ndjson(events)
    data = data[: len(data) - 40]  # the last line loses its end
    last = data.rsplit(b"\n", 1)[1]
    reason = f"not JSON: unexpected end of data: line 3 column {len(last) + 1}"
    return Built({"cut.ndjson": data}, ids(events[:2]), {("cut.ndjson", 2): reason})


def _ndjson_bad_line(k: Kit) -> Built:
    events = k.events(3)
    lines = ndjson(events).split(b"\n")
    lines.insert(1, b'{"eventID": oops}')
    reason = "not JSON: unexpected character, expected a JSON value: line 2 column 13"
    return Built({"bad.ndjson": b"\n".join(lines)}, ids(events), {("bad.ndjson", 1): reason})


def _gz_damage(k: Kit, damage: Callable[[bytes], bytes], reason: str) -> Built:
    return k.whole("a.json.gz", damage(gz(compact(k.events(3)))), reason)


def _two_members(k: Kit) -> Built:
    first, second = k.events(2), k.events(2)
    data = gz(ndjson(first)) + gz(ndjson(second))
    return Built({"two.json.gz": data}, ids(first + second))


def _utf16(k: Kit, codec: str) -> Built:
    events = k.events(3)
    return Built({"u.json": pretty(events).decode().encode(codec)}, ids(events))


def _bom(k: Kit, zipped: bool) -> Built:
    events = k.events(3)
    data = b"\xef\xbb\xbf" + compact(events)
    return Built(
        {"bom.json.gz" if zipped else "bom.json": gz(data) if zipped else data}, ids(events)
    )


def _latin1_event(k: Kit) -> Built:
    events = k.events(3)
    events[1]["userAgent"] = "caf\u00e9"
    text = compact(events).decode()
    first, _, rest = text.partition("caf\u00e9")
    data = first.encode() + "caf\u00e9".encode("latin-1") + rest.encode()
    reason = "event with text that is not valid UTF-8"
    return Built({"latin1.json": data}, ids([events[0], events[2]]), {("latin1.json", 1): reason})


def _escaped(
    k: Kit, escape: str, reason: str | None, encode: Callable[[list[Any]], bytes]
) -> Built:
    """The middle event's userAgent holds a JSON escape, written into the text as is."""
    events = k.events(3)
    events[1]["userAgent"] = "MARK"
    data = encode(events).replace(b"MARK", escape.encode(), 1)
    keep = ids(events) if reason is None else ids([events[0], events[2]])
    return Built({"e.json": data}, keep, {} if reason is None else {("e.json", 1): reason})


def _deep(
    k: Kit, path: str, levels: int, kept: bool, encode: Callable[[list[Any]], bytes]
) -> Built:
    """The middle event with a value ``levels`` deep at ``path`` (its depth from the event)."""
    reason = None if kept else f"nested deeper than {DEPTH} levels"
    return k.one_bad("deep.json", lambda e: with_field(e, path, nested(levels)), reason, encode)


def _too_deep_to_read(k: Kit) -> Built:
    event = k.events(1)[0]
    text = json.dumps(event)[:-1] + ', "requestParameters": ' + "[" * 3000 + "]" * 3000 + "}"
    return k.whole(
        "abyss.json", b'{"Records":[' + text.encode() + b"]}", "nested deeper than 100 levels"
    )


def _big_number(k: Kit, digits: int, encode: Callable[[list[Any]], bytes]) -> Built:
    events = k.events(3)
    events[1]["requestParameters"] = {"n": "MARK"}
    data = encode(events).replace(b'"MARK"', b"9" * digits, 1)
    return Built({"n.json": data}, ids(events))


def _constant(k: Kit, word: str) -> Built:
    events = k.events(3)
    events[1]["requestParameters"] = {"x": "MARK"}
    data = pretty(events).replace(b'"MARK"', word.encode(), 1)
    line = data[: data.index(word.encode())].count(b"\n") + 1
    column = data.index(word.encode()) - data.rfind(b"\n", 0, data.index(word.encode()))
    char = data.index(word.encode())
    reason = (
        "not JSON: unexpected character, expected a JSON value: "
        f"line {line} column {column} (char {char})"
    )
    return k.whole("c.json", data, reason)


def _bomb(k: Kit) -> Built:
    data = gz_stream(b" " * (1 << 20), (CAP >> 20) + 8)
    return k.whole("bomb.json.gz", data, f"larger than {CAP_TEXT} when decompressed")


def _at_cap(k: Kit) -> Built:
    events = k.events(3)
    body = compact(events)
    data = body + b" " * (CAP - len(body))
    return Built({"full.json.gz": gz(data)}, ids(events))


def _over_cap_plain(k: Kit) -> Built:
    body = compact(k.events(3))
    return k.whole("big.json", body + b" " * (CAP + 1 - len(body)), f"larger than {CAP_TEXT}")


def _over_cap_stored(k: Kit) -> Built:
    data = os.urandom(CAP + 1)
    return k.whole("big.json.gz", b"\x1f\x8b" + data[2:], f"larger than {CAP_TEXT}")


def _huge_event(k: Kit) -> Built:
    return k.one_bad(
        "huge.json",
        lambda e: with_field(e, "requestParameters.blob", "x" * (17 << 20)),
        "event larger than 16 MB",
    )


def _notification(source: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "eventVersion": "2.1" if source == "aws:s3" else "1.1",
        "eventSource": source,
        "awsRegion": "us-east-1",
        "eventTime": "2024-07-17T10:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        **extra,
    }


S3_NOTIFICATION = _notification("aws:s3", {"s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}})
DYNAMODB = {
    "eventID": "1",
    "eventName": "INSERT",
    "eventVersion": "1.1",
    "eventSource": "aws:dynamodb",
    "awsRegion": "us-east-1",
    "dynamodb": {"Keys": {"Id": {"N": "101"}}},
}
SQS = {"messageId": "m", "body": "hello", "eventSource": "aws:sqs", "awsRegion": "us-east-1"}
SNS_RECORD = {"EventSource": "aws:sns", "EventVersion": "1.0", "Sns": {"Message": "hi"}}


def _notifications_only(k: Kit, record: dict[str, Any], reason: str) -> Built:
    return k.whole("n.json", compact([record]), reason)


def _names(k: Kit) -> Built:
    """Names a file system allows: bytes that are not UTF-8, in a file and in a folder name,
    spaces, accents, a newline, a leading dash, 250 characters, an upper-case extension."""
    out = Built()
    names = [
        os.fsdecode(b"caf\xe9.json"),
        os.fsdecode(b"d\xff/in.json"),
        "with space.json",
        "acc\u00e9nt\u00e9 \U0001f600.json",
        "new\nline.json",
        "-dash.json",
        "n" * 245 + ".json",
        "UPPER.JSON.GZ",
    ]
    for name in names:
        events = k.events(1)
        data = gz(compact(events)) if name.endswith(".GZ") else compact(events)
        out = out + Built({name: data}, ids(events))
    return out


# One line per case. A case's folder is its name; its files are named in the case.
# fmt: off
CONTENT: list[Case] = [
    # -- gzip: truncated at many points, damaged, mislabelled, several members, bombs
    Case("gz-cut-in-header", lambda k: _gz_damage(k, lambda z: z[:5], "damaged gzip: Compressed file ended before the end-of-stream marker was reached")),
    Case("gz-cut-at-quarter", lambda k: _gz_damage(k, lambda z: _cut(z, 0.25), "damaged gzip: Compressed file ended before the end-of-stream marker was reached")),
    Case("gz-cut-at-half", lambda k: _gz_damage(k, lambda z: _cut(z, 0.5), "damaged gzip: Compressed file ended before the end-of-stream marker was reached")),
    Case("gz-cut-in-trailer", lambda k: _gz_damage(k, lambda z: z[:-3], "damaged gzip: Compressed file ended before the end-of-stream marker was reached")),
    Case("gz-cut-last-byte", lambda k: _gz_damage(k, lambda z: z[:-1], "damaged gzip: Compressed file ended before the end-of-stream marker was reached")),
    Case("gz-bad-crc", lambda k: _gz_damage(k, lambda z: z[:-8] + b"\0\0\0\0" + z[-4:], "damaged gzip: CRC check failed")),
    Case("gz-bad-length", lambda k: _gz_damage(k, lambda z: z[:-4] + b"\x01\0\0\0", "damaged gzip: Incorrect length of data produced")),
    Case("gz-trailing-junk", lambda k: _gz_damage(k, lambda z: z + b"not gzip at all", "damaged gzip: Not a gzipped file (b'no')")),
    Case("gz-trailing-bytes", lambda k: _gz_damage(k, lambda z: z + b"junk", "damaged gzip: Compressed file ended before the end-of-stream marker was reached")),
    Case("gz-garbage-after-magic", lambda k: _gz_damage(k, lambda z: z[:2] + b"\x07" + z[3:], "damaged gzip: Unknown compression method")),
    Case("gz-garbage-deflate", lambda k: _gz_damage(k, lambda z: z[:10] + b"\xff" * 40 + z[50:], "damaged gzip: invalid block type")),
    Case("gz-name-not-gzip", lambda k: k.whole("x.json.gz", b"\x00\x01binary\xfe\xff" * 30, "damaged gzip: not gzip data (no gzip header)")),
    Case("gz-name-plain-json", lambda k: k.good("plain.json.gz")),
    Case("gz-of-binary", lambda k: k.whole("b.json.gz", gz(b"\x89PNG\r\n\x1a\n" + bytes(range(256))), "not JSON: not UTF-8 text (byte 0x89 at offset 0)")),
    Case("gz-empty-content", lambda k: k.whole("e.json.gz", gz(b""), "empty object")),
    Case("gz-two-members", _two_members),
    Case("gz-second-member-cut", lambda k: _gz_damage(k, lambda z: z + gz(b"{}")[:12], "damaged gzip: Compressed file ended before the end-of-stream marker was reached")),
    Case("gz-bomb", _bomb),
    Case("gz-at-the-cap", _at_cap),
    Case("plain-over-the-cap", _over_cap_plain),
    Case("gz-stored-over-the-cap", _over_cap_stored),
    # -- JSON truncated at many points
    Case("json-cut-early", lambda k: _truncated(k, compact, 0.05)),
    Case("json-cut-middle", lambda k: _truncated(k, compact, 0.5)),
    Case("json-cut-late", lambda k: _truncated(k, compact, 0.98)),
    Case("json-cut-last-bracket", lambda k: _truncated(k, compact, -1)),
    Case("pretty-cut-middle", lambda k: _truncated(k, pretty, 0.5)),
    Case("ndjson-last-line-cut", _ndjson_cut),
    Case("ndjson-bad-line", _ndjson_bad_line),
    # -- encodings
    Case("utf8-bom", lambda k: _bom(k, zipped=False)),
    Case("utf8-bom-gzip", lambda k: _bom(k, zipped=True)),
    Case("utf16-le-bom", lambda k: _utf16(k, "utf-16")),
    Case("utf16-be", lambda k: _utf16(k, "utf-16-be")),
    Case("utf32", lambda k: _utf16(k, "utf-32")),
    Case("utf16-odd-bytes", lambda k: k.whole("o.json", "{}".encode("utf-16") + b"\x00", "not JSON: not valid UTF-16 text")),
    Case("latin1-in-one-event", _latin1_event),
    Case("lone-high-surrogate", lambda k: _escaped(k, "\\ud800", "event with a lone surrogate in a string (not valid Unicode)", compact)),
    Case("lone-low-surrogate", lambda k: _escaped(k, "\\udc00x", "event with a lone surrogate in a string (not valid Unicode)", compact)),
    Case("lone-surrogate-pretty", lambda k: _escaped(k, "\\ud83d", "event with a lone surrogate in a string (not valid Unicode)", pretty)),
    Case("surrogate-pair", lambda k: _escaped(k, "\\ud83d\\ude00", None, compact)),
    Case("nul-in-string", lambda k: _escaped(k, "a\\u0000b", None, compact)),
    Case("binary-file", lambda k: k.whole("bin.json", bytes(range(128, 256)) * 4, "not JSON: not UTF-8 text (byte 0x80 at offset 0)")),
    # -- nesting
    Case("depth-100-compact", lambda k: _deep(k, "requestParameters", DEPTH - 1, True, compact)),
    Case("depth-101-compact", lambda k: _deep(k, "requestParameters", DEPTH, False, compact)),
    Case("depth-100-pretty", lambda k: _deep(k, "requestParameters", DEPTH - 1, True, pretty)),
    Case("depth-101-pretty", lambda k: _deep(k, "requestParameters", DEPTH, False, pretty)),
    Case("depth-300-pretty", lambda k: _deep(k, "requestParameters", 300, False, pretty)),
    Case("depth-in-responses", lambda k: _deep(k, "responseElements", 150, False, compact)),
    Case("depth-in-identity-map", lambda k: _deep(k, "userIdentity.sessionContext.webIdFederationData.attributes.a", 98, False, compact)),
    Case("depth-in-unknown-field", lambda k: _deep(k, "somethingNew", 120, False, ndjson)),
    Case("depth-3000-unreadable", _too_deep_to_read),
    # -- sizes
    Case("event-over-16mb", _huge_event),
    Case("one-huge-line", lambda k: k.one_bad("wide.ndjson", lambda e: with_field(e, "requestParameters.blob", "y" * (4 << 20)), None, ndjson)),
    Case("empty-file", lambda k: k.whole("empty.json", b"", "empty object")),
    Case("blank-file", lambda k: k.whole("blank.json", b" \n\t\r\n ", "empty object")),
    Case("empty-records", lambda k: Built({"none.json": b'{"Records":[]}'})),
    # -- types of fields
    Case("time-as-number", lambda k: k.one_bad("t.json", lambda e: with_field(e, "eventTime", 1721210400), "unparseable eventTime '1721210400'")),
    Case("time-null", lambda k: k.one_bad("t.json", lambda e: with_field(e, "eventTime", None), "event without eventTime")),
    Case("time-empty", lambda k: k.one_bad("t.json", lambda e: with_field(e, "eventTime", ""), "event without eventTime")),
    Case("time-year-0", lambda k: k.one_bad("t.json", lambda e: with_field(e, "eventTime", "0000-01-01T00:00:00Z"), "unparseable eventTime '0000-01-01T00:00:00Z'")),
    Case("time-after-9999-utc", lambda k: k.one_bad("t.json", lambda e: with_field(e, "eventTime", "9999-12-31T23:00:00-05:00"), "eventTime '9999-12-31T23:00:00-05:00' is outside the years 1-9999 in UTC")),
    Case("time-before-year-1-utc", lambda k: k.one_bad("t.json", lambda e: with_field(e, "eventTime", "0001-01-01T00:30:00+01:00"), "eventTime '0001-01-01T00:30:00+01:00' is outside the years 1-9999 in UTC")),
    Case("time-30-february", lambda k: k.one_bad("t.json", lambda e: with_field(e, "eventTime", "2024-02-30T10:00:00Z"), "unparseable eventTime '2024-02-30T10:00:00Z'")),
    Case("time-as-object", lambda k: k.one_bad("t.json", lambda e: with_field(e, "eventTime", {"t": 1}), "unparseable eventTime '{\"t\":1}'")),
    Case("time-nanoseconds", lambda k: k.one_bad("t.json", lambda e: with_field(e, "eventTime", e["eventTime"][:-1] + ".123456789Z"), None)),
    Case("id-as-number", lambda k: k.one_bad("i.json", lambda e: with_field(e, "eventID", 12345), None)),
    Case("identity-as-string", lambda k: k.one_bad("u.json", lambda e: with_field(e, "userIdentity", "root"), None)),
    Case("identity-as-json-text", lambda k: k.one_bad("u.json", lambda e: with_field(e, "userIdentity", json.dumps(e["userIdentity"])), None)),
    Case("identity-as-list", lambda k: k.one_bad("u.json", lambda e: with_field(e, "userIdentity", [1, 2]), None)),
    Case("resources-as-object", lambda k: k.one_bad("r.json", lambda e: with_field(e, "resources", {"ARN": "arn:aws:s3:::b"}), None)),
    Case("resources-as-strings", lambda k: k.one_bad("r.json", lambda e: with_field(e, "resources", ["a", "b"]), None)),
    Case("flags-as-text-and-numbers", lambda k: k.one_bad("f.json", lambda e: {**e, "readOnly": "TRUE", "managementEvent": 1}, None)),
    Case("free-form-as-scalars", lambda k: k.one_bad("f.json", lambda e: {**e, "requestParameters": "text", "responseElements": 7, "additionalEventData": [1]}, None)),
    Case("names-as-objects", lambda k: k.one_bad("n.json", lambda e: {**e, "eventName": {"a": 1}, "awsRegion": ["x"], "errorCode": True}, None)),
    Case("duplicate-keys", lambda k: _escaped(k, 'dup","eventName":"Second', None, compact)),
    Case("integer-30-digits-pretty", lambda k: _big_number(k, 30, pretty)),
    Case("integer-30-digits-compact", lambda k: _big_number(k, 30, compact)),
    Case("integer-5000-digits", lambda k: _big_number(k, 5000, pretty)),
    Case("nan", lambda k: _constant(k, "NaN")),
    Case("infinity", lambda k: _constant(k, "Infinity")),
    # -- shapes
    Case("top-level-number", lambda k: k.whole("n.json", b"42", "a JSON number is not an event")),
    Case("top-level-string", lambda k: k.whole("s.json", b'"hello"', "embedded text is not JSON")),
    Case("top-level-null", lambda k: k.whole("z.json", b"null", "a JSON null is not an event")),
    Case("top-level-empty-object", lambda k: k.whole("o.json", b"{}", "an empty JSON object is not an event")),
    Case("top-level-empty-array", lambda k: k.whole("a.json", b"[]", "no CloudTrail events found")),
    Case("records-not-a-list", lambda k: k.whole("r.json", b'{"Records":{"a":1}}', "object is not a CloudTrail event (keys: Records)")),
    Case("records-with-odd-items", lambda k: k.one_bad("odd.json", lambda e: None, "a JSON null is not an event") + k.one_bad("odd2.json", lambda e: 7, "a JSON number is not an event", at=0) + k.one_bad("odd3.json", lambda e: [[[e]]], None, at=2)),
    Case("envelopes-nine-deep", lambda k: k.whole("w.json", b"[" * 9 + compact(k.events(1))[12:-2] + b"]" * 9, "wrapped in more than 8 envelopes")),
    Case("config-snapshot", lambda k: k.whole("c.json", b'{"fileVersion":"1.0","configSnapshotId":"x","configurationItems":[]}', "object is not a CloudTrail event (keys: fileVersion, configSnapshotId, configurationItems)")),
    # -- not CloudTrail
    Case("s3-notification", lambda k: _notifications_only(k, S3_NOTIFICATION, "S3 event notification, not a CloudTrail event")),
    Case("s3-notification-among-events", lambda k: k.one_bad("m.json", lambda e: S3_NOTIFICATION, "S3 event notification, not a CloudTrail event")),
    Case("s3-notification-known-fields", lambda k: k.one_bad("m.json", lambda e: {"eventVersion": "2.1", "eventSource": "aws:s3", "eventTime": e["eventTime"], "eventName": "ObjectCreated:Put", "awsRegion": "us-east-1"}, "S3 event notification, not a CloudTrail event")),
    Case("dynamodb-stream", lambda k: _notifications_only(k, DYNAMODB, "DynamoDB Streams record, not a CloudTrail event")),
    Case("sqs-message", lambda k: _notifications_only(k, SQS, "SQS message, not a CloudTrail event")),
    Case("sns-lambda-record", lambda k: _notifications_only(k, SNS_RECORD, "SNS message, not a CloudTrail event")),
]

LOCAL: list[Case] = [
    Case("names", _names),
    Case("symlink-inside", lambda k: k.good("a.json") + Built({"b.json": symlink("a.json")})),
    Case("hardlink-inside", lambda k: k.good("a.json") + Built({"b.json": hardlink("a.json")})),
    Case("symlink-dangling", lambda k: k.good("a.json") + k.whole("gone.json", symlink("missing.json"), "broken symbolic link")),
    Case("symlink-loop", lambda k: k.good("a.json") + k.whole("loop.json", symlink("loop.json"), "Too many levels of symbolic links")),
    Case("hidden-file", lambda k: Built({".hidden.json": compact(k.events(1))}, skipped={".hidden.json"})),
    Case("fifo", lambda k: k.good("a.json") + Built({"pipe.json": fifo})),
    Case("file-unreadable", lambda k: k.good("a.json") + k.whole("secret.json", unreadable(compact(k.events(2))), "permission denied")),
    Case("folder-unreadable", lambda k: k.good("a.json") + k.whole("locked/", unlistable_folder({"in.json": compact(k.events(2))}), "cannot list folder (permission denied)")),
    Case("folder-not-searchable", lambda k: k.good("a.json") + Built({"noexec": unlistable_folder({"in.json": compact(k.events(2))}, 0o444)}, quarantine={("noexec/in.json", None): "permission denied"})),
]
# fmt: on


def _changed(k: Kit, after: Callable[[bytes], bytes | Special | None], reason: str) -> Built:
    """A good file when listed, changed before it is read."""
    data = gz(compact(k.events(3)))
    return Built(
        {"a.json.gz": data}, [], {("a.json.gz", None): reason}, changes={"a.json.gz": after(data)}
    )


def _rewritten(k: Kit) -> Built:
    first, second = k.events(2), k.events(2)
    return Built({"a.json": compact(first)}, ids(second), changes={"a.json": compact(second)})


def _made_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _made_dangling(path: Path) -> None:
    path.unlink()
    path.symlink_to("nowhere.json")


# fmt: off
CHANGING: list[Case] = [
    Case("changed-truncated", lambda k: _changed(k, lambda d: d[: len(d) // 2], "damaged gzip: Compressed file ended before the end-of-stream marker was reached")),
    Case("changed-grown-past-the-cap", lambda k: _changed(k, lambda d: b"{" + b" " * CAP + b"}", f"larger than {CAP_TEXT}")),
    Case("changed-deleted", lambda k: _changed(k, lambda d: None, "file vanished")),
    Case("changed-to-a-folder", lambda k: _changed(k, lambda d: _made_folder, "Is a directory")),
    Case("changed-to-a-broken-link", lambda k: _changed(k, lambda d: _made_dangling, "broken symbolic link")),
    Case("changed-content", _rewritten),
]
# fmt: on
