"""Alerts, delivered to real receivers: a local HTTP server (webhook, Slack's incoming-webhook
shape), SNS on moto's server with an SQS subscriber, and an SMTP server (aiosmtpd).

Each test records real detection findings (Stratus Red Team detonation logs from the shared
samples) in a real lake and checks what arrived, how many times, and what was kept queued.
"""

from __future__ import annotations

import copy
import http.server
import json
import logging
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from trailscope import Lake
from trailscope.alerts import AlertError, parse_destination
from trailscope.cli import app
from trailscope.detect import run_detections
from trailscope.detect.model import DetectionReport, Finding, Severity
from trailscope.findings import Backoff, deliver_pending, outbox, record_and_alert
from trailscope.findings.manage import list_findings

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
STRATUS = SAMPLES / "events" / "stratus-red-team-detonation-logs"
PICKED = (
    "aws.defense-evasion.cloudtrail-stop.json",  # high
    "aws.initial-access.console-login-without-mfa.json",  # medium
    "aws.execution.ssm-start-session.json",  # low
)
SECRET = "T000/B000/s3cr3t-hook-token"
NOW = datetime(2024, 8, 1, tzinfo=UTC)


@dataclass
class Receiver:
    """A local HTTP server that records every POST; ``fail`` answers 500 that many times."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail: int = 0

    def ok_keys(self) -> list[str]:
        return [r["headers"]["idempotency-key"] for r in self.requests if r["status"] == 200]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box: dict[str, Receiver] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            rec = box["r"]
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            status = 500 if rec.fail > 0 else 200
            rec.fail = max(rec.fail - 1, 0)
            rec.requests.append(
                {
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": json.loads(body),
                    "status": status,
                }
            )
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box["r"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks/{SECRET}")
    # A short poll: shutdown() waits up to one poll interval (half a second by default).
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield box["r"]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def base_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("alerts")
    (root / "trail").mkdir()
    for name in PICKED:
        shutil.copy(STRATUS / name, root / "trail" / name)
    Lake(root / "lake").ingest(str(root / "trail"), workers=1)
    return root / "lake"


@pytest.fixture
def lake(base_lake: Path, tmp_path: Path) -> Lake:
    shutil.copytree(base_lake, tmp_path / "lake")
    return Lake(tmp_path / "lake")


@pytest.fixture(scope="module")
def base_report(base_lake: Path) -> DetectionReport:
    """The detections over the base lake, run once: every test's lake is a byte-for-byte copy
    of it taken before anything is recorded, so a run over the copy finds the same."""
    return run_detections(Lake(base_lake))


@pytest.fixture
def report(base_report: DetectionReport) -> DetectionReport:
    return copy.deepcopy(base_report)  # a test that changes its report changes only its own


def _alerts(lake: Lake) -> list[dict[str, Any]]:
    table = lake.read_table("alerts")
    return [] if table is None else table.to_pylist()


def test_webhook_alerts_each_finding_once(lake: Lake, report: DetectionReport, receiver: Receiver):
    hook = parse_destination(f"webhook={receiver.url}")
    wanted = report.at_or_above(Severity.LOW)
    assert len(wanted) == 3  # high, medium, low; the info finding stays quiet
    cycle = record_and_alert(lake, report, [hook], min_severity=Severity.LOW, now=NOW)
    assert (cycle.opened, cycle.alerts_sent, cycle.alerts_queued, cycle.alerts_failed) == (
        4,
        3,
        0,
        0,
    )
    again = record_and_alert(lake, report, [hook], min_severity=Severity.LOW, now=NOW)
    assert (again.opened, again.updated, again.alerts_sent) == (0, 0, 0)
    stored = {r["finding_id"]: r for r in list_findings(lake)}
    assert sorted(receiver.ok_keys()) == sorted(
        f"{fid}:1" for fid, r in stored.items() if r["severity"] != "info"
    )
    for request in receiver.requests:
        body, headers = request["body"], request["headers"]
        assert headers["content-type"] == "application/json"
        assert headers["x-trailscope-finding"] == body["finding_id"]
        assert headers["x-trailscope-alert-seq"] == "1" == str(body["alert_seq"])
        assert (body["type"], body["version"], body["reason"]) == ("trailscope.finding", 1, "new")
        row = stored[body["finding_id"]]
        for name in ("rule_id", "severity", "principal", "source_ip", "account", "first_seen"):
            assert body["finding"][name] == row[name]
        assert body["finding"]["event_ids"] == row["event_ids"]
    assert {a["status"] for a in _alerts(lake)} == {"sent"}


def test_a_failing_receiver_keeps_alerts_queued_then_gets_each_once(
    lake: Lake, report: DetectionReport, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    hook = parse_destination(f"webhook={receiver.url}")
    receiver.fail = 2
    backoff = Backoff(first=60, factor=2, cap=3600)
    with caplog.at_level(logging.DEBUG):
        first = record_and_alert(
            lake, report, [hook], min_severity=Severity.LOW, now=NOW, backoff=backoff
        )
    # the receiver failed: the destination is not tried again in this pass
    assert (first.alerts_sent, first.alerts_failed, first.alerts_queued) == (0, 1, 3)
    failed = [a for a in _alerts(lake) if a["attempts"]]
    assert len(failed) == 1
    assert failed[0]["last_error"] == "the receiver answered HTTP 500"
    assert failed[0]["next_attempt"] == "2024-08-01T00:01:00Z"
    # a pass before the back-off ends retries only the others (and fails once more)
    second = deliver_pending(lake, [hook], now=NOW + timedelta(seconds=10), backoff=backoff)
    assert (second.alerts_sent, second.alerts_failed, second.alerts_queued) == (0, 1, 3)
    assert len(receiver.requests) == 2
    # the receiver is back; once every back-off ended, everything arrives, once
    third = deliver_pending(lake, [hook], now=NOW + timedelta(minutes=5), backoff=backoff)
    assert (third.alerts_sent, third.alerts_failed, third.alerts_queued) == (3, 0, 0)
    assert deliver_pending(lake, [hook], now=NOW + timedelta(hours=1)).alerts_sent == 0
    keys = receiver.ok_keys()
    assert len(keys) == len(set(keys)) == 3
    assert SECRET not in caplog.text


def test_an_unreachable_receiver_never_shows_its_url(
    lake: Lake, report: DetectionReport, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    hook = parse_destination(f"slack=http://127.0.0.1:{port}/services/{SECRET}")
    with caplog.at_level(logging.DEBUG):
        cycle = record_and_alert(lake, report, [hook], now=NOW)
    assert (cycle.alerts_sent, cycle.alerts_failed, cycle.alerts_queued) == (0, 1, 2)
    errors = {a["last_error"] for a in _alerts(lake) if a["last_error"]}
    assert errors == {"cannot reach the receiver (connection refused)"}
    assert {a["destination"] for a in _alerts(lake)} == {hook.key}
    assert SECRET not in caplog.text and SECRET not in repr(hook)
    runner = CliRunner()
    for args in (["findings", "--format", "json"], ["lake", "info"], ["lake", "info", "--json"]):
        result = runner.invoke(app, [*args, "--lake", str(lake.root)])
        assert result.exit_code == 0, result.output
        assert SECRET not in result.output
    shown = lake.query("SELECT * FROM alerts").to_pylist()
    assert SECRET not in json.dumps(shown)


class Crash(BaseException):
    """Stands for the process dying (kill -9, power loss) at that point."""


def test_a_crash_between_queue_and_send_loses_nothing(
    lake: Lake, report: DetectionReport, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = parse_destination(f"webhook={receiver.url}")

    def crash(*args: Any) -> None:
        raise Crash

    monkeypatch.setattr(outbox, "_send", crash)
    with pytest.raises(Crash):
        record_and_alert(lake, report, [hook], now=NOW)
    assert receiver.requests == []
    # claimed by the delivery that died: the next one takes them over at once (same host)
    assert [a["status"] for a in _alerts(lake)] == ["sending", "sending"]
    monkeypatch.undo()
    after = deliver_pending(lake, [hook], now=NOW)
    assert (after.alerts_sent, after.alerts_queued) == (2, 0)
    assert deliver_pending(lake, [hook], now=NOW).alerts_sent == 0
    assert len(receiver.ok_keys()) == len(set(receiver.ok_keys())) == 2


def test_a_crash_between_send_and_record_resends_with_the_same_key(
    lake: Lake, report: DetectionReport, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one window where an alert can go twice: the receiver sees the same key."""
    hook = parse_destination(f"webhook={receiver.url}")
    real = outbox._mark_sent

    def crash_after_send(*args: Any) -> None:
        raise Crash

    monkeypatch.setattr(outbox, "_mark_sent", crash_after_send)
    with pytest.raises(Crash):
        record_and_alert(lake, report, [hook], now=NOW)
    monkeypatch.setattr(outbox, "_mark_sent", real)
    assert deliver_pending(lake, [hook], now=NOW).alerts_sent == 2
    keys = receiver.ok_keys()
    assert len(keys) == 3 and len(set(keys)) == 2  # one repeat, recognisable by its key
    assert keys[0] == keys[1]


