"""Consents (booking's copy from cabinet's events), intake forms and outcome records: encrypted
at rest, refused without the health-data consent, seen only by whom they are for."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from contracts.cabinet.v1 import (
    ConsentDocumentPublishedV1,
    ConsentGrantedV1,
    ConsentWithdrawnV1,
    UserRolesChangedV1,
)
from servicekit.testing import wait_until

from .conftest import Booking

pytestmark = pytest.mark.asyncio(loop_scope="session")

TEN = "2026-03-17T07:00:00Z"
HEALTH = "health_data_processing"
DOCUMENT = uuid.uuid4()


async def consent_state(booking: Booking, user: uuid.UUID) -> bool | None:
    rows = await booking.fetch(
        "SELECT granted FROM consents WHERE user_id = $1 AND purpose = $2", user, HEALTH
    )
    return rows[0]["granted"] if rows else None


async def grant(
    booking: Booking, user: uuid.UUID, *, version: int = 2, at: datetime | None = None
) -> None:
    """Grant under version 2 unless told (the outcome test publishes a v2 requiring reconsent)."""
    await booking.publish(
        ConsentGrantedV1(
            consent_id=uuid.uuid4(),
            user_id=user,
            purpose=HEALTH,
            document_id=DOCUMENT,
            document_version=version,
            granted_at=at or booking.clock.now,
        )
    )
    await wait_until(lambda: _is(booking, user, True), timeout=20)


async def withdraw(booking: Booking, user: uuid.UUID, *, at: datetime | None = None) -> None:
    await booking.publish(
        ConsentWithdrawnV1(
            consent_id=uuid.uuid4(),
            user_id=user,
            purpose=HEALTH,
            document_id=DOCUMENT,
            document_version=1,
            withdrawn_at=at or booking.clock.now,
        )
    )
    await wait_until(lambda: _is(booking, user, False), timeout=20)


async def _is(booking: Booking, user: uuid.UUID, granted: bool) -> bool:
    return await consent_state(booking, user) is granted


async def set_specialist(booking: Booking, user: uuid.UUID, holds: bool) -> None:
    """cabinet grants or removes the specialist role; booking's copy follows."""
    roles = ["client", "specialist"] if holds else ["client"]
    await booking.publish(
        UserRolesChangedV1(
            user_id=user,
            roles=roles,
            granted=["specialist"] if holds else [],
            revoked=[] if holds else ["specialist"],
            changed_by_user_id=uuid.uuid4(),
        )
    )

    async def copied() -> bool:
        rows = await booking.fetch("SELECT roles FROM clients WHERE user_id = $1", user)
        return bool(rows) and ("specialist" in rows[0]["roles"]) is holds

    await wait_until(copied, timeout=20)


async def test_consent_copy_follows_the_latest_word(booking: Booking, now: datetime) -> None:
    user = uuid.uuid4()
    await grant(booking, user)
    await withdraw(booking, user, at=now + timedelta(minutes=5))
    # A grant older than the withdrawal arrives late: it does not bring the consent back.
    await booking.publish(
        ConsentGrantedV1(
            consent_id=uuid.uuid4(),
            user_id=user,
            purpose=HEALTH,
            document_id=DOCUMENT,
            document_version=1,
            granted_at=now + timedelta(minutes=1),
        )
    )
    marker = uuid.uuid4()  # a later event on the same queue: once it is in, the late one was too
    await grant(booking, marker)
    assert await consent_state(booking, user) is False


