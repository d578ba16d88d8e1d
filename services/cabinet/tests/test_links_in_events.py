"""A one-time link is a key to the account: it never lies in the clear where more people can read
than the account's owner (cabinet's outbox, the broker, a DLQ), and using one closes the rest."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aio_pika
import aio_pika.abc
import pytest
from contracts.envelope import parse_envelope
from contracts.errors import InvalidEvent
from servicekit.messaging.sealing import EventSealer
from servicekit.security.fields import Keyring
from servicekit.settings import DEV_BLIND_INDEX_KEY, DEV_FIELD_KEY
from servicekit.testing import wait_until

from .conftest import Cabinet


def _token(url: str) -> str:
    return urlsplit(url).fragment.removeprefix("token=")


async def _reset_links(cabinet: Cabinet, email: str, user_id: uuid.UUID, n: int) -> list[str]:
    for _ in range(n):
        r = await cabinet.client.post("/api/cabinet/password-resets", json={"email": email})
        assert r.status_code == 202
    found: list[str] = []

    async def made() -> bool:  # a reset's link is made by a timer, after the answer
        events = await cabinet.events("cabinet.user.password_reset_requested", user_id=str(user_id))
        found[:] = [e["reset_url"] for e in events]
        return len(found) >= n

    await wait_until(made, timeout=20)
    return found


@contextlib.asynccontextmanager
async def wire(amqp_url: str) -> AsyncIterator[list[bytes]]:
    """The bodies cabinet publishes while the block runs, as they travel: what anyone who can
    read the broker (or a DLQ) sees, before any key opens them."""
    bodies: list[bytes] = []

    async def keep(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            bodies.append(message.body)

    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            "cabinet.events", aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, "#")
        await queue.consume(keep)
        yield bodies
    finally:
        await connection.close()


async def test_the_reset_link_travels_sealed_for_notify_only(cabinet: Cabinet) -> None:
    email, user_id = await cabinet.register()
    async with wire(cabinet.amqp_url) as bodies:
        (url,) = await _reset_links(cabinet, email, user_id, 1)

        def published() -> list[bytes]:
            return [
                body
                for body in bodies
                if json.loads(body)["event_type"] == "cabinet.user.password_reset_requested"
                and json.loads(body)["payload"]["user_id"] == str(user_id)
            ]

        await wait_until(published)  # the very message the tap opened, as it travelled
        (raw,) = published()
    token = _token(url)
    assert len(token) >= 32

    # Nothing left in the outbox: the relay dropped the body at publish.
    rows = await cabinet.sql(
        "SELECT body, published_at FROM outbox WHERE event_type = "
        "'cabinet.user.password_reset_requested'"
    )
    assert rows and all(r["body"] is None and r["published_at"] is not None for r in rows)
    # On the broker: neither the token, nor the address, nor the name.
    text = raw.decode()
    for secret in (token, url, email, email.split("@")[0], "Анна"):
        assert secret not in text
    # A service holding only the shared field keys (booking, content) cannot open the link.
    every_service = EventSealer(Keyring([DEV_FIELD_KEY], DEV_BLIND_INDEX_KEY))
    with pytest.raises(InvalidEvent, match=r"sealed\.capability"):
        parse_envelope(raw, opener=every_service)


async def test_using_one_reset_link_closes_the_others(cabinet: Cabinet) -> None:
    email, user_id = await cabinet.register()
    first, second, third = await _reset_links(cabinet, email, user_id, 3)
    done = await cabinet.client.post(
        "/api/cabinet/password-resets/confirm",
        json={"token": _token(second), "new_password": "a brand new secret"},
    )
    assert done.status_code == 204
    for older_or_newer in (first, third):
        again = await cabinet.client.post(
            "/api/cabinet/password-resets/confirm",
            json={"token": _token(older_or_newer), "new_password": "the thief's password"},
        )
        assert (again.status_code, again.json()["code"]) == (400, "invalid_token")
    assert (await cabinet.login(email, "a brand new secret")).status_code == 200
    assert (await cabinet.login(email, "the thief's password")).status_code == 401


async def test_a_password_change_ends_every_session(cabinet: Cabinet) -> None:
    email, _ = await cabinet.register()
    phone, laptop = (await cabinet.login(email)).json(), (await cabinet.login(email)).json()
    r = await cabinet.client.post(
        "/api/cabinet/me/password",
        json={"current_password": "correct horse battery", "new_password": "a brand new secret"},
        headers={"Authorization": f"Bearer {laptop['access_token']}"},
    )
    assert r.status_code == 204
    for session in (phone, laptop):
        refreshed = await cabinet.client.post(
            "/api/cabinet/sessions/refresh", json={"refresh_token": session["refresh_token"]}
        )
        assert (refreshed.status_code, refreshed.json()["code"]) == (401, "invalid_refresh_token")
