"""What a reader of the outboxes, the broker and its DLQs learns from a whole journey: no email,
phone, name, Telegram chat id, free text or one-time token of anybody (issue 12, points 1–2).

On the stack `make run` starts: a client registers, verifies the address from the mail, asks for
a password reset, consents, links Telegram (opens her link in the bot, confirms in the app),
books and pays a session, cancels it with a reason in her own words. A queue bound to ``#`` on
every exchange keeps every message published meanwhile; then every outbox row of every
service's database and every message of every DLQ are read too — among them a real event that
a consumer dead-lettered because it was sealed under a key the stack does not hold (a key
dropped too early in a rotation).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import subprocess
import uuid
from collections.abc import AsyncIterator
from urllib.parse import unquote, urlsplit

import aio_pika
import asyncpg
import pytest
from contracts.routing import PRODUCERS, exchange_for
from cryptography.fernet import Fernet
from servicekit.db.engine import asyncpg_dsn
from servicekit.testing import RABBITMQCTL, wait_until

from .conftest import LocalStack
from .test_paid_journey import PASSWORD, practice

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.slow,
    pytest.mark.timeout(300),  # a whole journey, payment included, on a shared machine
]

SERVICES = ("booking", "content", "cabinet", "notify")


@contextlib.asynccontextmanager
async def every_message(amqp_url: str) -> AsyncIterator[list[aio_pika.abc.AbstractMessage]]:
    """Every message published on any exchange while the block runs, as it travelled."""
    seen: list[aio_pika.abc.AbstractMessage] = []
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        for producer in PRODUCERS:
            exchange = await channel.declare_exchange(
                exchange_for(producer), aio_pika.ExchangeType.TOPIC, durable=True
            )
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            await queue.bind(exchange, "#")

            async def keep(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                async with message.process():
                    seen.append(message)

            await queue.consume(keep)
        yield seen
    finally:
        await connection.close()


def dlq_names(amqp_url: str) -> list[str]:
    """Every dead-letter queue on the stack's vhost."""
    vhost = unquote(urlsplit(amqp_url).path.removeprefix("/"))
    listed = subprocess.run(
        [RABBITMQCTL, "-q", "list_queues", "-p", vhost, "name", "--no-table-headers"],
        capture_output=True,
        text=True,
        check=True,
    )
    names = [line.strip() for line in listed.stdout.splitlines() if line.strip()]
    return [n for n in names if n.endswith(".dlq")]


async def dead_letters(amqp_url: str) -> list[aio_pika.abc.AbstractMessage]:
    """Every message in every DLQ of the stack (read and put back)."""
    out: list[aio_pika.abc.AbstractMessage] = []
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        for name in dlq_names(amqp_url):
            queue = await channel.declare_queue(name, durable=True, passive=True)
            got = []
            while (message := await queue.get(no_ack=False, fail=False)) is not None:
                got.append(message)
            out += got
            for message in got:
                await message.reject(requeue=True)
    finally:
        await connection.close()
    return out


def readable(message: aio_pika.abc.AbstractMessage) -> str:
    """What a reader of the broker sees: body, properties and headers, escapes undone."""
    body = message.body.decode()
    with contextlib.suppress(ValueError):
        body += json.dumps(json.loads(body), ensure_ascii=False)
    headers = {k: str(v) for k, v in (message.headers or {}).items()}
    props = [message.message_id, message.correlation_id, message.type, message.app_id]
    return body + json.dumps(headers, ensure_ascii=False) + " ".join(map(str, props))


async def outbox_rows(stack: LocalStack) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for service in SERVICES:
        conn = await asyncpg.connect(asyncpg_dsn(stack.layout.database_url(service)))
        try:
            rows = await conn.fetch("SELECT * FROM outbox ORDER BY seq")
        finally:
            await conn.close()
        texts = []
        for row in rows:
            text = " ".join(str(v) for v in row.values())
            if row["body"] is not None:
                text += json.dumps(json.loads(row["body"]), ensure_ascii=False)
            texts.append(text)
        out[service] = texts
    return out


async def all_published(stack: LocalStack) -> bool:
    for service in SERVICES:
        conn = await asyncpg.connect(asyncpg_dsn(stack.layout.database_url(service)))
        try:
            pending = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        finally:
            await conn.close()
        if pending:
            return False
    return True


