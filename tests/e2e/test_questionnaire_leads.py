"""A lead from an anonymous questionnaire, across content and cabinet through RabbitMQ: someone
takes PHQ-9 anonymously from an ad's page and leaves their email (content.run_contact.left,
the contact sealed) → cabinet has a lead with a ``questionnaire`` first touch credited to the
ad's UTM, its contact ciphertext at rest; the same person registers later with that email
(another letter case, another campaign) → still one lead: the account joins it, its first touch
stays the questionnaire's, its last touch moves to the registration."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from servicekit.db.engine import asyncpg_dsn
from servicekit.testing import wait_until

from ..conftest import Stack

pytestmark = pytest.mark.asyncio(loop_scope="session")

PHQ9 = "6d0e6f3c-6f3e-4b8e-9a53-0c5a3e1f0901"


async def leads_of(stack: Stack, **query: str) -> list[dict[str, Any]]:
    r = await stack["cabinet"].client.get(
        "/api/cabinet/leads", params=query, headers=stack.auth("admin")
    )
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_an_anonymous_phq9_contact_is_a_lead_and_its_registration_the_same_lead(
    stack: Stack,
) -> None:
    content, cabinet = stack["content"].client, stack["cabinet"].client
    ad = f"phq-{uuid.uuid4().hex[:8]}"
    email = f"Anon.{uuid.uuid4().hex[:8]}@Example.com"

    started = await content.post("/api/content/runs", json={"questionnaire_id": PHQ9})
    assert started.status_code == 201, started.text
    run = started.json()
    token = {"X-Run-Token": run["run_token"]}
    answers = {f"q{n}": "several_days" for n in range(1, 9)} | {"q9": "not_at_all"}
    done = await content.post(
        f"/api/content/runs/{run['id']}/complete",
        json={"answers": {**answers, "difficulty": "somewhat"}},
        headers=token,
    )
    assert done.status_code == 200, done.text
    assert done.json()["result"]["score"] == 8

    left = await content.post(
        f"/api/content/runs/{run['id']}/contact",
        json={
            "email": email,
            "name": "Ирина",
            "utm_source": "yandex",
            "utm_medium": "cpc",
            "utm_campaign": ad,
            "consent_to_contact": True,
        },
        headers=token,
    )
    assert left.status_code == 201, left.text

    found: list[dict[str, Any]] = []

    async def lead_made() -> bool:
        nonlocal found
        found = await leads_of(stack, campaign=ad)
        return len(found) == 1

    await wait_until(lead_made, timeout=30)
    (lead,) = found
    assert lead["email"].lower() == email.lower()  # the domain comes lower-cased
    assert lead["name"] == "Ирина" and lead["user_id"] is None
    assert lead["contact_consented_at"] is not None
    assert lead["first_touch"]["channel"] == "questionnaire"
    assert (lead["first_touch"]["source"], lead["first_touch"]["medium"]) == ("yandex", "cpc")
    assert lead["status"] == "new"

    # cabinet holds the contact as ciphertext (and the email's blind index).
    conn = await asyncpg.connect(asyncpg_dsn(stack["cabinet"].database_url))
    try:
        row = await conn.fetchrow(
            "SELECT email, name, email_index FROM leads WHERE id = $1", uuid.UUID(lead["id"])
        )
    finally:
        await conn.close()
    assert row is not None
    assert email.lower() not in str(dict(row)).lower() and "Ирина" not in str(dict(row))

    # The same person registers later, with the address in another case, from another ad.
    later = f"reg-{uuid.uuid4().hex[:8]}"
    r = await cabinet.post(
        "/api/cabinet/registrations",
        json={
            "email": email.lower(),
            "password": "correct horse battery",
            "name": "Ирина Соколова",
            "utm_source": "vk",
            "utm_campaign": later,
        },
    )
    assert r.status_code == 202, r.text

    async def joined() -> bool:
        nonlocal found
        found = await leads_of(stack, campaign=ad)
        return len(found) == 1 and found[0]["user_id"] is not None

    await wait_until(joined, timeout=30)
    (same,) = found
    assert same["id"] == lead["id"]  # one person, one lead
    assert same["first_touch"]["channel"] == "questionnaire"
    assert same["first_touch"]["campaign"] == ad
    assert (same["last_touch"]["channel"], same["last_touch"]["campaign"]) == (
        "registration",
        later,
    )
    assert same["name"] == "Ирина"  # contacts are filled in, never overwritten
    assert await leads_of(stack, campaign=later) == []  # filters on the first touch
    detail = await cabinet.get(f"/api/cabinet/leads/{lead['id']}", headers=stack.auth("admin"))
    assert [t["channel"] for t in detail.json()["touches"]] == ["questionnaire", "registration"]
