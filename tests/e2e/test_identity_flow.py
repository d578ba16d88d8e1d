"""Identity across services: cabinet issues, booking verifies through cabinet's JWKS over HTTP.

cabinet is served on a real loopback port so booking fetches ``/.well-known/jwks.json`` like it
does in production; signing keys rotate without logging anyone out.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import jwt
import pytest
from booking.bootstrap import build_runtime as build_booking
from booking.bootstrap import definition as booking_definition
from booking.config import BookingSettings
from cabinet.adapters.keys import ensure_keyset, rotate_keyset
from cabinet.bootstrap import build_runtime as build_cabinet
from cabinet.bootstrap import definition as cabinet_definition
from cabinet.config import CabinetSettings
from sandbox.testing import serve_app
from servicekit.security.signing import generate_signing_key, issue_access_token
from servicekit.testing import (
    RunningService,
    TokenMint,
    opened_message,
    running_service,
    temporary_vhost,
    wait_until,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


@dataclass
class Pair:
    cabinet: RunningService
    booking: RunningService
    keys_file: Path


@pytest.fixture(scope="module")
async def pair(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pair]:
    keys_file = tmp_path_factory.mktemp("rotating-keys") / "signing.json"
    tokens = TokenMint()  # unrelated test key: only cabinet's JWKS matters here
    async with (
        temporary_vhost() as amqp_url,
        running_service(
            cabinet_definition,
            build_cabinet,
            CabinetSettings,
            amqp_url=amqp_url,
            tokens=tokens,
            jwt_signing_keys_file=str(keys_file),
        ) as cabinet,
        serve_app(cabinet.app) as cabinet_url,
    ):
        jwks = f"{cabinet_url}/.well-known/jwks.json"
        # cabinet verifies its own tokens through its JWKS, like every service.
        cabinet.runtime.verifier.jwks_url = jwks  # type: ignore[attr-defined]
        async with running_service(
            booking_definition,
            build_booking,
            BookingSettings,
            amqp_url=amqp_url,
            tokens=tokens,
            jwks_url=jwks,
            jwks_cache_seconds=1.0,
            jwks_min_refresh_seconds=0.2,
        ) as booking:
            yield Pair(cabinet, booking, keys_file)


@contextlib.asynccontextmanager
async def _links_sent(amqp_url: str) -> AsyncIterator[list[dict[str, Any]]]:
    """The verification events cabinet publishes meanwhile, opened as notify reads them (the
    outbox keeps no body once published, and the link travels sealed)."""
    found: list[dict[str, Any]] = []
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            "cabinet.events", aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, "cabinet.user.email_verification_requested.v1")

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                found.append(opened_message(message.body)["payload"])

        await queue.consume(on_message)
        yield found
    finally:
        await connection.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_register_verify_login_call_booking_refresh_logout(pair: Pair) -> None:
    email = f"flow.{uuid.uuid4().hex[:8]}@example.com"
    cabinet, booking = pair.cabinet.client, pair.booking.client
    async with _links_sent(pair.cabinet.runtime.settings.amqp_url) as links:
        assert (
            await cabinet.post(
                "/api/cabinet/registrations",
                json={"email": email, "password": "correct horse battery", "name": "Ольга"},
            )
        ).status_code == 202
        await wait_until(lambda: any(p["email"] == email for p in links), timeout=20)
    (link,) = [p for p in links if p["email"] == email]
    admin_lookup = await cabinet.get(
        "/api/cabinet/users",
        params={"email": email},
        headers=bearer(
            issue_access_token(
                ensure_keyset(pair.keys_file)[0],
                subject=uuid.uuid4(),
                roles=["admin"],
                issuer="praktika-cabinet",
                audience="praktika",
            )
        ),
    )
    user_id = uuid.UUID(admin_lookup.json()["items"][0]["id"])
    assert link["user_id"] == str(user_id)
    token = urlsplit(str(link["verification_url"])).fragment.removeprefix("token=")
    assert (
        await cabinet.post("/api/cabinet/email-verifications", json={"token": token})
    ).status_code == 204

    session = (
        await cabinet.post(
            "/api/cabinet/sessions", json={"email": email, "password": "correct horse battery"}
        )
    ).json()

    async def booking_knows_me() -> bool:
        r = await booking.get(
            f"/api/booking/clients/{user_id}", headers=bearer(session["access_token"])
        )
        return r.status_code == 200

    await wait_until(booking_knows_me, timeout=20)

    refreshed = (
        await cabinet.post(
            "/api/cabinet/sessions/refresh", json={"refresh_token": session["refresh_token"]}
        )
    ).json()
    r = await booking.get(
        f"/api/booking/clients/{user_id}", headers=bearer(refreshed["access_token"])
    )
    assert r.status_code == 200
    assert (
        await cabinet.post(
            "/api/cabinet/sessions/logout", json={"refresh_token": refreshed["refresh_token"]}
        )
    ).status_code == 204
    gone = await cabinet.post(
        "/api/cabinet/sessions/refresh", json={"refresh_token": refreshed["refresh_token"]}
    )
    assert gone.status_code == 401


async def test_rotation_keeps_sessions_and_a_retired_or_foreign_key_is_refused(
    pair: Pair,
) -> None:
    email = f"rotate.{uuid.uuid4().hex[:8]}@example.com"
    cabinet, booking = pair.cabinet.client, pair.booking.client
    await cabinet.post(
        "/api/cabinet/registrations",
        json={"email": email, "password": "correct horse battery", "name": "Пётр"},
    )
    before = (
        await cabinet.post(
            "/api/cabinet/sessions", json={"email": email, "password": "correct horse battery"}
        )
    ).json()
    user_id = uuid.UUID(
        (await cabinet.get("/api/cabinet/me", headers=bearer(before["access_token"]))).json()["id"]
    )

    async def booking_answers(token: str, expected: int) -> bool:
        r = await booking.get(f"/api/booking/clients/{user_id}", headers=bearer(token))
        return r.status_code == expected

    await wait_until(lambda: booking_answers(before["access_token"], 200), timeout=20)

    # A new key is published at once and signs after its activation delay.
    rotate_keyset(pair.keys_file, activation=timedelta(seconds=0.5))
    await asyncio.sleep(0.6)
    after = (
        await cabinet.post(
            "/api/cabinet/sessions/refresh", json={"refresh_token": before["refresh_token"]}
        )
    ).json()
    assert (
        jwt.get_unverified_header(after["access_token"])["kid"]
        != (jwt.get_unverified_header(before["access_token"])["kid"])
    )
    assert await booking_answers(before["access_token"], 200)  # nobody is logged out
    assert await booking_answers(after["access_token"], 200)  # new kid fetched on demand

    foreign = issue_access_token(
        generate_signing_key(),
        subject=user_id,
        roles=["client"],
        issuer="praktika-cabinet",
        audience="praktika",
    )
    r = await booking.get(f"/api/booking/clients/{user_id}", headers=bearer(foreign))
    assert (r.status_code, r.json()["code"]) == (401, "invalid_token")

    for _ in range(2):  # two more rotations: the first key leaves the JWKS
        rotate_keyset(pair.keys_file, activation=timedelta(seconds=0.1))
    await asyncio.sleep(0.2)
    await wait_until(lambda: booking_answers(before["access_token"], 401), timeout=15)
    assert await booking_answers(after["access_token"], 200)
