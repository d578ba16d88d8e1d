"""Telegram chat ids are contact details: no table of notify's keeps one in plaintext.

``telegram_chats`` holds the id encrypted and its keyed blind index; other tables refer to the
chat row. Migration 0003 converts a database written before that, with the service's keys.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from contracts.booking.v1 import AppointmentAttendanceConfirmedV1
from cryptography.fernet import Fernet
from notify.adapters.tables import chat_index
from notify.bootstrap import definition
from notify.config import NotifySettings
from notify.domain.rules import appointment_ref
from notify.domain.tokens import new_button_token, token_hash
from notify.entrypoints.cli import main as admin
from sandbox.testing import RunningSmtpSink
from servicekit.db.engine import asyncpg_dsn
from servicekit.db.migrations import downgrade, upgrade
from servicekit.security.fields import Keyring, get_keyring
from servicekit.settings import DEV_BLIND_INDEX_KEY, DEV_FIELD_KEY
from servicekit.testing import (
    TokenMint,
    temporary_database,
    temporary_vhost,
)

from .conftest import (
    Notify,
    running_notify,
    running_telegram,
    unique_email,
    wait_for,
)
from .test_rules import STARTS
from .test_telegram import bot_messages, new_chat_id, tapped_offer

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Every column that refers to a Telegram chat, after migration 0003 (no integer among them).
CHAT_COLUMNS = {
    ("telegram_chats", "chat_index", "character varying"),
    ("telegram_chats", "chat_id", "text"),
    ("telegram_messages", "chat_ref", "uuid"),
    ("telegram_taps", "chat_ref", "uuid"),
    ("deeplinks", "used_by_chat_ref", "uuid"),
}
# The outbox is left out: published events carry telegram_chat_id by contract
# (notify.telegram.linked, notify.deeplink.activated); housekeeping deletes them after retention.
NOT_SCANNED = {"outbox", "alembic_version"}


async def connect(database_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(asyncpg_dsn(database_url))


async def tables_showing(conn: asyncpg.Connection, *needles: str) -> dict[str, list[str]]:
    """Each table (but the outbox) whose raw rows, as text, contain one of ``needles``."""
    names = [
        r["table_name"]
        for r in await conn.fetch(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        if r["table_name"] not in NOT_SCANNED
    ]
    found: dict[str, list[str]] = {}
    for name in names:
        rows = await conn.fetch(f'SELECT row_to_json(t)::text AS raw FROM "{name}" AS t')
        hits = [r["raw"] for r in rows if any(n in r["raw"] for n in needles)]
        if hits:
            found[name] = hits
    return found


async def chat_columns(conn: asyncpg.Connection) -> set[tuple[str, str, str]]:
    rows = await conn.fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'public' AND column_name LIKE '%chat%'"
    )
    return {(r["table_name"], r["column_name"], r["data_type"]) for r in rows}


async def test_no_table_keeps_a_chat_id_in_plaintext_after_link_send_and_tap(
    notify: Notify,
) -> None:
    tapped = await tapped_offer(notify)
    user_id, chat_id, offer = tapped.user_id, tapped.chat_id, tapped.offer
    assert offer["reply_markup"]["inline_keyboard"][0][0]["text"] == "Accept"
    action_id = uuid.UUID(tapped.request["payload"]["action_id"])

    keyring = get_keyring()
    conn = await connect(notify.svc.database_url)
    try:
        assert await chat_columns(conn) == CHAT_COLUMNS
        assert await tables_showing(conn, str(chat_id)) == {}

        (chat,) = await conn.fetch(
            "SELECT id, chat_id, user_id FROM telegram_chats WHERE chat_index = $1",
            chat_index(chat_id),
        )
        assert chat["user_id"] == user_id
        assert chat["chat_id"] != str(chat_id)
        assert keyring.decrypt(chat["chat_id"]) == str(chat_id)

        (link,) = await conn.fetch(
            "SELECT used_by_chat_ref FROM deeplinks WHERE user_id = $1 AND used_at IS NOT NULL",
            user_id,
        )
        assert link["used_by_chat_ref"] == chat["id"]
        messages = await conn.fetch(
            "SELECT chat_ref, message_id FROM telegram_messages WHERE delivery_id IN "
            "(SELECT id FROM deliveries WHERE user_id = $1)",
            user_id,
        )
        assert {m["message_id"] for m in messages} >= {offer["message_id"]}
        assert {m["chat_ref"] for m in messages} == {chat["id"]}
        (tap,) = await conn.fetch(
            "SELECT chat_ref, message_id FROM telegram_taps WHERE action_id = $1", action_id
        )
        assert (tap["chat_ref"], tap["message_id"]) == (chat["id"], offer["message_id"])
        recipients = await conn.fetch(
            "SELECT recipient FROM deliveries WHERE user_id = $1 AND channel = 'telegram'",
            user_id,
        )
        assert len(recipients) >= 2
        assert all(keyring.decrypt(r["recipient"]) == str(chat_id) for r in recipients)
    finally:
        await conn.close()


# the revisions after 0003 (outbox bodies, link confirmation, the crisis audit, data rights,
# campaign links, trace context) read no key either
HEAD = "0010"

# -- migration 0003 --------------------------------------------------------------------------


async def set_up_revision_0002(
    url: str, keyring: Keyring, *, chat_id: int, orphan_chat_id: int, message_id: int
) -> dict[str, Any]:
    """notify's data as revision 0002 stored it: plaintext chat ids, everything else encrypted."""
    now = datetime.now(UTC)
    ids = {
        "user_id": uuid.uuid4(),
        "appointment_id": uuid.uuid4(),
        "delivery_id": uuid.uuid4(),
        "message_row": uuid.uuid4(),
        "orphan_message_row": uuid.uuid4(),
        "deeplink_id": uuid.uuid4(),
        "old_action_id": uuid.uuid4(),
        "button": new_button_token(),
    }
    email = unique_email("legacy")
    enc = keyring.encrypt
    conn = await connect(url)
    try:
        await conn.execute(
            "INSERT INTO recipients (user_id, email, email_index, name, time_zone, language, "
            "roles, updated_at) VALUES ($1, $2, $3, $4, 'Europe/Moscow', 'en', $5, $6)",
            ids["user_id"],
            enc(email),
            keyring.blind_index(email, kind="email"),
            enc("Legacy Client"),
            json.dumps(["client"]),
            now,
        )
        await conn.execute(
            "INSERT INTO telegram_chats (chat_id, user_id, username, language_code, linked_at) "
            "VALUES ($1, $2, $3, 'ru', $4)",
            chat_id,
            ids["user_id"],
            enc("legacy_user"),
            now,
        )
        await conn.execute(
            "INSERT INTO deeplinks (id, token_hash, action, user_id, created_at, expires_at, "
            "used_at, used_by_chat_id) VALUES ($1, $2, 'link_account', $3, $4, $5, $4, $6)",
            ids["deeplink_id"],
            token_hash("legacy-link-payload"),
            ids["user_id"],
            now,
            now + timedelta(days=7),
            chat_id,
        )
        ref = appointment_ref(ids["appointment_id"])
        await conn.execute(
            "INSERT INTO deliveries (id, created_at, updated_at, user_id, channel, template, "
            "category, language, time_zone, recipient, context, ref, status, attempts, "
            "provider_message_id, sent_at) VALUES ($1, $2, $2, $3, 'telegram', "
            "'appointment_reminder', 'transactional', 'en', 'Europe/Moscow', $4, $5, $6, "
            "'sent', 1, $7, $2)",
            ids["delivery_id"],
            now,
            ids["user_id"],
            enc(str(chat_id)),
            enc("{}"),
            ref,
            str(message_id),
        )
        await conn.execute(
            "INSERT INTO telegram_buttons (token, delivery_id, user_id, action, appointment_id, "
            "created_at) VALUES ($1, $2, $3, 'confirm_attendance', $4, $5)",
            ids["button"],
            ids["delivery_id"],
            ids["user_id"],
            ids["appointment_id"],
            now,
        )
        await conn.execute(
            "INSERT INTO telegram_messages (id, chat_id, message_id, delivery_id, template, ref, "
            "has_buttons, created_at) VALUES ($1, $2, $3, $4, 'appointment_reminder', $5, "
            "true, $6)",
            ids["message_row"],
            chat_id,
            message_id,
            ids["delivery_id"],
            ref,
            now,
        )
        # a message to a chat that has no chat row (never written so, but kept if it exists)
        await conn.execute(
            "INSERT INTO telegram_messages (id, chat_id, message_id, delivery_id, template, ref, "
            "has_buttons, created_at) VALUES ($1, $2, 5, $3, 'bot_hello', NULL, false, $4)",
            ids["orphan_message_row"],
            orphan_chat_id,
            uuid.uuid4(),
            now,
        )
        await conn.execute(
            "INSERT INTO telegram_taps (action_id, button_token, user_id, chat_id, message_id, "
            "action, appointment_id, created_at, outcome) VALUES ($1, $2, $3, $4, $5, "
            "'confirm_attendance', $6, $7, 'edit_action_rejected')",
            ids["old_action_id"],
            new_button_token(),
            ids["user_id"],
            chat_id,
            message_id,
            ids["appointment_id"],
            now,
        )
    finally:
        await conn.close()
    return ids


