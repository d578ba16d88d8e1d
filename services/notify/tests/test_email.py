"""Email: what arrives in the SMTP sink, the delivery log, retries and permanent failures."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest
from contracts.cabinet.v1 import ConsentGrantedV1, ConsentWithdrawnV1
from contracts.content.v1 import ItemPublishedV1
from sandbox.smtp.store import SmtpFault

from .conftest import Notify, unique_email, wait_for
from .test_recipients import register

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def deliveries(notify: Notify, **filters: object) -> list[dict[str, object]]:
    r = await notify.client.get(
        "/api/notify/deliveries",
        params={"limit": 200, **{k: str(v) for k, v in filters.items()}},
        headers=notify.tokens.auth("admin"),
    )
    assert r.status_code == 200, r.text
    items: list[dict[str, object]] = r.json()["items"]
    return items


async def test_welcome_mail_in_russian_with_text_html_and_headers(notify: Notify) -> None:
    user_id, email = await register(notify, name="Мария <Иванова>")
    (mail,) = await notify.smtp.store.wait_for_messages(to=email, within=20)
    assert mail.subject == "Добро пожаловать в Практику"
    assert mail.to_addresses == [email]
    assert mail.text is not None and "Здравствуйте, Мария <Иванова>!" in mail.text
    assert mail.html is not None and "Мария &lt;Иванова&gt;" in mail.html
    assert "<Иванова>" not in mail.html
    assert mail.message_id and mail.message_id.endswith("@praktika.local>")
    date = parsedate_to_datetime(mail.header("Date") or "")
    assert abs((datetime.now(UTC) - date).total_seconds()) < 120
    assert mail.header("List-Unsubscribe") is None  # transactional

    async def sent() -> list[dict[str, object]]:
        return [d for d in await deliveries(notify, user_id=user_id) if d["status"] == "sent"]

    (row,) = await wait_for(sent)
    assert row["channel"] == "email" and row["template"] == "welcome"
    assert row["recipient"] == email and row["attempts"] == 1
    assert row["provider_message_id"] == mail.message_id
    assert row["source_event_type"] == "cabinet.user.registered"


async def test_welcome_mail_in_english(notify: Notify) -> None:
    _, email = await register(notify, language="en", name="Mary Smith")
    (mail,) = await notify.smtp.store.wait_for_messages(to=email, within=20)
    assert mail.subject == "Welcome to Praktika"
    assert mail.text is not None and mail.text.startswith("Hello Mary Smith,")


async def test_smtp_4xx_is_retried_and_logged_as_one_message(notify: Notify) -> None:
    email = unique_email("busy")
    notify.smtp.store.add_fault(SmtpFault(smtp_code=451, stage="rcpt", rcpt=email, times=1))
    user_id, _ = await register(notify, email=email)
    (mail,) = await notify.smtp.store.wait_for_messages(to=email, within=30)
    assert mail.subject == "Добро пожаловать в Практику"

    async def sent() -> list[dict[str, object]]:
        return [d for d in await deliveries(notify, user_id=user_id) if d["status"] == "sent"]

    (row,) = await wait_for(sent)
    assert row["attempts"] == 2
    assert "451" in str(row["last_error"])
    assert any(r.reply.startswith("451") for r in notify.smtp.store.rejections())


async def test_smtp_5xx_fails_at_once_and_publishes_delivery_failed(notify: Notify) -> None:
    email = unique_email("gone")
    notify.smtp.store.add_fault(SmtpFault(smtp_code=550, stage="rcpt", rcpt=email, times=1))
    user_id, _ = await register(notify, email=email)

    async def failed() -> list[dict[str, object]]:
        return [d for d in await deliveries(notify, user_id=user_id) if d["status"] == "failed"]

    (row,) = await wait_for(failed)
    assert row["attempts"] == 1 and "550" in str(row["last_error"])
    (event,) = await wait_for(
        lambda: notify.events.of("notify.delivery.failed", delivery_id=row["id"])
    )
    assert event["payload"]["permanent"] is True
    assert event["payload"]["channel"] == "email"
    assert event["payload"]["template"] == "welcome"
    assert event["payload"]["user_id"] == str(user_id)
    assert notify.smtp.store.messages(to=email) == []


async def test_delivery_log_is_admin_only_and_paginated(notify: Notify) -> None:
    user_id, _ = await register(notify)
    await register(notify)
    r = await notify.client.get("/api/notify/deliveries", headers=notify.tokens.auth("client"))
    assert r.status_code == 403
    assert (await notify.client.get("/api/notify/deliveries")).status_code == 401

    admin = notify.tokens.auth("admin")
    seen: list[str] = []
    cursor = None
    for _ in range(50):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (
            await notify.client.get("/api/notify/deliveries", params=params, headers=admin)
        ).json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) >= 2
    everything = await deliveries(notify)
    assert [d["id"] for d in everything] == seen[: len(everything)]
    mine = await deliveries(notify, user_id=user_id)
    assert mine and all(d["user_id"] == str(user_id) for d in mine)
    one = await notify.client.get(f"/api/notify/deliveries/{mine[0]['id']}", headers=admin)
    assert one.status_code == 200 and one.json()["id"] == mine[0]["id"]
    r = await notify.client.get(
        "/api/notify/deliveries", params={"cursor": "bogus!"}, headers=admin
    )
    assert r.status_code == 422
    r = await notify.client.get(f"/api/notify/deliveries/{uuid.uuid4()}", headers=admin)
    assert r.status_code == 404


async def test_news_needs_consent_carries_one_click_unsubscribe_and_stops_after_it(
    notify: Notify,
) -> None:
    reader, reader_email = await register(notify, language="en", name="Reader")
    silent, silent_email = await register(notify, language="en", name="Silent")
    withdrawn, withdrawn_email = await register(notify, language="en", name="Withdrawn")
    for user in (reader, withdrawn):
        await notify.producer.event(ConsentGrantedV1, user_id=user, purpose="marketing_messages")
    await notify.producer.event(
        ConsentWithdrawnV1,
        user_id=withdrawn,
        purpose="marketing_messages",
        withdrawn_at=datetime.now(UTC),
    )
    await wait_for(
        lambda: notify.rows("SELECT 1 FROM consents WHERE user_id = $1 AND NOT granted", withdrawn)
    )
    slug = f"sleep-{uuid.uuid4().hex[:6]}"
    await notify.producer.event(
        ItemPublishedV1,
        kind="article",
        slug=slug,
        title="Sleep and anxiety",
        summary="Five small habits.",
        language="en",
        first_publication=True,
    )
    mails = await notify.smtp.store.wait_for_messages(to=reader_email, count=2, within=20)
    news = next(m for m in mails if m.subject == "New at Praktika: Sleep and anxiety")
    unsubscribe = news.header("List-Unsubscribe") or ""
    assert unsubscribe.startswith("<http") and "mailto:" in unsubscribe
    assert news.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    assert news.text is not None and f"/articles/{slug}" in news.text

    assert [m.subject for m in notify.smtp.store.messages(to=silent_email)] == [
        "Welcome to Praktika"
    ]
    assert [m.subject for m in notify.smtp.store.messages(to=withdrawn_email)] == [
        "Welcome to Praktika"
    ]
    news_rows = await deliveries(notify, template="new_article")
    assert not [d for d in news_rows if d["user_id"] in (str(silent), str(withdrawn))]

    # RFC 8058: the mail client POSTs the one-click body to the URL in the header
    url = unsubscribe.split(">")[0].lstrip("<")
    path = url[url.index("/api/notify/") :]
    assert (await notify.client.get(path)).status_code == 200  # a page, nothing changes
    r = await notify.client.post(
        path,
        content="List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200
    prefs = await notify.client.get(
        f"/api/notify/preferences/{reader}", headers=notify.tokens.auth("client", sub=reader)
    )
    assert prefs.json()["news_unsubscribed"] is True
    assert (await notify.client.post(path[:-4] + "AAAA")).status_code == 404

    await notify.producer.event(
        ItemPublishedV1,
        kind="article",
        slug=slug + "-2",
        title="Second",
        language="en",
        first_publication=True,
    )
    await wait_for(
        lambda: notify.rows(
            "SELECT 1 FROM deliveries WHERE user_id = $1 AND template = 'new_article' "
            "AND status = 'skipped'",
            reader,
        )
    )
    assert len(notify.smtp.store.messages(to=reader_email)) == 2
