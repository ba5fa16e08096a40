"""Shared fixtures: a real S3 API (moto's server on loopback) instead of mocked boto3 calls.

A real HTTP server exercises what mocks hide: pagination, delimiters, ETags, error codes, and
that sources still work after being pickled into another process.
"""

from __future__ import annotations

import socket
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

# Fake credentials so botocore signs requests; real ones must never be picked up by tests.
_FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
_CLEARED_AWS_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def _stop_spark_at_the_end() -> Iterator[None]:
    """Spark sessions are shared by test modules; stop the JVM cleanly before Python exits."""
    yield
    if "pyspark" in sys.modules:
        from pyspark.sql import SparkSession

        session = SparkSession.getActiveSession()
        if session is not None:
            session.stop()


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session for every test module that needs one (a JVM is slow to
    start); stopped at the end by the fixture above."""
    from trailscope.engines.spark import get_session

    session = get_session(
        "local[2]",
        {
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.driver.memory": "1g",
        },
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Endpoint URL of a moto S3 server for the whole session, with fake AWS credentials set."""
    from moto.server import ThreadedMotoServer

    env = pytest.MonkeyPatch()
    for name, value in _FAKE_AWS_ENV.items():
        env.setenv(name, value)
    for name in _CLEARED_AWS_ENV:
        env.delenv(name, raising=False)
    # Keep a developer's ~/.aws (profiles, SSO, endpoints) out of the tests.
    empty = tmp_path_factory.mktemp("aws-config")
    env.setenv("AWS_CONFIG_FILE", str(empty / "config"))
    env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        env.undo()


@pytest.fixture
def s3_client(s3_server: str) -> Any:
    """A plain boto3 client on the test server, for setting up and inspecting buckets."""
    return boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")


@pytest.fixture
def s3_bucket(s3_server: str, s3_client: Any) -> Iterator[tuple[str, str]]:
    """A fresh, uniquely named bucket: ``(endpoint_url, bucket_name)``."""
    name = f"trailscope-test-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    yield s3_server, name
    _empty_and_delete(s3_client, name)


@pytest.fixture
def s3_upload_tree(s3_client: Any) -> Callable[..., list[str]]:
    """``upload(bucket, root, prefix="")``: put every file under ``root`` as ``prefix + relpath``.

    Returns the uploaded keys, sorted. Lets a test build a tree once with pathlib and use it
    both as a local source and as a bucket.
    """

    def upload(bucket: str, root: Path, prefix: str = "") -> list[str]:
        keys = []
        for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
            key = prefix + path.relative_to(root).as_posix()
            s3_client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
            keys.append(key)
        return sorted(keys)

    return upload


def _empty_and_delete(client: Any, bucket: str) -> None:
    """Free the server's memory; a test may already have removed the bucket itself."""
    try:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket):
            objects = [{"Key": item["Key"]} for item in page.get("Contents", ())]
            if objects:
                client.delete_objects(Bucket=bucket, Delete={"Objects": objects})
        client.delete_bucket(Bucket=bucket)
    except client.exceptions.NoSuchBucket:
        pass