async def revision(url: str) -> str:
    conn = await connect(url)
    try:
        value: str = await conn.fetchval("SELECT version_num FROM alembic_version")
        return value
    finally:
        await conn.close()


async def test_migration_encrypts_existing_chat_ids_and_the_service_still_finds_them(
    tokens: TokenMint, smtp: RunningSmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrations = definition.migrations_dir
    keyring = Keyring([DEV_FIELD_KEY], DEV_BLIND_INDEX_KEY)  # what the service runs with here
    chat_id, orphan_chat_id = new_chat_id(), new_chat_id()
    async with (
        running_telegram() as telegram,
        temporary_database("notify_chat_migration") as url,
    ):
        tg = telegram[0]
        await tg.create_user(
            chat_id, first_name="Legacy", username="legacy_user", language_code="ru"
        )
        await asyncio.to_thread(upgrade, migrations, url, "0002")
        # the reminder the old notify sent, with its Confirm button, before the upgrade
        button = new_button_token()
        sent = await tg.http.post(
            f"/bot{tg.token}/sendMessage",
            json={
                "chat_id": chat_id,
                "text": "Напоминание о встрече",
                "reply_markup": {"inline_keyboard": [[{"text": "Приду", "callback_data": button}]]},
            },
        )
        message_id = sent.json()["result"]["message_id"]
        ids = await set_up_revision_0002(
            url, keyring, chat_id=chat_id, orphan_chat_id=orphan_chat_id, message_id=message_id
        )
        conn = await connect(url)
        try:
            await conn.execute(
                "UPDATE telegram_buttons SET token = $1 WHERE token = $2", button, ids["button"]
            )
        finally:
            await conn.close()
        digits = (str(chat_id), str(orphan_chat_id))
        conn = await connect(url)
        try:  # revision 0002 shows them in clear
            assert set(await tables_showing(conn, *digits)) == {
                "telegram_chats",
                "telegram_messages",
                "telegram_taps",
                "deeplinks",
            }
        finally:
            await conn.close()

        # keys that do not read notify's data are refused, and nothing changes
        monkeypatch.setenv("ENVIRONMENT", "development")  # these are development keys
        monkeypatch.setenv("FIELD_KEYS", Fernet.generate_key().decode())
        monkeypatch.setenv("BLIND_INDEX_KEY", DEV_BLIND_INDEX_KEY)
        with pytest.raises(RuntimeError, match="FIELD_KEYS do not decrypt"):
            await asyncio.to_thread(upgrade, migrations, url, "head")
        monkeypatch.setenv("FIELD_KEYS", DEV_FIELD_KEY)
        monkeypatch.setenv("BLIND_INDEX_KEY", "some-other-blind-index-key")
        with pytest.raises(RuntimeError, match="BLIND_INDEX_KEY does not match"):
            await asyncio.to_thread(upgrade, migrations, url, "head")
        assert await revision(url) == "0002"

        # the service's keys, from the environment variables the service reads, through the
        # deploy step's command (`notify-admin migrate`, servicekit's CLI)
        monkeypatch.setenv("BLIND_INDEX_KEY", DEV_BLIND_INDEX_KEY)
        monkeypatch.setenv("DATABASE_URL", url)
        assert await asyncio.to_thread(admin, ["migrate"]) == 0
        assert await revision(url) == HEAD
        conn = await connect(url)
        try:
            assert await chat_columns(conn) == CHAT_COLUMNS
            assert await tables_showing(conn, *digits) == {}
            chats = {
                int(keyring.decrypt(r["chat_id"])): r
                for r in await conn.fetch("SELECT * FROM telegram_chats")
            }
            assert set(chats) == {chat_id, orphan_chat_id}
            for number, row in chats.items():
                assert row["chat_index"] == keyring.blind_index(str(number), kind="telegram_chat")
            chat, orphan = chats[chat_id], chats[orphan_chat_id]
            assert chat["user_id"] == ids["user_id"]
            assert keyring.decrypt(chat["username"]) == "legacy_user"
            assert orphan["user_id"] is None and orphan["username"] is None
            refs = {
                r["id"]: r["chat_ref"]
                for r in await conn.fetch("SELECT id, chat_ref FROM telegram_messages")
            }
            assert refs == {ids["message_row"]: chat["id"], ids["orphan_message_row"]: orphan["id"]}
            tap_ref = await conn.fetchval("SELECT chat_ref FROM telegram_taps")
            link_ref = await conn.fetchval("SELECT used_by_chat_ref FROM deeplinks")
            assert tap_ref == link_ref == chat["id"]
        finally:
            await conn.close()

        # the downgrade gives the plaintext ids back; upgrading again encrypts them again
        await asyncio.to_thread(downgrade, migrations, url, "0002")
        conn = await connect(url)
        try:
            assert {
                r["chat_id"] for r in await conn.fetch("SELECT chat_id FROM telegram_chats")
            } == {
                chat_id,
                orphan_chat_id,
            }
            assert {
                r["chat_id"] for r in await conn.fetch("SELECT chat_id FROM telegram_messages")
            } == {chat_id, orphan_chat_id}
            assert await conn.fetchval("SELECT chat_id FROM telegram_taps") == chat_id
            assert await conn.fetchval("SELECT used_by_chat_id FROM deeplinks") == chat_id
        finally:
            await conn.close()
        await asyncio.to_thread(upgrade, migrations, url, "head")

        # the service finds the chat by the id Telegram sends
        async with (
            temporary_vhost() as amqp_url,
            running_notify(
                amqp_url=amqp_url, tokens=tokens, smtp=smtp, telegram=telegram, database_url=url
            ) as notify,
        ):
            result = await tg.start(chat_id)
            assert result["delivery"]["status_code"] == 200
            # the linked recipient's language (en), not the Telegram client's (ru)
            hello = (await bot_messages(notify, chat_id, 2))[1]
            assert hello["text"].startswith("Hello! This is the Praktika bot.")

            tapped = await tg.tap(chat_id, button_text="Приду")
            assert tapped["delivery"]["status_code"] == 200
            (request,) = await wait_for(
                lambda: notify.events.of("notify.telegram.action_requested", user_id=ids["user_id"])
            )
            assert request["payload"]["appointment_id"] == str(ids["appointment_id"])

            await notify.producer.event(
                AppointmentAttendanceConfirmedV1,
                appointment_id=ids["appointment_id"],
                client_id=ids["user_id"],
                starts_at=STARTS,
                ends_at=STARTS + timedelta(minutes=50),
                service_name="Therapy",
                confirmed_via="telegram",
            )

            async def edited() -> dict[str, Any] | None:
                messages = await tg.messages(chat_id, count=2)
                current = next(m for m in messages if m["message_id"] == message_id)
                return current if current["method"] == "editMessageText" else None

            current = await wait_for(edited)
            assert current["reply_markup"] is None

            conn = await connect(url)
            try:
                assert await conn.fetchval("SELECT count(*) FROM telegram_chats") == 2
                assert await tables_showing(conn, *digits) == {}
            finally:
                await conn.close()


async def test_an_empty_database_migrates_without_reading_any_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # settings that would refuse to load (development keys in production): never read
    monkeypatch.setenv("ENVIRONMENT", "production")
    with pytest.raises(ValueError, match="development"):
        NotifySettings()
    async with temporary_database("notify_empty_migration") as url:
        await asyncio.to_thread(upgrade, definition.migrations_dir, url, "head")
        assert await revision(url) == HEAD
        await asyncio.to_thread(downgrade, definition.migrations_dir, url, "0002")
        assert await revision(url) == "0002"
