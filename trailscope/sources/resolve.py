"""What a user typed -> a source: a local path or an ``s3://`` URI.

Kept apart from :mod:`trailscope.sources.base`, which both sources import: the sources depend
on the contract, and only this module depends on the sources.
"""

from __future__ import annotations

import re

from trailscope.errors import SourceError
from trailscope.sources.base import Source
from trailscope.sources.local import LocalSource

_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://(.*)", re.DOTALL)


def open_source(
    uri: str,
    *,
    profile: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> Source:
    """Turn what a user typed into a source, failing early with one clear line if it can't be.

    ``profile``, ``endpoint_url`` and ``region`` only matter for ``s3://``; they are accepted and
    ignored for local paths so a CLI can pass them through unconditionally.
    """
    text = uri.strip()
    match = _SCHEME_RE.fullmatch(text)
    if match is None:
        return LocalSource.from_user_path(text)
    scheme, rest = match.group(1).lower(), match.group(2)
    if scheme != "s3":
        raise SourceError(
            f"unsupported location: {text} (only local paths and s3:// URIs are supported)",
            hint="copy the logs to S3 or to a local folder, e.g. s3://BUCKET/PREFIX or ./logs",
        )
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise SourceError(
            f"bad S3 URI: {text} (no bucket name)", hint="write it as s3://BUCKET[/PREFIX]"
        )
    # botocore is loaded only for S3 runs (and not by a local run's workers).
    from trailscope.sources.s3 import S3Source

    return S3Source(bucket, prefix, profile=profile, endpoint_url=endpoint_url, region=region)
