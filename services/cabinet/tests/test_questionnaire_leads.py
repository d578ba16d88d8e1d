"""Leads from anonymous questionnaire runs (docs/leads.md, channel ``questionnaire``):
``content.run_contact.left`` arrives through RabbitMQ sealed, exactly as content publishes it;
the lead is credited to the UTM of the page (a known campaign's ``utm_campaign`` names the
campaign), keeps the phone encrypted and the time of the contact consent, and merges by blind
index with the lead of the same email or phone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import pytest
from contracts.content.v1 import RunContactLeftV1
from contracts.envelope import to_wire
from contracts.registry import spec_of
from contracts.testing import example_envelope
from servicekit.messaging.sealing import EventSealer
from servicekit.security.fields import Keyring
from servicekit.settings import DEV_BLIND_INDEX_KEY, DEV_FIELD_KEY

from .conftest import Cabinet
from .test_leads import LEADS, admin, handled, leads_of, new_campaign

pytestmark = pytest.mark.asyncio(loop_scope="session")

CONTENT = EventSealer(Keyring([DEV_FIELD_KEY], DEV_BLIND_INDEX_KEY))  # content's keys


async def contact_left(cabinet: Cabinet, at: datetime, **fields: Any) -> uuid.UUID:
    """content: an anonymous run's taker left a contact (sealed on the wire, as content sends
    it). Returns the event's id."""
    payload = {
        "run_id": uuid.uuid4(),
        "questionnaire_id": uuid.uuid4(),
        "questionnaire_code": "phq9",
        "completed_at": at - timedelta(minutes=1),
        "email": None,
        "phone": None,
        "name": None,
        "utm_source": None,
        "utm_medium": None,
        "utm_campaign": None,
        "consented_at": at,
        **fields,
    }
    envelope = example_envelope(RunContactLeftV1, **payload).model_copy(update={"occurred_at": at})
    body = to_wire(envelope, CONTENT)
    for value in (payload["email"], payload["phone"], payload["name"]):
        assert value is None or value not in body  # sealed
    spec = spec_of(RunContactLeftV1)
    connection = await aio_pika.connect(cabinet.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            spec.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        await exchange.publish(
            aio_pika.Message(
                body.encode(),
                message_id=str(envelope.event_id),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=spec.routing_key,
        )
    return envelope.event_id


async def test_a_questionnaire_contact_is_a_lead_merged_by_phone_and_email(
    cabinet: Cabinet,
) -> None:
    campaign = await new_campaign(cabinet, source="vk", medium="post")
    phone = f"+7912{uuid.uuid4().int % 10_000_000:07d}"
    t0 = datetime.now(UTC) - timedelta(days=3)

    # A phone only, from the campaign's page: a lead credited to the campaign.
    first = await contact_left(
        cabinet, t0, phone=phone, name="Ольга", utm_source="vk", utm_campaign=campaign["campaign"]
    )
    await handled(cabinet, first)
    (lead,) = await leads_of(cabinet, campaign=campaign["campaign"])
    assert (lead["phone"], lead["name"], lead["email"]) == (phone, "Ольга", None)
    assert lead["first_touch"]["channel"] == "questionnaire"
    assert lead["first_touch"]["campaign_id"] == campaign["id"]
    assert lead["first_touch"]["medium"] == "post"  # the campaign's, the page had none
    assert lead["contact_consented_at"] is not None
    created = await cabinet.events("cabinet.lead.created", lead_id=lead["id"])
    assert len(created) == 1 and created[0]["channel"] == "questionnaire"
    assert phone not in str(created[0]) and "Ольга" not in str(created[0])
    (row,) = await cabinet.sql(
        "SELECT phone, phone_index, name FROM leads WHERE id = $1", uuid.UUID(lead["id"])
    )
    assert row["phone"].startswith("gAAAA") and len(row["phone_index"]) == 64
    assert phone[2:] not in str(dict(row)) and "Ольга" not in str(dict(row))

    # Someone registers (their own lead, by email); later a second run of theirs leaves that
    # email and the same phone: one person, one lead, the earliest touch first.
    reg = f"reg-{uuid.uuid4().hex[:8]}"
    email, user_id = await cabinet.register(utm_source="google", utm_campaign=reg)
    second = await contact_left(
        cabinet,
        datetime.now(UTC),
        email=email.upper(),
        phone=phone,
        name="Ольга П.",
        utm_source="instagram",
    )
    await handled(cabinet, second)
    (merged,) = await leads_of(cabinet, campaign=campaign["campaign"])
    assert merged["id"] == lead["id"]
    assert merged["user_id"] == str(user_id) and merged["email"] == email
    assert merged["name"] == "Ольга"  # filled in, never overwritten
    assert merged["last_touch"]["source"] == "instagram"
    assert await leads_of(cabinet, campaign=reg) == []  # the registration's lead merged
    detail = await cabinet.client.get(f"{LEADS}/{lead['id']}", headers=admin(cabinet))
    assert [t["channel"] for t in detail.json()["touches"]] == [
        "questionnaire",
        "registration",
        "questionnaire",
    ]
