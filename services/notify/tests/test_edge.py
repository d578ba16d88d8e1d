"""notify at the HTTP edge: a capability in a path (the unsubscribe token) and a looked-up
address never reach a log, and a deeply nested webhook body is refused, not a 500."""

from __future__ import annotations

import logging
import uuid

import pytest
from notify.domain.tokens import unsubscribe_token

from .conftest import Notify


async def test_a_deeply_nested_telegram_update_is_a_422(notify: Notify) -> None:
    secret = notify.svc.runtime.settings.telegram_webhook_secret  # type: ignore[attr-defined]
    for depth in (100, 100_000):
        deep = '{"update_id": 1, "message": ' + "[" * depth + "]" * depth + "}"
        r = await notify.client.post(
            "/api/notify/telegram/webhook",
            content=deep,
            headers={"X-Telegram-Bot-Api-Secret-Token": secret, "content-type": "application/json"},
        )
        assert r.status_code == 422, (depth, r.text)
        assert r.json()["code"] == "validation_failed"


async def test_the_unsubscribe_token_and_a_searched_address_stay_out_of_the_logs(
    notify: Notify, caplog: pytest.LogCaptureFixture
) -> None:
    key = notify.svc.runtime.settings.link_signing_key  # type: ignore[attr-defined]
    token = unsubscribe_token(uuid.uuid4(), key)
    email = f"searched.{uuid.uuid4().hex[:8]}@example.com"
    caplog.set_level(logging.WARNING, logger="httpx")  # as configure_logging sets it
    with caplog.at_level(logging.INFO):
        page = await notify.client.get(f"/api/notify/unsubscribe/{token}?utm=x")
        found = await notify.client.post(
            "/api/notify/recipients/search",
            json={"email": email},
            headers=notify.tokens.auth("admin"),
        )
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert found.status_code == 200 and found.json()["items"] == []
    paths = [getattr(r, "path", None) for r in caplog.records if r.name == "servicekit.access"]
    assert paths == ["/api/notify/unsubscribe/{token}", "/api/notify/recipients/search"]
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert token not in text and email not in text and "utm" not in text