async def test_intake_form_needs_consent_and_stays_between_client_and_specialist(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await booking.practice()
    sid = uuid.UUID(specialist["user_id"])
    client = await booking.register_client()  # a verified email: forms need one
    me = booking.auth("client", sub=client)
    # Not in alphabetical order: answers come back in the form's own order.
    answers = {"сон": 5, "запрос": "тревога по ночам", "аппетит": "обычный"}
    body = {"specialist_id": str(sid), "answers": answers}

    refused = await booking.client.post("/api/booking/intake-forms", json=body, headers=me)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "consent_required"

    await grant(booking, client)
    no_session = await booking.client.post("/api/booking/intake-forms", json=body, headers=me)
    assert no_session.status_code == 409 and no_session.json()["code"] == "no_upcoming_appointment"
    appointment = (await booking.book(service, specialist, TEN, client_id=client)).json()

    r = await booking.client.post("/api/booking/intake-forms", json=body, headers=me)
    assert r.status_code == 201, r.text
    form = r.json()
    assert form["answers"] == body["answers"] and form["appointment_id"] == appointment["id"]
    (raw,) = await booking.fetch(
        "SELECT answers FROM intake_forms WHERE id = $1", uuid.UUID(form["id"])
    )
    assert "тревога" not in raw["answers"] and raw["answers"].startswith("gAAAA")
    (event,) = await booking.events.wait_for("booking.intake.submitted", intake_form_id=form["id"])
    assert event["payload"]["specialist_id"] == str(sid)
    assert "answers" not in event["payload"]
    again = await booking.client.post("/api/booking/intake-forms", json=body, headers=me)
    assert again.status_code == 409 and again.json()["code"] == "intake_exists"

    url = f"/api/booking/intake-forms/{form['id']}"
    theirs = booking.auth("specialist", sub=sid)
    assert (await booking.client.get(url, headers=me)).json()["answers"] == body["answers"]
    assert (await booking.client.get(url, headers=theirs)).json()["answers"] == body["answers"]
    assert list((await booking.client.get(url, headers=theirs)).json()["answers"]) == list(answers)
    for stranger in (booking.auth("client"), booking.auth("specialist"), booking.admin):
        assert (await booking.client.get(url, headers=stranger)).status_code == 404
    listed = await booking.client.get("/api/booking/intake-forms", headers=theirs)
    assert [f["id"] for f in listed.json()["items"]] == [form["id"]]
    assert "answers" not in listed.json()["items"][0]
    others = await booking.client.get("/api/booking/intake-forms", headers=booking.auth("client"))
    assert others.json()["items"] == []

    # The next booking with this specialist needs no intake form.
    second = (
        await booking.book(service, specialist, "2026-03-18T07:00:00Z", client_id=client)
    ).json()
    (confirmed,) = await booking.events.wait_for(
        "booking.appointment.confirmed", appointment_id=second["id"]
    )
    assert confirmed["payload"]["intake_required"] is False

    # The role removed in cabinet: the specialist's token (not yet expired, still naming the
    # role) reads nothing any more. It used to keep reading the forms.
    await set_specialist(booking, sid, False)
    assert (await booking.client.get(url, headers=theirs)).status_code == 404
    listed = await booking.client.get("/api/booking/intake-forms", headers=theirs)
    assert listed.json()["items"] == []
    await set_specialist(booking, sid, True)
    assert (await booking.client.get(url, headers=theirs)).status_code == 200

    await withdraw(booking, client, at=booking.clock.now + timedelta(seconds=1))
    gone = await booking.client.get(url, headers=theirs)
    assert gone.status_code == 403 and gone.json()["code"] == "consent_required"


@pytest.mark.parametrize(
    "answers", [{}, {"x" * 201: "a"}, {"q": {"nested": "no"}}, {"q": "я" * 60_000}]
)
async def test_bad_intake_form_is_422(booking: Booking, answers: dict[str, object]) -> None:
    r = await booking.client.post(
        "/api/booking/intake-forms",
        json={"specialist_id": str(uuid.uuid4()), "answers": answers},
        headers=booking.auth("client"),
    )
    assert r.status_code == 422 and r.json()["code"] == "validation_failed"


async def test_outcome_record_is_the_specialists_alone(booking: Booking, now: datetime) -> None:
    service, specialist = await booking.practice()
    sid = uuid.UUID(specialist["user_id"])
    client = uuid.uuid4()
    await grant(booking, client, version=1)
    appointment = (await booking.book(service, specialist, TEN, client_id=client)).json()
    url = f"/api/booking/appointments/{appointment['id']}/outcome-record"
    theirs = booking.auth("specialist", sub=sid)
    notes = {"notes": "Работали с бессонницей; домашнее задание — дневник сна."}

    early = await booking.client.put(url, json=notes, headers=theirs)
    assert early.status_code == 409 and early.json()["code"] == "session_not_completed"
    booking.clock.set(datetime.fromisoformat("2026-03-17T08:00:00+00:00"))
    done = await booking.client.post(
        f"/api/booking/appointments/{appointment['id']}/complete", headers=theirs
    )
    assert done.status_code == 200

    by_client = await booking.client.put(
        url, json=notes, headers=booking.auth("client", sub=client)
    )
    assert by_client.status_code == 403
    for stranger in (booking.auth("client"), booking.auth("specialist")):
        assert (await booking.client.put(url, json=notes, headers=stranger)).status_code == 404
        assert (await booking.client.get(url, headers=stranger)).status_code == 404
    assert (await booking.client.put(url, json={"notes": ""}, headers=theirs)).status_code == 422

    written = await booking.client.put(url, json=notes, headers=theirs)
    assert written.status_code == 200, written.text
    assert written.json()["notes"] == notes["notes"] and written.json()["version"] == 1
    (raw,) = await booking.fetch(
        "SELECT notes FROM outcome_records WHERE appointment_id = $1", uuid.UUID(appointment["id"])
    )
    assert "бессонниц" not in raw["notes"]
    assert (await booking.client.get(url, headers=theirs)).json()["notes"] == notes["notes"]
    mine = await booking.client.get(url, headers=booking.auth("client", sub=client))
    assert mine.status_code == 403  # the client never sees the notes

    updated = await booking.client.put(url, json={"notes": "Дополнение."}, headers=theirs)
    assert updated.json()["version"] == 2
    # The specialist role removed in cabinet: the notes are out of reach at once.
    await set_specialist(booking, sid, False)
    assert (await booking.client.get(url, headers=theirs)).status_code == 404
    assert (await booking.client.put(url, json=notes, headers=theirs)).status_code == 404
    await set_specialist(booking, sid, True)

    # A new consent document that requires consenting again: the old grant stops counting.
    await booking.publish(
        ConsentDocumentPublishedV1(
            document_id=uuid.uuid4(),
            purpose=HEALTH,
            version=2,
            effective_from=booking.clock.now - timedelta(minutes=1),
            requires_reconsent=True,
        )
    )

    async def refused() -> bool:
        r = await booking.client.get(url, headers=theirs)
        return r.status_code == 403 and r.json()["code"] == "consent_required"

    await wait_until(refused, timeout=20)
    await grant(booking, client, version=2, at=booking.clock.now + timedelta(seconds=1))
    assert (await booking.client.get(url, headers=theirs)).status_code == 200
