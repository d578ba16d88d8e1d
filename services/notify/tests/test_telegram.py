"""Telegram through the sandbox fake: webhook secret, deep links, account linking, messages by
Telegram in the user's language and zone, 429 and 403, inline buttons and their outcomes."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from contracts.booking.v1 import (
    ActionRejectedV1,
    AppointmentAttendanceConfirmedV1,
    AppointmentCancelledV1,
    AppointmentConfirmedV1,
    AppointmentHeldV1,
    WaitlistOfferExpiredV1,
    WaitlistOfferMadeV1,
)
from notify.adapters.tables import chat_index
from notify.domain.rules import offer_ref

from .conftest import Notify, wait_for
from .test_recipients import register
from .test_rules import STARTS, appointment, mail_with

pytestmark = pytest.mark.asyncio(loop_scope="session")


def new_chat_id() -> int:
    return random.randint(200_000_000, 2_000_000_000)


async def make_link(notify: Notify, user_id: uuid.UUID, **body: Any) -> dict[str, Any]:
    r = await notify.client.post(
        "/api/notify/deeplinks",
        json={"action": "link_account", **body},
        headers=notify.tokens.auth("client", sub=user_id),
    )
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


LINKING_REPLIES = 2  # the bot's replies while linking: "confirm in the app", then "linked"


async def bot_messages(notify: Notify, chat_id: int, count: int) -> list[dict[str, Any]]:
    return await notify.telegram.messages(chat_id, count=count, wait=20)


async def confirm_link(notify: Notify, user_id: uuid.UUID, deeplink_id: str) -> dict[str, Any]:
    """The owner confirms in the app the chat that opened their link (it is linked now)."""
    r = await notify.client.post(
        "/api/notify/me/telegram/confirm",
        json={"deeplink_id": deeplink_id},
        headers=notify.tokens.auth("client", sub=user_id),
    )
    assert r.status_code == 200, r.text
    confirmed: dict[str, Any] = r.json()
    return confirmed


async def linked_user(
    notify: Notify, *, language: str = "ru", time_zone: str = "Europe/Moscow", **extra: Any
) -> tuple[uuid.UUID, str, int]:
    """A registered user whose Telegram chat is linked: the user made a link in the app, opened it
    in Telegram and confirmed it in the app (the bot's two replies already arrived)."""
    user_id, email = await register(notify, language=language, time_zone=time_zone, **extra)
    chat_id = new_chat_id()
    link = await make_link(notify, user_id)
    await notify.telegram.create_user(chat_id, first_name="Anna", language_code=language)
    result = await notify.telegram.start(chat_id, link["token"])
    assert result["delivery"]["status_code"] == 200
    await bot_messages(notify, chat_id, 1)
    await confirm_link(notify, user_id, link["id"])
    await bot_messages(notify, chat_id, 2)
    return user_id, email, chat_id


async def test_a_link_payload_opened_then_confirmed_links_the_chat_once(notify: Notify) -> None:
    user_id, _ = await register(notify, name="Анна")
    link = await make_link(notify, user_id)
    assert link["link"] == f"https://t.me/praktika_sandbox_bot?start={link['token']}"
    assert len(link["token"]) <= 64 and set(link["token"]) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    )
    chat_id = new_chat_id()
    await notify.telegram.create_user(
        chat_id, first_name="Anna", username="anna_t", language_code="ru"
    )
    result = await notify.telegram.start(chat_id, link["token"])
    assert result["delivery"]["status_code"] == 200

    (waiting,) = await bot_messages(notify, chat_id, 1)
    assert waiting["text"].startswith("Почти готово: подтвердите подключение этого чата")
    await confirm_link(notify, user_id, link["id"])
    _, reply = await bot_messages(notify, chat_id, 2)
    assert reply["text"] == (
        "Готово: Telegram подключён к вашему аккаунту, Анна. "
        "Сюда будут приходить напоминания о встречах."
    )
    (linked,) = await wait_for(lambda: notify.events.of("notify.telegram.linked", user_id=user_id))
    assert linked["payload"]["telegram_chat_id"] == chat_id
    assert linked["payload"]["telegram_username"] == "anna_t"
    assert linked["payload"]["deeplink_id"] == link["id"]
    prefs = await notify.client.get(
        f"/api/notify/preferences/{user_id}", headers=notify.tokens.auth("client", sub=user_id)
    )
    assert prefs.json()["telegram_linked"] is True

    # the same payload again, even from another Telegram user: a friendly reply, nothing else
    intruder = new_chat_id()
    await notify.telegram.create_user(intruder, first_name="Eve", language_code="en")
    for who in (chat_id, intruder):
        await notify.telegram.start(who, link["token"])
    (again,) = [m for m in await bot_messages(notify, chat_id, 3)][2:]
    assert "уже использована или устарела" in again["text"]
    (theirs,) = await bot_messages(notify, intruder, 1)
    assert theirs["text"].startswith("This link has already been used or has expired.")
    await notify.all_published()
    assert len(notify.events.of("notify.telegram.linked", user_id=user_id)) == 1
    (chat,) = await notify.rows(
        "SELECT user_id FROM telegram_chats WHERE chat_index = $1", chat_index(intruder)
    )
    assert chat["user_id"] is None


