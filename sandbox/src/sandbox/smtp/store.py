"""The SMTP sink's memory: received messages, queued SMTP faults and the replies they caused.

One :class:`MessageStore` is shared by the SMTP server (which writes) and the inspection app (which
reads). It is thread-safe, so the server may also run in another thread (aiosmtpd's Controller).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from email.headerregistry import AddressHeader
from email.message import EmailMessage
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SmtpStage = Literal["auth", "mail", "rcpt", "data"]


class StoredAttachment(BaseModel):
    """A non-body part of a received message."""

    filename: str | None
    content_type: str
    size: int


class StoredMessage(BaseModel):
    """A message the sink accepted: its envelope, parsed headers and parts, and the raw text."""

    id: int
    received_at: datetime
    peer: str | None = None
    helo: str | None = None
    authenticated_as: str | None = Field(
        default=None, description="AUTH login, if the client sent one"
    )
    envelope_from: str
    envelope_to: list[str]
    message_id: str | None = None
    subject: str | None = None
    from_address: str | None = Field(default=None, description="addr-spec of the From header")
    to_addresses: list[str] = Field(default_factory=list, description="addr-specs of To")
    cc_addresses: list[str] = Field(default_factory=list, description="addr-specs of Cc")
    headers: list[tuple[str, str]] = Field(description="Every header, decoded, in order")
    text: str | None = Field(default=None, description="The text/plain body, decoded")
    html: str | None = Field(default=None, description="The text/html body, decoded")
    attachments: list[StoredAttachment] = Field(default_factory=list)
    defects: list[str] = Field(default_factory=list, description="What the parser complained about")
    raw: str = Field(description="The DATA as received (undecodable bytes replaced)")

    def header(self, name: str) -> str | None:
        """The first value of a header, by case-insensitive name."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def header_values(self, name: str) -> list[str]:
        """Every value of a header, by case-insensitive name."""
        return [v for k, v in self.headers if k.lower() == name.lower()]


class SmtpFault(BaseModel):
    """A reply the sink gives instead of accepting, for the next ``times`` messages.

    ``stage`` is the command that gets the reply: ``data`` (default; the whole message is refused
    after its content is sent), ``rcpt`` (every recipient of the message, or only ``rcpt`` when
    given), ``mail`` (the sender) or ``auth`` (the login, whatever the credentials).
    """

    model_config = ConfigDict(extra="forbid")

    smtp_code: int = Field(ge=400, le=599)
    message: str | None = Field(default=None, description="Reply text; a sensible default per code")
    times: int = Field(default=1, ge=1)
    stage: SmtpStage = "data"
    rcpt: str | None = Field(default=None, description="Only messages to this address")

    @model_validator(mode="after")
    def _rcpt_known_at_stage(self) -> SmtpFault:
        if self.rcpt is not None and self.stage in ("auth", "mail"):
            raise ValueError("rcpt can only narrow a fault at the rcpt or data stage")
        return self

    def reply(self) -> str:
        """The full SMTP reply line, with an enhanced status code (RFC 3463)."""
        if self.message:
            return f"{self.smtp_code} {self.message}"
        klass = str(self.smtp_code)[0]
        defaults = {
            421: "4.3.2 Service not available (sandbox fault)",
            450: "4.2.1 Mailbox busy (sandbox fault)",
            451: "4.3.0 Try again later (sandbox fault)",
            452: "4.3.1 Insufficient system storage (sandbox fault)",
            454: "4.7.0 Temporary authentication failure (sandbox fault)",
            535: "5.7.8 Authentication credentials invalid (sandbox fault)",
            550: "5.1.1 Mailbox unavailable: user unknown (sandbox fault)",
            552: "5.3.4 Message too big (sandbox fault)",
            554: "5.7.1 Message rejected (sandbox fault)",
        }
        text = defaults.get(self.smtp_code, f"{klass}.0.0 Sandbox fault")
        return f"{self.smtp_code} {text}"


class QueuedSmtpFault(SmtpFault):
    """A queued :class:`SmtpFault` with its id and how many more messages it will take."""

    id: int
    remaining: int
    hits: int = 0


class SmtpRejection(BaseModel):
    """A reply the sink gave because of an injected fault."""

    id: int
    at: datetime
    stage: SmtpStage
    reply: str
    fault_id: int
    envelope_from: str | None
    envelope_to: list[str]


def _addresses(message: EmailMessage, name: str) -> list[str]:
    result: list[str] = []
    for header in message.get_all(name, []):
        if isinstance(header, AddressHeader):
            result += [a.addr_spec for a in header.addresses]
    return result


