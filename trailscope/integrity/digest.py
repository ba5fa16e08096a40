"""CloudTrail digest files as data: parsing, the string CloudTrail signs, and content hashes.

CloudTrail hashes *uncompressed* content: a log file's ``hashValue`` and a digest's
``previousDigestHashValue`` are SHA-256 over the JSON inside the gzip, so a file recompressed
with other settings still validates and a changed byte inside does not. The signed string is
fixed by AWS's "custom implementations" guide::

    digestEndTime \\n digestS3Bucket/digestS3Object \\n hex(sha256(digest JSON)) \\n prevSignature

with ``null`` for the first digest of a chain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

#: The only algorithm CloudTrail uses for digest signatures and hashes.
SIGNATURE_ALGORITHM = "SHA256withRSA"
HASH_ALGORITHM = "SHA-256"

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 24  # compressed bytes per step: one step for nearly every log file
# ..._CloudTrail-Digest_<region>_<trail name>_<home region>_<YYYYMMDDTHHMMSSZ>[_backfill].json.gz
_DIGEST_NAME_RE = re.compile(
    r"(?P<account>[0-9]{12})_CloudTrail-Digest_(?P<region>[a-z0-9-]+)_(?P<trail>.+)_"
    r"(?P<stamp>[0-9]{8}T[0-9]{4,6}Z)(?P<backfill>_backfill)?\.json(?:\.gz)?$"
)
# ..._CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<unique>.json.gz
_LOG_STAMP_RE = re.compile(r"_(?P<stamp>[0-9]{8}T[0-9]{4})Z_[^/]*$")


class DigestFormatError(ValueError):
    """A digest object that is not a readable CloudTrail digest (bad gzip, JSON or fields)."""


def trail_id(key: str) -> str:
    """The part of a key from ``AWSLogs/`` on: the same for a bucket, its prefix and a copy.

    Digests name objects by their full S3 key (with the trail's optional prefix); sources list
    them relative to wherever the user pointed. Matching on this suffix lets a local copy be
    checked against digests written for the bucket.
    """
    at = key.rfind("AWSLogs/")
    return key[at:] if at >= 0 else key


def content_sha256(data: bytes) -> str:
    """Hex SHA-256 of an object's uncompressed content (gzip members decoded, else as is).

    Streams through zlib so a large log file never exists twice in memory; both zlib and
    hashlib release the GIL, so threads hash files in parallel.
    """
    h = hashlib.sha256()
    if not data.startswith(_GZIP_MAGIC):
        h.update(data)
        return h.hexdigest()
    rest = memoryview(data)
    while rest:  # concatenated gzip members are one stream
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        pos = 0
        while not inflater.eof and pos < len(rest):
            h.update(inflater.decompress(rest[pos : pos + _CHUNK]))
            pos += _CHUNK
        if not inflater.eof:
            raise zlib.error("truncated gzip stream")
        rest = rest[min(pos, len(rest)) - len(inflater.unused_data) :]
        if bytes(rest[:2]) != _GZIP_MAGIC:
            break  # zero padding after the last member, as gzip readers allow
    return h.hexdigest()


def uncompress(data: bytes) -> bytes:
    """A digest object's JSON bytes: CloudTrail gzips digests, copies sometimes don't."""
    if data.startswith(_GZIP_MAGIC):
        return zlib.decompress(data, zlib.MAX_WBITS | 16)
    return data


@dataclass(frozen=True, slots=True)
class LogFileEntry:
    """One log file a digest vouches for."""

    bucket: str
    key: str
    id: str  # trail_id(key)
    hash_value: str
    hash_algorithm: str


@dataclass(frozen=True, slots=True)
class Digest:
    """One parsed digest file and what its bytes hash to."""

    id: str  # trail_id of where it was found
    account: str
    region: str
    trail: str  # "<trail name>_<home region>" from the file name: one chain per trail
    backfill: bool
    start: dt.datetime
    end: dt.datetime
    end_text: str  # digestEndTime exactly as written: it is part of the signed string
    bucket: str
    key: str  # digestS3Object as written
    fingerprint: str
    algorithm: str
    previous_bucket: str | None
    previous_key: str | None
    previous_hash: str | None
    previous_hash_algorithm: str | None
    previous_signature: str | None
    logs: tuple[LogFileEntry, ...]
    sha256: str  # of the uncompressed JSON

    @property
    def previous_id(self) -> str | None:
        return trail_id(self.previous_key) if self.previous_key else None

    @property
    def chain(self) -> tuple[str, str, str]:
        return self.account, self.region, self.trail

    def string_to_sign(self) -> bytes:
        return string_to_sign(
            self.end_text, self.bucket, self.key, self.sha256, self.previous_signature
        )


def string_to_sign(
    end_time: str, bucket: str, key: str, sha256: str, previous_signature: str | None
) -> bytes:
    """The bytes CloudTrail signs for a digest (see the module docstring).

    :param end_time: ``digestEndTime`` exactly as written in the digest.
    :param sha256: hex SHA-256 of the digest's uncompressed JSON.
    :param previous_signature: the previous digest's signature; None or "" for the first one.
    """
    previous = previous_signature if previous_signature else "null"
    return f"{end_time}\n{bucket}/{key}\n{sha256}\n{previous}".encode()


def parse_digest(found_key: str, raw: bytes) -> Digest:
    """Parse the bytes of the digest object found at ``found_key``."""
    try:
        content = uncompress(raw)
    except zlib.error as exc:
        raise DigestFormatError(f"not a gzip file ({exc})") from None
    try:
        doc = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise DigestFormatError(f"invalid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise DigestFormatError("not a JSON object")
    found_id = trail_id(found_key)
    name = _DIGEST_NAME_RE.search(found_id.rsplit("/", 1)[-1])
    try:
        logs = tuple(_log_entry(item) for item in doc.get("logFiles") or ())
        end_text = _text(doc, "digestEndTime")
        return Digest(
            id=found_id,
            account=_text(doc, "awsAccountId"),
            region=name.group("region") if name else _region_of(found_id),
            trail=name.group("trail") if name else "",
            backfill=bool(name and name.group("backfill")),
            start=parse_time(_text(doc, "digestStartTime")),
            end=parse_time(end_text),
            end_text=end_text,
            bucket=_text(doc, "digestS3Bucket"),
            key=_text(doc, "digestS3Object"),
            fingerprint=str(doc.get("digestPublicKeyFingerprint") or ""),
            algorithm=str(doc.get("digestSignatureAlgorithm") or ""),
            previous_bucket=doc.get("previousDigestS3Bucket"),
            previous_key=doc.get("previousDigestS3Object"),
            previous_hash=doc.get("previousDigestHashValue"),
            previous_hash_algorithm=doc.get("previousDigestHashAlgorithm"),
            previous_signature=doc.get("previousDigestSignature"),
            logs=logs,
            sha256=hashlib.sha256(content).hexdigest(),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DigestFormatError(f"not a CloudTrail digest ({exc})") from None


def _text(doc: dict[str, Any], field: str) -> str:
    value = doc.get(field)
    if not isinstance(value, str) or not value:
        raise KeyError(f"missing field {field}")
    return value


def _log_entry(item: Any) -> LogFileEntry:
    if not isinstance(item, dict):
        raise TypeError("logFiles entry is not an object")
    key = _text(item, "s3Object")
    return LogFileEntry(
        bucket=str(item.get("s3Bucket") or ""),
        key=key,
        id=trail_id(key),
        hash_value=_text(item, "hashValue").lower(),
        hash_algorithm=str(item.get("hashAlgorithm") or HASH_ALGORITHM),
    )


def _region_of(found_id: str) -> str:
    parts = found_id.split("/")
    try:
        return parts[parts.index("CloudTrail-Digest") + 1]
    except (ValueError, IndexError):
        return ""


def parse_time(text: str) -> dt.datetime:
    """CloudTrail's ``2015-08-17T14:01:31Z`` (fractions tolerated) as an aware datetime."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def log_delivery_time(key: str) -> dt.datetime | None:
    """When a log file was delivered, from the minute stamp in its name."""
    match = _LOG_STAMP_RE.search(key)
    if match is None:
        return None
    return dt.datetime.strptime(match.group("stamp"), "%Y%m%dT%H%M").replace(tzinfo=dt.UTC)
