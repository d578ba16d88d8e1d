"""Who booking lets do what, from its copy of cabinet's users: specialists are real cabinet users
holding the specialist role, only a verified email books or submits a form, nobody books
themselves, and a specialist gives only their own or shared services."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
from contracts.cabinet.v1 import (
    EmailVerifiedV1,
    SpecialistProfileUpdatedV1,
    UserContactChangedV1,
    UserRolesChangedV1,
)
from servicekit.testing import wait_until

from .conftest import Booking

pytestmark = pytest.mark.asyncio(loop_scope="session")

DAY = {"from": "2026-03-17T00:00:00+03:00", "to": "2026-03-18T00:00:00+03:00"}
TEN = "2026-03-17T07:00:00Z"  # 10:00 MSK
NOON = "2026-03-17T09:00:00Z"


async def roles(booking: Booking, user_id: uuid.UUID, *now: str) -> None:
    """cabinet changed the user's roles; wait until booking knows."""
    before = await booking.booking_knows(user_id)
    had = set(before["roles"]) if before else set()
    await booking.publish(
        UserRolesChangedV1(
            user_id=user_id,
            roles=list(now),
            granted=sorted(set(now) - had),
            revoked=sorted(had - set(now)),
            changed_by_user_id=uuid.uuid4(),
        )
    )

    async def arrived() -> bool:
        record = await booking.booking_knows(user_id)
        return record is not None and sorted(record["roles"]) == sorted(now)

    await wait_until(arrived, timeout=20)


async def post_specialist(booking: Booking, user_id: uuid.UUID, **fields: Any) -> Any:
    return await booking.client.post(
        "/api/booking/specialists",
        json={"user_id": str(user_id), "weekly_hours": [], **fields},
        headers=booking.admin,
    )


async def test_a_specialist_record_needs_a_cabinet_user_holding_the_role(booking: Booking) -> None:
    unknown = await post_specialist(booking, uuid.uuid4(), display_name="Никто")
    assert unknown.status_code == 422
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["code"] == "unknown_user"
    assert unknown.json()["errors"][0]["loc"] == ["body", "user_id"]

    client = await booking.know()  # a registered client, no specialist role
    plain = await post_specialist(booking, client)
    assert (plain.status_code, plain.json()["code"]) == (422, "not_a_specialist")
    assert "POST /api/cabinet/users/{id}/roles" in plain.json()["detail"]
    assert (await booking.client.get(f"/api/booking/specialists/{client}")).status_code == 404

    await roles(booking, client, "client", "specialist")  # an admin granted it in cabinet
    made = await post_specialist(booking, client)
    assert made.status_code == 201, made.text
    assert made.json()["display_name"] == "Мария Иванова"  # the user's name, from cabinet


