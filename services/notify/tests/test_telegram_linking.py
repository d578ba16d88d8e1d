"""Only the account owner links a Telegram chat to their account (issue 12, point 7).

A link in a mail (a waitlist offer) never links the chat that opens it, and is not used up by a
chat that is not the owner's; a ``link_account`` token is made by the signed-in owner only, and
the chat that opens it waits, receiving nothing, until the owner confirms in the app.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from contracts.booking.v1 import AppointmentConfirmedV1
from notify.adapters.tables import chat_index
from notify.bootstrap import definition
from servicekit.db.engine import asyncpg_dsn
from servicekit.db.migrations import downgrade, upgrade
from servicekit.testing import temporary_database

from .conftest import Notify, wait_for
from .test_event_purposes import deliveries_of, handled
from .test_recipients import register
from .test_rules import appointment, mail_with
from .test_telegram import (
    bot_messages,
    confirm_link,
    linked_user,
    make_link,
    new_chat_id,
    offer_to,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

CONFIRM = "/api/notify/me/telegram/confirm"


def callback_buttons(message: dict[str, Any]) -> list[str]:
    """The callback data of a message's inline buttons (the ones that act)."""
    keyboard = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [b["callback_data"] for row in keyboard for b in row if b.get("callback_data")]


async def chat_owner(notify: Notify, chat_id: int) -> uuid.UUID | None:
    rows = await notify.rows(
        "SELECT user_id FROM telegram_chats WHERE chat_index = $1", chat_index(chat_id)
    )
    return rows[0]["user_id"] if rows else None


async def telegram_linked(notify: Notify, user_id: uuid.UUID) -> bool:
    r = await notify.client.get(
        "/api/notify/me/preferences", headers=notify.tokens.auth("client", sub=user_id)
    )
    assert r.status_code == 200, r.text
    linked: bool = r.json()["telegram_linked"]
    return linked


OFFER_MAIL = {  # the offer mail's subject and its "accept in Telegram" line, by language
    "en": ("A time has opened up", r"Accept in Telegram: https://t\.me/\w+\?start=([\w-]+)"),
    "ru": ("Освободилось время", r"Принять в Telegram: https://t\.me/\w+\?start=([\w-]+)"),
}


async def offer_mail_link(
    notify: Notify, user_id: uuid.UUID, email: str, language: str = "en"
) -> tuple[uuid.UUID, str]:
    """A waitlist offer to a user without a linked chat: its mail, with the bot link's payload."""
    offer_id = await offer_to(notify, user_id)
    subject, line = OFFER_MAIL[language]
    mail = await mail_with(notify, email, subject)
    assert mail.text is not None
    found = re.search(line, mail.text)
    assert found, mail.text
    return offer_id, found.group(1)


async def test_a_forwarded_offer_link_links_no_chat_and_acts_on_nothing(notify: Notify) -> None:
    owner, email = await register(notify, language="en")
    offer_id, payload = await offer_mail_link(notify, owner, email)

    # whoever the mail was forwarded to opens it in their Telegram
    eve = new_chat_id()
    await notify.telegram.create_user(eve, first_name="Eve", username="eve", language_code="en")
    await notify.telegram.start(eve, payload)
    (reply,) = await bot_messages(notify, eve, 1)
    assert reply["text"].startswith("This offer is for the account it was sent to.")
    assert callback_buttons(reply) == []  # nothing in Eve's chat accepts the offer
    (open_button,) = reply["reply_markup"]["inline_keyboard"][0]
    assert open_button["url"].endswith(f"/waitlist/offers/{offer_id}")  # the site asks to log in

    assert await chat_owner(notify, eve) is None
    assert not await telegram_linked(notify, owner)
    await notify.all_published()
    assert not notify.events.of("notify.telegram.linked", user_id=owner)
    assert not notify.events.of("notify.deeplink.activated", user_id=owner)
    assert not await notify.rows(
        "SELECT 1 FROM telegram_buttons WHERE user_id = $1 AND waitlist_offer_id = $2",
        owner,
        offer_id,
    )
    # the owner's next message goes by email, not to Eve
    later = appointment(
        AppointmentConfirmedV1, owner, intake_required=False, reschedule_count=0, amount_paid=None
    )
    await notify.producer.publish(later)
    await handled(notify, later.event_id, "booking-events")
    assert [r["channel"] for r in await deliveries_of(notify, later)] == ["email"]
    assert len(await notify.telegram.messages(eve, count=5)) == 1

    # the link was not used up: the owner, once their own chat is linked, opens it there
    (link,) = await notify.rows(
        "SELECT used_at FROM deeplinks WHERE action = 'waitlist_offer' AND waitlist_offer_id = $1",
        offer_id,
    )
    assert link["used_at"] is None
    own = new_chat_id()
    await notify.telegram.create_user(own, first_name="Owner", language_code="en")
    own_link = await make_link(notify, owner)
    await notify.telegram.start(own, own_link["token"])
    await confirm_link(notify, owner, own_link["id"])
    await bot_messages(notify, own, 2)  # waits for confirmation; linked
    await notify.telegram.start(own, payload)
    offer = (await bot_messages(notify, own, 3))[2]
    assert offer["text"].startswith("A time has opened up")
    assert len(callback_buttons(offer)) == 1
    await wait_for(lambda: notify.events.of("notify.deeplink.activated", user_id=owner))


