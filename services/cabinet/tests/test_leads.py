"""CRM leads (issue 18): campaign links opened in the bot make leads (notify's events arrive
through RabbitMQ as notify publishes them), registrations with UTM touch them, a linked chat
merges them, booking's events book and convert them; the funnel's numbers; who may read them;
a revoked link makes no more leads; contacts and notes are ciphertext at rest."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import pytest
from contracts.booking.v1 import (
    AppointmentCompletedV1,
    AppointmentConfirmedV1,
    AppointmentHeldV1,
    PaymentSucceededV1,
    RefundSucceededV1,
)
from contracts.envelope import EventEnvelope
from contracts.notify.v1 import DeeplinkActivatedV1, TelegramLinkedV1
from contracts.registry import spec_of
from contracts.testing import example_envelope
from contracts.types import Money
from servicekit.testing import FakeClock, wait_until

from .conftest import Cabinet

pytestmark = pytest.mark.asyncio(loop_scope="session")

LEADS = "/api/cabinet/leads"


async def publish(
    cabinet: Cabinet, model: type[Any], at: datetime | None = None, **fields: Any
) -> uuid.UUID:
    """An event as notify or booking publish it (their exchange, their routing key); ``at`` is
    when it happened. Returns its id."""
    envelope: EventEnvelope[Any] = example_envelope(model, **fields)
    if at is not None:
        envelope = envelope.model_copy(update={"occurred_at": at})
    spec = spec_of(model)
    connection = await aio_pika.connect(cabinet.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            spec.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        await exchange.publish(
            aio_pika.Message(
                envelope.model_dump_json().encode(),
                message_id=str(envelope.event_id),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=spec.routing_key,
        )
    return envelope.event_id


async def handled(cabinet: Cabinet, *event_ids: uuid.UUID) -> None:
    """Wait until cabinet's lead consumer took these events (their inbox rows are committed)."""

    async def done() -> bool:
        rows = await cabinet.sql(
            "SELECT count(*) AS n FROM inbox WHERE consumer = 'cabinet.leads'"
            " AND event_id = ANY($1::uuid[])",
            list(event_ids),
        )
        return bool(rows[0]["n"] == len(event_ids))

    await wait_until(done, timeout=20)


def admin(cabinet: Cabinet) -> dict[str, str]:
    return cabinet.tokens.auth("admin")


