"""Recipients and consents (copies of cabinet's state) and the preferences API."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from contracts.cabinet.v1 import (
    ConsentGrantedV1,
    ConsentWithdrawnV1,
    UserContactChangedV1,
    UserRegisteredV1,
)
from contracts.testing import example_envelope

from .conftest import Notify, unique_email, wait_for

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def register(
    notify: Notify, *, language: str = "ru", time_zone: str = "Europe/Moscow", **extra: object
) -> tuple[uuid.UUID, str]:
    """Publish cabinet.user.registered and wait until notify has the recipient."""
    user_id = uuid.uuid4()
    email = str(extra.pop("email", unique_email()))
    await notify.producer.event(
        UserRegisteredV1,
        user_id=user_id,
        email=email,
        name=extra.pop("name", "Мария Иванова"),
        language=language,
        time_zone=time_zone,
        roles=extra.pop("roles", ["client"]),
        **extra,
    )
    admin = notify.tokens.auth("admin")

    async def known() -> bool:
        r = await notify.client.get(f"/api/notify/recipients/{user_id}", headers=admin)
        return r.status_code == 200

    await wait_for(known)
    return user_id, email


async def test_registration_and_contact_change_keep_an_encrypted_copy(notify: Notify) -> None:
    user_id, email = await register(notify, language="ru", time_zone="Europe/Moscow")
    me = notify.tokens.auth("client", sub=user_id)
    r = await notify.client.get(f"/api/notify/recipients/{user_id}", headers=me)
    assert r.json()["email"] == email and r.json()["language"] == "ru"

    new_email = unique_email("moved")
    changed = example_envelope(
        UserContactChangedV1,
        user_id=user_id,
        email=new_email,
        name="Maria Ivanova",
        phone=None,
        time_zone="Asia/Yekaterinburg",
        language="en",
        changed_fields=["email", "language", "time_zone"],
    )
    await notify.producer.publish(changed)

    async def updated() -> dict[str, object] | None:
        body = (await notify.client.get(f"/api/notify/recipients/{user_id}", headers=me)).json()
        return body if body["language"] == "en" else None

    body = await wait_for(updated)
    assert body["email"] == new_email
    assert body["time_zone"] == "Asia/Yekaterinburg"
    assert body["name"] == "Maria Ivanova"

    # a stale event (older than what notify has) changes nothing
    stale = changed.model_copy(
        update={
            "event_id": uuid.uuid4(),
            "occurred_at": changed.occurred_at - timedelta(hours=1),
            "payload": changed.payload.model_copy(update={"language": "ru"}),
        }
    )
    await notify.producer.publish(stale)
    await notify.producer.event(  # a later event on the same queue, to know the stale one passed
        ConsentGrantedV1, user_id=user_id, purpose="marketing_messages"
    )
    await wait_for(lambda: notify.rows("SELECT 1 FROM consents WHERE user_id = $1", user_id))
    body = (await notify.client.get(f"/api/notify/recipients/{user_id}", headers=me)).json()
    assert body["language"] == "en"

    (row,) = await notify.rows("SELECT email, name FROM recipients WHERE user_id = $1", user_id)
    assert new_email not in row["email"] and row["email"].startswith("gAAAA")  # Fernet
    assert "Maria" not in row["name"]


async def test_consents_follow_cabinet_in_order(notify: Notify) -> None:
    user_id, _ = await register(notify)
    me = notify.tokens.auth("client", sub=user_id)

    async def consent() -> bool:
        r = await notify.client.get(f"/api/notify/preferences/{user_id}", headers=me)
        return bool(r.json()["marketing_consent"])

    assert not await consent()
    granted = await notify.producer.event(
        ConsentGrantedV1, user_id=user_id, purpose="marketing_messages"
    )
    await wait_for(consent)
    await notify.producer.event(
        ConsentWithdrawnV1,
        user_id=user_id,
        purpose="marketing_messages",
        withdrawn_at=granted.payload.granted_at + timedelta(minutes=5),
    )
    await wait_for(lambda: _not(consent))


async def _not(predicate: object) -> bool:
    return not await predicate()  # type: ignore[operator]


async def test_preferences_default_update_and_validation(notify: Notify) -> None:
    user_id, _ = await register(notify, time_zone="Asia/Novosibirsk")
    me = notify.tokens.auth("client", sub=user_id)
    url = f"/api/notify/preferences/{user_id}"

    r = await notify.client.get(url, headers=me)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "user_id": str(user_id),
        "channels": ["telegram", "email"],
        "quiet_hours": None,
        "time_zone": "Asia/Novosibirsk",
        "language": "ru",
        "telegram_linked": False,
        "telegram_reachable": False,
        "marketing_consent": False,
        "news_unsubscribed": False,
    }

    r = await notify.client.patch(
        url,
        json={"channels": ["email"], "quiet_hours": {"start": "22:30", "end": "08:00"}},
        headers=me,
    )
    assert r.status_code == 200, r.text
    assert r.json()["channels"] == ["email"]
    assert r.json()["quiet_hours"] == {"start": "22:30:00", "end": "08:00:00"}

    r = await notify.client.patch(url, json={"quiet_hours": None}, headers=me)
    assert r.json()["quiet_hours"] is None and r.json()["channels"] == ["email"]

    for bad in (
        {"channels": []},
        {"channels": ["sms"]},
        {"channels": ["email", "email"]},
        {"quiet_hours": {"start": "22:00", "end": "22:00"}},
        {"quiet_hours": {"start": "25:00", "end": "08:00"}},
        {"colour": "blue"},
    ):
        r = await notify.client.patch(url, json=bad, headers=me)
        assert r.status_code == 422, bad
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "validation_failed"


async def test_preferences_belong_to_their_owner(notify: Notify) -> None:
    user_id, _ = await register(notify)
    url = f"/api/notify/preferences/{user_id}"
    stranger = notify.tokens.auth("client")
    for call in (
        notify.client.get(url, headers=stranger),
        notify.client.patch(url, json={"channels": ["email"]}, headers=stranger),
    ):
        r = await call
        assert r.status_code == 404
        assert r.json()["code"] == "not_found"
    assert (await notify.client.get(url)).status_code == 401
    r = await notify.client.get(url, headers=notify.tokens.auth("admin"))
    assert r.status_code == 200
    unknown = uuid.uuid4()
    r = await notify.client.get(
        f"/api/notify/preferences/{unknown}", headers=notify.tokens.auth("client", sub=unknown)
    )
    assert r.status_code == 404
