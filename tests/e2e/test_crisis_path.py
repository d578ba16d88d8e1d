"""The crisis path end to end, every service in this process, through RabbitMQ: a client (with
the health-data consent, booked with a specialist in booking) completes PHQ-9 with item 9 above
0 through content's HTTP API → content's outbox → notify → the specialist's chat in the sandbox
Telegram and the SMTP sink hold the alert (the seconds it took are printed); the alert carries
no answer and no score; a delivery that fails escalates to the admins and is in the audit; a
redelivered event alerts nobody twice; with no specialist known the on-duty contact is told.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aio_pika
import asyncpg
import pytest
from servicekit.db.engine import asyncpg_dsn
from servicekit.testing import wait_until

from ..conftest import ON_DUTY_CHAT, ON_DUTY_EMAIL, Stack
from .test_consent_gate import _first_session, _register

pytestmark = pytest.mark.asyncio(loop_scope="session")

PHQ9 = "6d0e6f3c-6f3e-4b8e-9a53-0c5a3e1f0901"
FREQUENCY = ["not_at_all", "several_days", "more_than_half", "nearly_every_day"]
# Items 1–8 "more than half the days", item 9 "several days": 17, moderately severe, a crisis.
SCORES = (2, 2, 2, 2, 2, 2, 2, 2, 1)
TOTAL = sum(SCORES)
ALERTS = "/api/notify/crisis-alerts"


def phq9_answers() -> dict[str, str]:
    return {f"q{n}": FREQUENCY[s] for n, s in enumerate(SCORES, 1)}


@dataclass
class Client:
    id: uuid.UUID
    email: str
    auth: dict[str, str]


@dataclass
class Specialist:
    id: uuid.UUID
    email: str
    chat_id: int | None = None


async def consenting_client(stack: Stack, name: str, *purposes: str) -> Client:
    """A registered client who granted the health-data consent (and ``purposes``) in cabinet,
    once content knows it (a run can be started)."""
    client_id, email = await _register(stack, name=name)
    me = stack.auth("client", sub=client_id)
    for purpose in ("health_data_processing", *purposes):
        doc = await stack["cabinet"].client.post(
            "/api/cabinet/consent-documents",
            headers=stack.auth("admin"),
            json={"purpose": purpose, "title": "Согласие", "text": f"Согласие: {purpose}"},
        )
        assert doc.status_code == 201, doc.text
        granted = await stack["cabinet"].client.post(
            "/api/cabinet/me/consents", headers=me, json={"document_id": doc.json()["id"]}
        )
        assert granted.status_code == 201, granted.text

    async def content_knows() -> bool:
        # a probe run: refused (403 consent_required) until content's copy of the consent counts
        r = await stack["content"].client.post(
            "/api/content/runs", json={"questionnaire_id": PHQ9}, headers=me
        )
        assert r.status_code in (201, 403), r.text
        return r.status_code == 201

    await wait_until(content_knows, timeout=30)
    return Client(client_id, email, me)


async def notify_rows(stack: Stack, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Raw rows of notify's database."""
    conn = await asyncpg.connect(asyncpg_dsn(stack["notify"].database_url))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def email_of(stack: Stack, user_id: uuid.UUID) -> str:
    """The address notify has for a user (its copy of cabinet's)."""
    r = await stack["notify"].client.get(
        f"/api/notify/recipients/{user_id}", headers=stack.auth("admin")
    )
    assert r.status_code == 200, r.text
    return str(r.json()["email"])