async def test_unknown_or_expired_payloads_get_a_friendly_reply_only(notify: Notify) -> None:
    user_id, _ = await register(notify)
    link = await make_link(notify, user_id, ttl_minutes=5)
    await notify.rows(
        "UPDATE deeplinks SET expires_at = now() - interval '1 minute' WHERE id = $1",
        uuid.UUID(link["id"]),
    )
    chat_id = new_chat_id()
    await notify.telegram.create_user(chat_id, language_code="ru")
    await notify.telegram.start(chat_id, link["token"])
    await notify.telegram.start(chat_id, "no-such-payload_123")
    await notify.telegram.start(chat_id, "x" * 64)
    replies = await bot_messages(notify, chat_id, 3)
    assert all("уже использована или устарела" in m["text"] for m in replies)
    await notify.all_published()
    assert not notify.events.of("notify.telegram.linked", user_id=user_id)
    (row,) = await notify.rows("SELECT used_at FROM deeplinks WHERE id = $1", uuid.UUID(link["id"]))
    assert row["used_at"] is None


async def test_wrong_or_missing_webhook_secret_is_401_and_nothing_happens(notify: Notify) -> None:
    user_id, _ = await register(notify)
    link = await make_link(notify, user_id)
    chat_id = new_chat_id()
    await notify.telegram.create_user(chat_id, language_code="ru")
    for secret in ("wrong", "missing"):
        result = await notify.telegram.start(chat_id, link["token"], webhook_secret=secret)
        assert result["delivery"]["status_code"] == 401
    r = await notify.client.post("/api/notify/telegram/webhook", json=result["update"])
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    r = await notify.client.post(
        "/api/notify/telegram/webhook",
        content=b"not json",
        headers={"X-Telegram-Bot-Api-Secret-Token": "nope"},
    )
    assert r.status_code == 401
    (row,) = await notify.rows("SELECT used_at FROM deeplinks WHERE id = $1", uuid.UUID(link["id"]))
    assert row["used_at"] is None
    assert not await notify.rows(
        "SELECT 1 FROM telegram_chats WHERE chat_index = $1", chat_index(chat_id)
    )
    assert await notify.telegram.messages(chat_id) == []
    # the right secret still works afterwards
    result = await notify.telegram.start(chat_id, link["token"])
    assert result["delivery"]["status_code"] == 200
    await bot_messages(notify, chat_id, 1)
    await confirm_link(notify, user_id, link["id"])
    await wait_for(lambda: notify.events.of("notify.telegram.linked", user_id=user_id))


