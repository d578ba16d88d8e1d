"""A client's review of their specialist end to end, every service in this process, through
RabbitMQ: booking marks the client's session as held (booking.appointment.completed) → content's
copy lets that client, and nobody else, review it once → a moderator approves it in content →
content.moderation.decided → notify mails the client in the SMTP sink; the approved review is
on the specialist's public page.

The stack runs on real time and booking offers slots from now on only, so the test moves the
booked session two days into the past in booking's database (an operator's edit) before the
specialist marks it as held through booking's HTTP API.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import pytest
from servicekit.db.engine import asyncpg_dsn
from servicekit.testing import wait_until

from ..conftest import Stack
from .test_consent_gate import _first_session, _register

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _into_the_past(stack: Stack, appointment_id: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(stack["booking"].database_url))
    try:
        await conn.execute(
            "UPDATE appointments SET starts_at = starts_at - $2::interval, "
            "ends_at = ends_at - $2::interval, occupied_from = occupied_from - $2::interval, "
            "occupied_until = occupied_until - $2::interval WHERE id = $1",
            uuid.UUID(appointment_id),
            timedelta(days=2),
        )
    finally:
        await conn.close()


async def test_a_held_session_lets_its_client_review_and_the_decision_is_mailed(
    stack: Stack,
) -> None:
    client_id, email = await _register(stack, name="Ольга")
    specialist_id, appointment_id = await _first_session(stack, client_id, email)
    me = stack.auth("client", sub=client_id)
    content = stack["content"].client
    review = {"appointment_id": appointment_id, "rating": 4, "body": "Спокойно и по делу, спасибо."}

    # Booked but not held: not reviewable.
    early = await content.post("/api/content/reviews", json=review, headers=me)
    assert early.status_code == 409 and early.json()["code"] == "appointment_not_reviewable"

    await _into_the_past(stack, appointment_id)
    held = await stack["booking"].client.post(
        f"/api/booking/appointments/{appointment_id}/complete",
        headers=stack.auth("specialist", sub=uuid.UUID(specialist_id)),
    )
    assert held.status_code == 200, held.text

    async def reviewed() -> dict[str, object] | None:
        r = await content.post("/api/content/reviews", json=review, headers=me)
        assert r.status_code in (201, 409), r.text
        return r.json() if r.status_code == 201 else None

    await wait_until(reviewed, timeout=30)
    mine = (await content.get("/api/content/posts", headers=me)).json()["items"]
    (post,) = mine
    assert (post["status"], post["specialist_id"]) == ("pending", specialist_id)
    someone_else = await content.post(
        "/api/content/reviews", json=review, headers=stack.auth("client")
    )
    assert someone_else.status_code == 409
    again = await content.post("/api/content/reviews", json=review, headers=me)
    assert again.status_code == 409 and again.json()["code"] == "already_reviewed"

    approved = await content.post(
        f"/api/content/moderation/posts/{post['id']}/decision",
        json={"decision": "approve"},
        headers=stack.auth("moderator"),
    )
    assert approved.status_code == 200, approved.text

    async def mailed() -> bool:
        return any(
            "публикация одобрена" in (m.subject or "") for m in stack.mail.messages(to=email)
        )

    await wait_until(mailed, timeout=30)
    (mail,) = [m for m in stack.mail.messages(to=email) if "одобрена" in (m.subject or "")]
    assert "Отзыв о специалисте" in (mail.subject or "")
    assert "Спокойно и по делу" not in (mail.text or "")  # the review's text is not mailed

    page = (await content.get(f"/api/content/specialists/{specialist_id}")).json()
    assert (page["reviews"], page["average_rating"]) == (1, 4.0)
