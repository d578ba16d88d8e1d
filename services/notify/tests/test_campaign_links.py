"""Campaign links made in cabinet (issue 18): notify learns them from
``cabinet.campaign_link.issued`` (only the token's SHA-256 travels), every opener's ``/start``
publishes ``notify.deeplink.activated`` under the campaign's id, and once revoked the link
answers politely and publishes nothing. Account links stay single-use."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime

import pytest
from contracts.cabinet.v1 import CampaignLinkIssuedV1, CampaignLinkRevokedV1

from .conftest import Notify, wait_for
from .test_telegram import bot_messages, make_link, new_chat_id

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_campaign_link_credits_every_opener_until_revoked(notify: Notify) -> None:
    token = secrets.token_urlsafe(24)
    campaign_id = uuid.uuid4()
    await notify.producer.event(
        CampaignLinkIssuedV1,
        campaign_id=campaign_id,
        token_sha256=hashlib.sha256(token.encode()).hexdigest(),
        source="vk",
        medium="post",
        campaign="autumn-2026",
        service_id=None,
        specialist_id=None,
        issued_at=datetime.now(UTC),
    )

    async def known() -> bool:
        rows = await notify.rows("SELECT 1 FROM deeplinks WHERE id = $1", campaign_id)
        return bool(rows)

    await wait_for(known)
    chats = [new_chat_id() for _ in range(3)]
    for chat_id in chats:
        await notify.telegram.create_user(chat_id, first_name="Гость", language_code="ru")
        await notify.telegram.start(chat_id, token)
    activated = await wait_for(
        lambda: (
            found
            if len(
                found := notify.events.of("notify.deeplink.activated", deeplink_id=str(campaign_id))
            )
            == 3
            else None
        )
    )
    assert sorted(e["payload"]["telegram_chat_id"] for e in activated) == sorted(chats)
    assert {e["payload"]["campaign"] for e in activated} == {"autumn-2026"}
    for chat_id in chats:
        (hello,) = await bot_messages(notify, chat_id, 1)
        assert hello["text"].startswith("Здравствуйте")
    (row,) = await notify.rows(
        "SELECT opened_count, used_at FROM deeplinks WHERE id = $1", campaign_id
    )
    assert row["opened_count"] == 3 and row["used_at"] is None

    await notify.producer.event(
        CampaignLinkRevokedV1, campaign_id=campaign_id, revoked_at=datetime.now(UTC)
    )

    async def revoked() -> bool:
        rows = await notify.rows("SELECT revoked_at FROM deeplinks WHERE id = $1", campaign_id)
        return rows[0]["revoked_at"] is not None

    await wait_for(revoked)
    late = new_chat_id()
    await notify.telegram.create_user(late, first_name="Поздний", language_code="ru")
    await notify.telegram.start(late, token)
    (closed,) = await bot_messages(notify, late, 1)
    assert closed["text"].startswith("Спасибо, что заглянули! Эта акция уже завершилась")
    (button,) = closed["reply_markup"]["inline_keyboard"][0]
    assert button["url"].endswith("/booking")
    await notify.all_published()
    assert len(notify.events.of("notify.deeplink.activated", deeplink_id=str(campaign_id))) == 3


async def test_an_account_link_stays_single_use(notify: Notify) -> None:
    owner = uuid.uuid4()
    link = await make_link(notify, owner)
    first, second = new_chat_id(), new_chat_id()
    for chat_id in (first, second):
        await notify.telegram.create_user(chat_id, first_name="X", language_code="en")
    await notify.telegram.start(first, link["token"])
    await bot_messages(notify, first, 1)
    await notify.telegram.start(second, link["token"])
    (spent,) = await bot_messages(notify, second, 1)
    assert spent["text"].startswith("This link has already been used or has expired")


async def test_a_campaign_for_a_specialist_opens_their_booking_page(notify: Notify) -> None:
    token, campaign_id, specialist = secrets.token_urlsafe(24), uuid.uuid4(), uuid.uuid4()
    await notify.producer.event(
        CampaignLinkIssuedV1,
        campaign_id=campaign_id,
        token_sha256=hashlib.sha256(token.encode()).hexdigest(),
        source="flyer",
        medium=None,
        campaign="clinic-door",
        service_id=None,
        specialist_id=specialist,
        issued_at=datetime.now(UTC),
    )

    async def known() -> bool:
        return bool(await notify.rows("SELECT 1 FROM deeplinks WHERE id = $1", campaign_id))

    await wait_for(known)
    chat_id = new_chat_id()
    await notify.telegram.create_user(chat_id, first_name="Guest", language_code="en")
    await notify.telegram.start(chat_id, token)
    (reply,) = await bot_messages(notify, chat_id, 1)
    (button,) = reply["reply_markup"]["inline_keyboard"][0]
    assert button["text"] == "Book" and button["url"].endswith(f"/booking?specialist={specialist}")
    (activated,) = await wait_for(
        lambda: notify.events.of("notify.deeplink.activated", deeplink_id=str(campaign_id))
    )
    assert activated["payload"]["campaign"] == "clinic-door"