async def new_campaign(cabinet: Cabinet, **body: Any) -> dict[str, Any]:
    label = f"c-{uuid.uuid4().hex[:10]}"
    r = await cabinet.client.post(
        "/api/cabinet/campaigns",
        headers=admin(cabinet),
        json={"name": "Осенний пост", "source": "vk", "medium": "post", "campaign": label, **body},
    )
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def opened(
    cabinet: Cabinet,
    campaign: dict[str, Any],
    chat_id: int,
    at: datetime | None = None,
    user_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """notify: chat ``chat_id`` opened the campaign's link in the bot."""
    return await publish(
        cabinet,
        DeeplinkActivatedV1,
        at,
        deeplink_id=uuid.UUID(campaign["id"]),
        action="attribution",
        source=campaign["source"],
        campaign=campaign["campaign"],
        user_id=user_id,
        telegram_chat_id=chat_id,
        telegram_user_id=chat_id,
        telegram_username=f"user{chat_id}",
        first_name="Гость",
        last_name=None,
    )


async def leads_of(cabinet: Cabinet, **query: str) -> list[dict[str, Any]]:
    r = await cabinet.client.get(LEADS, headers=admin(cabinet), params={"limit": 200, **query})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def until_leads(cabinet: Cabinet, count: int, **query: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    async def enough() -> bool:
        nonlocal found
        found = await leads_of(cabinet, **query)
        return len(found) == count

    await wait_until(enough, timeout=20)
    return found


def chat() -> int:
    return 300_000_000 + uuid.uuid4().int % 1_000_000_000


def facts(client: uuid.UUID, appointment: uuid.UUID, starts: datetime) -> dict[str, Any]:
    return {
        "appointment_id": appointment,
        "client_id": client,
        "starts_at": starts,
        "ends_at": starts + timedelta(minutes=50),
        "price": Money(amount=300000),
    }


async def session_held(
    cabinet: Cabinet, client: uuid.UUID, amount: int, at: datetime, *, complete: bool = True
) -> list[uuid.UUID]:
    """booking: the client books (held, paid, confirmed) and, if ``complete``, the session is
    held a day later."""
    appointment = uuid.uuid4()
    f = facts(client, appointment, at + timedelta(days=1))
    ids = [
        await publish(cabinet, AppointmentHeldV1, at, **f),
        await publish(
            cabinet,
            PaymentSucceededV1,
            at + timedelta(minutes=5),
            payment_id=uuid.uuid4(),
            appointment_id=appointment,
            client_id=client,
            amount=Money(amount=amount),
            paid_at=at + timedelta(minutes=5),
            late=False,
        ),
        await publish(cabinet, AppointmentConfirmedV1, at + timedelta(minutes=5), **f),
    ]
    if complete:
        ids.append(
            await publish(cabinet, AppointmentCompletedV1, at + timedelta(days=1, hours=1), **f)
        )
    return ids


async def test_a_campaign_link_story_from_three_openers_to_one_converted_client(
    cabinet: Cabinet,
) -> None:
    campaign = await new_campaign(cabinet)
    link = campaign["telegram_link"]
    token = link.removeprefix("https://t.me/praktika_sandbox_bot?start=")
    assert token != link and len(token) <= 64 and campaign["campaign"] not in token
    (issued,) = await cabinet.events("cabinet.campaign_link.issued", campaign_id=campaign["id"])
    assert issued["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(issued)

    # Three people open the link in the bot: three leads of that campaign.
    chats = [chat() for _ in range(3)]
    for c in chats:
        await opened(cabinet, campaign, c)
    three = await until_leads(cabinet, 3, campaign=campaign["campaign"])
    for lead in three:
        assert lead["status"] == "new"
        assert lead["first_touch"]["channel"] == "telegram"
        assert lead["first_touch"]["campaign_id"] == campaign["id"]
        assert lead["first_touch"]["source"] == "vk"
    created = await cabinet.events("cabinet.lead.created", campaign_id=campaign["id"])
    assert len(created) == 3
    assert all(set(e) >= {"lead_id", "channel"} and "email" not in e for e in created)

    # The first of them registers on the site from another campaign's ad...
    other = f"spring-{uuid.uuid4().hex[:6]}"
    email, user_id = await cabinet.register(
        utm_source="instagram", utm_medium="stories", utm_campaign=other
    )
    # ... and links their Telegram (the chat that opened the link): one person, one lead.
    linked = await publish(cabinet, TelegramLinkedV1, user_id=user_id, telegram_chat_id=chats[0])
    await handled(cabinet, linked)
    still_three = await leads_of(cabinet, campaign=campaign["campaign"])
    assert len(still_three) == 3
    assert await leads_of(cabinet, campaign=other) == []  # no lead of its own under `other`
    (lead,) = [x for x in still_three if x["user_id"] == str(user_id)]
    assert lead["email"] == email
    assert lead["telegram_username"] == f"user{chats[0]}"
    assert lead["first_touch"]["campaign"] == campaign["campaign"]  # first touch stays
    assert lead["last_touch"]["campaign"] == other  # last touch changes
    assert lead["last_touch"]["source"] == "instagram"
    assert lead["last_touch"]["channel"] == "registration"

    # They book, pay and their first session is held: converted, by the system.
    now = datetime.now(UTC)
    await handled(cabinet, *await session_held(cabinet, user_id, 350000, now))
    r = await cabinet.client.get(f"{LEADS}/{lead['id']}", headers=admin(cabinet))
    assert r.status_code == 200, r.text
    detail = r.json()
    assert detail["status"] == "converted" and detail["status_changed_by"] is None
    assert detail["first_booked_at"] is not None and detail["converted_at"] is not None
    assert [c["to_status"] for c in detail["status_changes"]] == ["converted"]
    assert [t["channel"] for t in detail["touches"]].count("telegram") == 1
    (converted,) = await cabinet.events("cabinet.lead.converted", lead_id=lead["id"])
    assert converted["campaign_id"] == campaign["id"] and converted["source"] == "vk"

    # The funnel counts them once, under the first touch.
    r = await cabinet.client.get(
        "/api/cabinet/lead-funnel",
        headers=admin(cabinet),
        params={
            "since": (now - timedelta(hours=1)).isoformat(),
            "until": (now + timedelta(hours=1)).isoformat(),
        },
    )
    assert r.status_code == 200, r.text
    rows = {(x["source"], x["campaign"]): x for x in r.json()["rows"]}
    row = rows[("vk", campaign["campaign"])]
    assert (row["leads"], row["booked"], row["converted"]) == (3, 1, 1)
    assert row["revenue_90d"] == 350000
    assert ("instagram", other) not in rows


async def test_registering_twice_with_one_email_is_one_lead(cabinet: Cabinet) -> None:
    first, second = f"a-{uuid.uuid4().hex[:6]}", f"b-{uuid.uuid4().hex[:6]}"
    email, user_id = await cabinet.register(utm_source="google", utm_campaign=first)
    r = await cabinet.client.post(
        "/api/cabinet/registrations",
        json={
            "email": email.upper(),
            "password": "another long password",
            "name": "Кто-то",
            "utm_source": "yandex",
            "utm_campaign": second,
        },
    )
    assert r.status_code == 202, r.text
    (lead,) = await leads_of(cabinet, campaign=first)
    assert await leads_of(cabinet, campaign=second) == []
    assert lead["user_id"] == str(user_id) and lead["name"] == "Анна"  # not renamed
    assert lead["first_touch"]["campaign"] == first
    assert lead["last_touch"]["campaign"] == second
    r = await cabinet.client.get(f"{LEADS}/{lead['id']}", headers=admin(cabinet))
    assert [t["channel"] for t in r.json()["touches"]] == ["registration", "registration"]
    raw = await cabinet.sql(
        "SELECT email, name, email_index FROM leads WHERE id = $1", uuid.UUID(lead["id"])
    )
    assert email not in str(dict(raw[0])) and "Анна" not in str(dict(raw[0]))


async def test_the_funnel_of_a_seeded_period_matches_the_hand_count(cabinet: Cabinet) -> None:
    # A period of its own (2031), so no other test's leads are in it.
    t0 = datetime(2031, 3, 2, 9, 0, tzinfo=UTC)
    since, until = t0 - timedelta(days=1), t0 + timedelta(days=30)
    a = await new_campaign(cabinet, source="vk")
    b = await new_campaign(cabinet, source="flyer", medium=None)
    # Campaign a: 4 openers. #1 books and converts after 26 h (payments 300000, then a second
    # session 200000 on day 40, and one on day 100 that falls outside the 90 days);
    # #2 books (paid) but no session yet; #3, #4 only opened.
    # Campaign b: 2 openers. #5 converts after 50 h (payment 500000, refunded 250000 later);
    # #6 only opened. And one lead before the period (not counted).
    users = [uuid.uuid4() for _ in range(6)]
    chats = [chat() for _ in range(6)]
    ids = []
    for i in range(4):
        ids.append(await opened(cabinet, a, chats[i], t0 + timedelta(hours=i), user_id=users[i]))
    for i in (4, 5):
        ids.append(await opened(cabinet, b, chats[i], t0 + timedelta(hours=i), user_id=users[i]))
    ids.append(await opened(cabinet, a, chat(), t0 - timedelta(days=3)))
    await handled(cabinet, *ids)
    # #1: first touch t0, booked t0+1h, session held t0+1h+1d+1h = t0 + 26 h... (see session_held)
    ids = await session_held(cabinet, users[0], 300000, t0 + timedelta(hours=1))
    ids += await session_held(cabinet, users[0], 200000, t0 + timedelta(days=40), complete=True)
    ids += await session_held(cabinet, users[0], 999900, t0 + timedelta(days=100))
    ids += await session_held(cabinet, users[1], 300000, t0 + timedelta(hours=2), complete=False)
    ids += await session_held(cabinet, users[4], 500000, t0 + timedelta(hours=28))
    ids.append(
        await publish(
            cabinet,
            RefundSucceededV1,
            t0 + timedelta(days=3),
            refund_id=uuid.uuid4(),
            client_id=users[4],
            amount=Money(amount=250000),
            refunded_at=t0 + timedelta(days=3),
        )
    )
    await handled(cabinet, *ids)

    r = await cabinet.client.get(
        "/api/cabinet/lead-funnel",
        headers=admin(cabinet),
        params={"since": since.isoformat(), "until": until.isoformat()},
    )
    assert r.status_code == 200, r.text
    report = r.json()
    rows = {x["campaign"]: x for x in report["rows"]}
    assert set(rows) == {a["campaign"], b["campaign"]}
    # By hand. a: #1 touched t0, its session held at (t0+1h)+1d+1h = t0+26h → 26 h.
    # Revenue: 300000 (day 0) + 200000 (day 40) inside 90 days of the first booking
    # (t0+1h+5min); 999900 on day 100 is not.
    assert rows[a["campaign"]] == {
        "source": "vk",
        "campaign": a["campaign"],
        "leads": 4,
        "booked": 2,
        "converted": 1,
        "booking_rate": 0.5,
        "conversion_rate": 0.25,
        "median_hours_to_convert": 26.0,
        "revenue_90d": 500000,
    }
    # b: #5 touched t0+4h, session held (t0+28h)+1d+1h = t0+53h → 49 h; 500000 - 250000.
    assert rows[b["campaign"]] == {
        "source": "flyer",
        "campaign": b["campaign"],
        "leads": 2,
        "booked": 1,
        "converted": 1,
        "booking_rate": 0.5,
        "conversion_rate": 0.5,
        "median_hours_to_convert": 49.0,
        "revenue_90d": 250000,
    }
    total = report["total"]
    assert (total["leads"], total["booked"], total["converted"]) == (6, 3, 2)
    assert total["median_hours_to_convert"] == 37.5  # median of 26 and 49
    assert total["revenue_90d"] == 750000

    r = await cabinet.client.get(
        "/api/cabinet/lead-funnel.csv",
        headers=admin(cabinet),
        params={"since": since.isoformat(), "until": until.isoformat()},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(r.text)))
    # Rows by first-touch source, then campaign ("flyer" before "vk"), then the total.
    assert [x["campaign"] for x in lines] == [b["campaign"], a["campaign"], "(all)"]
    assert lines[-1]["leads"] == "6" and lines[-1]["revenue_90d"] == "750000"

    r = await cabinet.client.get(
        "/api/cabinet/lead-funnel.png",
        headers=admin(cabinet),
        params={"since": since.isoformat(), "until": until.isoformat()},
    )
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content.startswith(b"\x89PNG\r\n\x1a\n") and len(r.content) > 1000


async def test_a_client_cannot_read_leads_or_campaigns(cabinet: Cabinet) -> None:
    _, user_id = await cabinet.register()
    me = cabinet.tokens.auth("client", sub=user_id)
    for method, path in (
        ("GET", LEADS),
        ("GET", f"{LEADS}/{uuid.uuid4()}"),
        ("PATCH", f"{LEADS}/{uuid.uuid4()}"),
        ("GET", "/api/cabinet/lead-funnel"),
        ("GET", "/api/cabinet/lead-funnel.csv"),
        ("GET", "/api/cabinet/lead-funnel.png"),
        ("GET", "/api/cabinet/campaigns"),
        ("POST", "/api/cabinet/campaigns"),
    ):
        r = await cabinet.client.request(method, path, headers=me, json={"status": "lost"})
        assert r.status_code == 403, (method, path, r.text)
    assert (await cabinet.client.get(LEADS)).status_code == 401


async def test_a_revoked_campaign_link_makes_no_more_leads(cabinet: Cabinet) -> None:
    campaign = await new_campaign(cabinet)
    await handled(cabinet, await opened(cabinet, campaign, chat()))
    r = await cabinet.client.post(
        f"/api/cabinet/campaigns/{campaign['id']}/revoke", headers=admin(cabinet)
    )
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    (revoked,) = await cabinet.events("cabinet.campaign_link.revoked", campaign_id=campaign["id"])
    assert revoked["revoked_at"]
    # An opening notify still published (it raced the revocation) counts for nothing.
    await handled(
        cabinet, await opened(cabinet, campaign, chat(), datetime.now(UTC) + timedelta(seconds=1))
    )
    assert len(await leads_of(cabinet, campaign=campaign["campaign"])) == 1
    r = await cabinet.client.post(
        "/api/cabinet/campaigns",
        headers=admin(cabinet),
        json={"name": "Снова", "source": "vk", "campaign": campaign["campaign"]},
    )
    assert r.status_code == 409 and r.json()["code"] == "campaign_name_taken"


async def test_the_practice_moves_a_lead_and_writes_notes(cabinet: Cabinet) -> None:
    campaign = await new_campaign(cabinet)
    await handled(cabinet, await opened(cabinet, campaign, chat()))
    (lead,) = await leads_of(cabinet, campaign=campaign["campaign"])
    someone = uuid.uuid4()
    manager = cabinet.tokens.auth("admin", sub=someone)
    r = await cabinet.client.patch(
        f"{LEADS}/{lead['id']}", headers=manager, json={"status": "contacted"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "contacted" and r.json()["status_changed_by"] == str(someone)
    r = await cabinet.client.patch(
        f"{LEADS}/{lead['id']}", headers=manager, json={"status": "converted"}
    )
    assert r.status_code == 422  # never by hand
    secret = "Перезвонить в четверг, спрашивала про тревогу"
    r = await cabinet.client.post(
        f"{LEADS}/{lead['id']}/notes", headers=manager, json={"text": secret}
    )
    assert r.status_code == 201, r.text
    raw = await cabinet.sql("SELECT text FROM lead_notes WHERE lead_id = $1", uuid.UUID(lead["id"]))
    assert raw and secret not in raw[0]["text"]
    r = await cabinet.client.get(f"{LEADS}/{lead['id']}", headers=admin(cabinet))
    assert [n["text"] for n in r.json()["notes"]] == [secret]
    assert [(c["from_status"], c["to_status"]) for c in r.json()["status_changes"]] == [
        ("new", "contacted")
    ]
    assert (
        await cabinet.client.delete(f"{LEADS}/{lead['id']}", headers=manager)
    ).status_code == 204
    assert (await cabinet.client.get(f"{LEADS}/{lead['id']}", headers=manager)).status_code == 404


async def test_a_lead_is_in_the_users_export_and_gone_after_erasure(
    cabinet: Cabinet, clock: FakeClock
) -> None:
    campaign = f"exp-{uuid.uuid4().hex[:6]}"
    email, user_id = await cabinet.register(utm_source="google", utm_campaign=campaign)
    (lead,) = await leads_of(cabinet, campaign=campaign)
    note = "Просила перезвонить вечером"
    r = await cabinet.client.post(
        f"{LEADS}/{lead['id']}/notes", headers=admin(cabinet), json={"text": note}
    )
    assert r.status_code == 201, r.text
    me = cabinet.tokens.auth("client", sub=user_id)

    # The export: the other services never answer here, so it completes at its final deadline.
    r = await cabinet.client.post("/api/cabinet/me/data-exports", headers=me)
    assert r.status_code == 202, r.text
    export_id = uuid.UUID(r.json()["id"])
    clock.offset = timedelta(hours=cabinet.runtime.settings.data_export_final_hours + 1)

    async def assembled() -> bool:
        rows = await cabinet.sql("SELECT archive FROM data_exports WHERE id = $1", export_id)
        return rows[0]["archive"] is not None

    await wait_until(assembled, timeout=30)
    (row,) = await cabinet.sql("SELECT archive FROM data_exports WHERE id = $1", export_id)
    blob = base64.b64decode(cabinet.runtime.cabinet.keyring.decrypt(row["archive"]))
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        own = json.loads(archive.read("cabinet.json"))
    (exported,) = own["data"]["leads"]
    assert exported["email"] == email and exported["first_touch"]["campaign"] == campaign
    assert [n["text"] for n in exported["notes"]] == [note]
    assert own["record_counts"]["leads"] == 1

    # Erasure, once the cooling-off period is over: the lead and its history are gone.
    r = await cabinet.client.post("/api/cabinet/me/erasure-requests", headers=me)
    assert r.status_code == 202, r.text
    clock.offset += timedelta(days=cabinet.runtime.settings.erasure_cooling_off_days, hours=1)

    async def erased() -> bool:
        rows = await cabinet.sql("SELECT erased_at FROM users WHERE id = $1", user_id)
        return rows[0]["erased_at"] is not None

    await wait_until(erased, timeout=30)
    lead_id = uuid.UUID(lead["id"])
    assert await cabinet.sql("SELECT 1 FROM leads WHERE id = $1", lead_id) == []
    assert await cabinet.sql("SELECT 1 FROM lead_notes WHERE lead_id = $1", lead_id) == []
    assert await cabinet.sql("SELECT 1 FROM lead_touches WHERE lead_id = $1", lead_id) == []
    # A booking event about the erased user arriving later makes no new lead.
    later = await publish(
        cabinet, AppointmentHeldV1, **facts(user_id, uuid.uuid4(), datetime.now(UTC))
    )
    await handled(cabinet, later)
    assert await cabinet.sql("SELECT 1 FROM leads WHERE user_id = $1", user_id) == []
