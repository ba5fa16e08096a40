"""The boto3 S3 client every S3 part of trailscope shares."""

from __future__ import annotations

import functools
from typing import Any


@functools.lru_cache(maxsize=8)
def s3_client(profile: str | None, endpoint_url: str | None, region: str | None) -> Any:
    """One client per settings and process: making one costs ~50 ms of CPU (far more on a busy
    machine), and a Lambda container or a long ingest would otherwise make hundreds. boto3
    clients are thread-safe; each process (workers are spawned) makes its own."""
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {"user_agent_extra": "trailscope", "max_pool_connections": 32}
    if endpoint_url:
        options["s3"] = {"addressing_style": "path"}  # S3-compatible stores rarely have DNS
    session = boto3.Session(profile_name=profile, region_name=region)
    return session.client("s3", endpoint_url=endpoint_url, config=Config(**options))
