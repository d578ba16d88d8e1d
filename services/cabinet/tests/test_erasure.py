"""Erasure in cabinet: asked by the user or by an admin on a written request (its basis kept,
encrypted), cancellable while cooling off; then login stops at once, every session ends, the
account keeps no contact data and the other services are asked to erase."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from servicekit.testing import FakeClock

from .conftest import PASSWORD, Cabinet

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_an_admin_erases_on_a_written_request_after_the_cooling_off_period(
    cabinet: Cabinet, clock: FakeClock
) -> None:
    email, user_id = await cabinet.register()
    me = cabinet.tokens.auth("client", sub=user_id)
    basis = "Письменное заявление № 17 от 01.12.2026, получено лично"
    url = f"/api/cabinet/users/{user_id}/erasure-requests"
    assert (await cabinet.client.post(url, headers=me, json={"basis": basis})).status_code == 403
    asked = await cabinet.client.post(
        url, headers=cabinet.tokens.auth("admin"), json={"basis": basis}
    )
    assert asked.status_code == 202, asked.text
    body = asked.json()
    assert (body["reason"], body["status"]) == ("admin", "cooling_off")
    again = await cabinet.client.post("/api/cabinet/me/erasure-requests", headers=me)
    assert (again.status_code, again.json()["code"]) == (409, "erasure_in_progress")
    [row] = await cabinet.sql(
        "SELECT basis FROM erasure_requests WHERE id = $1", uuid.UUID(body["id"])
    )
    assert basis not in row["basis"] and row["basis"].startswith("gAAAAA")
    listed = await cabinet.client.get(
        "/api/cabinet/erasure-requests", headers=cabinet.tokens.auth("admin")
    )
    assert body["id"] in [i["id"] for i in listed.json()["items"]]

    session = await cabinet.login(email)
    assert session.status_code == 200
    clock.advance(timedelta(days=6))
    await cabinet.runtime.timers.run_due()
    assert (await cabinet.login(email)).status_code == 200  # still cooling off
    clock.advance(timedelta(days=1, minutes=1))
    await cabinet.runtime.timers.run_due()

    assert (await cabinet.login(email)).status_code == 401
    refreshed = await cabinet.client.post(
        "/api/cabinet/sessions/refresh", json={"refresh_token": session.json()["refresh_token"]}
    )
    assert refreshed.status_code == 401
    [user] = await cabinet.sql("SELECT * FROM users WHERE id = $1", user_id)
    assert user["erased_at"] is not None and user["roles"] == []
    assert email not in " ".join(str(v) for v in dict(user).values())
    [asked_event] = await cabinet.events("cabinet.user.erasure_requested", user_id=str(user_id))
    assert asked_event["reason"] == "admin"
    assert set(asked_event["expected_parts"]) == {"booking", "content", "notify"}
    revoked = await cabinet.events("cabinet.sessions.revoked", user_id=str(user_id))
    assert revoked


async def test_a_client_cancels_within_the_cooling_off_period(
    cabinet: Cabinet, clock: FakeClock
) -> None:
    email, user_id = await cabinet.register()
    me = cabinet.tokens.auth("client", sub=user_id)
    asked = await cabinet.client.post("/api/cabinet/me/erasure-requests", headers=me)
    request_id = asked.json()["id"]
    _, other_id = await cabinet.register()
    other = cabinet.tokens.auth("client", sub=other_id)
    cancel = f"/api/cabinet/me/erasure-requests/{request_id}/cancel"
    assert (await cabinet.client.post(cancel, headers=other)).status_code == 404
    cancelled = await cabinet.client.post(cancel, headers=me)
    assert cancelled.json()["status"] == "cancelled"
    again = await cabinet.client.post(cancel, headers=me)
    assert (again.status_code, again.json()["code"]) == (409, "erasure_not_cancellable")
    clock.advance(timedelta(days=8))
    await cabinet.runtime.timers.run_due()
    assert (await cabinet.login(email, PASSWORD)).status_code == 200