async def test_an_offer_link_opened_by_the_owner_without_a_linked_chat_links_nothing(
    notify: Notify,
) -> None:
    owner, email = await register(notify, language="ru")
    _, payload = await offer_mail_link(notify, owner, email, "ru")
    own = new_chat_id()
    await notify.telegram.create_user(own, first_name="Мария", language_code="ru")
    await notify.telegram.start(own, payload)
    (reply,) = await bot_messages(notify, own, 1)
    assert reply["text"].startswith("Это предложение — для аккаунта, которому оно отправлено.")
    assert callback_buttons(reply) == []
    assert await chat_owner(notify, own) is None
    assert not await telegram_linked(notify, owner)


async def test_a_link_token_for_someone_else_is_refused_even_to_an_admin(notify: Notify) -> None:
    victim, _ = await register(notify)
    for role in ("admin", "client", "specialist"):
        r = await notify.client.post(
            "/api/notify/deeplinks",
            json={"action": "link_account", "user_id": str(victim)},
            headers=notify.tokens.auth(role),
        )
        assert r.status_code == 403, (role, r.text)
        assert r.json()["code"] == "own_account_only"
    assert not await notify.rows(
        "SELECT 1 FROM deeplinks WHERE action = 'link_account' AND user_id = $1", victim
    )
    # naming oneself is the same as naming no one
    r = await notify.client.post(
        "/api/notify/deeplinks",
        json={"action": "link_account", "user_id": str(victim)},
        headers=notify.tokens.auth("client", sub=victim),
    )
    assert r.status_code == 201 and r.json()["user_id"] == str(victim)


async def test_an_opened_link_waits_for_the_owner_and_gets_nothing_until_confirmed(
    notify: Notify,
) -> None:
    owner, email = await register(notify, language="en", name="Anna")
    link = await make_link(notify, owner)
    chat_id = new_chat_id()
    await notify.telegram.create_user(
        chat_id, first_name="Anna", username="anna_tg", language_code="en"
    )
    await notify.telegram.start(chat_id, link["token"])
    (waiting,) = await bot_messages(notify, chat_id, 1)
    assert waiting["text"].startswith(
        "Almost done: confirm linking this chat in your Praktika account within 30 min."
    )
    assert "Anna" not in waiting["text"]  # whoever holds the token learns nothing of the account

    # the app shows who opened it, so the owner can tell their own chat from someone else's
    as_owner = notify.tokens.auth("client", sub=owner)
    r = await notify.client.get(f"/api/notify/deeplinks/{link['id']}", headers=as_owner)
    shown = r.json()
    assert shown["used_at"] is not None and shown["confirmed_at"] is None
    assert shown["opened_by_username"] == "anna_tg"

    # pending: not linked, and a message for the owner goes by email, not to the chat
    assert await chat_owner(notify, chat_id) is None
    assert not await telegram_linked(notify, owner)
    await notify.all_published()
    assert not notify.events.of("notify.telegram.linked", user_id=owner)
    before = appointment(
        AppointmentConfirmedV1, owner, intake_required=False, reschedule_count=0, amount_paid=None
    )
    await notify.producer.publish(before)
    await mail_with(notify, email, "Booking confirmed")
    assert [r["channel"] for r in await deliveries_of(notify, before)] == ["email"]
    assert len(await notify.telegram.messages(chat_id, count=5)) == 1

    # the owner confirms in the app: linked, announced, and the chat is told
    r = await notify.client.post(CONFIRM, json={"deeplink_id": link["id"]}, headers=as_owner)
    assert r.status_code == 200, r.text
    assert r.json()["telegram_username"] == "anna_tg"
    (linked,) = await wait_for(lambda: notify.events.of("notify.telegram.linked", user_id=owner))
    assert linked["payload"]["deeplink_id"] == link["id"]
    assert linked["payload"]["telegram_chat_id"] == chat_id
    _, done = await bot_messages(notify, chat_id, 2)
    assert done["text"] == (
        "Done: Telegram is now connected to your account, Anna. "
        "Appointment reminders will arrive here."
    )
    assert await chat_owner(notify, chat_id) == owner
    assert await telegram_linked(notify, owner)

    # from now on, messages arrive in Telegram
    after = appointment(
        AppointmentConfirmedV1, owner, intake_required=False, reschedule_count=0, amount_paid=None
    )
    await notify.producer.publish(after)
    third = (await bot_messages(notify, chat_id, 3))[2]
    assert third["text"].startswith("Booking confirmed")

    # a confirmation is once
    again = await notify.client.post(CONFIRM, json={"deeplink_id": link["id"]}, headers=as_owner)
    assert again.status_code == 404 and again.json()["code"] == "telegram_link_not_pending"


