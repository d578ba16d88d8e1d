"""An ended session ends everywhere within seconds, through RabbitMQ for real: cabinet publishes
``cabinet.sessions.revoked`` and booking's and notify's verifiers (servicekit) refuse the
session's access tokens long before their 15 minutes are up.

Before this, logout, a password change or a removed role left every access token working in
every service until it expired (a stolen token kept reading health data for 15 minutes).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import jwt
import pytest
from servicekit.testing import wait_until

from ..conftest import Stack

pytestmark = pytest.mark.asyncio(loop_scope="session")
PASSWORD = "correct horse battery"


async def _account(stack: Stack) -> tuple[str, uuid.UUID]:
    cabinet = stack["cabinet"].client
    email = f"rev.{uuid.uuid4().hex[:10]}@example.com"
    r = await cabinet.post(
        "/api/cabinet/registrations",
        json={"email": email, "password": PASSWORD, "name": "Вера", "language": "ru"},
    )
    assert r.status_code == 202
    login = await _login(stack, email)
    me = await cabinet.get("/api/cabinet/me", headers=_auth(login))
    return email, uuid.UUID(me.json()["id"])


async def _login(stack: Stack, email: str) -> dict[str, Any]:
    r = await stack["cabinet"].client.post(
        "/api/cabinet/sessions", json={"email": email, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _auth(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['access_token']}"}


async def _status(client: httpx.AsyncClient, path: str, session: dict[str, Any]) -> int:
    return (await client.get(path, headers=_auth(session))).status_code


async def _served(stack: Stack, session: dict[str, Any]) -> bool:
    """booking and notify both accept the token (notify once it knows the user)."""
    booking = await _status(stack["booking"].client, "/api/booking/appointments", session)
    notify = await _status(stack["notify"].client, "/api/notify/me/preferences", session)
    return booking == 200 and notify == 200


async def _refused(stack: Stack, session: dict[str, Any]) -> bool:
    booking = await _status(stack["booking"].client, "/api/booking/appointments", session)
    notify = await _status(stack["notify"].client, "/api/notify/me/preferences", session)
    return booking == 401 and notify == 401


async def test_logout_ends_the_session_in_booking_and_notify_within_seconds(stack: Stack) -> None:
    email, _ = await _account(stack)
    session, other = await _login(stack, email), await _login(stack, email)
    claims = jwt.decode(session["access_token"], options={"verify_signature": False})
    assert jwt.get_unverified_header(session["access_token"])["typ"] == "at+jwt"
    assert claims["sid"] and claims["exp"] - claims["iat"] <= 900
    await wait_until(lambda: _served(stack, session), timeout=20)

    out = await stack["cabinet"].client.post(
        "/api/cabinet/sessions/logout", json={"refresh_token": session["refresh_token"]}
    )
    assert out.status_code == 204
    # the access token itself is still 15 minutes from expiring: only the revocation refuses it
    await wait_until(lambda: _refused(stack, session), timeout=10)
    body = (
        await stack["booking"].client.get("/api/booking/appointments", headers=_auth(session))
    ).json()
    assert body["code"] == "invalid_token"
    assert await _served(stack, other), "another session of the same user goes on"


async def test_a_password_change_ends_every_session_everywhere(stack: Stack) -> None:
    email, _ = await _account(stack)
    first, second = await _login(stack, email), await _login(stack, email)
    await wait_until(lambda: _served(stack, second), timeout=20)
    changed = await stack["cabinet"].client.post(
        "/api/cabinet/me/password",
        json={"current_password": PASSWORD, "new_password": "another long secret"},
        headers=_auth(first),
    )
    assert changed.status_code == 204
    await wait_until(lambda: _refused(stack, first), timeout=10)
    await wait_until(lambda: _refused(stack, second), timeout=10)


async def test_a_removed_role_ends_the_users_sessions_everywhere(stack: Stack) -> None:
    email, user_id = await _account(stack)
    cabinet = stack["cabinet"].client
    admin = stack.auth("admin")
    granted = await cabinet.post(
        f"/api/cabinet/users/{user_id}/roles", json={"role": "specialist"}, headers=admin
    )
    assert granted.status_code == 200
    session = await _login(stack, email)
    assert (
        "specialist"
        in jwt.decode(session["access_token"], options={"verify_signature": False})["roles"]
    )
    await wait_until(lambda: _served(stack, session), timeout=20)
    removed = await cabinet.delete(f"/api/cabinet/users/{user_id}/roles/specialist", headers=admin)
    assert removed.status_code == 200
    await wait_until(lambda: _refused(stack, session), timeout=10)
    again = await _login(stack, email)
    claims = jwt.decode(again["access_token"], options={"verify_signature": False})
    assert "specialist" not in claims["roles"]
    await wait_until(lambda: _served(stack, again), timeout=20)
