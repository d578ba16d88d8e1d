"""The client diary: private by default, encrypted at rest, consent-gated; shared per entry or
all at once with the client's specialists (known from booking's events), unshared at once;
another specialist never sees it; the mood trend on the questionnaire trend's time axis."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import pytest
from contracts.booking.v1 import AppointmentConfirmedV1
from contracts.registry import spec_of
from contracts.testing import example_envelope
from contracts.types import Money
from pydantic import BaseModel
from servicekit.testing import wait_until

from .conftest import Cabinet

pytestmark = pytest.mark.asyncio(loop_scope="session")

HEALTH, TRANSFER = "health_data_processing", "transfer_to_specialist"
SECRET_TEXT = "Сегодня снова думала о работе и плохо спала"


async def publish(cabinet: Cabinet, payload: BaseModel) -> None:
    """An event as its producer publishes it (to its exchange, with its routing key)."""
    spec = spec_of(type(payload))
    envelope = example_envelope(type(payload), **payload.model_dump())
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


async def appointment(cabinet: Cabinet, client: uuid.UUID, specialist: uuid.UUID) -> uuid.UUID:
    """booking confirms an appointment between them; cabinet's copy follows."""
    starts = datetime.now(UTC) + timedelta(days=1)
    appointment_id = uuid.uuid4()
    await publish(
        cabinet,
        AppointmentConfirmedV1(
            appointment_id=appointment_id,
            client_id=client,
            service_id=uuid.uuid4(),
            service_name="Консультация",
            specialist_id=specialist,
            specialist_name="Анна Петрова",
            format="online",
            starts_at=starts,
            ends_at=starts + timedelta(minutes=50),
            specialist_time_zone="Europe/Moscow",
            price=Money(amount=300000),
            intake_required=False,
            reschedule_count=0,
        ),
    )

    async def copied() -> bool:
        rows = await cabinet.sql(
            "SELECT 1 FROM appointments WHERE appointment_id = $1", appointment_id
        )
        return bool(rows)

    await wait_until(copied, timeout=20)
    return appointment_id


async def consent(cabinet: Cabinet, user_id: uuid.UUID, *purposes: str) -> None:
    """The user consents to the documents in effect (published first if there are none)."""
    me = cabinet.tokens.auth("client", sub=user_id)
    docs = (await cabinet.client.get("/api/cabinet/consent-documents")).json()["items"]
    by_purpose = {d["purpose"]: d["id"] for d in docs}
    for purpose in purposes:
        if purpose not in by_purpose:
            r = await cabinet.client.post(
                "/api/cabinet/consent-documents",
                headers=cabinet.tokens.auth("admin"),
                json={"purpose": purpose, "title": "Согласие", "text": "Текст"},
            )
            assert r.status_code == 201, r.text
            by_purpose[purpose] = r.json()["id"]
        r = await cabinet.client.post(
            "/api/cabinet/me/consents", headers=me, json={"document_id": by_purpose[purpose]}
        )
        assert r.status_code == 201, r.text


async def user(cabinet: Cabinet, *purposes: str) -> tuple[uuid.UUID, dict[str, str]]:
    _, user_id = await cabinet.register()
    if purposes:
        await consent(cabinet, user_id, *purposes)
    return user_id, cabinet.tokens.auth("client", sub=user_id)


def entry(**extra: Any) -> dict[str, Any]:
    return {
        "date": "2026-12-01",
        "mood": 4,
        "emotions": ["anxiety", "tiredness"],
        "tags": ["работа"],
        "sleep_hours": 5.5,
        "text": SECRET_TEXT,
        **extra,
    }


async def test_an_entry_needs_the_health_consent_and_is_ciphertext_at_rest(
    cabinet: Cabinet,
) -> None:
    _, me = await user(cabinet)
    refused = await cabinet.client.post("/api/cabinet/me/diary-entries", headers=me, json=entry())
    assert (refused.status_code, refused.json()["code"]) == (403, "consent_required")

    client_id, me = await user(cabinet, HEALTH)
    written = await cabinet.client.post("/api/cabinet/me/diary-entries", headers=me, json=entry())
    assert written.status_code == 201, written.text
    body = written.json()
    assert (body["mood"], body["text"], body["shared"]) == (4, SECRET_TEXT, False)

    [raw] = await cabinet.sql("SELECT * FROM diary_entries WHERE id = $1", uuid.UUID(body["id"]))
    row = " ".join(str(v) for v in dict(raw).values())
    for plain in (SECRET_TEXT, "anxiety", "работа", '"mood"'):
        assert plain not in row
    assert raw["body"].startswith("gAAAAA")  # a Fernet token

    bad = await cabinet.client.post(
        "/api/cabinet/me/diary-entries", headers=me, json=entry(emotions=["smug"], mood=11)
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "validation_failed")

    # Someone else's entry does not exist for another client.
    _, other = await user(cabinet, HEALTH)
    got = await cabinet.client.get(f"/api/cabinet/me/diary-entries/{body['id']}", headers=other)
    assert got.status_code == 404
    assert client_id  # the owner reads it
    own = await cabinet.client.get(f"/api/cabinet/me/diary-entries/{body['id']}", headers=me)
    assert own.json()["text"] == SECRET_TEXT


