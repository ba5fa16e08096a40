"""A lake's boundaries fail as one line and a hint: S3 without credentials, without network,
a hung endpoint, a full disk, a damaged lake.json; and renewed credentials reach Arrow."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from trailscope import Lake, aws, open_lake
from trailscope.cli import app
from trailscope.errors import LakeError
from trailscope.lake.storage import LocalStorage, S3Storage


@pytest.fixture(autouse=True)
def fresh_clients() -> Iterator[None]:
    aws._client.cache_clear()  # each case makes its client from its own settings
    yield
    aws._client.cache_clear()


def _cli_error(args: list[str]) -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.stderr.strip().splitlines()


def test_an_s3_lake_without_credentials_says_so(
    s3_server: str, s3_bucket: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, bucket = s3_bucket
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    uri = f"s3://{bucket}/lake"
    with pytest.raises(LakeError) as info:
        open_lake(uri, endpoint_url=s3_server)
    assert info.value.message == f"no AWS credentials found to read {uri}/"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
    code, lines = _cli_error(["lake", "info", "--lake", uri])
    assert code == 1 and lines[0] == f"error: no AWS credentials found to read {uri}/"
    assert lines[1].startswith("hint: pass --profile NAME") and len(lines) == 2


def test_an_unreachable_endpoint_fails_fast_with_one_line() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(LakeError) as info:
        open_lake("s3://bucket/lake", endpoint_url=f"http://127.0.0.1:{port}")
    assert info.value.message.startswith("cannot reach S3 for s3://bucket/lake/: ")
    assert "TRAILSCOPE_S3_READ_TIMEOUT" in (info.value.hint or "")
    assert time.monotonic() - started < 30


@pytest.mark.slow
def test_a_hung_endpoint_times_out_as_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that accepts connections and never answers: the read timeout ends it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    monkeypatch.setenv(aws.READ_TIMEOUT_ENV, "1")
    started = time.monotonic()
    try:
        with pytest.raises(LakeError) as info:
            open_lake(
                "s3://bucket/lake", endpoint_url=f"http://127.0.0.1:{server.getsockname()[1]}"
            )
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()
    took = time.monotonic() - started
    assert info.value.message.startswith("cannot reach S3 for s3://bucket/lake/: Read timeout")
    assert took < 3 * aws.MAX_ATTEMPTS + 5  # a second per attempt and back-offs, not minutes


def test_renewed_credentials_reach_arrows_filesystem_and_the_next_query(
    s3_server: str, s3_bucket: tuple[str, str], tmp_path: Path
) -> None:
    from botocore.credentials import RefreshableCredentials

    _, bucket = s3_bucket
    lake = Lake(f"s3://{bucket}/lake", endpoint_url=s3_server)
    lake.update_table("accounts", lambda _: pa.table({"a": [1]}), operation="accounts")
    assert lake.query("SELECT count(*) AS n FROM accounts").to_pylist() == [{"n": 1}]
    storage = lake.storage
    assert isinstance(storage, S3Storage)
    before = storage.filesystem
    serial = iter(range(100))

    def renew(expires_in: float = 3600) -> dict[str, Any]:  # an STS refresh: new keys each time
        n = next(serial)
        expiry = datetime.now(UTC) + timedelta(seconds=expires_in)
        return {
            "access_key": f"testing{n}",
            "secret_key": "testing",
            "token": f"token{n}",
            "expiry_time": expiry.isoformat(),
        }

    # temporary credentials about to expire: botocore renews them when next asked
    storage._credentials = RefreshableCredentials.create_from_metadata(renew(60), renew, "test")
    assert storage.credentials_changed()
    assert storage.filesystem is not before
    assert lake.query("SELECT count(*) AS n FROM accounts").to_pylist() == [{"n": 1}]


def test_a_full_disk_is_one_line_and_keeps_what_was_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src" / "AWSLogs/111111111111/CloudTrail/us-east-1/2024/07/01"
    src.mkdir(parents=True)
    event = {"eventID": "a", "eventTime": "2024-07-01T10:00:00Z", "eventName": "X"}
    (src / "a.json.gz").write_bytes(gzip.compress(json.dumps({"Records": [event]}).encode()))
    lake = Lake(tmp_path / "lake")
    lake.update_table("accounts", lambda _: pa.table({"a": [1]}), operation="accounts")
    commits = lake.state().commits
    opened = LocalStorage.open_output

    def full(self: LocalStorage, rel: str) -> Any:
        if rel.startswith("events/"):
            return pa.OSFile("/dev/full", "wb")  # the kernel answers ENOSPC to every write
        return opened(self, rel)

    monkeypatch.setattr(LocalStorage, "open_output", full)
    with pytest.raises(LakeError) as info:
        lake.ingest(str(tmp_path / "src"), workers=1)
    assert info.value.message == f"no space left on the device of {tmp_path / 'lake'}"
    assert "run again" in (info.value.hint or "")
    monkeypatch.undo()
    assert open_lake(tmp_path / "lake").state().commits == commits
    assert Lake(tmp_path / "lake").ingest(str(tmp_path / "src"), workers=1).events_added == 1


@pytest.mark.parametrize("text", ["{not json", "[]", '{"format_version": "one"}'])
def test_a_damaged_lake_json_is_one_line_with_a_hint(tmp_path: Path, text: str) -> None:
    lake = Lake(tmp_path / "lake")
    lake.update_table("accounts", lambda _: pa.table({"a": [1]}), operation="accounts")
    (tmp_path / "lake" / "_trailscope" / "lake.json").write_text(text)
    code, lines = _cli_error(["lake", "info", "--lake", str(tmp_path / "lake")])
    assert code == 1 and len(lines) == 2
    assert lines[0].startswith(f"error: {tmp_path / 'lake'}/_trailscope/lake.json is damaged (")
    assert lines[1].startswith("hint: restore it from a backup, or write back {")


def test_a_missing_profile_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nosuch")
    with pytest.raises(LakeError) as info:
        open_lake("s3://bucket/lake")
    assert info.value.message == "AWS profile not found: nosuch"
