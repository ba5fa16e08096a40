"""The boto3 S3 client every S3 part of trailscope shares."""

from __future__ import annotations

import functools
import os
from typing import Any

#: Seconds to wait for a connection to S3, and for an answer on it (the AWS CLI's
#: --cli-connect-timeout and --cli-read-timeout); the environment variables below change them.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
CONNECT_TIMEOUT_ENV = "TRAILSCOPE_S3_CONNECT_TIMEOUT"
READ_TIMEOUT_ENV = "TRAILSCOPE_S3_READ_TIMEOUT"
#: Attempts per request (botocore's standard retry mode): with the timeouts, what bounds how
#: long an unreachable or hung endpoint keeps a command waiting.
MAX_ATTEMPTS = 3


def timeouts() -> tuple[float, float]:
    """(connect, read) timeouts in seconds, from the environment or the defaults."""
    return (
        _seconds(CONNECT_TIMEOUT_ENV, CONNECT_TIMEOUT),
        _seconds(READ_TIMEOUT_ENV, READ_TIMEOUT),
    )


def _seconds(name: str, default: float) -> float:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        from trailscope.errors import TrailscopeError

        raise TrailscopeError(f"{name}={text!r} is not a number of seconds", hint="e.g. 30")
    return value


def s3_client(profile: str | None, endpoint_url: str | None, region: str | None) -> Any:
    """The shared client for these settings (and the current timeouts)."""
    return _client(profile, endpoint_url, region, timeouts())


@functools.lru_cache(maxsize=8)
def _client(
    profile: str | None, endpoint_url: str | None, region: str | None, limits: tuple[float, float]
) -> Any:
    """One client per settings and process: making one costs ~50 ms of CPU (far more on a busy
    machine), and a Lambda container or a long ingest would otherwise make hundreds. boto3
    clients are thread-safe; each process (workers are spawned) makes its own."""
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {
        "user_agent_extra": "trailscope",
        "max_pool_connections": 32,
        "connect_timeout": limits[0],
        "read_timeout": limits[1],
        "retries": {"mode": "standard", "max_attempts": MAX_ATTEMPTS},
    }
    if endpoint_url:
        options["s3"] = {"addressing_style": "path"}  # S3-compatible stores rarely have DNS
    session = boto3.Session(profile_name=profile, region_name=region)
    return session.client("s3", endpoint_url=endpoint_url, config=Config(**options))
