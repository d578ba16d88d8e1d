"""The whole account flow as a person lives it, across cabinet, notify and booking:
register → the verification link arrives by email (through notify, in the SMTP sink) → verify →
log in → call booking with the access token → refresh → log out."""

from __future__ import annotations

import re
import uuid

import pytest
from servicekit.testing import wait_until

from ..conftest import Stack

pytestmark = pytest.mark.asyncio(loop_scope="session")
# Mail links lead to the public origin (the gateway), not to a service's own port.
LINK = re.compile(r"http://127\.0\.0\.1:8080/verify-email#token=([A-Za-z0-9_\-]+)")


async def test_register_verify_by_email_login_use_refresh_logout(stack: Stack) -> None:
    email = f"olga.{uuid.uuid4().hex[:8]}@example.com"
    cabinet, booking = stack["cabinet"].client, stack["booking"].client
    r = await cabinet.post(
        "/api/cabinet/registrations",
        json={
            "email": email,
            "password": "correct horse battery",
            "name": "Ольга",
            "language": "ru",
            "time_zone": "Asia/Novosibirsk",
        },
    )
    assert r.status_code == 202

    async def mails() -> list[object]:
        return [m for m in stack.mail.messages(to=email) if LINK.search(m.text or "")]

    await wait_until(mails, timeout=30)
    (mail,) = await mails()
    token = LINK.search(mail.text or "").group(1)  # type: ignore[attr-defined,union-attr]
    assert mail.to_addresses == [email]  # type: ignore[attr-defined]

    assert (
        await cabinet.post("/api/cabinet/email-verifications", json={"token": token})
    ).status_code == 204
    session = (
        await cabinet.post(
            "/api/cabinet/sessions", json={"email": email, "password": "correct horse battery"}
        )
    ).json()
    auth = {"Authorization": f"Bearer {session['access_token']}"}
    me = (await cabinet.get("/api/cabinet/me", headers=auth)).json()
    assert me["email_verified"] is True
    user_id = me["id"]

    async def booking_serves_me() -> bool:
        r = await booking.get(f"/api/booking/clients/{user_id}", headers=auth)
        return r.status_code == 200 and r.json()["email_verified"] is True

    await wait_until(booking_serves_me, timeout=20)
    assert (await booking.get("/api/booking/appointments", headers=auth)).status_code == 200

    refreshed = await cabinet.post(
        "/api/cabinet/sessions/refresh", json={"refresh_token": session["refresh_token"]}
    )
    assert refreshed.status_code == 200
    out = await cabinet.post(
        "/api/cabinet/sessions/logout", json={"refresh_token": refreshed.json()["refresh_token"]}
    )
    assert out.status_code == 204
    after = await cabinet.post(
        "/api/cabinet/sessions/refresh", json={"refresh_token": refreshed.json()["refresh_token"]}
    )
    assert after.status_code == 401
