"""SMTP sink: real clients (stdlib smtplib, aiosmtplib) send; the HTTP inspection API shows it."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib
import httpx
import pytest
from sandbox.smtp import MessageStore
from sandbox.testing import RunningSmtpSink, running_smtp_sink


def booking_confirmed_mail(to: str = "client@example.org") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Praktika <noreply@praktika.example>"
    message["To"] = f"Клиент <{to}>, second@example.org"
    message["Subject"] = "Запись подтверждена"
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="praktika.example")
    message.set_content("Ваша запись на 15 января в 10:00 подтверждена.")
    message.add_alternative(
        "<p>Ваша запись на <b>15 января в 10:00</b> подтверждена.</p>", subtype="html"
    )
    return message


def send_with_smtplib(
    sink: RunningSmtpSink, message: EmailMessage, *, login: bool = True, rcpts: list[str]
) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=10) as client:
        client.ehlo("notify.test")
        if login:
            client.login("shop", "any-password")
        return client.send_message(message, to_addrs=rcpts)


async def test_multipart_mail_sent_with_smtplib_shows_up_in_the_inspection_api(
    smtp_sink: RunningSmtpSink,
) -> None:
    mail = booking_confirmed_mail()
    rcpts = ["client@example.org", "second@example.org", "hidden-bcc@example.org"]
    refused = await asyncio.to_thread(send_with_smtplib, smtp_sink, mail, rcpts=rcpts)
    assert refused == {}

    async with httpx.AsyncClient(base_url=smtp_sink.inspection_url) as http:
        listed = await http.get("/_sandbox/messages", params={"to": "hidden-bcc@example.org"})
        (summary,) = listed.json()
        one = (await http.get(f"/_sandbox/messages/{summary['id']}")).json()
        raw = await http.get(f"/_sandbox/messages/{summary['id']}/raw")
        nobody = await http.get("/_sandbox/messages", params={"to": "nobody@example.org"})

    assert one == summary
    assert one["subject"] == "Запись подтверждена"
    assert one["envelope_from"] == "noreply@praktika.example"
    assert one["envelope_to"] == rcpts
    assert one["from_address"] == "noreply@praktika.example"
    assert one["to_addresses"] == ["client@example.org", "second@example.org"]
    assert one["message_id"] == mail["Message-ID"]
    assert one["text"].strip() == "Ваша запись на 15 января в 10:00 подтверждена."
    assert one["html"].strip() == "<p>Ваша запись на <b>15 января в 10:00</b> подтверждена.</p>"
    assert one["authenticated_as"] == "shop"
    assert one["helo"] == "notify.test"
    content_type = next(v for k, v in one["headers"] if k == "Content-Type")
    assert content_type.startswith("multipart/alternative; boundary=")
    assert one["attachments"] == []
    assert raw.headers["content-type"] == "message/rfc822"
    assert b"Subject: =?utf-8?" in raw.content
    assert nobody.json() == []


async def test_aiosmtplib_send_with_login_and_partial_refusal(smtp_sink: RunningSmtpSink) -> None:
    async with httpx.AsyncClient(base_url=smtp_sink.inspection_url) as http:
        fault = await http.post(
            "/_sandbox/faults",
            json={"smtp_code": 550, "stage": "rcpt", "rcpt": "second@example.org"},
        )
        assert fault.status_code == 201
        assert fault.json()["kind"] == "smtp"

        refused, reply = await aiosmtplib.send(
            booking_confirmed_mail(),
            hostname=smtp_sink.smtp_host,
            port=smtp_sink.smtp_port,
            username="any",
            password="thing",
            start_tls=False,
            timeout=10,
        )
        assert refused["second@example.org"].code == 550
        assert "client@example.org" not in refused
        assert reply.startswith("2.0.0 OK queued as")

        (kept,) = (await http.get("/_sandbox/messages")).json()
        assert kept["envelope_to"] == ["client@example.org"]
        assert kept["authenticated_as"] == "any"
        (rejection,) = (await http.get("/_sandbox/rejections")).json()
        assert rejection["stage"] == "rcpt"
        assert rejection["envelope_to"] == ["second@example.org"]


async def test_auth_login_mechanism_accepts_any_credentials(smtp_sink: RunningSmtpSink) -> None:
    client = aiosmtplib.SMTP(hostname=smtp_sink.smtp_host, port=smtp_sink.smtp_port, timeout=10)
    async with client:
        assert client.supports_extension("auth")
        assert {"plain", "login"} <= set(client.server_auth_methods)
        response = await client.auth_login("whoever", "whatever")
        assert response.code == 235
        await client.send_message(booking_confirmed_mail())
    (message,) = await smtp_sink.store.wait_for_messages(within=5)
    assert message.authenticated_as == "whoever"


async def test_injected_451_is_returned_once_then_the_message_is_accepted(
    smtp_sink: RunningSmtpSink,
) -> None:
    rcpts = ["client@example.org"]
    async with httpx.AsyncClient(base_url=smtp_sink.inspection_url) as http:
        queued = await http.post("/_sandbox/faults", json={"smtp_code": 451, "times": 1})
        assert queued.status_code == 201
        assert [f["kind"] for f in (await http.get("/_sandbox/faults")).json()] == ["smtp"]

        mail = booking_confirmed_mail()
        with pytest.raises(smtplib.SMTPDataError) as first_try:
            await asyncio.to_thread(send_with_smtplib, smtp_sink, mail, rcpts=rcpts)
        assert first_try.value.smtp_code == 451
        reply: object = first_try.value.smtp_error  # bytes at run time, typed as str
        assert isinstance(reply, bytes)
        assert reply.startswith(b"4.3.0")  # the enhanced status code agrees: transient
        assert (await http.get("/_sandbox/messages")).json() == []

        await asyncio.to_thread(send_with_smtplib, smtp_sink, mail, rcpts=rcpts)
        (accepted,) = (await http.get("/_sandbox/messages")).json()
        assert accepted["subject"] == "Запись подтверждена"
        (rejection,) = (await http.get("/_sandbox/rejections")).json()
        assert (rejection["stage"], rejection["reply"][:3]) == ("data", "451")
        assert (await http.get("/_sandbox/faults")).json() == []


async def test_rcpt_fault_refuses_every_recipient_of_one_message(
    smtp_sink: RunningSmtpSink,
) -> None:
    async with httpx.AsyncClient(base_url=smtp_sink.inspection_url) as http:
        await http.post("/_sandbox/faults", json={"smtp_code": 452, "stage": "rcpt"})
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await aiosmtplib.send(
            booking_confirmed_mail(),
            hostname=smtp_sink.smtp_host,
            port=smtp_sink.smtp_port,
            timeout=10,
        )
    assert [r.code for r in refused.value.recipients] == [452, 452]
    await aiosmtplib.send(
        booking_confirmed_mail(), hostname=smtp_sink.smtp_host, port=smtp_sink.smtp_port
    )
    (kept,) = smtp_sink.store.messages()
    assert kept.envelope_to == ["client@example.org", "second@example.org"]


async def test_sender_and_auth_faults(smtp_sink: RunningSmtpSink) -> None:
    async with httpx.AsyncClient(base_url=smtp_sink.inspection_url) as http:
        await http.post("/_sandbox/faults", json={"smtp_code": 554, "stage": "mail"})
        await http.post("/_sandbox/faults", json={"smtp_code": 535, "stage": "auth"})
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as sender:
        await aiosmtplib.send(
            booking_confirmed_mail(), hostname=smtp_sink.smtp_host, port=smtp_sink.smtp_port
        )
    assert sender.value.code == 554
    with pytest.raises(aiosmtplib.SMTPAuthenticationError) as auth:
        await aiosmtplib.send(
            booking_confirmed_mail(),
            hostname=smtp_sink.smtp_host,
            port=smtp_sink.smtp_port,
            username="shop",
            password="right-or-wrong",
            timeout=5,
        )
    assert auth.value.code == 535
    assert smtp_sink.store.messages() == []
    # one auth fault fails every mechanism the client falls back to in that session
    assert {r.stage for r in smtp_sink.store.rejections()} == {"mail", "auth"}
    assert len(smtp_sink.store.pending_faults()) == 0


async def test_fault_narrowed_to_a_recipient_leaves_other_mail_alone(
    smtp_sink: RunningSmtpSink,
) -> None:
    async with httpx.AsyncClient(base_url=smtp_sink.inspection_url) as http:
        await http.post("/_sandbox/faults", json={"smtp_code": 550, "rcpt": "bad@example.org"})
    host, port = smtp_sink.smtp_host, smtp_sink.smtp_port
    await aiosmtplib.send(booking_confirmed_mail("good@example.org"), hostname=host, port=port)
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await aiosmtplib.send(booking_confirmed_mail("bad@example.org"), hostname=host, port=port)
    assert refused.value.code == 550
    assert [m.envelope_to[0] for m in smtp_sink.store.messages()] == ["good@example.org"]


@pytest.mark.parametrize(
    "payload",
    [
        {"smtp_code": 250},
        {"smtp_code": 451, "stage": "helo"},
        {"smtp_code": 451, "stage": "mail", "rcpt": "a@example.org"},
        {"smtp_code": 451, "times": 0},
    ],
)
async def test_invalid_smtp_fault_is_refused(
    smtp_sink: RunningSmtpSink, payload: dict[str, object]
) -> None:
    async with httpx.AsyncClient(base_url=smtp_sink.inspection_url) as http:
        assert (await http.post("/_sandbox/faults", json=payload)).status_code == 422
        assert (await http.get("/_sandbox/faults")).json() == []


async def test_delete_messages_and_reset(smtp_sink: RunningSmtpSink) -> None:
    host, port = smtp_sink.smtp_host, smtp_sink.smtp_port
    async with httpx.AsyncClient(base_url=smtp_sink.inspection_url) as http:
        await aiosmtplib.send(booking_confirmed_mail(), hostname=host, port=port)
        assert len((await http.get("/_sandbox/messages")).json()) == 1
        assert (await http.delete("/_sandbox/messages")).status_code == 204
        assert (await http.get("/_sandbox/messages")).json() == []
        assert (await http.get("/_sandbox/messages/1")).status_code == 404

        await http.post("/_sandbox/faults", json={"smtp_code": 451, "times": 5})
        with pytest.raises(aiosmtplib.SMTPDataError):
            await aiosmtplib.send(booking_confirmed_mail(), hostname=host, port=port)
        assert (await http.post("/_sandbox/reset")).status_code == 204
        assert (await http.get("/_sandbox/faults")).json() == []
        assert (await http.get("/_sandbox/rejections")).json() == []
    await aiosmtplib.send(booking_confirmed_mail(), hostname=host, port=port)
    (message,) = smtp_sink.store.messages()
    assert message.id == 2  # ids keep increasing across clears


async def test_messages_wait_long_polls_until_enough_arrive(smtp_sink: RunningSmtpSink) -> None:
    async with httpx.AsyncClient(base_url=smtp_sink.inspection_url, timeout=10) as http:
        waiting = asyncio.create_task(
            http.get("/_sandbox/messages", params={"to": "client@example.org", "wait": 5})
        )
        await asyncio.sleep(0.1)
        assert not waiting.done()
        await aiosmtplib.send(
            booking_confirmed_mail(), hostname=smtp_sink.smtp_host, port=smtp_sink.smtp_port
        )
        (arrived,) = (await waiting).json()
    assert arrived["to_addresses"][0] == "client@example.org"


async def test_wait_for_messages_says_what_arrived_when_it_times_out() -> None:
    store = MessageStore()
    with pytest.raises(TimeoutError, match="expected 1 message"):
        await store.wait_for_messages(to="x@example.org", within=0.05)


async def test_two_sinks_keep_separate_messages() -> None:
    async with running_smtp_sink() as first, running_smtp_sink() as second:
        await aiosmtplib.send(
            booking_confirmed_mail(), hostname=first.smtp_host, port=first.smtp_port
        )
        assert len(first.store.messages()) == 1
        assert second.store.messages() == []
        assert first.smtp_port != second.smtp_port


def test_malformed_message_is_kept_with_its_defects() -> None:
    store = MessageStore()
    kept = store.add_message(
        b"Subject: half\r\nContent-Type: multipart/mixed\r\n\r\nno boundary at all\r\n",
        envelope_from="a@example.org",
        envelope_to=["b@example.org"],
    )
    assert kept.subject == "half"
    assert kept.defects
    assert "no boundary at all" in kept.raw