def _finding(**changes: Any) -> Finding:
    base: dict[str, Any] = {
        "rule_id": "root-console-login",
        "title": "Root user signed in to the console",
        "severity": Severity.HIGH,
        "mitre": ("T1078.004",),
        "first_seen": "2024-07-31T03:00:00Z",
        "last_seen": "2024-07-31T03:05:00Z",
        "principal": "arn:aws:iam::111122223333:root",
        "source_ip": "203.0.113.9",
        "account": "111122223333",
        "region": "us-east-1",
        "event_count": 2,
        "event_ids": ["e1", "e2"],
    }
    base.update(changes)
    return Finding(**base)


def test_realert_only_when_severity_rises_or_after_the_interval(
    lake: Lake, receiver: Receiver
) -> None:
    hook = parse_destination(f"webhook={receiver.url}")

    def run(finding: Finding, now: datetime) -> int:
        report = DetectionReport(findings=[finding])
        cycle = record_and_alert(lake, report, [hook], realert_after=timedelta(hours=6), now=now)
        return cycle.alerts_sent

    assert run(_finding(), NOW) == 1
    more = _finding(last_seen="2024-07-31T04:00:00Z", event_ids=["e1", "e2", "e3"])
    assert run(more, NOW + timedelta(hours=1)) == 0  # updated, but too soon
    worse = _finding(severity=Severity.CRITICAL, event_ids=["e1", "e2", "e3", "e4"])
    assert run(worse, NOW + timedelta(hours=2)) == 1  # severity rose
    still = _finding(severity=Severity.CRITICAL, last_seen="2024-07-31T09:00:00Z", event_ids=["e5"])
    assert run(still, NOW + timedelta(hours=9)) == 1  # new events after the interval
    assert run(still, NOW + timedelta(hours=20)) == 0  # nothing new: no reminder
    bodies = [r["body"] for r in receiver.requests]
    assert [(b["alert_seq"], b["reason"]) for b in bodies] == [
        (1, "new"),
        (2, "severity rose"),
        (3, "still active"),
    ]
    assert len({b["finding_id"] for b in bodies}) == 1
    assert bodies[-1]["finding"]["event_count"] == 5


