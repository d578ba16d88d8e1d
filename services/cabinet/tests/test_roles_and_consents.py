"""Roles, specialists' profiles and consents as admins and users meet them."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from servicekit.db.engine import asyncpg_dsn
from servicekit.testing import wait_until

from .conftest import Cabinet


async def test_admin_grants_specialist_who_then_publishes_a_profile(cabinet: Cabinet) -> None:
    email, user_id = await cabinet.register()
    admin = cabinet.tokens.auth("admin")
    client_only = cabinet.tokens.auth("client", sub=user_id)

    denied = await cabinet.client.post(
        f"/api/cabinet/users/{user_id}/roles", json={"role": "specialist"}, headers=client_only
    )
    assert (denied.status_code, denied.json()["code"]) == (403, "forbidden")
    bad = await cabinet.client.post(
        f"/api/cabinet/users/{user_id}/roles", json={"role": "overlord"}, headers=admin
    )
    assert bad.status_code == 422
    r = await cabinet.client.post(
        f"/api/cabinet/users/{user_id}/roles", json={"role": "specialist"}, headers=admin
    )
    assert r.status_code == 200
    assert sorted(r.json()["roles"]) == ["client", "specialist"]
    (changed,) = await cabinet.events("cabinet.user.roles_changed", user_id=str(user_id))
    assert changed["granted"] == ["specialist"]

    # The new role is in the next token cabinet issues.
    pair = (await cabinet.login(email)).json()
    me = await cabinet.client.get(
        "/api/cabinet/me", headers={"Authorization": f"Bearer {pair['access_token']}"}
    )
    assert "specialist" in me.json()["roles"]

    profile = {"display_name": "Dr. Anna", "bio": "CBT", "photo_url": "https://cdn.example/a.jpg"}
    other = await cabinet.client.put(
        f"/api/cabinet/specialists/{user_id}/profile",
        json=profile,
        headers=cabinet.tokens.auth("specialist"),
    )
    assert other.status_code == 404
    mine = await cabinet.client.put(
        f"/api/cabinet/specialists/{user_id}/profile",
        json=profile,
        headers=cabinet.tokens.auth("specialist", sub=user_id),
    )
    assert mine.status_code == 200, mine.text
    (published,) = await cabinet.events(
        "cabinet.specialist_profile.updated", specialist_id=str(user_id)
    )
    assert published["display_name"] == "Dr. Anna"
    assert published["time_zone"] == "Europe/Moscow"
    assert published["photo_url"] == "https://cdn.example/a.jpg"
    assert published["service_ids"] == []  # booking attaches services, where owners are known
    # One public catalogue: booking's (it shows this profile); cabinet serves none of its own.
    for url in ("/api/cabinet/specialists", f"/api/cabinet/specialists/{user_id}"):
        assert (await cabinet.client.get(url)).status_code in (404, 405)

    removed = await cabinet.client.delete(
        f"/api/cabinet/users/{user_id}/roles/specialist", headers=admin
    )
    assert removed.json()["roles"] == ["client"]


async def _publish(cabinet: Cabinet, purpose: str, **extra: object) -> dict[str, object]:
    r = await cabinet.client.post(
        "/api/cabinet/consent-documents",
        headers=cabinet.tokens.auth("admin"),
        json={"purpose": purpose, "title": "Согласие", "text": "Текст согласия", **extra},
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_consents_are_separate_audited_and_versioned(cabinet: Cabinet) -> None:
    _, user_id = await cabinet.register()
    me = cabinet.tokens.auth("client", sub=user_id)
    health = await _publish(cabinet, "health_data_processing")
    marketing = await _publish(cabinet, "marketing_messages")
    assert (
        await cabinet.client.post(
            "/api/cabinet/consent-documents",
            headers=me,
            json={"purpose": "marketing_messages", "title": "x", "text": "y"},
        )
    ).status_code == 403

    granted = await cabinet.client.post(
        "/api/cabinet/me/consents", headers=me, json={"document_id": health["id"]}
    )
    assert granted.status_code == 201
    assert granted.json()["status"] == "granted"
    state = {
        i["purpose"]: i["status"]
        for i in (await cabinet.client.get("/api/cabinet/me/consents", headers=me)).json()["items"]
    }
    assert state["health_data_processing"] == "granted"
    assert state["marketing_messages"] == "none"  # never bundled
    (event,) = await cabinet.events("cabinet.consent.granted", user_id=str(user_id))
    assert (event["purpose"], event["document_version"]) == (
        "health_data_processing",
        health["version"],
    )

    withdrawn = await cabinet.client.post(
        "/api/cabinet/me/consents/health_data_processing/withdraw", headers=me
    )
    assert withdrawn.json()["status"] == "withdrawn"
    assert await cabinet.events("cabinet.consent.withdrawn", user_id=str(user_id))
    twice = await cabinet.client.post(
        "/api/cabinet/me/consents/health_data_processing/withdraw", headers=me
    )
    assert (twice.status_code, twice.json()["code"]) == (409, "not_granted")
    nothing = await cabinet.client.post(
        "/api/cabinet/me/consents/marketing_messages/withdraw", headers=me
    )
    assert nothing.status_code == 409
    assert marketing["purpose"] == "marketing_messages"

    history = (await cabinet.client.get("/api/cabinet/me/consents/history", headers=me)).json()[
        "items"
    ]
    assert [(h["purpose"], h["action"]) for h in history] == [
        ("health_data_processing", "granted"),
        ("health_data_processing", "withdrawn"),
    ]
    assert all(h["source_ip"] for h in history)

    # The audit trail cannot be rewritten, not even with SQL.
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await cabinet.sql("DELETE FROM consent_records WHERE user_id = $1", user_id)

    # Someone else's history is not mine.
    other = await cabinet.client.get(
        "/api/cabinet/me/consents/history", headers=cabinet.tokens.auth("client")
    )
    assert other.status_code == 404  # a token for a user cabinet does not know


async def test_a_new_required_version_makes_old_grants_outdated(cabinet: Cabinet) -> None:
    _, user_id = await cabinet.register()
    me = cabinet.tokens.auth("client", sub=user_id)
    purpose = "transfer_to_specialist"
    v1 = await _publish(cabinet, purpose)
    await cabinet.client.post(
        "/api/cabinet/me/consents", headers=me, json={"document_id": v1["id"]}
    )
    v2 = await _publish(cabinet, purpose, requires_reconsent=True)
    assert v2["version"] == v1["version"] + 1

    state = {
        i["purpose"]: i
        for i in (await cabinet.client.get("/api/cabinet/me/consents", headers=me)).json()["items"]
    }
    assert state[purpose]["status"] == "outdated"
    assert state[purpose]["current_document_id"] == v2["id"]
    stale = await cabinet.client.post(
        "/api/cabinet/me/consents", headers=me, json={"document_id": v1["id"]}
    )
    assert (stale.status_code, stale.json()["code"]) == (409, "document_outdated")
    fresh = await cabinet.client.post(
        "/api/cabinet/me/consents", headers=me, json={"document_id": v2["id"]}
    )
    assert fresh.json()["status"] == "granted"
    (doc_event,) = await cabinet.events("cabinet.consent_document.published", document_id=v2["id"])
    assert doc_event["requires_reconsent"] is True


async def test_the_consent_history_comes_in_pages_oldest_first(cabinet: Cabinet) -> None:
    _, user_id = await cabinet.register()
    me = cabinet.tokens.auth("client", sub=user_id)
    doc = await _publish(cabinet, "marketing_messages")
    for action in ("grant", "withdraw", "grant"):
        r = (
            await cabinet.client.post(
                "/api/cabinet/me/consents", headers=me, json={"document_id": doc["id"]}
            )
            if action == "grant"
            else await cabinet.client.post(
                "/api/cabinet/me/consents/marketing_messages/withdraw", headers=me
            )
        )
        assert r.status_code in (200, 201), r.text

    history = "/api/cabinet/me/consents/history"
    first = (await cabinet.client.get(history, headers=me, params={"limit": 2})).json()
    assert [h["action"] for h in first["items"]] == ["granted", "withdrawn"]
    assert first["next_cursor"]
    rest = (
        await cabinet.client.get(
            history, headers=me, params={"limit": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    assert ([h["action"] for h in rest["items"]], rest["next_cursor"]) == (["granted"], None)
    whole = (await cabinet.client.get(history, headers=me)).json()
    assert [h["id"] for h in whole["items"]] == [h["id"] for h in first["items"] + rest["items"]]

    forged = await cabinet.client.get(history, headers=me, params={"cursor": "not-a-cursor"})
    assert (forged.status_code, forged.json()["code"]) == (422, "invalid_cursor")


async def test_two_admins_publishing_at_once_one_is_asked_to_try_again(cabinet: Cabinet) -> None:
    """Both read the same latest version; the database's unique (purpose, version) lets one
    through and the other is a 409, not a 500."""
    purpose = "transfer_to_specialist"
    blocker = await asyncpg.connect(asyncpg_dsn(cabinet.service.database_url))
    try:
        # Reads go on, writes wait: both publishes read the latest version, then queue up.
        lock = blocker.transaction()
        await lock.start()
        await blocker.execute("LOCK TABLE consent_documents IN EXCLUSIVE MODE")
        publishes = [
            asyncio.create_task(
                cabinet.client.post(
                    "/api/cabinet/consent-documents",
                    headers={**cabinet.tokens.auth("admin"), "Accept-Language": "en"},
                    json={"purpose": purpose, "title": f"Согласие {n}", "text": "Текст"},
                )
            )
            for n in range(2)
        ]

        async def both_waiting() -> bool:  # pg_locks is live (pg_stat_activity is not, here)
            waiting = await blocker.fetchval(
                "SELECT count(*) FROM pg_locks "
                "WHERE relation = 'consent_documents'::regclass AND NOT granted"
            )
            return int(waiting) == 2

        await wait_until(both_waiting)
        await lock.commit()
        answers = await asyncio.gather(*publishes)
    finally:
        await blocker.close()
    assert sorted(r.status_code for r in answers) == [201, 409]
    (refused,) = [r.json() for r in answers if r.status_code == 409]
    assert (refused["code"], refused["title"], refused["detail"]) == (
        "version_conflict",
        "Conflict",
        "Another version was published just now; try again.",
    )
    (published,) = [r.json() for r in answers if r.status_code == 201]
    (latest,) = await cabinet.sql(
        "SELECT max(version) AS version FROM consent_documents WHERE purpose = $1", purpose
    )
    assert latest["version"] == published["version"]
