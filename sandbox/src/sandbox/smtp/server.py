"""The SMTP side of the sink: an aiosmtpd server in the running event loop, on the loopback."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import weakref
from collections.abc import AsyncIterator
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from sandbox.serving import LOOPBACK, bind_socket
from sandbox.smtp.store import MessageStore, QueuedSmtpFault, SmtpStage

SERVER_HOSTNAME = "sandbox.localhost"
"""The name the sink gives in its greeting (avoids a DNS lookup of the machine's FQDN)."""


class _SinkSession(Session):
    """aiosmtpd's Session without the deprecation warning logged on every AUTH.

    It also remembers an ``auth`` fault, so every mechanism the client tries next fails as well.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.refuse_auth: QueuedSmtpFault | None = None

    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class _SinkEnvelope(Envelope):
    """An envelope that remembers a fault that refuses every recipient of this transaction."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse_all: QueuedSmtpFault | None = None


class _SinkSMTP(SMTP):
    def _create_session(self) -> Session:
        return _SinkSession(self.loop)

    def _create_envelope(self) -> Envelope:
        return _SinkEnvelope()


def _peer(session: Session) -> str | None:
    peer = session.peer
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return None if peer is None else str(peer)


class SinkHandler:
    """aiosmtpd handler: accepts every message into the store unless a queued fault says no."""

    def __init__(self, store: MessageStore) -> None:
        self.store = store

    def _refuse(
        self, fault: QueuedSmtpFault, stage: SmtpStage, envelope: Envelope, to: list[str]
    ) -> str:
        self.store.record_rejection(
            fault, stage=stage, envelope_from=envelope.mail_from, envelope_to=to
        )
        return fault.reply()

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        """Accept any credentials, unless an ``auth`` fault is queued (then fail the session)."""
        assert isinstance(session, _SinkSession)
        fault = session.refuse_auth or self.store.take_fault("auth")
        if fault is not None:
            session.refuse_auth = fault
            reply = self._refuse(fault, "auth", envelope, [])
            # handled=False makes aiosmtpd send the reply; the default leaves the client hanging
            return AuthResult(success=False, handled=False, message=reply)
        return AuthResult(success=True, auth_data=auth_data)

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        """MAIL FROM: accept, or answer with a ``mail`` fault."""
        fault = self.store.take_fault("mail")
        if fault is not None:
            return self._refuse(fault, "mail", envelope, [])
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """RCPT TO: accept, or answer with a ``rcpt`` fault (for all recipients unless narrowed)."""
        assert isinstance(envelope, _SinkEnvelope)
        fault = envelope.refuse_all or self.store.take_fault("rcpt", [address])
        if fault is not None:
            if fault.rcpt is None:
                envelope.refuse_all = fault
            return self._refuse(fault, "rcpt", envelope, [address])
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """End of DATA: keep the message, or refuse it with a ``data`` fault."""
        fault = self.store.take_fault("data", envelope.rcpt_tos)
        if fault is not None:
            return self._refuse(fault, "data", envelope, list(envelope.rcpt_tos))
        raw = envelope.original_content or b""
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        message = self.store.add_message(
            raw,
            envelope_from=envelope.mail_from or "",
            envelope_to=envelope.rcpt_tos,
            peer=_peer(session),
            helo=session.host_name,
            authenticated_as=login.decode("utf-8", errors="replace") if login else None,
        )
        for hook in list(self.store.accept_hooks):
            await hook(message)
        return f"250 2.0.0 OK queued as {message.id}"


@contextlib.asynccontextmanager
async def serve_smtp(
    store: MessageStore,
    host: str = LOOPBACK,
    port: int = 0,
    *,
    tls_context: ssl.SSLContext | None = None,
    require_starttls: bool = False,
) -> AsyncIterator[tuple[str, int]]:
    """Run the SMTP sink in the running event loop; yield ``(host, port)``; stop at exit.

    EHLO, SMTPUTF8 and AUTH PLAIN/LOGIN (any credentials, also without TLS) are offered.
    STARTTLS is offered only when ``tls_context`` is given.
    """
    loop = asyncio.get_running_loop()
    handler = SinkHandler(store)
    connections: weakref.WeakSet[SMTP] = weakref.WeakSet()

    def protocol() -> SMTP:
        smtp = _SinkSMTP(
            handler,
            hostname=SERVER_HOSTNAME,
            ident="Praktika sandbox SMTP sink",
            enable_SMTPUTF8=True,
            authenticator=handler.authenticate,
            auth_require_tls=False,
            tls_context=tls_context,
            require_starttls=require_starttls,
            loop=loop,
        )
        connections.add(smtp)
        return smtp

    sock = bind_socket(host, port)
    bound_port: int = sock.getsockname()[1]
    server = await loop.create_server(protocol, sock=sock)
    try:
        yield host, bound_port
    finally:
        server.close()
        for smtp in list(connections):
            if smtp.transport is not None and not smtp.transport.is_closing():
                smtp.transport.close()
        await server.wait_closed()
        await asyncio.sleep(0)  # let closed connections run their connection_lost