HOSTILE = "<!channel> <https://evil.example/x|click me> *bold* `tick` &amp; _it_\nline2"


def test_slack_message_is_readable_and_escapes_log_text(lake: Lake, receiver: Receiver) -> None:
    slack = parse_destination(f"slack={receiver.url}")
    finding = _finding(principal=HOSTILE, source_ip="<@U123>", detail="x" * 1000)
    cycle = record_and_alert(
        lake,
        DetectionReport(findings=[finding]),
        [slack],
        base_url="https://trailscope.example:8080/",
        now=NOW,
    )
    assert cycle.alerts_sent == 1
    message = receiver.requests[0]["body"]
    texts = [message["text"]]
    for block in message["blocks"]:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts += [f["text"] for f in block.get("fields", [])]
        texts += [e["text"] for e in block.get("elements", [])]
    joined = "\n".join(texts)
    # no mention, link or user reference can come from the logs
    assert "<!channel>" not in joined and "<@U123>" not in joined
    assert "<https://evil" not in joined
    principal = next(t for t in texts if t.startswith("*Principal*"))
    assert principal == (
        "*Principal*\n`&lt;!channel&gt; &lt;https://evil.example/x|click me&gt; *bold* "
        "\u02cbtick\u02cb &amp;amp; _it_ line2`"
    )
    assert "*HIGH* Root user signed in to the console" in message["blocks"][0]["text"]["text"]
    fid = list_findings(lake)[0]["finding_id"]
    assert (
        f"<https://trailscope.example:8080/detections/findings/{fid}|open in trailscope>" in joined
    )
    for name in ("Rule", "Source IP", "Account", "First seen", "Last seen", "Events"):
        assert any(t.startswith(f"*{name}*\n") for t in texts), name
    assert "*Events*\n`2`" in texts