async def link_telegram(stack: Stack, user_id: uuid.UUID) -> int:
    """The user makes a link in the app, opens it in Telegram, confirms the chat in the app."""
    me = stack.auth("specialist", sub=user_id)
    notify = stack["notify"].client
    link = await notify.post("/api/notify/deeplinks", json={"action": "link_account"}, headers=me)
    assert link.status_code == 201, link.text
    chat_id = random.randint(200_000_000, 2_000_000_000)
    await stack.telegram.create_user(chat_id, first_name="Анна", language_code="ru")
    started = await stack.telegram.start(chat_id, link.json()["token"])
    assert started["delivery"]["status_code"] == 200, started
    await stack.telegram.messages(chat_id, count=1, wait=20)
    confirmed = await notify.post(
        "/api/notify/me/telegram/confirm", json={"deeplink_id": link.json()["id"]}, headers=me
    )
    assert confirmed.status_code == 200, confirmed.text
    await stack.telegram.messages(chat_id, count=2, wait=20)
    return chat_id


async def booked_pair(stack: Stack, client_name: str, *purposes: str) -> tuple[Client, Specialist]:
    """A consenting client with a confirmed appointment tomorrow with a new specialist, whose
    Telegram is linked; notify knows the appointment (the client got its confirmation)."""
    client = await consenting_client(stack, client_name, *purposes)
    specialist_id, _ = await _first_session(stack, client.id, client.email)
    specialist_uuid = uuid.UUID(specialist_id)
    specialist = Specialist(specialist_uuid, await email_of(stack, specialist_uuid))

    async def confirmation_mailed() -> bool:
        mails = stack.mail.messages(to=client.email)
        return any("подтверждена" in (m.subject or "") for m in mails)

    await wait_until(confirmation_mailed, timeout=30)
    specialist.chat_id = await link_telegram(stack, specialist.id)
    return client, specialist


async def complete_phq9(stack: Stack, client: Client) -> dict[str, Any]:
    """Start PHQ-9 and complete it at once with item 9 above 0; the completed run."""
    content = stack["content"].client
    started = await content.post(
        "/api/content/runs", json={"questionnaire_id": PHQ9}, headers=client.auth
    )
    assert started.status_code == 201, started.text
    done = await content.post(
        f"/api/content/runs/{started.json()['id']}/complete",
        json={"answers": phq9_answers()},
        headers=client.auth,
    )
    assert done.status_code == 200, done.text
    run: dict[str, Any] = done.json()
    result = run["result"]
    assert (result["score"], result["crisis"], result["crisis_reasons"]) == (
        TOTAL,
        True,
        ["phq9_item9"],
    )
    assert result["crisis_resources"]["specialist_alerted"] is True
    return run


def alert_mails(stack: Stack, address: str) -> list[Any]:
    return [m for m in stack.mail.messages(to=address) if "кризисн" in (m.subject or "")]


def bot_sends(stack: Stack, chat_id: int) -> list[Any]:
    bot = stack.telegram.store.select_bot(None)
    return [s for s in bot.sends if s.method == "sendMessage" and s.chat_id == chat_id]


async def wording_of_phq9(stack: Stack) -> list[str]:
    """Every item text and option label of PHQ-9, in both languages."""
    r = await stack["content"].client.get(f"/api/content/questionnaires/{PHQ9}")
    assert r.status_code == 200, r.text
    texts = []
    for item in r.json()["definition"]["items"]:
        texts += [item["text"]["ru"], item["text"]["en"]]
        for option in item["options"]:
            texts += [option["label"]["ru"], option["label"]["en"]]
    return texts


def carries_no_answer_and_no_score(text: str, wording: list[str]) -> None:
    for phrase in wording:
        assert phrase not in text, phrase
    assert re.search(rf"\b{TOTAL}\b", text) is None  # the score, as a number of its own
    for band in ("moderately_severe", "умеренно тяжёл", "Moderately severe"):
        assert band not in text


