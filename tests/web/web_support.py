"""What the web tests share: the demo lake's hostile events, ports, the browser.

The lake is built once per session from a synthetic trail (20,000 events) plus one trail file
whose fields carry HTML and script, as an attacker could make CloudTrail record them. Expected
answers in the tests come from the raw trail files (plain gzip + json) or from questions asked
through ``Lake.query``, never from the web code.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
TOKEN = "web-test-token-4f1c9a"

HOSTILE_USER = "<img src=x onerror=alert('user')>"
HOSTILE_AGENT = "<script>alert('ua')</script>"
HOSTILE_BUCKET = "</pre><script>alert('bucket')</script>"
HOSTILE_ERROR = '"><svg onload=alert(2)>'
HOSTILE_IP = "100.127.254.253"  # an address the synthetic trail never uses


@dataclass
class DemoLake:
    path: Path
    trail: Path
    account: str
    events: list[dict[str, Any]]  # unique events of the trail, read with gzip + json
    hostile_ids: list[str]
    hostile_arn: str


def hostile_records(account: str) -> list[dict[str, Any]]:
    arn = f"arn:aws:iam::{account}:user/{HOSTILE_USER}"
    records = []
    for i in range(3):
        records.append(
            {
                "eventVersion": "1.09",
                "userIdentity": {
                    "type": "IAMUser",
                    "principalId": "AIDAHOSTILE0000000000",
                    "arn": arn,
                    "accountId": account,
                    "accessKeyId": "AKIAHOSTILE000000000",
                    "userName": HOSTILE_USER,
                },
                "eventTime": f"2024-07-17T15:0{i}:00Z",
                "eventSource": "s3.amazonaws.com",
                "eventName": "GetBucketPolicy",
                "awsRegion": "us-east-1",
                "sourceIPAddress": HOSTILE_IP,
                "userAgent": HOSTILE_AGENT,
                "errorCode": HOSTILE_ERROR,
                "errorMessage": "Access Denied",
                "requestParameters": {"bucketName": HOSTILE_BUCKET, "policy": ""},
                "responseElements": None,
                "requestID": f"HOSTILE{i}",
                "eventID": f"00000000-0000-4000-8000-00000000000{i}",
                "readOnly": True,
                "eventType": "AwsApiCall",
                "managementEvent": True,
                "recipientAccountId": account,
                "eventCategory": "Management",
            }
        )
    return records


CONSOLE_AGENT_SAMPLE = (
    Path(__file__).resolve().parents[3]
    / "shared/samples/events/awsdocs-lambda-developer-guide/with-cloudtrail__01.json"
)
NAIVE_TIME = "2024-07-17T23:59:00"  # an eventTime without a zone: the lake's latest event
SLASH_ID = "edge/event/with-slashes-0001"


def edge_records(account: str) -> list[dict[str, Any]]:
    """Events that once broke pages: console calls recognised only by their user agent (real
    events from the AWS docs, moved into the trail's week), a time without a zone, an event ID
    with '/' in it."""
    samples = json.loads(CONSOLE_AGENT_SAMPLE.read_text())["Records"]
    records = []
    for i, ev in enumerate(samples):
        ev = json.loads(json.dumps(ev))
        ev["eventTime"] = f"2024-07-16T10:1{i}:00Z"
        ev["recipientAccountId"] = account
        ev["userIdentity"]["accountId"] = account
        ev["userIdentity"]["arn"] = f"arn:aws:iam::{account}:root"
        ev["eventID"] = f"console-agent-{i:04d}"
        records.append(ev)
    naive = json.loads(json.dumps(samples[0]))
    naive |= {"eventTime": NAIVE_TIME, "eventID": "naive-time-0001", "recipientAccountId": account}
    naive["userAgent"] = "aws-cli/2.15.0"
    naive["userIdentity"]["arn"] = f"arn:aws:iam::{account}:root"
    records.append(naive)
    slash = json.loads(json.dumps(samples[1]))
    slash |= {
        "eventTime": "2024-07-16T11:00:00Z",
        "eventID": SLASH_ID,
        "recipientAccountId": account,
    }
    slash["userAgent"] = "aws-cli/2.15.0"
    slash["userIdentity"]["arn"] = f"arn:aws:iam::{account}:root"
    records.append(slash)
    return records


def unique_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    out = []
    for ev in events:
        canon = json.dumps(ev, sort_keys=True)
        if canon not in seen:
            seen.add(canon)
            out.append(ev)
    return out


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_chromium() -> Path:
    """Debian's chromium, installed here if missing and we may (root with apt-get); else a
    clear failure. Browser tests are never skipped."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "chromium"], check=True, env=env)
        if CHROMIUM.exists():
            return CHROMIUM
    pytest.fail(
        f"the browser tests need Debian's chromium at {CHROMIUM}: install it with "
        "'apt-get install -y chromium' (as root)",
        pytrace=False,
    )


@contextmanager
def serving(lake: Path) -> Iterator[str]:
    """A real ``trailscope serve`` process over ``lake`` on a free loopback port, with the
    access token; its base URL once it answers, and it is stopped afterwards."""
    port = free_port()
    cmd = [sys.executable, "-c", "from trailscope.cli import main; main()", "serve"]
    cmd += ["--lake", str(lake), "--port", str(port), "--token", TOKEN]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"trailscope serve exited: {proc.stdout.read()}")  # type: ignore[union-attr]
            try:
                r = httpx.get(f"{base}/api/status", headers={"Authorization": f"Bearer {TOKEN}"})
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("trailscope serve did not start within 60 s")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