async def test_redelivered_update_is_handled_once(notify: Notify) -> None:
    user_id, _ = await register(notify)
    link = await make_link(notify, user_id)
    chat_id = new_chat_id()
    await notify.telegram.create_user(chat_id, language_code="ru")
    result = await notify.telegram.start(chat_id, link["token"])
    r = await notify.client.post(
        "/api/notify/telegram/webhook",
        json=result["update"],
        headers={"X-Telegram-Bot-Api-Secret-Token": "test-webhook-secret_0123456789"},
    )
    assert r.status_code == 200
    await bot_messages(notify, chat_id, 1)
    await confirm_link(notify, user_id, link["id"])
    await wait_for(lambda: notify.events.of("notify.telegram.linked", user_id=user_id))
    rows = await notify.rows(
        "SELECT template FROM deliveries WHERE ref = $1 ORDER BY created_at",
        f"deeplink:{link['id']}",
    )
    assert [r["template"] for r in rows] == ["bot_link_pending", "bot_linked"]


async def test_linked_user_gets_messages_in_telegram_in_their_language_and_zone(
    notify: Notify,
) -> None:
    user_id, email, chat_id = await linked_user(notify, language="en", time_zone="Asia/Dubai")
    await notify.producer.publish(
        appointment(
            AppointmentConfirmedV1,
            user_id,
            intake_required=False,
            reschedule_count=0,
            amount_paid=None,
            service_name="Therapy",
            specialist_name="Dr <Olga>",
        )
    )
    *_, confirmed = await bot_messages(notify, chat_id, LINKING_REPLIES + 1)
    assert confirmed["text"].startswith("Booking confirmed\nTherapy (online), Dr <Olga>")
    assert "When: Friday, 15 March 2030, 13:00 (Asia/Dubai, UTC+04:00)" in confirmed["text"]
    assert confirmed["parse_mode"] == "HTML"
    assert [m.subject for m in notify.smtp.store.messages(to=email)] == ["Welcome to Praktika"]

    async def sent() -> Any:
        # The fake has the message before the sender commits its outcome: wait for the row.
        rows = await notify.rows(
            "SELECT channel, status, provider_message_id FROM deliveries "
            "WHERE user_id = $1 AND template = 'appointment_confirmed'",
            user_id,
        )
        return rows if rows and rows[0]["status"] not in ("pending", "sending") else None

    (row,) = await wait_for(sent)
    assert row["channel"] == "telegram" and row["status"] == "sent"
    assert row["provider_message_id"] == str(confirmed["message_id"])

    # preferences put email first: the next message goes by email
    await notify.client.patch(
        f"/api/notify/preferences/{user_id}",
        json={"channels": ["email", "telegram"]},
        headers=notify.tokens.auth("client", sub=user_id),
    )
    await notify.producer.publish(
        appointment(
            AppointmentHeldV1,
            user_id,
            hold_expires_at=STARTS,
            prepayment_required=False,
            confirmation_url=None,
        )
    )
    await mail_with(notify, email, "Please pay")


async def test_429_waits_retry_after_and_is_one_message_with_two_attempts(notify: Notify) -> None:
    user_id, _, chat_id = await linked_user(notify)
    await notify.telegram.fault(429, retry_after=1, method="sendMessage", chat_id=chat_id)
    env = appointment(
        AppointmentConfirmedV1, user_id, intake_required=False, reschedule_count=0, amount_paid=None
    )
    await notify.producer.publish(env)
    *_, confirmed = await bot_messages(notify, chat_id, LINKING_REPLIES + 1)
    assert confirmed["text"].startswith("Запись подтверждена")

    async def sent() -> Any:
        rows = await notify.rows(
            "SELECT status, attempts, last_error, created_at, sent_at FROM deliveries "
            "WHERE source_event_id = $1",
            env.event_id,
        )
        return rows if rows and rows[0]["status"] == "sent" else None

    (row,) = await wait_for(sent)
    assert row["attempts"] == 2 and "429" in row["last_error"]
    assert row["sent_at"] - row["created_at"] >= timedelta(seconds=1)
    sends = (await notify.telegram.http.get("/_sandbox/sends", params={"chat_id": chat_id})).json()
    assert [s["error_code"] for s in sends if s["method"] == "sendMessage"][-2:] == [429, None]


