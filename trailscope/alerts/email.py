"""Email over SMTP: a plain-text message per alert.

The server and credentials come from the environment, never the command line (where they
would show in ``ps`` and shell history): ``TRAILSCOPE_SMTP_HOST`` (default ``localhost``),
``TRAILSCOPE_SMTP_PORT`` (default 25), ``TRAILSCOPE_SMTP_USER``, ``TRAILSCOPE_SMTP_PASSWORD``,
``TRAILSCOPE_SMTP_FROM``, ``TRAILSCOPE_SMTP_TLS`` (``auto``: STARTTLS when the server offers
it, the default; ``require``; ``off``) and ``TRAILSCOPE_SMTP_CAFILE`` (a private CA). A
password is never sent over a connection without TLS.
"""

from __future__ import annotations

import os
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate

import orjson

from trailscope.alerts import Alert, AlertError, DeliveryError, destination_key
from trailscope.alerts.http import TIMEOUT
from trailscope.alerts.payload import alert_body, subject

_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_TLS_MODES = ("auto", "require", "off")


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "localhost"
    port: int = 25
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "trailscope@localhost"
    tls: str = "auto"
    cafile: str | None = None

    @classmethod
    def from_env(cls) -> SmtpSettings:
        env = os.environ
        port_text = env.get("TRAILSCOPE_SMTP_PORT", "25")
        tls = env.get("TRAILSCOPE_SMTP_TLS", "auto").strip().lower()
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise AlertError("TRAILSCOPE_SMTP_PORT is not a port number")
        if tls not in _TLS_MODES:
            raise AlertError(
                "TRAILSCOPE_SMTP_TLS is not one of " + ", ".join(_TLS_MODES),
                hint="auto uses STARTTLS when the server offers it",
            )
        return cls(
            host=env.get("TRAILSCOPE_SMTP_HOST", "localhost"),
            port=int(port_text),
            user=env.get("TRAILSCOPE_SMTP_USER") or None,
            password=env.get("TRAILSCOPE_SMTP_PASSWORD") or None,
            sender=env.get("TRAILSCOPE_SMTP_FROM") or f"trailscope@{socket.getfqdn()}",
            tls=tls,
            cafile=env.get("TRAILSCOPE_SMTP_CAFILE") or None,
        )


@dataclass(frozen=True)
class EmailDestination:
    """Mail each alert to one address."""

    address: str
    settings: SmtpSettings
    key: str
    timeout: float = TIMEOUT
    kind: str = "email"

    @classmethod
    def from_address(cls, address: str) -> EmailDestination:
        if not _ADDRESS.match(address):
            raise AlertError(
                "the email destination is not an address", hint="write email=soc@example.com"
            )
        return cls(address, SmtpSettings.from_env(), destination_key("email", address))

    def message(self, alert: Alert) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = subject(alert, limit=150)
        msg["From"] = self.settings.sender
        msg["To"] = self.address
        msg["Date"] = formatdate(usegmt=True)
        # the same key on a repeated delivery: mail systems and readers can drop the copy
        msg["Message-ID"] = f"<{alert.idempotency_key.replace(':', '.')}@trailscope>"
        msg["X-Trailscope-Idempotency-Key"] = alert.idempotency_key
        msg.set_content(email_text(alert))
        return msg

    def send(self, alert: Alert) -> None:
        s = self.settings
        try:
            with smtplib.SMTP(s.host, s.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                secure = False
                if s.tls != "off" and smtp.has_extn("starttls"):
                    smtp.starttls(context=ssl.create_default_context(cafile=s.cafile))
                    smtp.ehlo()
                    secure = True
                if s.tls == "require" and not secure:
                    raise DeliveryError("the SMTP server does not offer STARTTLS")
                if s.user:
                    if not secure:
                        raise DeliveryError("refusing to send the SMTP password without TLS")
                    smtp.login(s.user, s.password or "")
                smtp.send_message(self.message(alert))
        except smtplib.SMTPAuthenticationError:
            raise DeliveryError("the SMTP server refused the credentials") from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"the SMTP server answered {exc.smtp_code}") from None
        except smtplib.SMTPException as exc:
            raise DeliveryError(f"SMTP failed ({type(exc).__name__})") from None
        except ssl.SSLError as exc:
            raise DeliveryError(f"TLS with the SMTP server failed ({exc.reason})") from None
        except OSError as exc:
            reason = (exc.strerror or type(exc).__name__).lower()
            raise DeliveryError(f"cannot reach the SMTP server ({reason})") from None


def email_text(alert: Alert) -> str:
    """The body: the facts one per line (control characters from the logs removed), then
    the alert JSON for tools."""
    f = alert.finding
    lines = [
        f"{str(f.get('severity') or '').upper()}: {f.get('title') or f.get('rule_id')}",
        "",
    ]
    for label, name in (
        ("Rule", "rule_id"),
        ("Principal", "principal"),
        ("Source IP", "source_ip"),
        ("Account", "account"),
        ("Region", "region"),
        ("Target", "target"),
        ("First seen", "first_seen"),
        ("Last seen", "last_seen"),
        ("Events", "event_count"),
        ("Status", "status"),
    ):
        value = f.get(name)
        if value not in (None, ""):
            lines.append(f"{label + ':':<12} {_CONTROL.sub('?', str(value))}")
    lines += ["", f"Finding {alert.finding_id}, alert {alert.seq} ({alert.reason})"]
    if alert.link:
        lines.append(alert.link)
    lines += ["", "-- ", orjson.dumps(alert_body(alert), option=orjson.OPT_INDENT_2).decode()]
    return "\n".join(lines) + "\n"
