"""booking at the HTTP edge: ids from YooKassa's notifications are checked before any URL is made
of them, and inputs that used to end in a 500 are refused with a 422."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx

from .conftest import Booking
from .test_payments import WEBHOOK, hold, prepaid, sandbox


async def _yookassa_reads(booking: Booking) -> list[dict[str, Any]]:
    async with sandbox(booking) as yk:
        sent = await yk.get("/_sandbox/requests", params={"method": "GET", "limit": 1000})
    return [r for r in sent.json() if r["path"].startswith(("/v3/payments/", "/v3/refunds/"))]


async def test_notifications_with_malformed_or_unknown_ids_are_ignored_and_call_nothing(
    booking: Booking, now: datetime
) -> None:
    before = len(await _yookassa_reads(booking))
    unknown = "2f000000-000f-5000-8000-00000000dead"
    for event, given in [
        ("payment.succeeded", "../refunds/2f000000-0015-5000-8000-000000000000"),
        ("payment.succeeded", "2f000000-000f-5000-8000-000000000000?x=1"),
        ("payment.succeeded", "2f000000%2F000f"),
        ("payment.succeeded", 12345),
        ("payment.succeeded", {"id": "nested"}),
        ("payment.succeeded", "A" * 5000),
        ("payment.succeeded", unknown),  # well-formed, but no payment of ours
        ("refund.succeeded", "2f000000-0015-5000-8000-00000000dead"),
        ("refund.succeeded", "../payments/x"),
    ]:
        body = {"type": "notification", "event": event, "object": {"id": given}}
        r = await booking.client.post(WEBHOOK, json=body)
        assert r.status_code == 200, (given, r.text)
        assert r.json() == {"status": "ignored"}, given
    assert len(await _yookassa_reads(booking)) == before  # YooKassa was asked nothing


async def test_a_notification_about_our_payment_is_still_checked_at_yookassa(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await prepaid(booking)
    _, appointment = await hold(booking, service, specialist)
    (row,) = await booking.fetch(
        "SELECT provider_payment_id FROM payments WHERE appointment_id = $1",
        uuid.UUID(appointment["id"]),
    )
    before = len(await _yookassa_reads(booking))
    body = {
        "type": "notification",
        "event": "payment.succeeded",
        "object": {"id": row["provider_payment_id"]},
    }
    r = await booking.client.post(WEBHOOK, json=body)
    assert r.status_code == 200 and r.json() == {"status": "ok"}, r.text
    reads = await _yookassa_reads(booking)
    assert [r["path"] for r in reads[before:]] == [f"/v3/payments/{row['provider_payment_id']}"]


async def test_a_deeply_nested_notification_is_refused_not_a_server_error(
    booking: Booking,
) -> None:
    deep = '{"event": "payment.succeeded", "object": ' + "[" * 100_000 + "]" * 100_000 + "}"
    r = await booking.client.post(
        WEBHOOK, content=deep, headers={"content-type": "application/json"}
    )
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "bad_notification"


async def test_a_forged_forwarded_for_from_an_untrusted_peer_passes_no_allow_list(
    booking: Booking,
) -> None:
    """The test client's peer (127.0.0.1) is no configured proxy (TRUSTED_PROXIES is empty by
    default): its X-Forwarded-For naming a YooKassa address is not believed."""
    settings = booking.svc.runtime.settings
    assert settings.trusted_proxies == []
    settings.yookassa_webhook_allowlist = ["185.71.76.0/27"]  # type: ignore[attr-defined]
    try:
        body = {"type": "notification", "event": "payment.succeeded", "object": {"id": "x"}}
        r = await booking.client.post(
            WEBHOOK, json=body, headers={"X-Forwarded-For": "185.71.76.5"}
        )
    finally:
        settings.yookassa_webhook_allowlist = ["127.0.0.1"]  # type: ignore[attr-defined]
    assert r.status_code == 403, r.text


# ---- inputs that were a 500 -------------------------------------------------------------------


async def test_a_cancellation_reason_with_nul_is_a_422(booking: Booking, now: datetime) -> None:
    service, specialist = await booking.practice()
    client_id = uuid.uuid4()
    starts = await booking.slots(service, specialist)
    r = await booking.book(service, specialist, starts[0], client_id=client_id)
    assert r.status_code == 201, r.text
    r = await booking.client.post(
        f"/api/booking/appointments/{r.json()['id']}/cancel",
        json={"reason": "заболела\u0000"},
        headers=booking.auth("client", sub=client_id),
    )
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_failed"
    assert r.json()["errors"][0]["loc"] == ["body", "reason"]


async def test_slot_search_near_year_1_or_9999_is_a_422(booking: Booking) -> None:
    service, specialist = await booking.practice()
    for window in [
        {"from": "0001-01-01T00:00:00+05:00"},
        {"from": "0001-01-01T00:00:00Z", "to": "0001-01-03T00:00:00Z"},
        {"from": "9999-12-31T20:00:00-05:00"},
        {"from": "9999-12-25T00:00:00Z", "to": "9999-12-31T23:59:59Z"},
    ]:
        r = await booking.client.get(  # anonymous, as anyone may search
            "/api/booking/slots",
            params={"service_id": service["id"], "specialist_id": specialist["user_id"], **window},
        )
        assert r.status_code == 422, (window, r.text)
        assert r.json()["code"] == "validation_failed"


async def test_a_price_beyond_bigint_is_a_422(booking: Booking) -> None:
    for amount in (2**63, 2**64 + 1, 10**30):
        r = await booking.client.post(
            "/api/booking/services",
            json={
                "name": "Консультация",
                "durations_minutes": [50],
                "price": {"amount": amount, "currency": "RUB"},
                "format": "online",
            },
            headers=booking.admin,
        )
        assert r.status_code == 422, (amount, r.text)
        assert r.json()["errors"][0]["loc"] == ["body", "price", "amount"]


async def test_a_huge_body_is_a_413_problem(booking: Booking) -> None:
    big = "x" * (booking.svc.runtime.settings.max_request_bytes + 1)
    r = await booking.client.post(
        "/api/booking/services", json={"name": big}, headers=booking.admin
    )
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "payload_too_large"


async def test_api_answers_are_not_stored_and_not_sniffed(booking: Booking) -> None:
    for r in [
        await booking.client.get("/api/booking/services"),
        await booking.client.get("/api/booking/appointments", headers=booking.auth("client")),
        await booking.client.get("/api/booking/appointments"),  # a 401 problem
    ]:
        assert r.headers["cache-control"] == "no-store", r.request.url
        assert r.headers["x-content-type-options"] == "nosniff"
    docs = await booking.client.get("/docs")
    assert docs.status_code == 200
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
    assert docs.headers["x-content-type-options"] == "nosniff"
    assert isinstance(docs, httpx.Response)