async def test_revoking_the_role_hides_the_specialist_and_granting_it_brings_them_back(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await booking.practice()
    sid = uuid.UUID(specialist["user_id"])
    url = f"/api/booking/specialists/{sid}"
    assert TEN in await booking.slots(service, specialist, **DAY)

    await roles(booking, sid, "client")  # the admin removed the specialist role in cabinet
    hidden = await booking.client.get(
        "/api/booking/slots",
        params={"service_id": service["id"], "specialist_id": str(sid), **DAY},
    )
    assert hidden.status_code == 404  # slot search no longer knows them
    everyone = await booking.client.get(
        "/api/booking/slots", params={"service_id": service["id"], **DAY}
    )
    assert everyone.status_code == 200 and everyone.json()["items"] == []
    listed = await booking.client.get("/api/booking/specialists", params={"limit": 200})
    assert str(sid) not in [s["user_id"] for s in listed.json()["items"]]
    assert (await booking.client.get(url)).status_code == 404
    by_client = await booking.client.get(url, headers=booking.auth("client"))
    assert by_client.status_code == 404
    seen_by_admin = await booking.client.get(url, headers=booking.admin)
    assert seen_by_admin.status_code == 200 and seen_by_admin.json()["active"] is False
    refused = await booking.book(service, specialist, TEN)
    assert refused.status_code == 404
    back_on = await booking.client.patch(url, json={"active": True}, headers=booking.admin)
    assert (back_on.status_code, back_on.json()["code"]) == (422, "not_a_specialist")

    await roles(booking, sid, "client", "specialist")
    assert (await booking.client.get(url)).json()["active"] is True
    assert TEN in await booking.slots(service, specialist, **DAY)


async def test_cabinet_profile_feeds_the_one_catalogue(booking: Booking) -> None:
    service = await booking.create_service()
    sid = await booking.know(roles=("client", "specialist"))
    await booking.publish(
        SpecialistProfileUpdatedV1(
            specialist_id=sid,
            display_name="Ольга Смирнова",
            bio="КПТ",
            photo_url="https://cdn.example/olga.jpg",
            time_zone="Europe/Berlin",
            service_ids=[uuid.UUID(service["id"])],  # not cabinet's to say: booking attaches
            active=True,
        )
    )
    url = f"/api/booking/specialists/{sid}"

    async def present() -> bool:
        return (await booking.client.get(url)).status_code == 200

    await wait_until(present, timeout=20)
    got = (await booking.client.get(url)).json()
    assert (got["display_name"], got["bio"], got["photo_url"], got["time_zone"]) == (
        "Ольга Смирнова",
        "КПТ",
        "https://cdn.example/olga.jpg",
        "Europe/Berlin",
    )
    assert (got["weekly_hours"], got["service_ids"]) == ([], [])
    listed = await booking.client.get("/api/booking/specialists", params={"limit": 200})
    (item,) = [s for s in listed.json()["items"] if s["user_id"] == str(sid)]
    assert item["photo_url"] == "https://cdn.example/olga.jpg"

    attached = await booking.client.patch(
        url, json={"service_ids": [service["id"]]}, headers=booking.admin
    )
    assert attached.status_code == 200, attached.text
    await booking.publish(
        SpecialistProfileUpdatedV1(
            specialist_id=sid,
            display_name="Ольга Смирнова-Кузнецова",
            time_zone="Asia/Tokyo",  # her account's zone changed: the schedule's zone does not
            active=True,
        )
    )

    async def renamed() -> bool:
        body = (await booking.client.get(url)).json()
        return bool(body["display_name"] == "Ольга Смирнова-Кузнецова")

    await wait_until(renamed, timeout=20)
    got = (await booking.client.get(url)).json()
    assert (got["time_zone"], got["service_ids"], got["photo_url"]) == (
        "Europe/Berlin",
        [service["id"]],
        None,
    )


async def test_a_specialist_gives_only_their_own_or_shared_services(booking: Booking) -> None:
    shared = await booking.create_service()  # an admin's: anyone may give it
    anna = await booking.create_specialist()
    boris = await booking.create_specialist()
    anna_id, boris_id = uuid.UUID(anna["user_id"]), uuid.UUID(boris["user_id"])
    as_anna = booking.auth("specialist", sub=anna_id)
    as_boris = booking.auth("specialist", sub=boris_id)
    r = await booking.client.post(
        "/api/booking/services",
        json={
            "name": "Сессия Анны",
            "durations_minutes": [50],
            "price": {"amount": 100000},
            "format": "online",
        },
        headers=as_anna,
    )
    assert r.status_code == 201, r.text
    annas = r.json()["id"]

    for headers in (as_boris, booking.admin):
        taken = await booking.client.patch(
            f"/api/booking/specialists/{boris_id}",
            json={"service_ids": [shared["id"], annas]},
            headers=headers,
        )
        assert (taken.status_code, taken.json()["code"]) == (422, "foreign_service")
        assert annas in taken.json()["errors"][0]["msg"]
    created = await post_specialist(
        booking, await booking.know(roles=("client", "specialist")), service_ids=[annas]
    )
    assert (created.status_code, created.json()["code"]) == (422, "foreign_service")
    borises = await booking.client.get(f"/api/booking/specialists/{boris_id}")
    assert borises.json()["service_ids"] == []

    fine = await booking.client.patch(
        f"/api/booking/specialists/{boris_id}",
        json={"service_ids": [shared["id"]]},
        headers=as_boris,
    )
    assert fine.status_code == 200 and fine.json()["service_ids"] == [shared["id"]]
    own = await booking.client.patch(
        f"/api/booking/specialists/{anna_id}",
        json={"service_ids": [annas, shared["id"]]},
        headers=as_anna,
    )
    assert own.status_code == 200 and own.json()["service_ids"] == [annas, shared["id"]]


async def test_a_specialist_cannot_book_their_own_slot(booking: Booking, now: datetime) -> None:
    service, specialist = await booking.practice()
    sid = uuid.UUID(specialist["user_id"])
    own = await booking.book(service, specialist, TEN, client_id=sid)
    assert own.status_code == 409
    assert own.headers["content-type"] == "application/problem+json"
    assert own.json()["code"] == "own_slot"
    assert (await booking.book(service, specialist, TEN)).status_code == 201  # someone else


async def test_only_a_verified_email_books_and_submits_an_intake_form(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await booking.practice()
    body = {"service_id": service["id"], "specialist_id": specialist["user_id"]}
    stranger = booking.auth("client", sub=uuid.uuid4())  # cabinet never told booking of them
    r = await booking.client.post(
        "/api/booking/appointments", json={**body, "starts_at": TEN}, headers=stranger
    )
    assert (r.status_code, r.json()["code"]) == (403, "email_not_verified")

    client = await booking.know(verified=False)
    me = booking.tokens.auth("client", sub=client, lang="en")
    refused = await booking.client.post(
        "/api/booking/appointments", json={**body, "starts_at": TEN}, headers=me
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["code"] == "email_not_verified"
    assert "POST /api/cabinet/email-verifications/resend" in problem["detail"]
    form = {"specialist_id": specialist["user_id"], "answers": {"запрос": "сон"}}
    intake = await booking.client.post("/api/booking/intake-forms", json=form, headers=me)
    assert (intake.status_code, intake.json()["code"]) == (403, "email_not_verified")
    rows = await booking.fetch(
        "SELECT count(*) AS n FROM appointments WHERE client_id = $1", client
    )
    assert rows[0]["n"] == 0

    await booking.publish(
        EmailVerifiedV1(
            user_id=client,
            email=f"client-{client.hex[:8]}@example.org",
            verified_at=booking.clock.now,
        )
    )

    async def verified() -> bool:
        record = await booking.booking_knows(client)
        return record is not None and record["email_verified"] is True

    await wait_until(verified, timeout=20)
    booked = await booking.client.post(
        "/api/booking/appointments", json={**body, "starts_at": TEN}, headers=me
    )
    assert booked.status_code == 201, booked.text

    # A new address is unverified again until its owner confirms it.
    await booking.publish(
        UserContactChangedV1(
            user_id=client,
            email="new-address@example.org",
            email_verified=False,
            name="Мария Иванова",
            time_zone="Europe/Moscow",
            language="ru",
            changed_fields=["email"],
        )
    )

    async def unverified() -> bool:
        record = await booking.booking_knows(client)
        return record is not None and record["email_verified"] is False

    await wait_until(unverified, timeout=20)
    again = await booking.client.post(
        "/api/booking/appointments", json={**body, "starts_at": NOON}, headers=me
    )
    assert (again.status_code, again.json()["code"]) == (403, "email_not_verified")
