"""cabinet under test: its own database and vhost, a clock the tests can move, and a signing key
shared with the token verifier (so tokens cabinet issues are accepted by cabinet's own routes)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest
from cabinet.bootstrap import build_runtime, definition
from cabinet.config import CabinetSettings
from servicekit.db.engine import asyncpg_dsn
from servicekit.security.signing import save_keyset
from servicekit.testing import (
    RunningService,
    TokenMint,
    opened_message,
    running_service,
    temporary_vhost,
    wait_until,
)


class MovableClock:
    """Real time plus an offset the test can move forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **kw: float) -> None:
        self.offset += timedelta(**kw)


@dataclass
class Cabinet:
    service: RunningService
    tokens: TokenMint
    clock: MovableClock
    published: list[dict[str, Any]] = field(default_factory=list)
    """Every message cabinet published, as a consumer reads it (a queue bound to ``#``)."""
    wire: list[bytes] = field(default_factory=list)
    """The same messages as they travelled: what a reader of the broker sees."""

    @property
    def client(self) -> httpx.AsyncClient:
        return self.service.client

    async def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(asyncpg_dsn(self.service.database_url))
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    async def events(self, event_type: str, **payload_match: str) -> list[dict[str, Any]]:
        """Payloads of the events cabinet committed so far, oldest first, as they arrived on
        the broker (the outbox keeps no body once published, and a sealed one before)."""

        async def all_arrived() -> bool:
            (row,) = await self.sql(
                "SELECT count(*) AS total, count(*) FILTER (WHERE published_at IS NULL) AS "
                "pending FROM outbox"
            )
            return bool(row["pending"] == 0 and len(self.published) >= row["total"])

        await wait_until(all_arrived, timeout=20)
        payloads = [m["payload"] for m in self.published if m["event_type"] == event_type]
        return [p for p in payloads if all(p.get(k) == v for k, v in payload_match.items())]

    async def register(
        self, email: str | None = None, password: str = "correct horse battery", **extra: Any
    ) -> tuple[str, uuid.UUID]:
        email = email or f"user.{uuid.uuid4().hex[:10]}@example.com"
        r = await self.client.post(
            "/api/cabinet/registrations",
            json={
                "email": email,
                "password": password,
                "name": "Анна",
                "time_zone": "Europe/Moscow",
                "language": "ru",
                **extra,
            },
        )
        assert r.status_code == 202, r.text
        registered = await self.events("cabinet.user.registered", email=email)
        return email, uuid.UUID(registered[-1]["user_id"])

    async def login(self, email: str, password: str = "correct horse battery") -> httpx.Response:
        return await self.client.post(
            "/api/cabinet/sessions", json={"email": email, "password": password}
        )


@contextlib.asynccontextmanager
async def running_cabinet(
    keys_dir: Path, **settings: Any
) -> AsyncIterator[tuple[RunningService, TokenMint, MovableClock, str]]:
    """cabinet on its own database and vhost, signing with a test key; with its clock."""
    tokens = TokenMint()
    keys = keys_dir / "signing.json"
    save_keyset(keys, [tokens.signing_key])
    clock = MovableClock()
    async with (
        temporary_vhost() as amqp_url,
        running_service(
            definition,
            build_runtime,
            CabinetSettings,
            amqp_url=amqp_url,
            tokens=tokens,
            clock=clock,
            jwt_signing_keys_file=str(keys),
            **settings,
        ) as service,
    ):
        yield service, tokens, clock, amqp_url


@pytest.fixture(scope="session")
async def cabinet(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cabinet]:
    # Every test calls from the same address: its own limit is tested apart (test_abuse.py),
    # with the defaults.
    async with running_cabinet(
        tmp_path_factory.mktemp("cabinet-keys"),
        registrations_per_address_per_hour=100_000,
        password_resets_per_address_per_hour=100_000,
    ) as (service, tokens, clock, amqp_url):
        cabinet = Cabinet(service, tokens, clock)
        connection = await aio_pika.connect(amqp_url)
        try:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(
                "cabinet.events", aio_pika.ExchangeType.TOPIC, durable=True
            )
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            await queue.bind(exchange, "#")

            async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                async with message.process():
                    cabinet.wire.append(message.body)
                    cabinet.published.append(opened_message(message.body))

            await queue.consume(on_message)
            yield cabinet
        finally:
            await connection.close()
