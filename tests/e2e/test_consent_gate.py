"""Consent gates health data across services: cabinet records the word, booking obeys it.

A client without the health-data consent cannot submit an intake form; after granting (in
cabinet) they can; after withdrawing they cannot — the grant and the withdrawal reach booking as
events through RabbitMQ.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from servicekit.testing import wait_until

from ..conftest import Stack

pytestmark = pytest.mark.asyncio(loop_scope="session")
EVERY_DAY_9_TO_18 = [{"weekday": d, "start": "09:00", "end": "18:00"} for d in range(1, 8)]


async def _register(stack: Stack) -> uuid.UUID:
    email = f"gate.{uuid.uuid4().hex[:8]}@example.com"
    r = await stack["cabinet"].client.post(
        "/api/cabinet/registrations",
        json={"email": email, "password": "correct horse battery", "name": "Вера"},
    )
    assert r.status_code == 202
    found = await stack["cabinet"].client.get(
        "/api/cabinet/users", params={"email": email}, headers=stack.auth("admin")
    )
    return uuid.UUID(found.json()["items"][0]["id"])


async def _first_session(stack: Stack, client: uuid.UUID) -> tuple[str, str]:
    booking, admin = stack["booking"].client, stack.auth("admin")
    service = (
        await booking.post(
            "/api/booking/services",
            headers=admin,
            json={
                "name": f"Первичная консультация {uuid.uuid4().hex[:4]}",
                "durations_minutes": [50],
                "price": {"amount": 300000, "currency": "RUB"},
                "format": "online",
                "min_notice_minutes": 0,
                "slot_step_minutes": 60,
            },
        )
    ).json()
    specialist = (
        await booking.post(
            "/api/booking/specialists",
            headers=admin,
            json={
                "user_id": str(uuid.uuid4()),
                "display_name": "Анна Петрова",
                "time_zone": "Europe/Moscow",
                "weekly_hours": EVERY_DAY_9_TO_18,
                "service_ids": [service["id"]],
            },
        )
    ).json()
    start = datetime.now(UTC) + timedelta(days=1)
    slots = (
        await booking.get(
            "/api/booking/slots",
            params={
                "service_id": service["id"],
                "specialist_id": specialist["user_id"],
                "from": start.isoformat(),
                "to": (start + timedelta(days=2)).isoformat(),
                "tz": "Europe/Moscow",
            },
        )
    ).json()
    first = slots["items"][0]
    starts_at = first.get("starts_at") or first.get("start")
    booked = await booking.post(
        "/api/booking/appointments",
        headers=stack.auth("client", sub=client),
        json={
            "service_id": service["id"],
            "specialist_id": specialist["user_id"],
            "starts_at": starts_at,
        },
    )
    assert booked.status_code == 201, booked.text
    return specialist["user_id"], booked.json()["id"]


async def test_intake_form_follows_the_consent_given_in_cabinet(stack: Stack) -> None:
    client = await _register(stack)
    me = stack.auth("client", sub=client)
    cabinet, booking = stack["cabinet"].client, stack["booking"].client
    doc = (
        await cabinet.post(
            "/api/cabinet/consent-documents",
            headers=stack.auth("admin"),
            json={
                "purpose": "health_data_processing",
                "title": "Согласие",
                "text": "Обработка данных о здоровье",
            },
        )
    ).json()

    async def booking_knows_client() -> bool:
        return (await booking.get(f"/api/booking/clients/{client}", headers=me)).status_code == 200

    await wait_until(booking_knows_client, timeout=20)
    specialist_id, _ = await _first_session(stack, client)
    form = {"specialist_id": specialist_id, "answers": {"запрос": "бессонница"}}

    refused = await booking.post("/api/booking/intake-forms", json=form, headers=me)
    assert (refused.status_code, refused.json()["code"]) == (403, "consent_required")

    granted = await cabinet.post(
        "/api/cabinet/me/consents", headers=me, json={"document_id": doc["id"]}
    )
    assert granted.status_code == 201

    async def accepted() -> bool:
        r = await booking.post("/api/booking/intake-forms", json=form, headers=me)
        return r.status_code == 201

    await wait_until(accepted, timeout=20)

    withdrawn = await cabinet.post(
        "/api/cabinet/me/consents/health_data_processing/withdraw", headers=me
    )
    assert withdrawn.json()["status"] == "withdrawn"

    async def refused_again() -> bool:
        r = await booking.post("/api/booking/intake-forms", json=form, headers=me)
        return r.status_code == 403 and r.json()["code"] == "consent_required"

    await wait_until(refused_again, timeout=20)
