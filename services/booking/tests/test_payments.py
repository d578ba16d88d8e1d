"""Prepayment through the YooKassa sandbox: holds, the webhook, late payments, refunds by tiers,
reconciliation, and the client's retries — with the official SDK checking what booking sends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from contracts.cabinet.v1 import EmailVerifiedV1
from servicekit.testing import wait_until
from yookassa.domain.request.payment_request import PaymentRequest
from yookassa.domain.response.payment_response import PaymentResponse

from .conftest import Booking

pytestmark = pytest.mark.asyncio(loop_scope="session")

TEN = "2026-03-17T07:00:00Z"  # 10:00 MSK
WEBHOOK = "/api/booking/payments/yookassa/webhook"


def sandbox(booking: Booking) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=booking.yookassa.base_url, timeout=30)


async def prepaid(booking: Booking, **fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    return await booking.practice(prepayment_required=True, **fields)


async def provider_id(booking: Booking, appointment_id: str) -> str:
    (row,) = await booking.fetch(
        "SELECT provider_payment_id FROM payments WHERE appointment_id = $1",
        uuid.UUID(appointment_id),
    )
    return str(row["provider_payment_id"])


async def status_of(booking: Booking, appointment: dict[str, Any]) -> str:
    r = await booking.client.get(
        f"/api/booking/appointments/{appointment['id']}", headers=booking.admin
    )
    return str(r.json()["status"])


async def hold(
    booking: Booking, service: dict[str, Any], specialist: dict[str, Any], start: str = TEN
) -> tuple[uuid.UUID, dict[str, Any]]:
    client = await booking.register_client()
    r = await booking.book(service, specialist, start, client_id=client)
    assert r.status_code == 201, r.text
    return client, r.json()


async def pay(booking: Booking, appointment: dict[str, Any]) -> None:
    """Pay at the sandbox and wait until the webhook confirmed the appointment."""
    async with sandbox(booking) as yk:
        pid = await provider_id(booking, appointment["id"])
        r = await yk.post(f"/_sandbox/payments/{pid}/succeed")
        assert r.status_code == 200, r.text
    await booking.events.wait_for("booking.appointment.confirmed", appointment_id=appointment["id"])


async def test_prepaid_booking_is_held_with_a_payment_link(booking: Booking, now: datetime) -> None:
    service, specialist = await prepaid(booking)
    _client, appointment = await hold(booking, service, specialist)
    assert appointment["status"] == "held"
    assert appointment["hold_expires_at"] == "2026-03-16T09:10:00Z"
    payment = appointment["payment"]
    assert payment["status"] == "pending" and payment["amount"]["amount"] == 300000
    assert payment["confirmation_url"].startswith(booking.yookassa.base_url)
    (event,) = await booking.events.wait_for(
        "booking.appointment.held", appointment_id=appointment["id"]
    )
    assert event["payload"]["confirmation_url"] == payment["confirmation_url"]
    assert event["payload"]["payment_id"] == payment["id"]
    assert event["payload"]["prepayment_required"] is True

    async with sandbox(booking) as yk:
        (sent,) = (
            await yk.get(
                "/_sandbox/requests", params={"path_prefix": "/v3/payments", "method": "POST"}
            )
        ).json()[-1:]
        fetched = (
            await yk.get(f"/_sandbox/payments/{await provider_id(booking, appointment['id'])}")
        ).json()
    # The official SDK's request model accepts what booking sent (strict), its response model
    # parses what came back.
    body = json.loads(sent["body"])
    PaymentRequest(body).validate()
    assert sent["headers"]["idempotence-key"] == payment["id"]
    assert sent["headers"]["authorization"].startswith("Basic ")
    assert body["amount"] == {"value": "3000.00", "currency": "RUB"}
    # Two-stage: paying only authorises; booking captures while the hold is the client's.
    assert body["capture"] is False
    # The page the client returns to knows which booking it is about.
    assert body["confirmation"]["return_url"].endswith(f"?appointment_id={appointment['id']}")
    assert body["receipt"]["customer"]["email"].startswith("client-")
    assert body["receipt"]["items"][0]["payment_subject"] == "service"
    assert body["metadata"] == {"appointment_id": appointment["id"], "payment_id": payment["id"]}
    parsed = PaymentResponse(fetched)
    assert parsed.status == "pending" and parsed.metadata["payment_id"] == payment["id"]

    taken = await booking.book(service, specialist, TEN, client_id=await booking.register_client())
    assert taken.status_code == 409 and taken.json()["code"] == "slot_taken"


async def test_paying_confirms_once_whatever_the_notifications_do(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await prepaid(booking)
    _, appointment = await hold(booking, service, specialist)
    # Pay on the checkout page, as a person would.
    async with sandbox(booking) as yk:
        page = await yk.post(
            appointment["payment"]["confirmation_url"],
            data={
                "card_number": "5555555555554444",
                "expiry_month": "12",
                "expiry_year": "2030",
                "csc": "123",
                "action": "pay",
            },
        )
        assert page.status_code == 303
        pid = await provider_id(booking, appointment["id"])
        delivered = (
            await yk.get(
                "/_sandbox/notifications",
                params={"object_id": pid, "state": "delivered", "wait": 20},
            )
        ).json()
    (confirmed,) = await booking.events.wait_for(
        "booking.appointment.confirmed", appointment_id=appointment["id"]
    )
    assert confirmed["payload"]["amount_paid"] == {"amount": 300000, "currency": "RUB"}
    assert confirmed["payload"]["payment_id"] == appointment["payment"]["id"]
    assert await status_of(booking, appointment) == "confirmed"

    # The same notification three more times, then a stale waiting_for_capture after success.
    body = delivered[0]["body"]
    for _ in range(3):
        r = await booking.client.post(WEBHOOK, json=body)
        assert r.status_code == 200
    stale = {
        **body,
        "event": "payment.waiting_for_capture",
        "object": {**body["object"], "status": "waiting_for_capture"},
    }
    assert (await booking.client.post(WEBHOOK, json=stale)).status_code == 200
    await booking.settled()
    assert (
        len(booking.events.of("booking.appointment.confirmed", appointment_id=appointment["id"]))
        == 1
    )
    assert (
        len(booking.events.of("booking.payment.succeeded", appointment_id=appointment["id"])) == 1
    )
    assert await status_of(booking, appointment) == "confirmed"


async def test_forged_and_foreign_notifications_change_nothing(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await prepaid(booking)
    _, appointment = await hold(booking, service, specialist)
    pid = await provider_id(booking, appointment["id"])
    forged = {
        "type": "notification",
        "event": "payment.succeeded",
        "object": {
            "id": pid,
            "status": "succeeded",
            "paid": True,
            "amount": {"value": "3000.00", "currency": "RUB"},
        },
    }
    # From an address outside the allow-list: refused, nothing fetched, nothing changed.
    outsider = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=booking.svc.app, client=("203.0.113.7", 4000)),
        base_url="http://booking",
    )
    async with outsider:
        r = await outsider.post(WEBHOOK, json=forged)
        assert r.status_code == 403
        # A forwarded header is not believed from an untrusted peer.
        r = await outsider.post(WEBHOOK, json=forged, headers={"X-Forwarded-For": "127.0.0.1"})
        assert r.status_code == 403
    # From an allowed address, but YooKassa says the payment is still pending: ignored.
    assert (await booking.client.post(WEBHOOK, json=forged)).status_code == 200
    unknown = {
        **forged,
        "object": {**forged["object"], "id": "2f000000-000f-5000-8000-000000000000"},
    }
    assert (await booking.client.post(WEBHOOK, json=unknown)).status_code == 200
    bad = await booking.client.post(WEBHOOK, content=b"not json")
    assert bad.status_code == 400
    await booking.settled()
    assert await status_of(booking, appointment) == "held"
    assert booking.events.of("booking.payment.succeeded", appointment_id=appointment["id"]) == []


async def test_trusted_proxy_forwarded_address_is_checked(booking: Booking, now: datetime) -> None:
    settings = booking.svc.runtime.settings
    proxied = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=booking.svc.app, client=("10.1.2.3", 4000)),
        base_url="http://booking",
    )
    body = {
        "type": "notification",
        "event": "payment.succeeded",
        "object": {"id": "2f000000-000f-5000-8000-000000000001"},
    }
    settings.trusted_proxies = ["10.0.0.0/8"]  # type: ignore[attr-defined]
    settings.yookassa_webhook_allowlist = ["185.71.76.0/27"]  # type: ignore[attr-defined]
    try:
        async with proxied:
            ok = await proxied.post(
                WEBHOOK, json=body, headers={"X-Forwarded-For": "185.71.76.5, 10.0.0.9"}
            )
            spoofed = await proxied.post(
                WEBHOOK, json=body, headers={"X-Forwarded-For": "198.51.100.1"}
            )
    finally:
        settings.trusted_proxies = []  # type: ignore[attr-defined]
        settings.yookassa_webhook_allowlist = ["127.0.0.1"]  # type: ignore[attr-defined]
    assert ok.status_code == 200  # allowed, and the unknown object is ignored
    assert spoofed.status_code == 403


async def payment_of(booking: Booking, appointment: dict[str, Any]) -> dict[str, Any]:
    r = await booking.client.get(
        f"/api/booking/appointments/{appointment['id']}", headers=booking.admin
    )
    payment: dict[str, Any] = r.json()["payment"]
    return payment


async def test_unpaid_hold_expires_frees_the_slot_and_a_late_payment_takes_no_money(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await prepaid(booking)
    _, appointment = await hold(booking, service, specialist)
    booking.clock.advance(minutes=10, seconds=1)
    await booking.svc.runtime.timers.run_due()
    (expired,) = await booking.events.wait_for(
        "booking.appointment.expired", appointment_id=appointment["id"]
    )
    assert expired["payload"]["payment_id"] == appointment["payment"]["id"]
    assert await status_of(booking, appointment) == "expired"
    # The client's view of the money never stays "pending" once the hold is gone.
    assert (await payment_of(booking, appointment))["status"] == "canceled"
    free = await booking.slots(service, specialist, **{"from": TEN, "to": "2026-03-17T08:00:00Z"})
    assert free == [TEN]
    _other, second = await hold(booking, service, specialist)
    assert second["status"] == "held"

    # The first client pays after all (YooKassa kept the pending payment open): the money is
    # only authorised, and booking releases it at once; nothing is captured or refunded.
    async with sandbox(booking) as yk:
        pid = await provider_id(booking, appointment["id"])
        assert (await yk.post(f"/_sandbox/payments/{pid}/succeed")).status_code == 200
        (voided,) = await booking.events.wait_for(
            "booking.payment.failed", appointment_id=appointment["id"]
        )
        assert voided["payload"]["reason"] == "hold_ended"
        assert voided["payload"]["hold_expires_at"] is None
        at_yookassa = (await yk.get(f"/_sandbox/payments/{pid}")).json()
        assert at_yookassa["status"] == "canceled"
        assert at_yookassa["cancellation_details"]["reason"] == "canceled_by_merchant"
        assert (await yk.get("/_sandbox/refunds", params={"payment_id": pid})).json() == []
        captures = (
            await yk.get(
                "/_sandbox/requests",
                params={"path_prefix": f"/v3/payments/{pid}/capture", "method": "POST"},
            )
        ).json()
        assert captures == []
    assert booking.events.of("booking.payment.succeeded", appointment_id=appointment["id"]) == []
    assert booking.events.of("booking.refund.succeeded", appointment_id=appointment["id"]) == []
    assert await status_of(booking, appointment) == "expired"  # the slot stayed the other's
    assert await status_of(booking, second) == "held"
    assert (await payment_of(booking, appointment))["status"] == "canceled"


async def test_a_hold_paid_while_notifications_are_lost_is_confirmed_at_its_expiry(
    booking: Booking, now: datetime
) -> None:
    """YooKassa's notification never comes and the hold's time runs out: booking asks YooKassa
    before expiring, finds the money authorised, captures it and confirms; nothing refunded."""
    service, specialist = await prepaid(booking)
    _, appointment = await hold(booking, service, specialist)
    notifier = booking.yookassa.fake.notifier
    url = notifier.webhook_url
    notifier.set_webhook_url(None)
    try:
        booking.clock.advance(minutes=6)  # the first reconciliation finds it unpaid
        await booking.svc.runtime.timers.run_due()
        assert await status_of(booking, appointment) == "held"
        async with sandbox(booking) as yk:
            pid = await provider_id(booking, appointment["id"])
            assert (await yk.post(f"/_sandbox/payments/{pid}/succeed")).status_code == 200
            booking.clock.advance(minutes=4, seconds=1)  # the hold is due before the next check
            await booking.svc.runtime.timers.run_due()
            await wait_until(lambda: _confirmed(booking, appointment), timeout=20)
            assert (await yk.get(f"/_sandbox/payments/{pid}")).json()["status"] == "succeeded"
            assert (await yk.get("/_sandbox/refunds", params={"payment_id": pid})).json() == []
    finally:
        notifier.set_webhook_url(url)
    assert booking.events.of("booking.appointment.expired", appointment_id=appointment["id"]) == []
    (paid,) = await booking.events.wait_for(
        "booking.payment.succeeded", appointment_id=appointment["id"]
    )
    assert paid["payload"]["late"] is False
    assert (await payment_of(booking, appointment))["status"] == "succeeded"


async def test_a_cancelled_hold_cancels_its_payment_at_once(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await prepaid(booking)
    client, appointment = await hold(booking, service, specialist)
    r = await booking.client.post(
        f"/api/booking/appointments/{appointment['id']}/cancel",
        json={},
        headers=booking.auth("client", sub=client),
    )
    assert r.status_code == 200, r.text
    (cancelled,) = await booking.events.wait_for(
        "booking.appointment.cancelled", appointment_id=appointment["id"]
    )
    # Nothing was paid: no refund is promised or started.
    assert cancelled["payload"]["refund_amount"]["amount"] == 0
    assert cancelled["payload"]["refund_id"] is None
    assert (await payment_of(booking, appointment))["status"] == "canceled"
    async with sandbox(booking) as yk:
        pid = await provider_id(booking, appointment["id"])
        # A client who still pays on the open checkout page gets the authorisation released.
        assert (await yk.post(f"/_sandbox/payments/{pid}/succeed")).status_code == 200
        await booking.events.wait_for("booking.payment.failed", appointment_id=appointment["id"])
        page = await yk.get(appointment["payment"]["confirmation_url"])
        assert (await yk.get(f"/_sandbox/payments/{pid}")).json()["status"] == "canceled"
        assert (await yk.get("/_sandbox/refunds", params={"payment_id": pid})).json() == []
        # ...and the checkout page no longer takes a card for it.
        again = await yk.post(
            appointment["payment"]["confirmation_url"], data={"card_number": "5555555555554444"}
        )
        assert again.status_code == 409, page.text


@contextlib.asynccontextmanager
async def timers_paused(booking: Booking) -> Any:
    """Stop the background timer worker for a while (its timers stay due)."""
    runtime = booking.svc.runtime
    task = next(t for t in runtime._tasks if t.get_name() == "timers")
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    runtime._tasks.remove(task)
    try:
        yield
    finally:
        runtime._tasks.append(asyncio.create_task(runtime.timers.run(), name="timers"))


async def test_a_lapsed_prepaid_hold_waits_for_its_timer_to_ask_yookassa(
    booking: Booking, now: datetime
) -> None:
    """A hold past its time may have been paid in time; only its expiry timer, which asks
    YooKassa first, may end it. Until then its slot stays taken; afterwards it is free."""
    service, specialist = await prepaid(booking)
    async with timers_paused(booking):
        _, first = await hold(booking, service, specialist)
        booking.clock.advance(minutes=11)
        client = await booking.register_client()
        taken = await booking.book(service, specialist, TEN, client_id=client)
        assert taken.status_code == 409 and taken.json()["code"] == "slot_taken"
        assert await status_of(booking, first) == "held"
    await booking.events.wait_for("booking.appointment.expired", appointment_id=first["id"])
    assert await status_of(booking, first) == "expired"
    _, second = await hold(booking, service, specialist)
    assert second["status"] == "held"


async def test_declined_payment_is_reported_and_the_hold_stays(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await prepaid(booking)
    _, appointment = await hold(booking, service, specialist)
    async with sandbox(booking) as yk:
        pid = await provider_id(booking, appointment["id"])
        r = await yk.post(
            f"/_sandbox/payments/{pid}/cancel",
            json={"reason": "insufficient_funds", "party": "payment_network"},
        )
        assert r.status_code == 200
    (failed,) = await booking.events.wait_for(
        "booking.payment.failed", appointment_id=appointment["id"]
    )
    assert failed["payload"]["reason"] == "insufficient_funds"
    assert failed["payload"]["hold_expires_at"] == appointment["hold_expires_at"]
    assert await status_of(booking, appointment) == "held"

    # The client tries again with another card: a new payment for the rest of the same hold.
    client = uuid.UUID(appointment["client_id"])
    me = booking.auth("client", sub=client)
    url = f"/api/booking/appointments/{appointment['id']}/payment"
    stranger = await booking.client.post(url, headers=booking.auth("client"))
    assert stranger.status_code == 404
    again = await booking.client.post(url, headers=me)
    assert again.status_code == 201, again.text
    retry = again.json()["payment"]
    assert retry["status"] == "pending" and retry["id"] != appointment["payment"]["id"]
    assert retry["confirmation_url"] != appointment["payment"]["confirmation_url"]
    assert again.json()["hold_expires_at"] == appointment["hold_expires_at"]  # not extended
    twice = await booking.client.post(url, headers=me)
    assert twice.status_code == 409 and twice.json()["code"] == "payment_open"
    async with sandbox(booking) as yk:
        page = await yk.post(retry["confirmation_url"], data={"card_number": "5555555555554444"})
        assert page.status_code == 303
    await booking.events.wait_for("booking.appointment.confirmed", appointment_id=appointment["id"])
    assert (await payment_of(booking, appointment))["status"] == "succeeded"
    done = await booking.client.post(url, headers=me)
    assert done.status_code == 409 and done.json()["code"] == "not_held"


async def test_cancellation_refunds_follow_the_tiers_at_their_boundaries(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await prepaid(
        booking,
        cancellation_tiers=[
            {"min_notice_minutes": 48 * 60, "refund_percent": 100},
            {"min_notice_minutes": 24 * 60, "refund_percent": 50},
        ],
    )
    start = datetime.fromisoformat("2026-03-20T07:00:00+00:00")
    cases = [  # (offset of the start, notice at cancellation, who, refunded kopecks)
        (0, timedelta(hours=48), "client", 300000),
        (1, timedelta(hours=48) - timedelta(seconds=1), "client", 150000),
        (2, timedelta(hours=24), "client", 150000),
        (3, timedelta(hours=24) - timedelta(seconds=1), "client", 0),
        (4, timedelta(hours=1), "specialist", 300000),
    ]
    booked = []
    for hour, *_ in cases:
        booking.clock.set(now)
        at = (start + timedelta(hours=hour)).isoformat().replace("+00:00", "Z")
        client, appointment = await hold(booking, service, specialist, at)
        await pay(booking, appointment)
        booked.append((client, appointment))
    for (hour, notice, who, refunded), (client, appointment) in zip(cases, booked, strict=True):
        booking.clock.set(start + timedelta(hours=hour) - notice)
        headers = (
            booking.auth("client", sub=client)
            if who == "client"
            else booking.auth("specialist", sub=uuid.UUID(specialist["user_id"]))
        )
        r = await booking.client.post(
            f"/api/booking/appointments/{appointment['id']}/cancel", json={}, headers=headers
        )
        assert r.status_code == 200, r.text
        (event,) = await booking.events.wait_for(
            "booking.appointment.cancelled", appointment_id=appointment["id"]
        )
        assert event["payload"]["refund_amount"]["amount"] == refunded, (hour, notice)
        assert event["payload"]["cancelled_by"] == who
        if refunded:
            (refund,) = await booking.events.wait_for(
                "booking.refund.succeeded", appointment_id=appointment["id"]
            )
            assert refund["payload"]["amount"]["amount"] == refunded
            assert refund["payload"]["reason"] == f"{who}_cancellation"
        else:
            assert event["payload"]["late_cancellation"] is True
            assert event["payload"]["refund_id"] is None
    async with sandbox(booking) as yk:
        no_refund = await provider_id(booking, booked[3][1]["id"])
        assert (await yk.get("/_sandbox/refunds", params={"payment_id": no_refund})).json() == []
    detail = await booking.client.get(
        f"/api/booking/appointments/{booked[1][1]['id']}", headers=booking.admin
    )
    assert detail.json()["payment"]["refunded"]["amount"] == 150000


async def test_reconciliation_settles_a_payment_whose_notification_never_came(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await prepaid(booking)
    _, appointment = await hold(booking, service, specialist)
    notifier = booking.yookassa.fake.notifier
    url = notifier.webhook_url
    notifier.set_webhook_url(None)
    try:
        async with sandbox(booking) as yk:
            pid = await provider_id(booking, appointment["id"])
            assert (await yk.post(f"/_sandbox/payments/{pid}/succeed")).status_code == 200
        await booking.settled()
        assert await status_of(booking, appointment) == "held"
        assert (
            booking.events.of("booking.payment.succeeded", appointment_id=appointment["id"]) == []
        )
        booking.clock.advance(minutes=6)  # reconciliation (5 min here) is due before expiry
        await wait_until(lambda: _confirmed(booking, appointment), timeout=20)
    finally:
        notifier.set_webhook_url(url)


async def _confirmed(booking: Booking, appointment: dict[str, Any]) -> bool:
    return await status_of(booking, appointment) == "confirmed"


async def test_yookassa_retries_use_the_same_key_and_an_outage_releases_the_hold(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await prepaid(booking)
    async with sandbox(booking) as yk:
        await yk.post(
            "/_sandbox/faults",
            json={
                "method": "POST",
                "path": "^/v3/payments$",
                "status": 429,
                "times": 1,
                "headers": {"Retry-After": "0"},
            },
        )
        await yk.post(
            "/_sandbox/faults",
            json={
                "method": "POST",
                "path": "^/v3/payments$",
                "status": 202,
                "times": 1,
                "body": {"type": "processing", "retry_after": 10},
            },
        )
        since = (await yk.get("/_sandbox/requests")).json()
        last_id = since[-1]["id"] if since else 0
        _, appointment = await hold(booking, service, specialist)
        attempts = (
            await yk.get(
                "/_sandbox/requests",
                params={"path_prefix": "/v3/payments", "method": "POST", "since_id": last_id},
            )
        ).json()
        assert [a["response_status"] for a in attempts] == [429, 202, 200]
        assert {a["headers"]["idempotence-key"] for a in attempts} == {appointment["payment"]["id"]}

        # YooKassa down for every attempt: the hold is released and the client told.
        await yk.post(
            "/_sandbox/faults",
            json={"method": "POST", "path": "^/v3/payments$", "status": 500, "times": 10},
        )
        client = await booking.register_client()
        r = await booking.book(
            service, specialist, "2026-03-17T09:00:00Z", client_id=client, key="outage-1"
        )
        assert r.status_code == 503 and r.json()["code"] == "payment_unavailable"
        await yk.delete("/_sandbox/faults")
        # A 400 is never retried.
        await yk.post(
            "/_sandbox/faults",
            json={
                "method": "POST",
                "path": "^/v3/payments$",
                "status": 400,
                "times": 1,
                "body": {"type": "error", "code": "invalid_request"},
            },
        )
        before = len(
            (await yk.get("/_sandbox/requests", params={"path_prefix": "/v3/payments"})).json()
        )
        refused = await booking.book(service, specialist, "2026-03-17T10:00:00Z", client_id=client)
        after = len(
            (await yk.get("/_sandbox/requests", params={"path_prefix": "/v3/payments"})).json()
        )
        assert refused.status_code == 503 and after - before == 1
    # The slot is free again, and the same key runs again (no half-finished request is kept).
    again = await booking.book(
        service, specialist, "2026-03-17T09:00:00Z", client_id=client, key="outage-1"
    )
    assert again.status_code == 201, again.text
    (held,) = await booking.events.wait_for("booking.appointment.held", client_id=client)
    assert held["payload"]["starts_at"] == "2026-03-17T09:00:00Z"


async def test_prepayment_needs_the_clients_contacts(booking: Booking, now: datetime) -> None:
    service, specialist = await prepaid(booking)
    # booking heard that their email is verified, but not (yet) their contacts.
    client = uuid.uuid4()
    await booking.publish(
        EmailVerifiedV1(user_id=client, email="late@example.org", verified_at=booking.clock.now)
    )

    async def verified() -> bool:
        record = await booking.booking_knows(client)
        return record is not None and record["email_verified"] is True

    await wait_until(verified, timeout=20)
    booking.known.add(client)
    r = await booking.book(service, specialist, TEN, client_id=client)
    assert r.status_code == 409 and r.json()["code"] == "client_unknown"


def cancelled_refund(pid: str, n: int) -> dict[str, Any]:
    """What YooKassa answers when a refund is refused (the bank's network cancelled it)."""
    return {
        "method": "POST",
        "path": "^/v3/refunds$",
        "status": 200,
        "times": 1,
        "body": {
            "id": f"2f6c1a7e-0015-5000-8000-{uuid.uuid4().hex[:12]}",
            "payment_id": pid,
            "status": "canceled",
            "amount": {"value": "3000.00", "currency": "RUB"},
            "created_at": "2026-03-16T09:00:00.000Z",
            "cancellation_details": {"party": "refund_network", "reason": "rejected_by_payee"},
        },
    }


async def paid_then_cancelled(booking: Booking, faults: int) -> tuple[dict[str, Any], str]:
    """A paid appointment the specialist cancels while YooKassa refuses ``faults`` refunds."""
    service, specialist = await prepaid(booking)
    _, appointment = await hold(booking, service, specialist)
    await pay(booking, appointment)
    async with sandbox(booking) as yk:
        pid = await provider_id(booking, appointment["id"])
        for n in range(faults):
            assert (await yk.post("/_sandbox/faults", json=cancelled_refund(pid, n))).is_success
    r = await booking.client.post(
        f"/api/booking/appointments/{appointment['id']}/cancel",
        json={},
        headers=booking.auth("specialist", sub=uuid.UUID(specialist["user_id"])),
    )
    assert r.status_code == 200, r.text
    return appointment, pid


async def test_a_refund_yookassa_cancels_is_tried_again_and_then_succeeds(
    booking: Booking, now: datetime
) -> None:
    appointment, pid = await paid_then_cancelled(booking, faults=1)
    await wait_until(
        lambda: _refund_statuses(booking, appointment, ["canceled", "requested"]), timeout=20
    )
    assert booking.events.of("booking.refund.succeeded", appointment_id=appointment["id"]) == []
    booking.clock.advance(minutes=31)  # the second attempt is due half an hour later
    await booking.svc.runtime.timers.run_due()
    (done,) = await booking.events.wait_for(
        "booking.refund.succeeded", appointment_id=appointment["id"]
    )
    assert done["payload"]["amount"] == {"amount": 300000, "currency": "RUB"}
    async with sandbox(booking) as yk:
        refunds = (await yk.get("/_sandbox/refunds", params={"payment_id": pid})).json()
    assert [r["amount"]["value"] for r in refunds] == ["3000.00"]  # once, not twice
    assert booking.events.of("booking.refund.failed", appointment_id=appointment["id"]) == []


async def test_a_refund_that_keeps_failing_alerts_the_admins(
    booking: Booking, now: datetime
) -> None:
    appointment, pid = await paid_then_cancelled(booking, faults=3)
    for tried, wait in ((1, 31), (2, 61)):  # the retries come later each time
        statuses = ["canceled"] * tried + ["requested"]
        await wait_until(
            lambda s=statuses: _refund_statuses(booking, appointment, s),  # type: ignore[misc]
            timeout=20,
        )
        booking.clock.advance(minutes=wait)
        await booking.svc.runtime.timers.run_due()
    (failed,) = await booking.events.wait_for(
        "booking.refund.failed", appointment_id=appointment["id"]
    )
    assert failed["payload"]["attempts"] == 3
    assert failed["payload"]["reason"] == "rejected_by_payee"
    assert failed["payload"]["amount"] == {"amount": 300000, "currency": "RUB"}
    assert await _refund_statuses(booking, appointment, ["canceled"] * 3)
    async with sandbox(booking) as yk:
        assert (await yk.get("/_sandbox/refunds", params={"payment_id": pid})).json() == []
    assert booking.events.of("booking.refund.succeeded", appointment_id=appointment["id"]) == []


async def _refund_statuses(
    booking: Booking, appointment: dict[str, Any], expected: list[str]
) -> bool:
    rows = await booking.fetch(
        "SELECT status FROM refunds WHERE appointment_id = $1 ORDER BY attempt",
        uuid.UUID(appointment["id"]),
    )
    return [r["status"] for r in rows] == expected
