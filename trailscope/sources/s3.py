"""Objects in an S3 bucket, or an S3-compatible store reached through ``endpoint_url``.

A trail bucket holds millions of keys and listing is paid per request, so the walk never lists
what the filter excludes: it descends the layout one level at a time (``ListObjectsV2`` with a
``/`` delimiter: ``AWSLogs/`` → org ids → accounts → ``CloudTrail*/`` → regions), skipping
accounts, regions and kinds that are not wanted, and then reads each wanted region as ONE key
range. Day folders sort by date (``YYYY/MM/DD``), so ``StartAfter`` jumps straight to the first
wanted day and the listing stops at the first key past the last one; that costs one request per
1000 keys in the window, never one per (often empty) day.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from operator import itemgetter
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ProfileNotFound,
)

from trailscope.errors import SourceError, SourceReadError
from trailscope.sources.base import NO_FILTER, ListFilter, SourceObject, day_after
from trailscope.sources.layout import (
    AWSLOGS,
    RANGE_LEVELS,
    Level,
    Position,
    classify_key,
    locate,
)

_CREDENTIAL_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "UnrecognizedClientException",
    }
)
_CREDENTIALS_HINT = (
    "pass --profile NAME, set AWS_PROFILE, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
    "(for SSO profiles run `aws sso login` first)"
)


class S3Source:
    """Objects under ``s3://bucket/prefix``; keys are full object keys."""

    has_metadata = True

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        profile: str | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        self.bucket = bucket
        # A prefix names a folder: "AWSLogs/1111" must not also match "AWSLogs/11112222...".
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.profile = profile
        self.endpoint_url = endpoint_url
        self.region = region
        self.uri = f"s3://{bucket}/{self.prefix}"
        self._client: Any = None

    def __repr__(self) -> str:
        return f"S3Source({self.uri!r})"

    def __getstate__(self) -> dict[str, Any]:
        """Clients hold sockets and locks; each process makes its own from the settings."""
        state = dict(self.__dict__)
        state["_client"] = None
        return state

    @property
    def client(self) -> Any:
        """The boto3 S3 client, made on first use (also lets tests hook its events)."""
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def iter_objects(self, flt: ListFilter = NO_FILTER) -> Iterator[SourceObject]:
        try:
            yield from self._walk(flt)
        except (BotoCoreError, ClientError) as exc:
            raise self._listing_error(exc) from exc

    def read(self, obj: SourceObject, max_bytes: int | None = None) -> bytes:
        """The object's bytes, at most ``max_bytes`` of them (the rest is not downloaded)."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=obj.key)
            body = response["Body"]
            try:
                return body.read() if max_bytes is None else body.read(max_bytes)
            finally:
                body.close()
        except (BotoCoreError, ClientError) as exc:
            raise SourceReadError(obj.uri, _read_reason(exc)) from exc

    def read_metadata(self, obj: SourceObject) -> dict[str, str]:
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=obj.key)
        except (BotoCoreError, ClientError) as exc:
            raise SourceReadError(obj.uri, _read_reason(exc)) from exc
        return dict(response.get("Metadata") or {})

    # -- listing ---------------------------------------------------------------------------

    def _walk(self, flt: ListFilter) -> Iterator[SourceObject]:
        pos = locate(self.prefix.split("/"))
        if pos is None:
            awslogs = self.prefix + AWSLOGS + "/"
            listing = self._list_level(awslogs)
            if listing[0] or listing[1]:
                # A trail bucket (or trail prefix): only its CloudTrail tree is of interest.
                yield from self._descend(awslogs, Position(Level.AWSLOGS), flt, listing)
            else:
                yield from self._list_all(self.prefix, flt)
        elif pos.level is Level.FOREIGN:
            yield from self._list_all(self.prefix, flt)
        else:
            yield from self._descend(self.prefix, pos, flt)

    def _descend(
        self,
        prefix: str,
        pos: Position,
        flt: ListFilter,
        listing: tuple[list[dict[str, Any]], list[str]] | None = None,
    ) -> Iterator[SourceObject]:
        if not flt.may_contain(pos):
            return
        if pos.level in RANGE_LEVELS:
            yield from self._list_range(prefix, pos, flt)
            return
        files, folders = listing or self._list_level(prefix)
        entries = [(item["Key"], item) for item in files] + [(sub, None) for sub in folders]
        # Files and folders merged in key order keep the whole output sorted by key.
        for name, item in sorted(entries, key=itemgetter(0)):
            if item is None:
                yield from self._descend(name, pos.child(name[len(prefix) : -1]), flt)
            else:
                yield from self._emit(item, flt)

    def _list_range(self, prefix: str, pos: Position, flt: ListFilter) -> Iterator[SourceObject]:
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        stop = None
        if flt.has_window and pos.region is not None:
            base = _region_prefix(prefix, pos.region)
            if flt.first_day is not None:
                start = base + _day_path(flt.first_day)
                if start > prefix:
                    params["StartAfter"] = start
            end = day_after(flt.last_day) if flt.last_day is not None else None
            if end is not None:
                stop = base + _day_path(end)
        for item in self._paginate(params):
            if stop is not None and item["Key"] >= stop:
                return  # keys are sorted: everything from here on is after the window
            yield from self._emit(item, flt)

    def _list_all(self, prefix: str, flt: ListFilter) -> Iterator[SourceObject]:
        for item in self._paginate({"Bucket": self.bucket, "Prefix": prefix}):
            yield from self._emit(item, flt)

    def _list_level(self, prefix: str) -> tuple[list[dict[str, Any]], list[str]]:
        """One folder level: its objects and its sub-folder prefixes."""
        files: list[dict[str, Any]] = []
        folders: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
            files.extend(page.get("Contents", ()))
            folders.extend(p["Prefix"] for p in page.get("CommonPrefixes", ()))
        return files, folders

    def _paginate(self, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(**params):
            yield from page.get("Contents", ())

    def _emit(self, item: dict[str, Any], flt: ListFilter) -> Iterator[SourceObject]:
        key = item["Key"]
        info = classify_key(key)
        if flt.wants(info):
            etag = str(item.get("ETag", "")).strip('"')
            yield SourceObject(key, f"s3://{self.bucket}/{key}", int(item["Size"]), etag, info)

    # -- client and errors -----------------------------------------------------------------

    def _make_client(self) -> Any:
        import boto3  # slow to import; only S3 runs need it
        from botocore.config import Config

        # Its own client (not the shared one of trailscope.aws): tests and tools hook its events.
        options: dict[str, Any] = {"user_agent_extra": "trailscope", "max_pool_connections": 32}
        if self.endpoint_url:
            # S3-compatible stores rarely have per-bucket DNS names.
            options["s3"] = {"addressing_style": "path"}
        try:
            session = boto3.Session(profile_name=self.profile, region_name=self.region)
            return session.client("s3", endpoint_url=self.endpoint_url, config=Config(**options))
        except ProfileNotFound as exc:
            raise profile_not_found(exc, self.profile) from None
        except ValueError as exc:  # botocore's answer to a malformed endpoint URL
            raise SourceError(
                f"bad endpoint URL: {self.endpoint_url} ({exc})",
                hint="write it like https://host[:port]",
            ) from None

    def _listing_error(self, exc: BotoCoreError | ClientError) -> SourceError:
        """Listing failures stop the run: say what went wrong and which knob fixes it."""
        if isinstance(exc, NoCredentialsError):
            return SourceError("no AWS credentials found", hint=_CREDENTIALS_HINT)
        if isinstance(exc, EndpointConnectionError):
            return SourceError(
                f"cannot reach S3 for {self.uri}: {exc}",
                hint="check --endpoint-url (for S3-compatible stores) and the network",
            )
        if isinstance(exc, BotoCoreError):
            return SourceError(f"cannot list {self.uri}: {exc}")
        code, message, status = _error_parts(exc)
        if code == "NoSuchBucket":
            return SourceError(
                f"no such bucket: {self.bucket}",
                hint="check the bucket name; for an S3-compatible store pass --endpoint-url",
            )
        if code in _CREDENTIAL_CODES:
            return SourceError(f"AWS rejected the credentials ({code})", hint=_CREDENTIALS_HINT)
        if code == "AccessDenied" or status == 403:
            return SourceError(
                f"access denied listing {self.uri} ({code})",
                hint="check --profile; listing needs s3:ListBucket on the bucket"
                " (if you may only list part of it, point at that prefix)",
            )
        return SourceError(f"cannot list {self.uri}: {code}: {message}")


def profile_not_found(exc: ProfileNotFound, asked: str | None) -> SourceError:
    """Name the profile that is missing and where its name came from: ``--profile``, or
    ``AWS_PROFILE`` when no profile was passed."""
    name = asked or exc.kwargs.get("profile") or os.environ.get("AWS_PROFILE")
    if asked:
        hint = "check the name in ~/.aws/config, or leave out --profile"
    else:
        hint = "AWS_PROFILE names it: check the name in ~/.aws/config, or unset AWS_PROFILE"
    return SourceError(f"AWS profile not found: {name}", hint=hint)


def _read_reason(exc: BotoCoreError | ClientError) -> str:
    """One object failed: name the cause in a few words; the run goes on without it."""
    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials found"
    if isinstance(exc, EndpointConnectionError):
        return f"cannot reach S3 ({exc})"
    if isinstance(exc, BotoCoreError):
        return str(exc)
    code, message, status = _error_parts(exc)
    if code in ("NoSuchKey", "NotFound") or (status == 404 and code != "NoSuchBucket"):
        return "object vanished (NoSuchKey)"
    if code == "AccessDenied" or status == 403:
        return f"access denied ({'AccessDenied' if code.isdigit() else code})"
    return f"{code}: {message}" if message else code


def _error_parts(exc: ClientError) -> tuple[str, str, int | None]:
    """Code, message and HTTP status; HEAD errors have no body, so the code may be "404"."""
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = str(error.get("Code") or status or "error")
    return code, str(error.get("Message") or ""), status


def _region_prefix(prefix: str, region: str) -> str:
    """The ``.../<region>/`` part of a prefix at or below a region folder."""
    marker = f"/{region}/"
    return prefix[: prefix.rfind(marker) + len(marker)]


def _day_path(day: datetime.date) -> str:
    return f"{day.year:04d}/{day.month:02d}/{day.day:02d}"