async def test_telegram_5xx_is_retried_with_backoff(notify: Notify) -> None:
    user_id, _, chat_id = await linked_user(notify)
    await notify.telegram.fault(502, method="sendMessage", chat_id=chat_id)
    env = appointment(
        AppointmentConfirmedV1, user_id, intake_required=False, reschedule_count=0, amount_paid=None
    )
    await notify.producer.publish(env)
    await bot_messages(notify, chat_id, LINKING_REPLIES + 1)

    async def sent() -> Any:
        rows = await notify.rows(
            "SELECT status, attempts, last_error FROM deliveries WHERE source_event_id = $1",
            env.event_id,
        )
        return rows if rows and rows[0]["status"] == "sent" else None

    (row,) = await wait_for(sent)
    assert row["attempts"] == 2 and "TelegramServerError" in row["last_error"]


async def test_403_marks_the_chat_unreachable_and_falls_back_to_email(notify: Notify) -> None:
    user_id, email, chat_id = await linked_user(notify)
    await notify.telegram.block(chat_id)
    env = appointment(
        AppointmentConfirmedV1, user_id, intake_required=False, reschedule_count=0, amount_paid=None
    )
    await notify.producer.publish(env)
    mail = await mail_with(notify, email, "Запись подтверждена")
    assert mail.text is not None and "Консультация психолога" in mail.text
    rows = await notify.rows(
        "SELECT channel, status, attempts, fallback_of, id FROM deliveries "
        "WHERE source_event_id = $1 ORDER BY created_at",
        env.event_id,
    )
    telegram, by_email = rows
    assert (telegram["channel"], telegram["status"], telegram["attempts"]) == (
        "telegram",
        "failed",
        1,
    )
    assert by_email["channel"] == "email" and by_email["fallback_of"] == telegram["id"]
    (failed,) = await wait_for(
        lambda: notify.events.of("notify.delivery.failed", delivery_id=telegram["id"])
    )
    assert failed["payload"]["permanent"] is True and failed["payload"]["channel"] == "telegram"
    prefs = await notify.client.get(
        f"/api/notify/preferences/{user_id}", headers=notify.tokens.auth("client", sub=user_id)
    )
    assert prefs.json()["telegram_linked"] and not prefs.json()["telegram_reachable"]
    # the next message goes straight to email
    await notify.producer.publish(
        appointment(
            AppointmentHeldV1,
            user_id,
            hold_expires_at=STARTS,
            prepayment_required=False,
            confirmation_url=None,
        )
    )
    await mail_with(notify, email, "Оплатите запись")
    assert len(await notify.telegram.messages(chat_id)) == LINKING_REPLIES  # only the linking


