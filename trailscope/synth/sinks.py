"""Where a trail's objects are written: a folder (a local copy of a bucket) or an S3 bucket."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from zlib_ng import gzip_ng


def gzip(data: bytes, level: int) -> bytes:
    """Gzip without a timestamp in the header, so the same content gives the same bytes."""
    compressed: bytes = gzip_ng.compress(data, level, mtime=0)
    return compressed


class Sink(Protocol):
    """Stores one object under a key (``AWSLogs/...``, relative to the trail's root)."""

    def put(self, key: str, data: bytes) -> None: ...


class DirectorySink:
    """Objects as files under a folder, laid out as in the bucket."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: set[Path] = set()

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        parent = path.parent
        if parent not in self._made:
            parent.mkdir(parents=True, exist_ok=True)
            self._made.add(parent)
        path.write_bytes(data)


class S3Sink:
    """Objects in an S3 bucket under an optional prefix, through a boto3 client.

    :param client: a boto3 S3 client (any endpoint: AWS, or an S3-compatible server).
    """

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)