def test_sns_publish_reaches_a_subscribed_queue(
    lake: Lake, report: DetectionReport, s3_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", s3_server)
    sns = boto3.client("sns", region_name="us-east-1", endpoint_url=s3_server)
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=s3_server)
    topic = sns.create_topic(Name="secops-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="secops-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    destination = parse_destination(f"sns={topic}")
    cycle = record_and_alert(lake, report, [destination], now=NOW)
    assert cycle.alerts_sent == 2
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    bodies = [json.loads(m["Body"]) for m in got.get("Messages", [])]
    stored = {r["finding_id"]: r for r in list_findings(lake)}
    assert sorted(b["idempotency_key"] for b in bodies) == sorted(
        f"{fid}:1" for fid, r in stored.items() if r["severity"] in ("high", "medium")
    )
    for body in bodies:
        assert body["finding"]["rule_id"] == stored[body["finding_id"]]["rule_id"]
    assert record_and_alert(lake, report, [destination], now=NOW).alerts_sent == 0


def test_sns_refusal_keeps_the_alert(
    lake: Lake, report: DetectionReport, s3_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", s3_server)
    missing = parse_destination("sns=arn:aws:sns:us-east-1:123456789012:no-such-topic")
    cycle = record_and_alert(lake, report, [missing], now=NOW)
    assert (cycle.alerts_sent, cycle.alerts_failed, cycle.alerts_queued) == (0, 1, 2)
    assert {a["last_error"] for a in _alerts(lake) if a["last_error"]} == {
        "SNS refused the message (NotFound)"
    }


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received: list[Any] = []

    class Keep(Message):
        def handle_message(self, message: Any) -> None:
            received.append(message)

    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("TRAILSCOPE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TRAILSCOPE_SMTP_PORT", str(port))
    monkeypatch.setenv("TRAILSCOPE_SMTP_FROM", "trailscope@example.com")
    try:
        yield received
    finally:
        controller.stop()


def test_email_alert_arrives_at_an_smtp_server(
    lake: Lake, report: DetectionReport, smtp: list[Any]
) -> None:
    mail = parse_destination("email=soc@example.com")
    cycle = record_and_alert(lake, report, [mail], min_severity=Severity.HIGH, now=NOW)
    assert cycle.alerts_sent == 1
    [message] = smtp
    row = next(r for r in list_findings(lake) if r["severity"] == "high")
    assert message["To"] == "soc@example.com"
    assert message["From"] == "trailscope@example.com"
    subject = str(message["Subject"]).replace("\r\n", "").replace("\n", "")  # unfolded
    assert subject == f"[trailscope] HIGH {row['rule_id']} by {row['principal']}"
    assert message["Message-ID"] == f"<{row['finding_id']}.1@trailscope>"
    body = message.get_payload()
    assert f"Principal:   {row['principal']}" in body
    assert f"Finding {row['finding_id']}, alert 1 (new)" in body


def test_email_never_sends_a_password_in_clear(
    lake: Lake, report: DetectionReport, smtp: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAILSCOPE_SMTP_USER", "alerts")
    monkeypatch.setenv("TRAILSCOPE_SMTP_PASSWORD", "hunter2-secret")
    mail = parse_destination("email=soc@example.com")
    assert "hunter2" not in repr(mail)
    cycle = record_and_alert(lake, report, [mail], now=NOW)
    assert (cycle.alerts_sent, cycle.alerts_failed) == (0, 1)
    assert smtp == []
    assert {a["last_error"] for a in _alerts(lake) if a["last_error"]} == {
        "refusing to send the SMTP password without TLS"
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (f"https://hooks.example.com/{SECRET}", "cannot read alert destination (kind '?')"),
        (f"pager=https://x/{SECRET}", "cannot read alert destination (kind 'pager')"),
        (
            f"webhook=ftp://hooks.example.com/{SECRET}",
            "the webhook destination is not an http(s) URL",
        ),
        ("slack=", "alert destination slack has no target"),
        (
            f"slack=https://hooks.slack.com/a b/{SECRET}",
            "the slack destination is not an http(s) URL",
        ),
        (
            f"sns=arn:aws:sqs:us-east-1:123456789012:{SECRET}",
            "the sns destination is not an SNS topic ARN",
        ),
        ("email=not an address", "the email destination is not an address"),
    ],
)
def test_bad_destinations_say_what_without_the_secret(spec: str, message: str) -> None:
    with pytest.raises(AlertError) as err:
        parse_destination(spec)
    assert err.value.message == message
    assert SECRET not in str(err.value)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (what a private CA file would hold) and its key."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp.pem", folder / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.slow
def test_email_uses_starttls_and_logs_in(
    lake: Lake, report: DetectionReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message
    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    received: list[Any] = []
    logins: list[tuple[str, bool]] = []

    class Keep(Message):
        def handle_message(self, message: Any) -> None:
            received.append(message)

    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"alerts",
            b"hunter2-secret",
        )
        logins.append((mechanism, ok))
        return AuthResult(success=ok)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = Controller(
        Keep(),
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=check,
        auth_require_tls=True,
    )
    controller.start()
    try:
        for name, value in {
            "TRAILSCOPE_SMTP_HOST": "127.0.0.1",
            "TRAILSCOPE_SMTP_PORT": str(port),
            "TRAILSCOPE_SMTP_USER": "alerts",
            "TRAILSCOPE_SMTP_PASSWORD": "hunter2-secret",
            "TRAILSCOPE_SMTP_TLS": "require",
            "TRAILSCOPE_SMTP_CAFILE": str(cert),
        }.items():
            monkeypatch.setenv(name, value)
        mail = parse_destination("email=soc@example.com")
        cycle = record_and_alert(lake, report, [mail], now=NOW)
        assert (cycle.alerts_sent, cycle.alerts_failed) == (2, 0)
        assert len(received) == 2 and {ok for _, ok in logins} == {True}
        # a wrong password keeps the alert queued, with a reason that does not repeat it
        monkeypatch.setenv("TRAILSCOPE_SMTP_PASSWORD", "wrong-secret")
        worse = _finding(event_ids=["x1"], first_seen="2024-07-20T00:00:00Z")
        cycle = record_and_alert(
            lake, DetectionReport(findings=[worse]), [parse_destination("email=soc@example.com")]
        )
        assert (cycle.alerts_sent, cycle.alerts_failed, cycle.alerts_queued) == (0, 1, 1)
        [error] = {a["last_error"] for a in _alerts(lake) if a["last_error"]}
        # aiosmtpd hangs up after the refused login; other servers answer 535
        assert error in (
            "the SMTP server refused the credentials",
            "SMTP failed (SMTPServerDisconnected)",
        )
        assert "secret" not in error
    finally:
        controller.stop()


def test_backoff_doubles_to_its_cap_even_after_weeks_of_failures() -> None:
    backoff = Backoff(first=2, factor=2, cap=300)
    delays = [backoff.delay(n).total_seconds() for n in (1, 2, 3, 8, 9, 5000)]
    assert delays == [2, 4, 8, 256, 300, 300]
