"""Consent gates health data across services: cabinet records the word, booking obeys it.

A client without the health-data consent cannot submit an intake form; after granting (in
cabinet) they can; after withdrawing they cannot — the grant and the withdrawal reach booking as
events through RabbitMQ.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from servicekit.testing import wait_until

from ..conftest import Stack

pytestmark = pytest.mark.asyncio(loop_scope="session")
LINK = re.compile(r"http://127\.0\.0\.1:8080/verify-email#token=([A-Za-z0-9_\-]+)")
EVERY_DAY_9_TO_18 = [{"weekday": d, "start": "09:00", "end": "18:00"} for d in range(1, 8)]


async def _register(stack: Stack, name: str = "Вера") -> tuple[uuid.UUID, str]:
    email = f"gate.{uuid.uuid4().hex[:8]}@example.com"
    r = await stack["cabinet"].client.post(
        "/api/cabinet/registrations",
        json={"email": email, "password": "correct horse battery", "name": name},
    )
    assert r.status_code == 202
    found = await stack["cabinet"].client.post(
        "/api/cabinet/users/search", json={"email": email}, headers=stack.auth("admin")
    )
    return uuid.UUID(found.json()["items"][0]["id"]), email


async def _verify_by_mail(stack: Stack, email: str) -> None:
    """Open the link notify mailed (as the user would)."""

    async def link() -> str | None:
        for message in stack.mail.messages(to=email):
            if found := LINK.search(message.text or ""):
                return found.group(1)
        return None

    await wait_until(link, timeout=30)
    token = await link()
    r = await stack["cabinet"].client.post(
        "/api/cabinet/email-verifications", json={"token": token}
    )
    assert r.status_code == 204


async def _specialist(stack: Stack, service_id: str) -> str:
    """A real specialist: a cabinet user an admin gives the specialist role, then a booking
    record for them (booking refuses it until the role has reached it)."""
    user_id, _ = await _register(stack, name="Анна Петрова")
    admin = stack.auth("admin")
    granted = await stack["cabinet"].client.post(
        f"/api/cabinet/users/{user_id}/roles", json={"role": "specialist"}, headers=admin
    )
    assert granted.status_code == 200
    body = {
        "user_id": str(user_id),
        "time_zone": "Europe/Moscow",
        "weekly_hours": EVERY_DAY_9_TO_18,
        "service_ids": [service_id],
    }

    async def created() -> bool:
        r = await stack["booking"].client.post("/api/booking/specialists", json=body, headers=admin)
        assert r.status_code in (201, 422), r.text
        return r.status_code == 201

    await wait_until(created, timeout=20)
    return str(user_id)


async def _first_session(stack: Stack, client: uuid.UUID, email: str) -> tuple[str, str]:
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
    specialist = {"user_id": await _specialist(stack, service["id"])}
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
    request = {
        "service_id": service["id"],
        "specialist_id": specialist["user_id"],
        "starts_at": starts_at,
    }
    me = stack.auth("client", sub=client)
    unverified = await booking.post("/api/booking/appointments", headers=me, json=request)
    assert (unverified.status_code, unverified.json()["code"]) == (403, "email_not_verified")
    await _verify_by_mail(stack, email)

    async def booked_once_verified() -> bool:
        r = await booking.post("/api/booking/appointments", headers=me, json=request)
        assert r.status_code in (201, 403), r.text
        return r.status_code == 201

    await wait_until(booked_once_verified, timeout=20)
    booked = (await booking.get("/api/booking/appointments", headers=me)).json()["items"][0]
    return specialist["user_id"], booked["id"]


async def test_intake_form_follows_the_consent_given_in_cabinet(stack: Stack) -> None:
    client, email = await _register(stack)
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
    specialist_id, _ = await _first_session(stack, client, email)
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
