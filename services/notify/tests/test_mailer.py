"""The SMTP client against the sink: STARTTLS and implicit TLS by configuration, and how
replies are classified."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from notify.adapters.mailer import Mailer, SmtpConfig, build_email
from notify.adapters.rendering import Rendered
from notify.domain.attempts import Permanent, Sent, Transient
from sandbox.serving import bind_socket
from sandbox.smtp.server import serve_smtp
from sandbox.smtp.store import MessageStore, SmtpFault

pytestmark = pytest.mark.asyncio(loop_scope="session")

RENDERED = Rendered(subject="Тема", text="Текст письма", html="<p>Текст</p>", telegram="")


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ssl.SSLContext]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    folder: Path = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


def message(to: str = "anna@example.org", unsubscribe: str | None = None) -> object:
    return build_email(
        RENDERED,
        to_address=to,
        to_name="Анна",
        mail_from="Praktika <no-reply@praktika.local>",
        mail_domain="praktika.local",
        unsubscribe_url=unsubscribe,
        unsubscribe_mailto="unsubscribe@praktika.local" if unsubscribe else None,
    )


async def test_starttls_by_configuration(tls_context: ssl.SSLContext) -> None:
    store = MessageStore()
    async with serve_smtp(store, tls_context=tls_context, require_starttls=True) as (host, port):
        plain = Mailer(SmtpConfig(host=host, port=port, security="none", timeout=10))
        refused = await plain.send(message())  # type: ignore[arg-type]
        assert isinstance(refused, Transient | Permanent) and not isinstance(refused, Sent)
        mailer = Mailer(
            SmtpConfig(
                host=host,
                port=port,
                security="starttls",
                validate_certs=False,
                timeout=10,
                username="notify",
                password="secret",
            )
        )
        outcome = await mailer.send(message())  # type: ignore[arg-type]
    assert isinstance(outcome, Sent), outcome
    (mail,) = store.messages()
    assert mail.subject == "Тема" and mail.authenticated_as == "notify"
    assert outcome.provider_message_id == mail.message_id


class _Keep:
    """A bare aiosmtpd handler (the sandbox sink speaks STARTTLS, not implicit TLS)."""

    def __init__(self, store: MessageStore) -> None:
        self.store = store

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        self.store.add_message(
            envelope.original_content or b"",
            envelope_from=envelope.mail_from or "",
            envelope_to=envelope.rcpt_tos,
        )
        return "250 OK"


async def test_implicit_tls_by_configuration(tls_context: ssl.SSLContext) -> None:
    store = MessageStore()
    loop = asyncio.get_running_loop()
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = await loop.create_server(
        lambda: SMTP(_Keep(store), hostname="sandbox.localhost", loop=loop),
        sock=sock,
        ssl=tls_context,
    )
    try:
        mailer = Mailer(
            SmtpConfig(
                host="127.0.0.1", port=port, security="tls", validate_certs=False, timeout=10
            )
        )
        outcome = await mailer.send(message())  # type: ignore[arg-type]
    finally:
        server.close()
        await server.wait_closed()
    assert isinstance(outcome, Sent), outcome
    assert [m.subject for m in store.messages()] == ["Тема"]


async def test_replies_are_classified() -> None:
    store = MessageStore()
    async with serve_smtp(store) as (host, port):
        mailer = Mailer(SmtpConfig(host=host, port=port, timeout=10))
        store.add_fault(SmtpFault(smtp_code=451, stage="data"))
        assert isinstance(await mailer.send(message()), Transient)  # type: ignore[arg-type]
        store.add_fault(SmtpFault(smtp_code=554, stage="data"))
        assert isinstance(await mailer.send(message()), Permanent)  # type: ignore[arg-type]
        store.add_fault(SmtpFault(smtp_code=550, stage="rcpt"))
        assert isinstance(await mailer.send(message()), Permanent)  # type: ignore[arg-type]
        store.add_fault(SmtpFault(smtp_code=421, stage="mail"))
        assert isinstance(await mailer.send(message()), Transient)  # type: ignore[arg-type]
    closed = Mailer(SmtpConfig(host="127.0.0.1", port=port, timeout=3))
    assert isinstance(await closed.send(message()), Transient)  # type: ignore[arg-type]


async def test_non_transactional_mail_has_one_click_unsubscribe() -> None:
    mail = message(unsubscribe="https://praktika.example/api/notify/unsubscribe/abc")
    assert mail["List-Unsubscribe"] == (  # type: ignore[index]
        "<https://praktika.example/api/notify/unsubscribe/abc>, "
        "<mailto:unsubscribe@praktika.local?subject=unsubscribe>"
    )
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"  # type: ignore[index]
    assert message()["List-Unsubscribe"] is None  # type: ignore[index]
