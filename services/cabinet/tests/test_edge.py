"""cabinet at the HTTP edge: who is calling is decided from the peer and TRUSTED_PROXIES only,
an address looked up never travels in a URL, and inputs that used to be a 500 are a 422."""

from __future__ import annotations

import logging
import uuid

import httpx
import pytest

from .conftest import Cabinet

FORGED = {"X-Forwarded-For": "203.0.113.77"}


async def test_a_forged_forwarded_for_is_not_the_consents_source_ip(cabinet: Cabinet) -> None:
    _, user_id = await cabinet.register()
    me = cabinet.tokens.auth("client", sub=user_id)
    r = await cabinet.client.post(
        "/api/cabinet/consent-documents",
        headers=cabinet.tokens.auth("admin"),
        json={"purpose": "transfer_to_specialist", "title": "Согласие", "text": "Текст"},
    )
    assert r.status_code == 201, r.text
    granted = await cabinet.client.post(
        "/api/cabinet/me/consents", headers={**me, **FORGED}, json={"document_id": r.json()["id"]}
    )
    assert granted.status_code == 201, granted.text
    history = await cabinet.client.get("/api/cabinet/me/consents/history", headers=me)
    (record,) = history.json()["items"]
    assert record["source_ip"] == "127.0.0.1"  # the peer: the test client is no proxy


async def test_forged_forwarded_addresses_do_not_escape_the_login_throttle(
    cabinet: Cabinet,
) -> None:
    """One peer that claims a new X-Forwarded-For each time is still one address: its failed
    logins (each for another account, so only the per-address limit can stop it) are counted
    together and it is slowed down after 20."""
    answers = []
    async with cabinet.caller() as client:
        for attempt in range(22):
            r = await client.post(
                "/api/cabinet/sessions",
                json={"email": f"nobody.{uuid.uuid4().hex[:8]}@example.com", "password": "guess"},
                headers={"X-Forwarded-For": f"198.51.100.{attempt + 1}"},
            )
            answers.append(r.status_code)
    assert answers == [401] * 21 + [429], answers


async def test_an_admin_finds_accounts_by_email_in_a_post_body(cabinet: Cabinet) -> None:
    email, user_id = await cabinet.register()
    admin = cabinet.tokens.auth("admin")
    r = await cabinet.client.post(
        "/api/cabinet/users/search", json={"email": email.upper()}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert [u["id"] for u in r.json()["items"]] == [str(user_id)]
    stranger = cabinet.tokens.auth("client")
    r = await cabinet.client.post(
        "/api/cabinet/users/search", json={"email": email}, headers=stranger
    )
    assert r.status_code == 403
    # The address never goes into a URL (where access logs and histories keep it).
    r = await cabinet.client.get("/api/cabinet/users", params={"email": email}, headers=admin)
    assert r.status_code in (404, 405)


async def test_the_access_log_carries_no_address_and_no_query(
    cabinet: Cabinet, caplog: pytest.LogCaptureFixture
) -> None:
    email = f"logged.{uuid.uuid4().hex[:8]}@example.com"
    caplog.set_level(logging.WARNING, logger="httpx")  # as configure_logging sets it
    with caplog.at_level(logging.INFO):
        await cabinet.register(email, name="Зинаида Логова", phone="+7 916 555-44-33")
        await cabinet.client.post(
            "/api/cabinet/users/search", json={"email": email}, headers=cabinet.tokens.auth("admin")
        )
        await cabinet.client.get(f"/api/cabinet/me?email={email}")
    access = [r for r in caplog.records if r.name == "servicekit.access"]
    assert any(getattr(r, "path", None) == "/api/cabinet/registrations" for r in access)
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for secret in (email, "Зинаида", "555-44-33", "79165554433"):
        assert secret not in text


# ---- inputs that were a 500 -------------------------------------------------------------------


async def _refused(r: httpx.Response, *loc: str) -> None:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "validation_failed"
    assert [e["loc"] for e in body["errors"]] == [["body", *loc]]


async def test_a_registration_name_with_nul_is_a_422(cabinet: Cabinet) -> None:
    r = await cabinet.client.post(
        "/api/cabinet/registrations",
        json={
            "email": f"nul.{uuid.uuid4().hex[:8]}@example.com",
            "password": "correct horse battery",
            "name": "Ан\u0000на",
        },
    )
    await _refused(r, "name")


async def test_a_profile_with_nul_is_a_422(cabinet: Cabinet) -> None:
    _, user_id = await cabinet.register()
    r = await cabinet.client.patch(
        "/api/cabinet/me",
        json={"name": "\u0000"},
        headers=cabinet.tokens.auth("client", sub=user_id),
    )
    await _refused(r, "name")
    r = await cabinet.client.put(
        f"/api/cabinet/specialists/{user_id}/profile",
        json={"display_name": "Dr. Anna", "bio": "CBT\u0000"},
        headers=cabinet.tokens.auth("specialist", sub=user_id),
    )
    await _refused(r, "bio")


async def test_a_consent_text_with_nul_is_a_422(cabinet: Cabinet) -> None:
    r = await cabinet.client.post(
        "/api/cabinet/consent-documents",
        headers=cabinet.tokens.auth("admin"),
        json={"purpose": "marketing_messages", "title": "Согласие", "text": "Текст\u0000"},
    )
    await _refused(r, "text")


async def test_a_photo_url_longer_than_its_column_is_a_422(cabinet: Cabinet) -> None:
    _, user_id = await cabinet.register()
    r = await cabinet.client.put(
        f"/api/cabinet/specialists/{user_id}/profile",
        json={"display_name": "Dr. Anna", "photo_url": "https://cdn.example/" + "a" * 1500},
        headers=cabinet.tokens.auth("specialist", sub=user_id),
    )
    await _refused(r, "photo_url")