async def test_no_one_else_confirms_my_pending_link(notify: Notify) -> None:
    owner, _ = await register(notify)
    link = await make_link(notify, owner)
    as_owner = notify.tokens.auth("client", sub=owner)

    # not opened yet: nothing to confirm
    r = await notify.client.post(CONFIRM, json={"deeplink_id": link["id"]}, headers=as_owner)
    assert r.status_code == 404 and r.json()["code"] == "telegram_link_not_pending"

    chat_id = new_chat_id()
    await notify.telegram.create_user(chat_id, language_code="ru")
    await notify.telegram.start(chat_id, link["token"])
    await bot_messages(notify, chat_id, 1)

    mallory, _ = await register(notify)
    for headers in (notify.tokens.auth("client", sub=mallory), notify.tokens.auth("admin")):
        r = await notify.client.post(CONFIRM, json={"deeplink_id": link["id"]}, headers=headers)
        assert r.status_code == 404 and r.json()["code"] == "telegram_link_not_pending"
        assert r.headers["content-type"] == "application/problem+json"
    assert (await notify.client.post(CONFIRM, json={"deeplink_id": link["id"]})).status_code == 401
    assert await chat_owner(notify, chat_id) is None
    assert not await telegram_linked(notify, mallory)
    await notify.all_published()
    assert not notify.events.of("notify.telegram.linked", user_id=mallory)

    # the owner still can, within the confirmation window only
    (row,) = await notify.rows("SELECT used_at FROM deeplinks WHERE id = $1", uuid.UUID(link["id"]))
    window = notify.svc.runtime.notify.settings.telegram_link_confirm_minutes  # type: ignore[attr-defined]
    await notify.rows(
        "UPDATE deeplinks SET used_at = $2 WHERE id = $1",
        uuid.UUID(link["id"]),
        row["used_at"] - timedelta(minutes=window + 1),
    )
    r = await notify.client.post(CONFIRM, json={"deeplink_id": link["id"]}, headers=as_owner)
    assert r.status_code == 404 and r.json()["code"] == "telegram_link_not_pending"
    await notify.rows(
        "UPDATE deeplinks SET used_at = $2 WHERE id = $1", uuid.UUID(link["id"]), row["used_at"]
    )
    r = await notify.client.post(CONFIRM, json={"deeplink_id": link["id"]}, headers=as_owner)
    assert r.status_code == 200, r.text
    assert await chat_owner(notify, chat_id) == owner


