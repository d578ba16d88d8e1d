"""CRM leads across cabinet and notify, through RabbitMQ and the Telegram fake for real: the
practice makes a campaign in cabinet, notify learns its link, three people open it in the bot
and cabinet has three leads of that campaign; one of them registers from another campaign's ad
and links the same chat: still three leads, that one with its first touch kept and its last
touch moved; once the campaign is revoked, a fourth opener is answered kindly and makes no
lead."""

from __future__ import annotations

import random
import uuid
from typing import Any

import asyncpg
import pytest
from servicekit.db.engine import asyncpg_dsn
from servicekit.testing import wait_until

from ..conftest import Stack

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def notify_row(stack: Stack, campaign_id: str) -> asyncpg.Record | None:
    conn = await asyncpg.connect(asyncpg_dsn(stack["notify"].database_url))
    try:
        return await conn.fetchrow(
            "SELECT revoked_at FROM deeplinks WHERE id = $1", uuid.UUID(campaign_id)
        )
    finally:
        await conn.close()


async def leads_of(stack: Stack, campaign: str) -> list[dict[str, Any]]:
    r = await stack["cabinet"].client.get(
        "/api/cabinet/leads", params={"campaign": campaign}, headers=stack.auth("admin")
    )
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def opener(stack: Stack, token: str, name: str) -> int:
    chat_id = random.randint(200_000_000, 2_000_000_000)
    await stack.telegram.create_user(chat_id, first_name=name, language_code="ru")
    started = await stack.telegram.start(chat_id, token)
    assert started["delivery"]["status_code"] == 200, started
    return chat_id


async def test_a_campaign_link_in_the_bot_makes_leads_until_revoked(stack: Stack) -> None:
    cabinet, notify = stack["cabinet"].client, stack["notify"].client
    label = f"tg-{uuid.uuid4().hex[:8]}"
    r = await cabinet.post(
        "/api/cabinet/campaigns",
        headers=stack.auth("admin"),
        json={"name": "Пост в канале", "source": "telegram_channel", "campaign": label},
    )
    assert r.status_code == 201, r.text
    campaign = r.json()
    token = campaign["telegram_link"].rsplit("?start=", 1)[1]

    async def known() -> bool:
        return await notify_row(stack, campaign["id"]) is not None

    await wait_until(known, timeout=20)

    chats = [await opener(stack, token, name) for name in ("Анна", "Борис", "Вера")]
    for chat_id in chats:
        (hello,) = await stack.telegram.messages(chat_id, count=1, wait=20)
        assert hello["text"].startswith("Здравствуйте")

    async def three() -> bool:
        return len(await leads_of(stack, label)) == 3

    await wait_until(three, timeout=20)

    # Анна registers from an Instagram ad and links the chat she opened the link in.
    other = f"ig-{uuid.uuid4().hex[:8]}"
    email = f"anna.{uuid.uuid4().hex[:8]}@example.com"
    r = await cabinet.post(
        "/api/cabinet/registrations",
        json={
            "email": email,
            "password": "correct horse battery",
            "name": "Анна",
            "utm_source": "instagram",
            "utm_campaign": other,
        },
    )
    assert r.status_code == 202, r.text
    user_id = await _user_id(stack, email)
    me = stack.auth("client", sub=user_id)
    link = await notify.post("/api/notify/deeplinks", json={"action": "link_account"}, headers=me)
    assert link.status_code == 201, link.text
    await stack.telegram.start(chats[0], link.json()["token"])
    await stack.telegram.messages(chats[0], count=2, wait=20)
    confirmed = await notify.post(
        "/api/notify/me/telegram/confirm", json={"deeplink_id": link.json()["id"]}, headers=me
    )
    assert confirmed.status_code == 200, confirmed.text

    async def merged() -> bool:
        found = await leads_of(stack, label)
        return len(found) == 3 and any(x["user_id"] == str(user_id) for x in found)

    await wait_until(merged, timeout=20)
    (anna,) = [x for x in await leads_of(stack, label) if x["user_id"] == str(user_id)]
    assert anna["email"] == email
    assert anna["first_touch"]["channel"] == "telegram"
    assert anna["first_touch"]["campaign_id"] == campaign["id"]
    assert (anna["last_touch"]["source"], anna["last_touch"]["campaign"]) == ("instagram", other)
    assert await leads_of(stack, other) == []

    # Revoked: the next opener hears the offer ended, and no lead appears.
    r = await cabinet.post(
        f"/api/cabinet/campaigns/{campaign['id']}/revoke", headers=stack.auth("admin")
    )
    assert r.status_code == 200, r.text

    async def revoked() -> bool:
        row = await notify_row(stack, campaign["id"])
        return row is not None and row["revoked_at"] is not None

    await wait_until(revoked, timeout=20)
    late = await opener(stack, token, "Глеб")
    (closed,) = await stack.telegram.messages(late, count=1, wait=20)
    assert closed["text"].startswith("Спасибо, что заглянули! Эта акция уже завершилась")
    assert len(await leads_of(stack, label)) == 3


async def _user_id(stack: Stack, email: str) -> uuid.UUID:
    r = await stack["cabinet"].client.post(
        "/api/cabinet/users/search", json={"email": email}, headers=stack.auth("admin")
    )
    assert r.status_code == 200, r.text
    (user,) = r.json()["items"]
    return uuid.UUID(user["id"])