def _text_of(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None
    content = part.get_content()
    # the wire has CRLF line ends; readers of the text want the decoded text, not the transport
    return content.replace("\r\n", "\n") if isinstance(content, str) else None


class MessageStore:
    """Thread-safe, in-memory state of one SMTP sink."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[StoredMessage] = []
        self._raw: dict[int, bytes] = {}
        self._faults: list[QueuedSmtpFault] = []
        self._rejections: list[SmtpRejection] = []
        self._message_ids = itertools.count(1)
        self._fault_ids = itertools.count(1)
        self._rejection_ids = itertools.count(1)
        # Awaited after a message was accepted (stored) and before the client hears "250": tests
        # inject a fault at that moment (the provider accepted, the sender does not know yet).
        self.accept_hooks: list[Callable[[StoredMessage], Awaitable[None]]] = []

    # ------------------------------------------------------------------ messages

    def add_message(
        self,
        raw: bytes,
        *,
        envelope_from: str,
        envelope_to: Sequence[str],
        peer: str | None = None,
        helo: str | None = None,
        authenticated_as: str | None = None,
    ) -> StoredMessage:
        """Parse and keep a received message; never fails on a malformed one."""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        defects = [type(d).__name__ for d in parsed.defects]
        fields: dict[str, object] = {}
        try:
            fields = {
                "message_id": parsed.get("Message-ID"),
                "subject": parsed.get("Subject"),
                "from_address": next(iter(_addresses(parsed, "From")), None),
                "to_addresses": _addresses(parsed, "To"),
                "cc_addresses": _addresses(parsed, "Cc"),
                "headers": [(k, str(v)) for k, v in parsed.items()],
                "text": _text_of(parsed, "plain"),
                "html": _text_of(parsed, "html"),
                "attachments": [
                    StoredAttachment(
                        filename=part.get_filename(),
                        content_type=part.get_content_type(),
                        size=len(part.get_payload(decode=True) or b""),
                    )
                    for part in parsed.iter_attachments()
                ]
                if parsed.is_multipart()
                else [],
            }
        except Exception as exc:  # a sink keeps what it got, whatever the parser thinks of it
            defects.append(f"{type(exc).__name__}: {exc}")
            fields = {"headers": []}
        with self._lock:
            message = StoredMessage(
                id=next(self._message_ids),
                received_at=datetime.now(UTC),
                peer=peer,
                helo=helo,
                authenticated_as=authenticated_as,
                envelope_from=envelope_from,
                envelope_to=list(envelope_to),
                defects=defects,
                raw=raw.decode("utf-8", errors="replace"),
                **fields,
            )
            self._messages.append(message)
            self._raw[message.id] = raw
        return message

    def messages(self, *, to: str | None = None) -> list[StoredMessage]:
        """Accepted messages, newest last; ``to`` keeps those with that envelope recipient."""
        with self._lock:
            items = list(self._messages)
        if to is None:
            return items
        wanted = to.strip().lower()
        return [m for m in items if wanted in (r.lower() for r in m.envelope_to)]

    def get(self, message_id: int) -> StoredMessage | None:
        """One accepted message by id."""
        with self._lock:
            return next((m for m in self._messages if m.id == message_id), None)

    def raw(self, message_id: int) -> bytes | None:
        """The exact bytes of one accepted message."""
        with self._lock:
            return self._raw.get(message_id)

    def clear_messages(self) -> None:
        """Forget every accepted message and rejection (ids keep increasing)."""
        with self._lock:
            self._messages.clear()
            self._raw.clear()
            self._rejections.clear()

    async def wait_for_messages(
        self, *, to: str | None = None, count: int = 1, within: float = 5.0
    ) -> list[StoredMessage]:
        """Wait up to ``within`` seconds for ``count`` messages (to ``to``); return them all.

        Raises ``TimeoutError`` naming what did arrive, so a failing test says why.
        """
        deadline = time.monotonic() + within
        while True:
            found = self.messages(to=to)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"expected {count} message(s) to {to or 'anyone'}, got {len(found)}: "
                    f"{[(m.envelope_to, m.subject) for m in self.messages()]}"
                )
            await asyncio.sleep(0.02)

    # ------------------------------------------------------------------ faults

    def add_fault(self, fault: SmtpFault) -> QueuedSmtpFault:
        """Queue a fault behind the ones already waiting."""
        with self._lock:
            queued = QueuedSmtpFault(
                **fault.model_dump(), id=next(self._fault_ids), remaining=fault.times
            )
            self._faults.append(queued)
        return queued.model_copy()

    def pending_faults(self) -> list[QueuedSmtpFault]:
        """Faults still waiting, in the order they will be tried."""
        with self._lock:
            return [f.model_copy() for f in self._faults]

    def clear_faults(self) -> None:
        """Drop every waiting fault."""
        with self._lock:
            self._faults.clear()

    def take_fault(
        self, stage: SmtpStage, recipients: Iterable[str] = ()
    ) -> QueuedSmtpFault | None:
        """Consume one use of the first fault for this stage that applies to these recipients."""
        lowered = {r.lower() for r in recipients}
        with self._lock:
            for fault in self._faults:
                if fault.stage != stage:
                    continue
                if fault.rcpt is not None and fault.rcpt.lower() not in lowered:
                    continue
                fault.hits += 1
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault.model_copy()
        return None

    def record_rejection(
        self,
        fault: QueuedSmtpFault,
        *,
        stage: SmtpStage,
        envelope_from: str | None,
        envelope_to: Sequence[str],
    ) -> SmtpRejection:
        """Remember that a fault answered a command."""
        with self._lock:
            rejection = SmtpRejection(
                id=next(self._rejection_ids),
                at=datetime.now(UTC),
                stage=stage,
                reply=fault.reply(),
                fault_id=fault.id,
                envelope_from=envelope_from,
                envelope_to=list(envelope_to),
            )
            self._rejections.append(rejection)
        return rejection

    def rejections(self) -> list[SmtpRejection]:
        """Replies given because of faults, newest last."""
        with self._lock:
            return list(self._rejections)

    def reset(self) -> None:
        """Forget messages, rejections and faults."""
        self.clear_messages()
        self.clear_faults()