async def test_no_reader_of_outboxes_broker_or_dlqs_learns_anything_personal(
    local_stack: LocalStack,
) -> None:
    stack = local_stack
    tag = uuid.uuid4().hex[:8]
    email = f"maria.sekretova.{tag}@example.com"
    name, phone = f"Мария Секретова{tag}", f"+7916{random.randint(1000000, 9999999)}"
    chat_id = random.randint(10**11, 10**12)
    tg_username, tg_first, tg_last = f"msek_{tag}", f"Маша{tag}", f"Тайная{tag}"
    reason = f"Плохо себя чувствую после больницы, перезвоните мне {tag}"
    admin = {"authorization": f"Bearer {stack.token('admin')}"}
    secrets: list[str] = [email, email.split("@")[0], name, phone, phone[2:], str(chat_id)]
    secrets += [tg_username, tg_first, tg_last, reason]

    async with every_message(stack.layout.amqp_url) as wire:
        # Registration, and the address verified from the mail.
        r = await stack.gateway.post(
            "/api/cabinet/registrations",
            json={"email": email, "password": PASSWORD, "name": name, "phone": phone},
        )
        assert r.status_code == 202, r.text
        link = stack.link_in(await stack.mail_to(email, "Подтвердите адрес"))
        verification = link.split("#token=", 1)[1]
        secrets += [verification, link]
        r = await stack.gateway.post(
            "/api/cabinet/email-verifications", json={"token": verification}
        )
        assert r.status_code == 204, r.text
        # A password reset link, used.
        r = await stack.gateway.post("/api/cabinet/password-resets", json={"email": email})
        assert r.status_code == 202, r.text
        reset_link = stack.link_in(await stack.mail_to(email, "Сброс пароля"))
        reset = reset_link.split("#token=", 1)[1]
        secrets += [reset, reset_link]
        r = await stack.gateway.post(
            "/api/cabinet/password-resets/confirm",
            json={"token": reset, "new_password": PASSWORD + "!"},
        )
        assert r.status_code == 204, r.text
        r = await stack.gateway.post(
            "/api/cabinet/sessions", json={"email": email, "password": PASSWORD + "!"}
        )
        assert r.status_code == 200, r.text
        me = {"authorization": f"Bearer {r.json()['access_token']}"}

        # Consent to health data processing.
        r = await stack.gateway.post(
            "/api/cabinet/consent-documents",
            json={
                "purpose": "health_data_processing",
                "title": "Согласие",
                "text": "Текст согласия на обработку данных о здоровье.",
            },
            headers=admin,
        )
        assert r.status_code == 201, r.text
        r = await stack.gateway.post(
            "/api/cabinet/me/consents", json={"document_id": r.json()["id"]}, headers=me
        )
        assert r.status_code == 201, r.text

        # Telegram, linked from a link the signed-in owner made.
        r = await stack.gateway.post(
            "/api/notify/deeplinks", json={"action": "link_account"}, headers=me
        )
        assert r.status_code == 201, r.text
        deeplink, deeplink_id = r.json()["token"], r.json()["id"]
        secrets.append(deeplink)
        async with stack.sandbox("telegram") as telegram:
            r = await telegram.post(
                "/_sandbox/users",
                json={
                    "id": chat_id,
                    "first_name": tg_first,
                    "last_name": tg_last,
                    "username": tg_username,
                    "language_code": "ru",
                },
            )
            assert r.status_code in (200, 201), r.text
            r = await telegram.post(f"/_sandbox/users/{chat_id}/start", json={"payload": deeplink})
            assert r.status_code == 200, r.text
        # the chat waits until she confirms it in the app
        r = await stack.gateway.post(
            "/api/notify/me/telegram/confirm", json={"deeplink_id": deeplink_id}, headers=me
        )
        assert r.status_code == 200, r.text

        async def linked() -> bool:
            prefs = await stack.gateway.get("/api/notify/me/preferences", headers=me)
            return bool(prefs.json().get("telegram_linked"))

        await wait_until(linked, timeout=30)
        # She had come to the bot from a flyer's link first (attribution: her chat, her names).
        r = await stack.gateway.post(
            "/api/notify/deeplinks",
            json={"action": "attribution", "source": "flyer", "campaign": "spring"},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        flyer = r.json()["token"]
        secrets.append(flyer)
        async with stack.sandbox("telegram") as telegram:
            r = await telegram.post(f"/_sandbox/users/{chat_id}/start", json={"payload": flyer})
            assert r.status_code == 200, r.text
        await wait_until(
            lambda: any(m.type == "notify.deeplink.activated" for m in wire), timeout=30
        )

        # A prepaid session, paid, then cancelled with a reason in her own words.
        service_id, specialist_id = await practice(stack)
        secrets += ["Анна Петрова", "Петрова"]
        r = await stack.gateway.get(
            "/api/booking/slots", params={"service_id": service_id, "specialist_id": specialist_id}
        )
        starts_at = r.json()["items"][-1]["starts_at"]
        r = await stack.gateway.post(
            "/api/booking/appointments",
            json={"service_id": service_id, "specialist_id": specialist_id, "starts_at": starts_at},
            headers=me,
        )
        assert r.status_code == 201, r.text
        appointment = r.json()
        async with stack.sandbox("yookassa") as yookassa:
            paid = await yookassa.post(
                appointment["payment"]["confirmation_url"],
                data={"card_number": "5555555555554444"},
            )
        assert paid.status_code == 303

        async def status_is(wanted: str) -> bool:
            r = await stack.gateway.get(
                f"/api/booking/appointments/{appointment['id']}", headers=me
            )
            return bool(r.json()["status"] == wanted)

        await wait_until(lambda: status_is("confirmed"), timeout=60)
        r = await stack.gateway.post(
            f"/api/booking/appointments/{appointment['id']}/cancel",
            json={"reason": reason},
            headers=me,
        )
        assert r.status_code == 200, r.text

        await wait_until(
            lambda: any(m.type == "booking.appointment.cancelled" for m in wire), timeout=30
        )

        await wait_until(lambda: all_published(stack), timeout=30)
        await asyncio.sleep(1)  # the last confirmed messages reach the catch-all queues

        types = {m.type for m in wire}
        for expected in (
            "cabinet.user.registered",
            "cabinet.user.email_verification_requested",
            "cabinet.user.password_reset_requested",
            "cabinet.consent.granted",
            "notify.telegram.linked",
            "notify.deeplink.activated",
            "booking.appointment.cancelled",
        ):
            assert expected in types, f"{expected} never published: {sorted(types)}"
        rows = await outbox_rows(stack)
        assert sum(len(r) for r in rows.values()) >= len(wire) // 2
        places = [(f"message {m.type}", readable(m)) for m in wire]
        places += [(f"{svc} outbox", text) for svc, texts in rows.items() for text in texts]
        assert leaks_in(places, secrets) == []

        # A real event dead-lettered: cabinet's registration of her, its personal part sealed
        # under a key nobody in the stack holds (one dropped from FIELD_KEYS before the
        # messages sealed under it were drained), published again as a new event.
        r = await stack.gateway.post(
            "/api/cabinet/users/search", json={"email": email}, headers=admin
        )
        user_id = r.json()["items"][0]["id"]
        (registered,) = [
            m
            for m in wire
            if m.type == "cabinet.user.registered"
            and json.loads(m.body)["payload"]["user_id"] == user_id
        ]
        await _publish_under_a_foreign_key(stack, registered)

        async def dead_lettered() -> bool:
            return len(await dead_letters(stack.layout.amqp_url)) >= 2  # booking's and notify's

        await wait_until(dead_lettered, timeout=30)

    letters = await dead_letters(stack.layout.amqp_url)
    assert {m.headers.get("x-original-queue") for m in letters} >= {
        "booking.user-events",
        "notify.user-events",
    }
    places = [(f"DLQ {m.headers.get('x-original-queue')}", readable(m)) for m in letters]
    assert leaks_in(places, secrets) == []


def leaks_in(places: list[tuple[str, str]], secrets: list[str]) -> list[tuple[str, str]]:
    """(where, what) for every secret found in the clear."""
    return [(where, s) for where, text in places for s in secrets if s in text]


async def _publish_under_a_foreign_key(
    stack: LocalStack, message: aio_pika.abc.AbstractMessage
) -> None:
    from servicekit.testing import TEST_SEALER

    body = json.loads(message.body)
    personal = TEST_SEALER.open("personal", body["sealed"]["personal"])
    body["sealed"]["personal"] = Fernet(Fernet.generate_key()).encrypt(personal).decode()
    body["event_id"] = str(uuid.uuid4())
    connection = await aio_pika.connect(stack.layout.amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange("cabinet.events")
        await exchange.publish(
            aio_pika.Message(
                json.dumps(body).encode(),
                content_type="application/json",
                message_id=body["event_id"],
                correlation_id=body["correlation_id"],
                type=body["event_type"],
            ),
            routing_key="cabinet.user.registered.v1",
        )
    finally:
        await connection.close()
