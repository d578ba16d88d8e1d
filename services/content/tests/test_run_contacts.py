"""Leaving a contact on an anonymous run (docs/content.md, "Leaving a contact"): once per run,
validated, by the run token only, rate-limited per address; content keeps only the fact, and
the contact travels to cabinet sealed in ``content.run_contact.left``."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
from servicekit.testing import wait_until

from .conftest import PHQ9, Content, phq9_answers
from .test_runs import raw_messages

pytestmark = pytest.mark.asyncio(loop_scope="session")

EMAIL = "Olga.Questionnaire@example.org"
PHONE = "8 (912) 345-67-89"
NAME = "Ольга Анкетная"


def _from() -> dict[str, str]:
    """A fresh source address (a test does not share another's limit)."""
    a, b, c = random.randrange(256), random.randrange(256), random.randrange(1, 255)
    return {"X-Forwarded-For": f"10.{a}.{b}.{c}"}


def contact(**overrides: Any) -> dict[str, Any]:
    return {
        "email": EMAIL,
        "phone": PHONE,
        "name": NAME,
        "utm_source": "vk",
        "utm_medium": "post",
        "utm_campaign": "phq9-autumn",
        "consent_to_contact": True,
        **overrides,
    }


async def anonymous_completed_run(content: Content) -> tuple[dict[str, Any], dict[str, str]]:
    run = await content.start(PHQ9)
    token = {"X-Run-Token": run["run_token"]}
    done = await content.complete(run["id"], phq9_answers(2, 2, 1, 1, 1, 1, 1, 1, 1), token)
    assert done["result"]["crisis"] is True  # the crisis flag must not travel with the contact
    return done, token


async def test_a_contact_is_left_once_and_travels_sealed(content: Content) -> None:
    done, token = await anonymous_completed_run(content)
    url = f"/api/content/runs/{done['id']}/contact"
    where = _from()
    raw: list[dict[str, Any]] = []
    async with raw_messages(content, "content.run_contact.left.v1", raw):
        left = await content.client.post(url, json=contact(), headers={**token, **where})
        assert left.status_code == 201, left.text
        assert left.json()["run_id"] == done["id"] and left.json()["contact_left_at"]

        (event,) = await content.events.wait_for("content.run_contact.left", run_id=done["id"])
        await wait_until(lambda: len(raw) == 1, timeout=20)
    p = event["payload"]
    assert p == {
        "run_id": done["id"],
        "questionnaire_id": PHQ9,
        "questionnaire_code": "phq9",
        "completed_at": p["completed_at"],
        "email": EMAIL,
        "phone": "+79123456789",  # E.164
        "name": NAME,
        "utm_source": "vk",
        "utm_medium": "post",
        "utm_campaign": "phq9-autumn",
        "consented_at": p["consented_at"],
    }
    assert p["completed_at"] is not None
    # On the wire the contact is sealed; the UTM values stay readable; no health data at all.
    body = raw[0]["body"]
    for text in (EMAIL, EMAIL.lower(), "9123456789", "Ольга", "\\u041e\\u043b\\u044c"):
        assert text not in body
    assert '"email"' not in body and '"phone"' not in body and '"name"' not in body
    assert "phq9-autumn" in body
    for text in ('"crisis"', '"score"', '"band"', "phq9_item9", "several_days"):
        assert text not in body
    assert raw[0]["json"]["sealed"]["personal"]

    # Again: 409, and nothing more is sent.
    again = await content.client.post(url, json=contact(), headers={**token, **where})
    assert again.status_code == 409 and again.json()["code"] == "run_contact_left"

    # content keeps only the fact (and the keyed hash of the address), nowhere the contact.
    (row,) = await content.fetch("SELECT * FROM runs WHERE id = $1", uuid.UUID(done["id"]))
    assert row["contact_left_at"] is not None and len(row["contact_source_index"]) == 64
    assert "10." not in row["contact_source_index"]
    outbox = await content.fetch(
        "SELECT body::text AS body FROM outbox WHERE event_type = 'content.run_contact.left'"
    )
    assert outbox
    for text in (EMAIL, EMAIL.lower(), "9123456789", "Ольга"):
        assert text not in str(dict(row))
        assert all(text not in (o["body"] or "") for o in outbox)
    assert len(content.events.of("content.run_contact.left", run_id=done["id"])) == 1


async def test_bad_contacts_are_refused(content: Content) -> None:
    run = await content.start(PHQ9)  # not completed: a contact may be left before the end
    token = {"X-Run-Token": run["run_token"]}
    url = f"/api/content/runs/{run['id']}/contact"
    where = _from()
    for bad in (
        contact(email="not-an-email"),
        contact(phone="call me maybe"),
        contact(phone="+7 12"),
        contact(email=None, phone=None),
        contact(consent_to_contact=False),
        {k: v for k, v in contact().items() if k != "consent_to_contact"},
        contact(utm_source="<script>"),
        contact(name=""),
    ):
        r = await content.client.post(url, json=bad, headers={**token, **where})
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["code"] == "validation_failed"
    # A phone alone is enough, and the run need not be completed.
    ok = await content.client.post(
        url, json=contact(email=None, name=None), headers={**token, **where}
    )
    assert ok.status_code == 201, ok.text
    (event,) = await content.events.wait_for("content.run_contact.left", run_id=run["id"])
    assert event["payload"]["completed_at"] is None and event["payload"]["email"] is None


async def test_only_the_runs_own_token_leaves_a_contact(content: Content) -> None:
    mine, theirs = await content.start(PHQ9), await content.start(PHQ9)
    url = f"/api/content/runs/{mine['id']}/contact"
    where = _from()
    for headers in (
        {"X-Run-Token": theirs["run_token"]},  # another run's token
        {},  # none
        {"X-Run-Token": "x" * 43},
        content.auth("client"),  # a signed-in stranger
    ):
        r = await content.client.post(url, json=contact(), headers={**headers, **where})
        assert r.status_code == 404, r.text
    unknown = await content.client.post(
        f"/api/content/runs/{uuid.uuid4()}/contact",
        json=contact(),
        headers={"X-Run-Token": mine["run_token"], **where},
    )
    assert unknown.status_code == 404
    rows = await content.fetch(
        "SELECT contact_left_at FROM runs WHERE id = $1", uuid.UUID(mine["id"])
    )
    assert rows[0]["contact_left_at"] is None


async def test_a_claimed_run_takes_no_contact(content: Content) -> None:
    run = await content.start(PHQ9)
    token = {"X-Run-Token": run["run_token"]}
    client = await content.consenting_client()
    claimed = await content.client.post(
        f"/api/content/runs/{run['id']}/claim",
        headers={**token, **content.auth("client", sub=client)},
    )
    assert claimed.status_code == 200, claimed.text
    r = await content.client.post(
        f"/api/content/runs/{run['id']}/contact", json=contact(), headers={**token, **_from()}
    )
    assert r.status_code == 409 and r.json()["code"] == "run_already_claimed"


async def test_contacts_are_rate_limited_per_address(content: Content) -> None:
    where = _from()
    allowed = content.svc.runtime.settings.run_contacts_per_address_hour
    for _ in range(allowed):
        run = await content.start(PHQ9)
        r = await content.client.post(
            f"/api/content/runs/{run['id']}/contact",
            json=contact(),
            headers={"X-Run-Token": run["run_token"], **where},
        )
        assert r.status_code == 201, r.text
    run = await content.start(PHQ9)
    url = f"/api/content/runs/{run['id']}/contact"
    token = {"X-Run-Token": run["run_token"]}
    limited = await content.client.post(url, json=contact(), headers={**token, **where})
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
    # Another address is not held back.
    other = await content.client.post(url, json=contact(), headers={**token, **_from()})
    assert other.status_code == 201