async def test_sharing_and_unsharing_change_what_the_specialist_sees_at_once(
    cabinet: Cabinet,
) -> None:
    client_id, me = await user(cabinet, HEALTH, TRANSFER)
    specialist = uuid.uuid4()
    stranger = uuid.uuid4()
    appointment_id = await appointment(cabinet, client_id, specialist)
    as_specialist = cabinet.tokens.auth("specialist", sub=specialist)
    as_stranger = cabinet.tokens.auth("specialist", sub=stranger)
    url = f"/api/cabinet/clients/{client_id}/diary-entries"

    linked = await cabinet.client.post(
        "/api/cabinet/me/diary-entries",
        headers=me,
        json=entry(appointment_id=str(appointment_id)),
    )
    assert linked.status_code == 201, linked.text
    private = await cabinet.client.post(
        "/api/cabinet/me/diary-entries", headers=me, json=entry(mood=8, text="личное")
    )
    first, second = linked.json()["id"], private.json()["id"]
    # Not someone else's appointment.
    foreign = await cabinet.client.post(
        "/api/cabinet/me/diary-entries", headers=me, json=entry(appointment_id=str(uuid.uuid4()))
    )
    assert (foreign.status_code, foreign.json()["code"]) == (422, "unknown_appointment")

    seen = await cabinet.client.get(url, headers=as_specialist)
    assert (seen.status_code, seen.json()["items"]) == (200, [])  # private by default

    shared = await cabinet.client.post(f"/api/cabinet/me/diary-entries/{first}/share", headers=me)
    assert shared.json()["shared"] is True
    items = (await cabinet.client.get(url, headers=as_specialist)).json()["items"]
    assert [i["id"] for i in items] == [first]
    assert items[0]["text"] == SECRET_TEXT

    # Another specialist never sees any of it.
    assert (await cabinet.client.get(url, headers=as_stranger)).status_code == 404
    trend_url = f"/api/cabinet/clients/{client_id}/mood-trend"
    assert (await cabinet.client.get(trend_url, headers=as_stranger)).status_code == 404

    # The specialist's trend shows what was shared, with their session on the same axis.
    trend = (await cabinet.client.get(trend_url, headers=as_specialist)).json()
    assert [p["entry_id"] for p in trend["points"]] == [first]
    assert [s["appointment_id"] for s in trend["sessions"]] == [str(appointment_id)]
    own = (await cabinet.client.get(trend_url, headers=me)).json()
    assert sorted(p["mood"] for p in own["points"]) == [4, 8]

    everything = await cabinet.client.post("/api/cabinet/me/diary-entries/share-all", headers=me)
    assert everything.json()["changed"] == 1
    items = (await cabinet.client.get(url, headers=as_specialist)).json()["items"]
    assert {i["id"] for i in items} == {first, second}

    await cabinet.client.post(f"/api/cabinet/me/diary-entries/{second}/unshare", headers=me)
    items = (await cabinet.client.get(url, headers=as_specialist)).json()["items"]
    assert [i["id"] for i in items] == [first]
    await cabinet.client.post("/api/cabinet/me/diary-entries/unshare-all", headers=me)
    assert (await cabinet.client.get(url, headers=as_specialist)).json()["items"] == []

    # Withdrawing the transfer consent stops the specialist at once.
    await cabinet.client.post(f"/api/cabinet/me/diary-entries/{first}/share", headers=me)
    withdrawn = await cabinet.client.post(
        f"/api/cabinet/me/consents/{TRANSFER}/withdraw", headers=me
    )
    assert withdrawn.status_code == 200
    refused = await cabinet.client.get(url, headers=as_specialist)
    assert (refused.status_code, refused.json()["code"]) == (403, "consent_required")


async def test_a_client_edits_and_deletes_their_entries(cabinet: Cabinet) -> None:
    _, me = await user(cabinet, HEALTH)
    made = await cabinet.client.post("/api/cabinet/me/diary-entries", headers=me, json=entry())
    entry_id = made.json()["id"]
    changed = await cabinet.client.patch(
        f"/api/cabinet/me/diary-entries/{entry_id}",
        headers=me,
        json={"body": {"mood": 7, "emotions": ["calm"], "text": "лучше"}},
    )
    assert (changed.json()["mood"], changed.json()["text"]) == (7, "лучше")
    listed = (await cabinet.client.get("/api/cabinet/me/diary-entries", headers=me)).json()
    assert [i["id"] for i in listed["items"]] == [entry_id]
    gone = await cabinet.client.delete(f"/api/cabinet/me/diary-entries/{entry_id}", headers=me)
    assert gone.status_code == 204
    assert await cabinet.sql("SELECT 1 FROM diary_entries WHERE id = $1", uuid.UUID(entry_id)) == []