async def test_reminder_buttons_request_actions_and_outcomes_edit_the_message(
    notify: Notify,
) -> None:
    user_id, _, chat_id = await linked_user(notify)
    appointment_id = uuid.uuid4()
    confirmed = appointment(
        AppointmentConfirmedV1,
        user_id,
        appointment_id=appointment_id,
        intake_required=False,
        reschedule_count=0,
        amount_paid=None,
    )
    # the reminder the timer would send, planned now
    from notify.application.planning import plan_notice
    from notify.domain import rules

    await notify.producer.publish(confirmed)
    await bot_messages(notify, chat_id, LINKING_REPLIES + 1)
    runtime = notify.svc.runtime
    facts = {**confirmed.payload.model_dump(mode="json")}
    async with runtime.uow() as uow:
        await plan_notice(uow, runtime.notify, rules.reminder(facts, minutes_before=60))  # type: ignore[attr-defined]
        await uow.commit()
    reminder = (await bot_messages(notify, chat_id, LINKING_REPLIES + 2))[-1]
    assert reminder["text"].startswith("Напоминание о встрече")
    labels = [b["text"] for b in reminder["reply_markup"]["inline_keyboard"][0]]
    assert labels == ["Приду", "Отменить запись"]
    confirm_data = reminder["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert len(confirm_data.encode()) <= 64 and str(appointment_id) not in confirm_data

    # someone else cannot use that button, even with the exact callback data
    stranger_id, _, stranger_chat = await linked_user(notify)
    r = await notify.client.post(
        "/api/notify/telegram/webhook",
        json={
            "update_id": random.randint(1, 10**9),
            "callback_query": {
                "id": "forged-1",
                "from": {"id": stranger_chat, "is_bot": False, "first_name": "Eve"},
                "chat_instance": "x",
                "data": confirm_data,
                "message": {
                    "message_id": 1,
                    "date": 1,
                    "chat": {"id": stranger_chat, "type": "private"},
                },
            },
        },
        headers={"X-Telegram-Bot-Api-Secret-Token": "test-webhook-secret_0123456789"},
    )
    assert r.status_code == 200
    await notify.all_published()
    assert not notify.events.of("notify.telegram.action_requested", user_id=stranger_id)

    tapped = await notify.telegram.tap(chat_id, button_text="Приду")
    assert tapped["delivery"]["status_code"] == 200
    (request,) = await wait_for(
        lambda: notify.events.of("notify.telegram.action_requested", user_id=user_id)
    )
    assert request["payload"]["action"] == "confirm_attendance"
    assert request["payload"]["appointment_id"] == str(appointment_id)
    answers = (await notify.telegram.http.get("/_sandbox/callback_queries")).json()
    mine = next(a for a in answers if a["id"] == tapped["callback_query_id"])
    assert mine["answered"] and mine["answer"]["text"] == "Запрос отправлен"

    # booking's outcome, caused by the request: the reminder now says so, without buttons
    await notify.producer.event(
        AppointmentAttendanceConfirmedV1,
        appointment_id=appointment_id,
        client_id=user_id,
        starts_at=STARTS,
        ends_at=STARTS + timedelta(minutes=50),
        service_name="Консультация психолога",
        confirmed_via="telegram",
    )

    async def edited() -> dict[str, Any] | None:
        messages = await notify.telegram.messages(chat_id, count=LINKING_REPLIES + 2)
        current = next(m for m in messages if m["message_id"] == reminder["message_id"])
        return current if current["method"] == "editMessageText" else None

    current = await wait_for(edited)
    assert current["text"].startswith("Вы подтвердили визит ✓")
    assert "пятница, 15 марта 2030, 12:00" in current["text"]
    assert current["reply_markup"] is None
    assert current["history"][0]["text"].startswith("Напоминание о встрече")

    # a cancellation later retires nothing more (no buttons left) but still tells the client
    await notify.producer.publish(
        appointment(
            AppointmentCancelledV1,
            user_id,
            appointment_id=appointment_id,
            previous_status="confirmed",
            cancelled_by="specialist",
            late_cancellation=False,
            refund_percent=100,
            refund_amount={"amount": 350000, "currency": "RUB"},
        )
    )
    last = (await bot_messages(notify, chat_id, LINKING_REPLIES + 3))[-1]
    assert last["text"].startswith("Запись отменена")
    assert "Возврат 100 %: 3\u00a0500,00\u00a0₽" in last["text"]


@dataclass
class TappedOffer:
    """A linked user (in English) got a waitlist offer in Telegram and tapped Accept."""

    user_id: uuid.UUID
    chat_id: int
    offer_id: uuid.UUID
    offer: dict[str, Any]  # the bot's message, as Telegram has it
    request: dict[str, Any]  # the notify.telegram.action_requested event


async def offer_to(notify: Notify, user_id: uuid.UUID) -> uuid.UUID:
    """booking offers the user a freed slot (50 min of "Therapy" at STARTS, for 30 min)."""
    offer_id = uuid.uuid4()
    await notify.producer.event(
        WaitlistOfferMadeV1,
        offer_id=offer_id,
        client_id=user_id,
        service_name="Therapy",
        starts_at=STARTS,
        ends_at=STARTS + timedelta(minutes=50),
        expires_at=datetime.now(UTC) + timedelta(minutes=30),
    )
    return offer_id


async def tapped_offer(notify: Notify) -> TappedOffer:
    user_id, _, chat_id = await linked_user(notify, language="en")
    offer_id = await offer_to(notify, user_id)
    offer = (await bot_messages(notify, chat_id, LINKING_REPLIES + 1))[-1]
    await wait_for(lambda: message_recorded(notify, chat_id, offer["message_id"]))
    await notify.telegram.tap(chat_id, button_text="Accept")
    (request,) = await wait_for(
        lambda: notify.events.of("notify.telegram.action_requested", user_id=user_id)
    )
    return TappedOffer(user_id, chat_id, offer_id, offer, request)


async def message_recorded(notify: Notify, chat_id: int, message_id: int) -> bool:
    """notify has committed the send of ``message_id`` (Telegram has it a moment earlier)."""
    rows = await notify.rows(
        "SELECT 1 FROM telegram_messages m JOIN telegram_chats c ON c.id = m.chat_ref "
        "WHERE c.chat_index = $1 AND m.message_id = $2",
        chat_index(chat_id),
        message_id,
    )
    return bool(rows)


async def test_waitlist_accept_then_slot_taken_edits_the_offer(notify: Notify) -> None:
    tapped = await tapped_offer(notify)
    user_id, chat_id, offer_id = tapped.user_id, tapped.chat_id, tapped.offer_id
    offer, request = tapped.offer, tapped.request
    assert offer["text"].startswith("A time has opened up")
    assert [b["text"] for b in offer["reply_markup"]["inline_keyboard"][0]] == ["Accept"]
    assert request["payload"]["action"] == "accept_waitlist_offer"
    assert request["payload"]["waitlist_offer_id"] == str(offer_id)
    # a second tap while booking decides does not send a second request
    second = await notify.telegram.tap(chat_id, button_text="Accept")
    answers = (await notify.telegram.http.get("/_sandbox/callback_queries")).json()
    assert (
        next(a for a in answers if a["id"] == second["callback_query_id"])["answer"]["text"]
        == "Already being processed"
    )
    await notify.all_published()
    assert len(notify.events.of("notify.telegram.action_requested", user_id=user_id)) == 1

    await notify.producer.event(
        ActionRejectedV1,
        action_id=request["payload"]["action_id"],
        action="accept_waitlist_offer",
        user_id=user_id,
        waitlist_offer_id=offer_id,
        appointment_id=None,
        reason="slot_taken",
    )

    async def edited() -> dict[str, Any] | None:
        messages = await notify.telegram.messages(chat_id, count=LINKING_REPLIES + 1)
        current = next(m for m in messages if m["message_id"] == offer["message_id"])
        return current if current["method"] == "editMessageText" else None

    current = await wait_for(edited)
    assert current["text"] == "This time has already been taken."
    assert current["reply_markup"] is None


async def test_accepted_offer_and_expired_offer_edit_their_messages(notify: Notify) -> None:
    user_id, _, chat_id = await linked_user(notify)
    taken, lost = uuid.uuid4(), uuid.uuid4()
    for offer_id in (taken, lost):
        await notify.producer.event(
            WaitlistOfferMadeV1,
            offer_id=offer_id,
            client_id=user_id,
            service_name="Сессия",
            starts_at=STARTS,
            ends_at=STARTS + timedelta(minutes=50),
            expires_at=datetime.now(UTC) + timedelta(minutes=30),
        )
    await bot_messages(notify, chat_id, LINKING_REPLIES + 2)

    async def offer_messages() -> dict[str, int] | None:
        # Telegram has the offers before notify commits them as sent (with the message ids a
        # later edit looks for), and the two may go out in either order: wait for both rows.
        rows = await notify.rows(
            "SELECT m.ref, m.message_id FROM telegram_messages m JOIN telegram_chats c "
            "ON c.id = m.chat_ref WHERE c.chat_index = $1 AND m.ref IS NOT NULL",
            chat_index(chat_id),
        )
        sent = {r["ref"]: r["message_id"] for r in rows}
        return sent if {offer_ref(taken), offer_ref(lost)} <= sent.keys() else None

    sent = await wait_for(offer_messages)
    first, second = sent[offer_ref(taken)], sent[offer_ref(lost)]
    await notify.producer.publish(
        appointment(
            AppointmentHeldV1,
            user_id,
            service_name="Сессия",
            hold_expires_at=STARTS,
            prepayment_required=True,
            confirmation_url="https://pay.example/x",
            waitlist_offer_id=taken,
        )
    )
    await notify.producer.event(
        WaitlistOfferExpiredV1,
        offer_id=lost,
        client_id=user_id,
        service_name="Сессия",
        starts_at=STARTS,
        reason="timed_out",
    )

    async def both_edited() -> list[dict[str, Any]] | None:
        messages = {
            m["message_id"]: m
            for m in await notify.telegram.messages(chat_id, count=LINKING_REPLIES + 2)
        }
        pair = [messages[first], messages[second]]
        return pair if all(m["method"] == "editMessageText" for m in pair) else None

    accepted, expired = await wait_for(both_edited)
    assert accepted["text"].startswith("Вы приняли предложение")
    assert expired["text"].startswith("Предложение истекло")
    held = (await bot_messages(notify, chat_id, LINKING_REPLIES + 3))[-1]
    assert held["text"].startswith("Время придержано")
    assert held["reply_markup"]["inline_keyboard"][0][0] == {
        "text": "Оплатить",
        "url": "https://pay.example/x",
    }


async def test_attribution_and_booking_links(notify: Notify) -> None:
    admin = notify.tokens.auth("admin")
    r = await notify.client.post(
        "/api/notify/deeplinks",
        json={"action": "attribution", "source": "instagram", "campaign": "spring-2030"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    link = r.json()
    chat_id = new_chat_id()
    await notify.telegram.create_user(
        chat_id, first_name="Lead", username="lead_x", language_code="en"
    )
    await notify.telegram.start(chat_id, link["token"])
    (activated,) = await wait_for(
        lambda: notify.events.of("notify.deeplink.activated", deeplink_id=link["id"])
    )
    assert activated["payload"]["action"] == "attribution"
    assert activated["payload"]["source"] == "instagram"
    assert activated["payload"]["campaign"] == "spring-2030"
    assert activated["payload"]["telegram_chat_id"] == chat_id
    assert activated["payload"]["first_name"] == "Lead"
    assert activated["payload"]["user_id"] is None
    (hello,) = await bot_messages(notify, chat_id, 1)
    assert hello["text"].startswith("Hello! This is the Praktika bot.")

    specialist = uuid.uuid4()
    r = await notify.client.post(
        "/api/notify/deeplinks",
        json={"action": "start_booking", "specialist_id": str(specialist)},
        headers=notify.tokens.auth("specialist", sub=specialist),
    )
    assert r.status_code == 201, r.text
    await notify.telegram.start(chat_id, r.json()["token"])
    booking = (await bot_messages(notify, chat_id, 2))[1]
    (button,) = booking["reply_markup"]["inline_keyboard"][0]
    assert button["text"] == "Book" and button["url"].endswith(f"/booking?specialist={specialist}")


async def test_deeplink_api_authorization_and_validation(notify: Notify) -> None:
    client_id = uuid.uuid4()
    me = notify.tokens.auth("client", sub=client_id)
    for body, status in (
        ({"action": "attribution", "source": "ads"}, 403),
        ({"action": "link_account", "user_id": str(uuid.uuid4())}, 403),
        ({"action": "start_booking"}, 403),
        ({"action": "attribution"}, 422),
        ({"action": "teleport"}, 422),
        ({"action": "link_account", "ttl_minutes": 0}, 422),
    ):
        r = await notify.client.post("/api/notify/deeplinks", json=body, headers=me)
        assert r.status_code == status, (body, r.text)
    assert (await notify.client.post("/api/notify/deeplinks", json={})).status_code == 401
    r = await notify.client.post(
        "/api/notify/deeplinks", json={"action": "link_account"}, headers=me
    )
    created = r.json()
    r = await notify.client.get(f"/api/notify/deeplinks/{created['id']}", headers=me)
    assert r.status_code == 200 and "token" not in r.json()
    other = notify.tokens.auth("client")
    assert (
        await notify.client.get(f"/api/notify/deeplinks/{created['id']}", headers=other)
    ).status_code == 404
    (row,) = await notify.rows(
        "SELECT token_hash FROM deeplinks WHERE id = $1", uuid.UUID(created["id"])
    )
    assert row["token_hash"] != created["token"] and len(row["token_hash"]) == 64


async def test_admin_command_sets_the_webhook(
    notify: Notify, monkeypatch: pytest.MonkeyPatch
) -> None:
    from notify.entrypoints.cli import main

    from .conftest import WEBHOOK_SECRET, WEBHOOK_URL

    for name, value in {
        "TELEGRAM_API_BASE": notify.telegram.base_url,
        "TELEGRAM_BOT_TOKEN": notify.telegram.token,
        "TELEGRAM_WEBHOOK_URL": WEBHOOK_URL,
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "ENVIRONMENT": "development",  # the sandbox bot, asked for explicitly
    }.items():
        monkeypatch.setenv(name, value)
    await notify.telegram.http.post("/bot" + notify.telegram.token + "/deleteWebhook")
    assert (await notify.telegram.webhook())["webhook"] is None
    assert await asyncio.to_thread(main, ["telegram-webhook", "set"]) == 0
    hook = (await notify.telegram.webhook())["webhook"]
    assert hook["url"] == WEBHOOK_URL and hook["secret_token"] == WEBHOOK_SECRET
    assert set(hook["allowed_updates"]) == {"message", "callback_query"}


async def test_calendar_event_changed_asks_the_specialist_and_the_tap_is_their_decision(
    notify: Notify,
) -> None:
    from contracts.booking.v1 import CalendarEventChangedV1, CalendarSyncFailedV1

    specialist_id, _, chat_id = await linked_user(notify)
    appointment_id = uuid.uuid4()
    await notify.producer.publish(
        appointment(
            CalendarEventChangedV1,
            uuid.uuid4(),
            specialist_id=specialist_id,
            appointment_id=appointment_id,
            change="deleted",
        )
    )
    asked = (await bot_messages(notify, chat_id, LINKING_REPLIES + 1))[-1]
    assert asked["text"].startswith("Событие записи изменено в Google Календаре")
    labels = [b["text"] for b in asked["reply_markup"]["inline_keyboard"][0]]
    assert labels == ["Отменить запись", "Оставить запись"]

    tapped = await notify.telegram.tap(chat_id, button_text="Оставить запись")
    assert tapped["delivery"]["status_code"] == 200
    (decision,) = await wait_for(
        lambda: notify.events.of("notify.calendar.decision_requested", user_id=specialist_id)
    )
    assert decision["payload"]["decision"] == "keep"
    assert decision["payload"]["appointment_id"] == str(appointment_id)
    assert not notify.events.of("notify.telegram.action_requested", user_id=specialist_id)

    # booking lost the calendar: the specialist is alerted
    await notify.producer.event(
        CalendarSyncFailedV1,
        specialist_id=specialist_id,
        reason="revoked",
        failed_at=STARTS,
    )
    alert = (await bot_messages(notify, chat_id, LINKING_REPLIES + 2))[-1]
    assert "Google Календарь" in alert["text"] and "отозван" in alert["text"]