async def test_confirming_a_new_chat_moves_the_link_and_retires_the_old_one(
    notify: Notify,
) -> None:
    owner, _, old_chat = await linked_user(notify)
    link = await make_link(notify, owner)
    new_chat = new_chat_id()
    await notify.telegram.create_user(new_chat, language_code="ru")
    await notify.telegram.start(new_chat, link["token"])
    await bot_messages(notify, new_chat, 1)
    # pending: the old chat keeps the messages until the owner confirms
    assert await chat_owner(notify, old_chat) == owner
    await confirm_link(notify, owner, link["id"])
    assert await chat_owner(notify, new_chat) == owner
    assert await chat_owner(notify, old_chat) is None


async def linked_before_0005(
    conn: asyncpg.Connection, user_id: uuid.UUID, action: str, chat_ref: uuid.UUID, at: datetime
) -> None:
    """A chat the old bot linked on opening a link of ``action`` at ``at``, with a message that
    has buttons and an unsent Telegram message for the user (revision 0004's tables)."""
    await conn.execute(
        "INSERT INTO telegram_chats (id, chat_index, chat_id, user_id, linked_at) "
        "VALUES ($1, $2, 'ciphertext', $3, $4)",
        chat_ref,
        uuid.uuid4().hex,
        user_id,
        at,
    )
    await conn.execute(
        "INSERT INTO deeplinks (id, token_hash, action, user_id, created_at, expires_at, "
        "used_at, used_by_chat_ref) VALUES ($1, $2, $3, $4, $5, $6, $5, $7)",
        uuid.uuid4(),
        uuid.uuid4().hex,
        action,
        user_id,
        at,
        at + timedelta(days=7),
        chat_ref,
    )
    await conn.execute(
        "INSERT INTO telegram_messages (id, chat_ref, message_id, delivery_id, template, "
        "has_buttons, created_at) VALUES ($1, $2, 7, $3, 'appointment_reminder', true, $4)",
        uuid.uuid4(),
        chat_ref,
        uuid.uuid4(),
        at,
    )
    await conn.execute(
        "INSERT INTO deliveries (id, created_at, updated_at, user_id, channel, template, "
        "category, language, time_zone, recipient, context, status, attempts) VALUES "
        "($1, $2, $2, $3, 'telegram', 'appointment_reminder', 'transactional', 'ru', "
        "'Europe/Moscow', 'ciphertext', 'ciphertext', 'pending', 0)",
        uuid.uuid4(),
        at,
        user_id,
    )


async def test_upgrading_unlinks_the_chats_an_offer_link_took_over() -> None:
    """Before: an offer mail's link linked whoever opened it when the account had no chat.
    Migration 0005 unlinks such chats (their owners link again, confirming); chats linked by
    the owner's own link stay."""
    migrations = definition.migrations_dir
    taken_over, own = uuid.uuid4(), uuid.uuid4()  # two accounts
    chats = {taken_over: uuid.uuid4(), own: uuid.uuid4()}
    opened = {
        taken_over: datetime(2030, 1, 5, 10, tzinfo=UTC),
        own: datetime(2030, 1, 6, tzinfo=UTC),
    }
    async with temporary_database("notify_link_migration") as url:
        await asyncio.to_thread(upgrade, migrations, url, "0004")
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            for user_id, action in ((taken_over, "waitlist_offer"), (own, "link_account")):
                await linked_before_0005(conn, user_id, action, chats[user_id], opened[user_id])
        finally:
            await conn.close()

        await asyncio.to_thread(upgrade, migrations, url, "head")

        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            linked = {
                r["id"]: r["user_id"]
                for r in await conn.fetch("SELECT id, user_id FROM telegram_chats")
            }
            assert linked == {chats[taken_over]: None, chats[own]: own}
            buttons = {
                r["chat_ref"]: r["has_buttons"]
                for r in await conn.fetch("SELECT chat_ref, has_buttons FROM telegram_messages")
            }
            assert buttons == {chats[taken_over]: False, chats[own]: True}
            waiting = {
                r["user_id"]: (r["status"], r["last_error"])
                for r in await conn.fetch("SELECT user_id, status, last_error FROM deliveries")
            }
            assert waiting == {
                taken_over: ("skipped", "telegram_unlinked"),
                own: ("pending", None),
            }
            confirmed = {
                r["action"]: r["confirmed_at"]
                for r in await conn.fetch("SELECT action, confirmed_at FROM deeplinks")
            }
            assert confirmed == {"waitlist_offer": None, "link_account": opened[own]}
        finally:
            await conn.close()
        await asyncio.to_thread(downgrade, migrations, url, "0004")
