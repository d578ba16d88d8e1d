"""Waitlist and Telegram buttons: freed slots offered in order, the first acceptance wins, an
expired offer moves on; confirm / cancel / accept from notify's action events."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import pytest
from contracts.notify.v1 import TelegramActionRequestedV1

from .conftest import Booking

pytestmark = pytest.mark.asyncio(loop_scope="session")

TEN = "2026-03-17T07:00:00Z"
WINDOW = [{"from": "2026-03-17T05:00:00Z", "to": "2026-03-17T15:00:00Z"}]


async def join(
    booking: Booking, service: dict[str, Any], client: uuid.UUID, **extra: Any
) -> dict[str, Any]:
    if client not in booking.known:
        await booking.know(client)  # a verified email: accepting an offer books
    r = await booking.client.post(
        "/api/booking/waitlist",
        json={"service_id": service["id"], "windows": WINDOW, **extra},
        headers=booking.auth("client", sub=client),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def accept(booking: Booking, offer_id: str, client: uuid.UUID) -> Any:
    return await booking.client.post(
        f"/api/booking/waitlist/offers/{offer_id}/accept",
        headers=booking.auth("client", sub=client),
    )


async def cancel(booking: Booking, appointment: dict[str, Any], client: uuid.UUID) -> None:
    r = await booking.client.post(
        f"/api/booking/appointments/{appointment['id']}/cancel",
        json={},
        headers=booking.auth("client", sub=client),
    )
    assert r.status_code == 200, r.text


async def offers_to(booking: Booking, clients: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    found = {}
    for client in clients:
        (event,) = await booking.events.wait_for("booking.waitlist.offer_made", client_id=client)
        found[client] = event["payload"]["offer_id"]
    return found


async def test_a_freed_slot_goes_to_the_first_waiting_and_one_acceptance_wins(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await booking.practice()
    holder = uuid.uuid4()
    taken = (await booking.book(service, specialist, TEN, client_id=holder)).json()
    waiting = [uuid.uuid4() for _ in range(4)]
    for client in waiting:
        await join(booking, service, client, specialist_id=specialist["user_id"])
    await cancel(booking, taken, holder)

    offers = await offers_to(booking, waiting[:3])  # three at once, in order
    made = booking.events.of("booking.waitlist.offer_made", starts_at=TEN)
    assert {e["payload"]["client_id"] for e in made} >= {str(c) for c in waiting[:3]}
    assert booking.events.of("booking.waitlist.offer_made", client_id=waiting[3]) == []
    first = booking.events.of("booking.waitlist.offer_made", client_id=waiting[0])[0]["payload"]
    assert (
        first["service_name"] == service["name"] and first["expires_at"] == "2026-03-16T09:30:00Z"
    )

    # Someone else may not accept your offer.
    assert (await accept(booking, offers[waiting[0]], waiting[1])).status_code == 404

    results = await asyncio.gather(*(accept(booking, offers[c], c) for c in waiting[:3]))
    won = [r for r in results if r.status_code == 201]
    lost = [r for r in results if r.status_code == 409]
    assert (len(won), len(lost)) == (1, 2)
    assert {r.json()["code"] for r in lost} <= {"offer_expired", "slot_taken"}
    appointment = won[0].json()
    assert appointment["starts_at"] == TEN and appointment["status"] == "confirmed"
    (confirmed,) = await booking.events.wait_for(
        "booking.appointment.confirmed", appointment_id=appointment["id"]
    )
    assert confirmed["payload"]["waitlist_offer_id"] in offers.values()
    winner = uuid.UUID(appointment["client_id"])
    for loser in (c for c in waiting[:3] if c != winner):
        (gone,) = await booking.events.wait_for("booking.waitlist.offer_expired", client_id=loser)
        assert gone["payload"]["reason"] == "taken"
    assert booking.events.of("booking.waitlist.offer_made", client_id=waiting[3]) == []


async def test_an_expired_offer_moves_to_the_next_client(booking: Booking, now: datetime) -> None:
    service, specialist = await booking.practice()
    holder = uuid.uuid4()
    taken = (await booking.book(service, specialist, TEN, client_id=holder)).json()
    waiting = [uuid.uuid4() for _ in range(4)]
    for client in waiting:
        await join(booking, service, client)  # any specialist
    await cancel(booking, taken, holder)
    await offers_to(booking, waiting[:3])
    booking.clock.advance(minutes=31)
    await booking.svc.runtime.timers.run_due()
    for client in waiting[:3]:
        (gone,) = await booking.events.wait_for("booking.waitlist.offer_expired", client_id=client)
        assert gone["payload"]["reason"] == "timed_out"
    (last,) = (await offers_to(booking, waiting[3:])).values()
    r = await accept(booking, last, waiting[3])
    assert r.status_code == 201, r.text
    # The first clients are never offered the same slot again.
    assert all(
        len(booking.events.of("booking.waitlist.offer_made", client_id=c)) == 1 for c in waiting[:3]
    )


async def test_booking_the_slot_directly_withdraws_open_offers(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await booking.practice()
    holder, waiter = uuid.uuid4(), uuid.uuid4()
    taken = (await booking.book(service, specialist, TEN, client_id=holder)).json()
    await join(booking, service, waiter)
    await cancel(booking, taken, holder)
    offer = (await offers_to(booking, [waiter]))[waiter]
    assert (await booking.book(service, specialist, TEN)).status_code == 201
    (gone,) = await booking.events.wait_for("booking.waitlist.offer_expired", client_id=waiter)
    assert gone["payload"]["reason"] == "slot_unavailable"
    late = await accept(booking, offer, waiter)
    assert late.status_code == 409 and late.json()["code"] == "offer_expired"


async def test_waitlist_entries_are_the_clients_own(booking: Booking, now: datetime) -> None:
    service, _specialist = await booking.practice()
    client = uuid.uuid4()
    entry = await join(booking, service, client)
    assert entry["status"] == "waiting" and entry["duration_minutes"] == 50
    # The window has free time already: the answer says so, to book instead of waiting.
    assert [s["starts_at"] for s in entry["free_slots"]][:2] == [
        "2026-03-17T06:00:00Z",
        "2026-03-17T07:00:00Z",
    ]
    assert {s["specialist_id"] for s in entry["free_slots"]} == {_specialist["user_id"]}
    mine = booking.auth("client", sub=client)
    listed = await booking.client.get("/api/booking/waitlist", headers=mine)
    assert [e["id"] for e in listed.json()["items"]] == [entry["id"]]
    other = booking.auth("client")
    assert (
        await booking.client.get(f"/api/booking/waitlist/{entry['id']}", headers=other)
    ).status_code == 404
    assert (
        await booking.client.delete(f"/api/booking/waitlist/{entry['id']}", headers=other)
    ).status_code == 404
    assert (
        await booking.client.delete(f"/api/booking/waitlist/{entry['id']}", headers=mine)
    ).status_code == 204
    gone = await booking.client.get(f"/api/booking/waitlist/{entry['id']}", headers=mine)
    assert gone.json()["status"] == "left"
    listed = await booking.client.get("/api/booking/waitlist", headers=mine)
    assert [e["status"] for e in listed.json()["items"]] == ["left"]
    bad = [
        {"service_id": service["id"], "windows": []},
        {
            "service_id": service["id"],
            "windows": [{"from": "2026-03-17T10:00:00Z", "to": "2026-03-17T09:00:00Z"}],
        },
        {
            "service_id": service["id"],
            "windows": [{"from": "2026-03-01T10:00:00Z", "to": "2026-03-02T09:00:00Z"}],
        },
        {"service_id": service["id"], "windows": WINDOW, "duration_minutes": 45},
    ]
    for body in bad:
        r = await booking.client.post("/api/booking/waitlist", json=body, headers=mine)
        assert r.status_code == 422, body
    unknown = await booking.client.post(
        "/api/booking/waitlist",
        json={"service_id": str(uuid.uuid4()), "windows": WINDOW},
        headers=mine,
    )
    assert unknown.status_code == 404


def action(client: uuid.UUID, kind: str, **target: Any) -> TelegramActionRequestedV1:
    return TelegramActionRequestedV1(action_id=uuid.uuid4(), action=kind, user_id=client, **target)


async def test_telegram_buttons_confirm_cancel_and_refusals(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await booking.practice()
    client = uuid.uuid4()
    appointment = (await booking.book(service, specialist, TEN, client_id=client)).json()
    aid = appointment["id"]

    confirm = action(client, "confirm_attendance", appointment_id=aid)
    cause = await booking.publish(confirm)
    (done,) = await booking.events.wait_for(
        "booking.appointment.attendance_confirmed", appointment_id=aid
    )
    assert done["causation_id"] == str(cause)
    assert done["payload"]["confirmed_via"] == "telegram"

    again = action(client, "confirm_attendance", appointment_id=aid)
    cause = await booking.publish(again)
    (refused,) = await booking.events.wait_for("booking.action.rejected", action_id=again.action_id)
    assert refused["payload"]["reason"] == "already_done" and refused["causation_id"] == str(cause)

    stranger = action(uuid.uuid4(), "cancel_appointment", appointment_id=aid)
    await booking.publish(stranger)
    (refused,) = await booking.events.wait_for(
        "booking.action.rejected", action_id=stranger.action_id
    )
    assert refused["payload"]["reason"] == "not_found"

    await booking.publish(action(client, "cancel_appointment", appointment_id=aid))
    (cancelled,) = await booking.events.wait_for(
        "booking.appointment.cancelled", appointment_id=aid
    )
    assert cancelled["payload"]["cancelled_by"] == "client"
    twice = action(client, "cancel_appointment", appointment_id=aid)
    await booking.publish(twice)
    (refused,) = await booking.events.wait_for("booking.action.rejected", action_id=twice.action_id)
    assert refused["payload"]["reason"] == "already_done"


async def test_accepting_a_prepaid_offer_in_telegram_holds_and_sends_the_link(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await booking.practice(prepayment_required=True)
    holder = await booking.register_client()
    first, second = await booking.register_client(), await booking.register_client()
    held = (await booking.book(service, specialist, TEN, client_id=holder)).json()
    await join(booking, service, first)
    await join(booking, service, second)
    await cancel(booking, held, holder)
    offers = await offers_to(booking, [first, second])

    accepted = action(first, "accept_waitlist_offer", waitlist_offer_id=offers[first])
    await booking.publish(accepted)
    (hold,) = await booking.events.wait_for(
        "booking.appointment.held", waitlist_offer_id=offers[first]
    )
    assert hold["payload"]["client_id"] == str(first)
    assert hold["payload"]["confirmation_url"].startswith(booking.yookassa.base_url)
    late = action(second, "accept_waitlist_offer", waitlist_offer_id=offers[second])
    await booking.publish(late)
    (refused,) = await booking.events.wait_for("booking.action.rejected", action_id=late.action_id)
    assert refused["payload"]["reason"] == "offer_expired"
    (gone,) = await booking.events.wait_for("booking.waitlist.offer_expired", client_id=second)
    assert gone["payload"]["reason"] == "taken"
