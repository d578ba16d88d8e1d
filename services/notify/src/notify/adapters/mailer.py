"""Email over SMTP with aiosmtplib: building the message and classifying what the server said.

4yz replies, timeouts and dropped connections are transient (retry with backoff); 5yz replies
are permanent (RFC 5321 / RFC 3463). A 535 (bad credentials) is our configuration, not the
message: it is retried, and logged as an error so someone fixes the settings.

Every submission is a client span ``smtp send`` (servicekit.tracing): the server and the
outcome's kind, never an address or a subject.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib
from opentelemetry.trace import SpanKind, StatusCode
from servicekit.tracing import tracer

from notify.adapters.rendering import Rendered
from notify.domain.attempts import Outcome, Permanent, Sent, Transient

logger = logging.getLogger("notify.mailer")


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to submit mail."""

    host: str
    port: int
    security: str = "none"  # none | starttls | tls
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    validate_certs: bool = True
    mail_from: str = "Praktika <no-reply@praktika.local>"
    mail_domain: str = "praktika.local"


@dataclass(frozen=True)
class CalendarPart:
    """An iTIP calendar object (RFC 5546) a mail carries: ``method`` is ``REQUEST`` or
    ``CANCEL``; ``data`` the ``VCALENDAR`` (UTF-8)."""

    data: bytes
    method: str
    filename: str = "invite.ics"


def build_email(
    rendered: Rendered,
    *,
    to_address: str,
    to_name: str | None,
    mail_from: str,
    mail_domain: str,
    unsubscribe_url: str | None = None,
    unsubscribe_mailto: str | None = None,
    message_id: str | None = None,
    calendar: CalendarPart | None = None,
) -> EmailMessage:
    """A multipart/alternative message (text, then HTML) with the headers RFC 5322 wants.

    With ``unsubscribe_url`` (non-transactional mail) it carries RFC 8058 one-click
    ``List-Unsubscribe`` and ``List-Unsubscribe-Post``. ``message_id`` (see
    :func:`message_id_for`) makes every attempt of one delivery the same message to mail systems.
    With ``calendar`` it is an invitation as mail programs expect one: the calendar object is a
    third alternative (``text/calendar; method=...``) and also attached as ``invite.ics``
    (``application/ics``), inside ``multipart/mixed``.
    """
    msg = EmailMessage()
    msg["From"] = mail_from
    msg["To"] = Address(display_name=to_name or "", addr_spec=to_address)
    msg["Subject"] = rendered.subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id or make_msgid(domain=mail_domain)
    msg["Auto-Submitted"] = "auto-generated"
    if unsubscribe_url:
        targets = [f"<{unsubscribe_url}>"]
        if unsubscribe_mailto:
            targets.append(f"<mailto:{unsubscribe_mailto}?subject=unsubscribe>")
        msg["List-Unsubscribe"] = ", ".join(targets)
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(rendered.text + "\n")
    if rendered.html:
        msg.add_alternative(rendered.html + "\n", subtype="html")
    if calendar is not None:
        text = calendar.data.decode()
        msg.add_alternative(text, subtype="calendar", params={"method": calendar.method})
        msg.add_attachment(
            calendar.data, maintype="application", subtype="ics", filename=calendar.filename
        )
    return msg


def message_id_for(delivery_id: uuid.UUID, mail_domain: str) -> str:
    """The ``Message-ID`` of a delivery's mail: derived from the delivery id, so a repeat (a
    retry, an alert sent again after a crash) is recognisably the same message."""
    return f"<{delivery_id}@{mail_domain}>"


def _classify_code(code: int, text: str) -> Outcome:
    if 400 <= code < 500:
        return Transient(f"smtp {code}: {text}")
    if code == 535:
        logger.error("SMTP authentication failed: check SMTP_USERNAME / SMTP_PASSWORD")
        return Transient(f"smtp {code}: {text}")
    return Permanent(f"smtp {code}: {text}")


class Mailer:
    """Submits messages to the configured SMTP server."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    async def send(self, msg: EmailMessage) -> Outcome:
        """Submit ``msg``; the outcome says whether it was accepted, may be retried, or not."""
        cfg = self.config
        with tracer.start_as_current_span(
            "smtp send",
            kind=SpanKind.CLIENT,
            attributes={"server.address": cfg.host, "server.port": cfg.port},
        ) as span:
            outcome = await self._submit(msg)
            if span.is_recording():
                span.set_attribute("praktika.outcome", type(outcome).__name__.lower())
                if not isinstance(outcome, Sent):
                    span.set_status(StatusCode.ERROR, type(outcome).__name__)
            return outcome

    async def _submit(self, msg: EmailMessage) -> Outcome:
        cfg = self.config
        try:
            refused, _reply = await aiosmtplib.send(
                msg,
                hostname=cfg.host,
                port=cfg.port,
                username=cfg.username,
                password=cfg.password,
                start_tls=cfg.security == "starttls",
                use_tls=cfg.security == "tls",
                validate_certs=cfg.validate_certs,
                timeout=cfg.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0]
            return _classify_code(first.code, first.message)
        except aiosmtplib.SMTPResponseException as exc:
            return _classify_code(exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return Transient(f"smtp connection: {type(exc).__name__}: {exc}")
        if refused:
            code, text = next(iter(refused.values()))
            return _classify_code(code, text)
        return Sent(str(msg["Message-ID"]))