async def audit(stack: Stack, run_id: str, **params: Any) -> list[dict[str, Any]]:
    r = await stack["notify"].client.get(
        ALERTS, params={"run_id": run_id, **params}, headers=stack.auth("admin")
    )
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def settled(stack: Stack, run_id: str, count: int, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    async def done() -> bool:
        found[:] = await audit(stack, run_id, **params)
        return len(found) == count and all(r["status"] != "pending" for r in found)

    await wait_until(done, timeout=30)
    return found


async def test_a_crisis_answer_reaches_the_specialist_on_telegram_and_email_in_seconds(
    stack: Stack,
) -> None:
    client, specialist = await booked_pair(stack, "Вера Кризисова", "transfer_to_specialist")
    chat_id = specialist.chat_id
    assert chat_id is not None
    wording = await wording_of_phq9(stack)
    sent_before = len(bot_sends(stack, chat_id))

    run = await complete_phq9(stack, client)
    completed = datetime.fromisoformat(run["completed_at"]).timestamp()

    def telegram_sent() -> list[float]:
        return [s.at for s in bot_sends(stack, chat_id)[sent_before:] if s.error_code is None]

    await wait_until(lambda: alert_mails(stack, specialist.email) and telegram_sent(), timeout=30)
    (mail,) = alert_mails(stack, specialist.email)
    (telegram_at,) = telegram_sent()
    by_telegram = telegram_at - completed
    by_email = mail.received_at.timestamp() - completed
    print(
        f"\ncrisis alert after completion: Telegram {by_telegram:.2f} s, "
        f"email {by_email:.2f} s, both {max(by_telegram, by_email):.2f} s",
        flush=True,
    )

    assert mail.subject == "Срочно: кризисный ответ у клиента Вера Кризисова"
    assert mail.text is not None
    assert "опроснике PHQ-9" in mail.text
    link = f"http://127.0.0.1:8080/api/content/runs/{run['id']}"
    assert link in mail.text
    carries_no_answer_and_no_score(mail.text, wording)
    carries_no_answer_and_no_score(mail.html or "", wording)
    *_, message = await stack.telegram.messages(chat_id, count=3, wait=20)
    assert message["text"].startswith("Срочно: кризисный ответ\nКлиент Вера Кризисова")
    assert link in message["text"]
    carries_no_answer_and_no_score(message["text"], wording)

    rows = await settled(stack, run["id"], 2)
    assert {(r["channel"], r["status"], r["route"]) for r in rows} == {
        ("telegram", "sent", "next_appointment"),
        ("email", "sent", "next_appointment"),
    }
    assert {r["recipient_user_id"] for r in rows} == {str(specialist.id)}
    # the link opens the run for the specialist (their client, who agreed to the transfer)
    opened = await stack["content"].client.get(
        link.removeprefix("http://127.0.0.1:8080"),
        headers=stack.auth("specialist", sub=specialist.id),
    )
    assert opened.status_code == 200, opened.text
    assert opened.json()["result"]["crisis"] is True


async def test_an_alert_that_cannot_be_delivered_escalates_to_the_admins(stack: Stack) -> None:
    client, specialist = await booked_pair(stack, "Пётр Кризисов")
    assert specialist.chat_id is not None
    admin_id, admin_email = await _register(stack, name="Администратор Практики")
    granted = await stack["cabinet"].client.post(
        f"/api/cabinet/users/{admin_id}/roles", json={"role": "admin"}, headers=stack.auth("admin")
    )
    assert granted.status_code == 200, granted.text

    async def notify_knows_the_admin() -> bool:
        rows = await notify_rows(stack, "SELECT roles FROM recipients WHERE user_id = $1", admin_id)
        return bool(rows) and "admin" in json.loads(rows[0]["roles"])

    await wait_until(notify_knows_the_admin, timeout=30)
    await stack.telegram.block(specialist.chat_id)  # Telegram will answer 403
    run = await complete_phq9(stack, client)

    async def escalated() -> list[Any]:
        return [
            m for m in stack.mail.messages(to=admin_email) if "не доставлено" in (m.subject or "")
        ]

    await wait_until(escalated, timeout=30)
    (mail,) = await escalated()
    assert mail.text is not None
    assert "Пётр Кризисов" in mail.text and "Канал: Telegram" in mail.text
    assert f"/api/content/runs/{run['id']}" in mail.text
    carries_no_answer_and_no_score(mail.text, await wording_of_phq9(stack))

    alerts = await settled(stack, run["id"], 2, kind="alert")
    failed = next(r for r in alerts if r["channel"] == "telegram")
    assert failed["status"] == "failed" and "blocked" in failed["error"]
    assert failed["escalated_at"] is not None
    assert next(r for r in alerts if r["channel"] == "email")["status"] == "sent"
    escalations = await audit(stack, run["id"], kind="escalation")
    assert str(admin_id) in {r["recipient_user_id"] for r in escalations}
    assert {r["escalation_of"] for r in escalations} == {failed["id"]}


async def test_a_redelivered_event_alerts_nobody_twice(stack: Stack) -> None:
    client, specialist = await booked_pair(stack, "Ольга Повторова")
    assert specialist.chat_id is not None
    connection = await aio_pika.connect(stack.amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            "content.events", aio_pika.ExchangeType.TOPIC, durable=True
        )
        tap = await channel.declare_queue(exclusive=True, auto_delete=True)
        await tap.bind(exchange, routing_key="content.interactive_run.completed.v1")
        run = await complete_phq9(stack, client)
        async with tap.iterator() as messages:
            async for message in messages:
                await message.ack()
                body = json.loads(message.body)
                if body["payload"]["run_id"] == run["id"]:
                    break
        await settled(stack, run["id"], 2)
        # the broker delivers the very same message again, then the same run in a new event
        # (as a second publication would carry it), the body sealed as content sealed it
        again = {**body, "event_id": str(uuid.uuid4())}
        for payload, message_id in ((body, body["event_id"]), (again, again["event_id"])):
            await exchange.publish(
                aio_pika.Message(
                    json.dumps(payload).encode(),
                    message_id=message_id,
                    type=body["event_type"],
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key="content.interactive_run.completed.v1",
            )
    finally:
        await connection.close()

    async def second_handled() -> bool:
        return bool(
            await notify_rows(
                stack,
                "SELECT 1 FROM inbox WHERE consumer = 'notify.content-events' AND event_id = $1",
                uuid.UUID(again["event_id"]),
            )
        )

    # the new event queues behind the redelivered one: once it is handled, both were
    await wait_until(second_handled, timeout=30)
    assert len(await audit(stack, run["id"])) == 2
    assert len(alert_mails(stack, specialist.email)) == 1
    alerts = [
        m
        for m in await stack.telegram.messages(specialist.chat_id, count=3)
        if m["text"].startswith("Срочно")
    ]
    assert len(alerts) == 1


async def test_with_no_specialist_known_the_on_duty_contact_is_told(stack: Stack) -> None:
    client = await consenting_client(stack, "Инна Безспециалистова")
    before = len(bot_sends(stack, ON_DUTY_CHAT))
    started = time.monotonic()
    run = await complete_phq9(stack, client)

    async def told() -> list[Any]:
        return [
            m for m in alert_mails(stack, ON_DUTY_EMAIL) if "Инна Безспециалистова" in m.subject
        ]

    await wait_until(told, timeout=30)
    await wait_until(lambda: len(bot_sends(stack, ON_DUTY_CHAT)) > before, timeout=30)
    print(f"\non-duty contact told after {time.monotonic() - started:.2f} s", flush=True)
    rows = await settled(stack, run["id"], 2, kind="alert")
    assert {(r["route"], r["channel"], r["recipient"], r["status"]) for r in rows} == {
        ("on_duty", "email", ON_DUTY_EMAIL, "sent"),
        ("on_duty", "telegram", str(ON_DUTY_CHAT), "sent"),
    }
    messages = await stack.telegram.messages(ON_DUTY_CHAT, count=1)
    assert any("Инна Безспециалистова" in m["text"] for m in messages)
