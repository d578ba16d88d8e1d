"""Assignments: a specialist asks their own client (known from booking's confirmed
appointments) to take a questionnaire; the client lists it; a run fulfils it; an overdue one
is visible to the specialist and announced once by a timer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from contracts.booking.v1 import AppointmentExpiredV1, AppointmentHeldV1
from contracts.types import Money
from servicekit.testing import outbox_drained, wait_until

from .conftest import GAD7, PHQ9, Content, phq9_answers

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_specialist_assigns_only_to_their_own_clients(content: Content) -> None:
    specialist, client = uuid.uuid4(), await content.consenting_client()
    mine = content.auth("specialist", sub=specialist)
    body = {"client_id": str(client), "questionnaire_id": PHQ9}
    stranger = await content.client.post("/api/content/assignments", json=body, headers=mine)
    assert stranger.status_code == 404 and stranger.json()["code"] == "not_found"
    as_client = await content.client.post(
        "/api/content/assignments", json=body, headers=content.auth("client", sub=client)
    )
    assert as_client.status_code == 403

    await content.appointment(client, specialist)
    past = await content.client.post(
        "/api/content/assignments",
        json={**body, "due_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat()},
        headers=mine,
    )
    assert past.status_code == 422 and past.json()["code"] == "due_in_the_past"
    created = await content.client.post("/api/content/assignments", json=body, headers=mine)
    assert created.status_code == 201, created.text
    a = created.json()
    assert (a["status"], a["occurrence"], a["overdue"]) == ("open", 1, False)
    (event,) = await content.events.wait_for("content.assignment.created", assignment_id=a["id"])
    assert event["payload"] == {
        "assignment_id": a["id"],
        "client_id": str(client),
        "specialist_id": str(specialist),
        "questionnaire_id": PHQ9,
        "questionnaire_code": "phq9",
        "due_at": event["payload"]["due_at"],
        "repeat_every_days": None,
        "created_at": event["payload"]["created_at"],
    }

    received = await content.client.get(
        "/api/content/assignments", headers=content.auth("client", sub=client)
    )
    assert [x["id"] for x in received.json()["items"]] == [a["id"]]
    given = await content.client.get(
        "/api/content/assignments", params={"scope": "given"}, headers=mine
    )
    assert [x["id"] for x in given.json()["items"]] == [a["id"]]
    other = content.auth("client")
    assert (await content.client.get("/api/content/assignments", headers=other)).json()[
        "items"
    ] == []
    assert (
        await content.client.get(f"/api/content/assignments/{a['id']}", headers=other)
    ).status_code == 404

    # The client takes it: the run fulfils it and names who assigned it.
    done = await content.take(client, phq9_answers(0, 0, 0, 0, 0, 0, 0, 0, 0))
    (run_event,) = await content.events.wait_for(
        "content.interactive_run.completed", run_id=done["id"]
    )
    assert run_event["payload"]["assigned_by_specialist_id"] == str(specialist)
    after = (await content.client.get(f"/api/content/assignments/{a['id']}", headers=mine)).json()
    assert (after["status"], after["last_run_id"]) == ("done", done["id"])


async def test_an_overdue_assignment_is_seen_by_the_specialist_and_announced_once(
    content: Content,
) -> None:
    specialist, client = uuid.uuid4(), await content.consenting_client()
    mine = content.auth("specialist", sub=specialist)
    await content.appointment(client, specialist)
    due = datetime.now(UTC) + timedelta(seconds=1.5)
    created = await content.client.post(
        "/api/content/assignments",
        json={"client_id": str(client), "questionnaire_id": GAD7, "due_at": due.isoformat()},
        headers=mine,
    )
    assert created.status_code == 201
    a = created.json()
    (event,) = await content.events.wait_for("content.assignment.overdue", assignment_id=a["id"])
    assert event["payload"]["occurrence"] == 1
    assert event["payload"]["questionnaire_code"] == "gad7"
    assert event["payload"]["client_id"] == str(client)

    overdue = await content.client.get(
        "/api/content/assignments",
        params={"scope": "given", "overdue": "true", "client_id": str(client)},
        headers=mine,
    )
    (listed,) = overdue.json()["items"]
    assert listed["id"] == a["id"] and listed["overdue"] is True and listed["overdue_since"]
    await outbox_drained(content.svc.database_url)
    await content.events.flush()
    assert len(content.events.of("content.assignment.overdue", assignment_id=a["id"])) == 1


async def test_a_repeating_assignment_is_due_again_after_each_run(content: Content) -> None:
    specialist, client = uuid.uuid4(), await content.consenting_client()
    mine = content.auth("specialist", sub=specialist)
    await content.appointment(client, specialist)
    created = await content.client.post(
        "/api/content/assignments",
        json={"client_id": str(client), "questionnaire_id": PHQ9, "repeat_every_days": 14},
        headers=mine,
    )
    a = created.json()
    done = await content.take(client, phq9_answers(1, 1, 0, 0, 0, 0, 0, 0, 0))
    after = (await content.client.get(f"/api/content/assignments/{a['id']}", headers=mine)).json()
    assert (after["status"], after["occurrence"], after["last_run_id"]) == ("open", 2, done["id"])
    completed = datetime.fromisoformat(done["completed_at"])
    assert datetime.fromisoformat(after["due_at"]) == completed + timedelta(days=14)
    (timer,) = await content.fetch(
        "SELECT due_at, payload FROM timers WHERE kind = 'assignment.overdue' AND key = $1",
        a["id"],
    )
    assert timer["due_at"] == completed + timedelta(days=14)


async def test_a_specialist_cancels_their_own_assignment(content: Content) -> None:
    specialist, client = uuid.uuid4(), await content.consenting_client()
    mine = content.auth("specialist", sub=specialist)
    await content.appointment(client, specialist)
    a = (
        await content.client.post(
            "/api/content/assignments",
            json={"client_id": str(client), "questionnaire_id": PHQ9},
            headers=mine,
        )
    ).json()
    url = f"/api/content/assignments/{a['id']}/cancel"
    other = content.auth("specialist")
    assert (await content.client.post(url, headers=other)).status_code == 404
    cancelled = await content.client.post(url, headers=mine)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = await content.client.post(url, headers=mine)
    assert again.status_code == 409 and again.json()["code"] == "assignment_closed"
    rows = await content.fetch(
        "SELECT 1 FROM timers WHERE kind = 'assignment.overdue' AND key = $1", a["id"]
    )
    assert rows == []
    # A run started now is not linked to it.
    run = await content.start(PHQ9, content.auth("client", sub=client))
    assert run["assignment_id"] is None


async def test_a_hold_that_expired_makes_nobody_a_client(content: Content) -> None:
    specialist, client = uuid.uuid4(), await content.consenting_client()
    appointment = uuid.uuid4()
    starts = datetime.now(UTC) + timedelta(days=3)
    facts = {
        "appointment_id": appointment,
        "client_id": client,
        "service_id": uuid.uuid4(),
        "service_name": "Консультация",
        "specialist_id": specialist,
        "specialist_name": "Анна Петрова",
        "format": "online",
        "starts_at": starts,
        "ends_at": starts + timedelta(minutes=50),
        "specialist_time_zone": "Europe/Moscow",
        "price": Money(amount=300000),
    }
    await content.publish(
        AppointmentHeldV1(
            **facts,
            hold_expires_at=datetime.now(UTC) + timedelta(minutes=10),
            prepayment_required=True,
        )
    )
    await content.publish(
        AppointmentExpiredV1(**facts, hold_expires_at=datetime.now(UTC) + timedelta(minutes=10))
    )

    async def expired() -> bool:
        rows = await content.fetch(
            "SELECT status, confirmed FROM appointments WHERE appointment_id = $1", appointment
        )
        return bool(rows) and (rows[0]["status"], rows[0]["confirmed"]) == ("expired", False)

    await wait_until(expired, timeout=20)
    r = await content.client.post(
        "/api/content/assignments",
        json={"client_id": str(client), "questionnaire_id": PHQ9},
        headers=content.auth("specialist", sub=specialist),
    )
    assert r.status_code == 404
