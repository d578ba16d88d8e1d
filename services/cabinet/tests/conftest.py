"""cabinet under test: its own database and vhost, a clock each test may move (and that is back at
real time for the next one), a tap on what cabinet publishes, and a signing key shared with the
token verifier (so tokens cabinet issues are accepted by cabinet's own routes)."""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from cabinet.bootstrap import CabinetRuntime, build_runtime, definition
from cabinet.config import CabinetSettings
from servicekit.db.engine import asyncpg_dsn
from servicekit.security.signing import save_keyset
from servicekit.testing import (
    EventTap,
    FakeClock,
    RunningService,
    TokenMint,
    outbox_drained,
    running_service,
    tapping,
    temporary_vhost,
)

PASSWORD = "correct horse battery"


@dataclass
class Service:
    """A cabinet running in this process, with what tests do with it."""

    service: RunningService
    tokens: TokenMint
    clock: FakeClock
    amqp_url: str

    @property
    def client(self) -> httpx.AsyncClient:
        return self.service.client

    @property
    def runtime(self) -> CabinetRuntime:
        runtime = self.service.runtime
        assert isinstance(runtime, CabinetRuntime)
        return runtime

    @contextlib.asynccontextmanager
    async def caller(self) -> AsyncIterator[httpx.AsyncClient]:
        """A client calling from an address of its own: what it is counted for (failed logins,
        registrations, mails asked for per source address) is its own, whatever ran before."""
        address = str(ipaddress.IPv4Address("198.18.0.0") + secrets.randbelow(1 << 17))
        transport = httpx.ASGITransport(app=self.service.app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://cabinet") as client:
            yield client

    async def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(asyncpg_dsn(self.service.database_url))
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    async def login(
        self,
        email: str,
        password: str = PASSWORD,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> httpx.Response:
        return await (client or self.client).post(
            "/api/cabinet/sessions", json={"email": email, "password": password}
        )


@dataclass
class Cabinet(Service):
    """The session's cabinet, with a tap on ``cabinet.events``."""

    tap: EventTap

    async def events(self, event_type: str, **payload_match: str) -> list[dict[str, Any]]:
        """Payloads of the events cabinet committed so far, oldest first, as they arrived on
        the broker (the outbox keeps no body once published, and a sealed one before): every
        committed event is published, and everything published before it is in the tap."""
        await outbox_drained(self.service.database_url)
        await self.tap.flush()
        return [e["payload"] for e in self.tap.of(event_type, **payload_match)]

    async def register(
        self, email: str | None = None, password: str = PASSWORD, **extra: Any
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


@contextlib.asynccontextmanager
async def running_cabinet(
    keys_dir: Path, **settings: Any
) -> AsyncIterator[tuple[RunningService, TokenMint, FakeClock, str]]:
    """cabinet on its own database and vhost, signing with a test key; with its clock (real
    time plus an offset tests move)."""
    tokens = TokenMint()
    keys = keys_dir / "signing.json"
    save_keyset(keys, [tokens.signing_key])
    clock = FakeClock()
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


def clock_of(service: Service) -> Iterator[FakeClock]:
    """The service's clock for one test: at real time when the test starts, back at real time
    when it ends, whatever the test did with it (a test's moves never reach the next one)."""
    clock = service.clock
    clock.frozen, clock.offset = None, timedelta()
    try:
        yield clock
    finally:
        clock.frozen, clock.offset = None, timedelta()


@pytest.fixture(scope="session")
async def cabinet(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cabinet]:
    # Every test calls from the same address unless it takes a `caller()` of its own; the limits
    # per source address are tested apart (test_abuse.py), with the defaults.
    async with (
        running_cabinet(
            tmp_path_factory.mktemp("cabinet-keys"),
            registrations_per_address_per_hour=100_000,
            password_resets_per_address_per_hour=100_000,
        ) as (service, tokens, clock, amqp_url),
        tapping(amqp_url, "cabinet.events") as tap,
    ):
        yield Cabinet(service, tokens, clock, amqp_url, tap)


@pytest.fixture
def clock(cabinet: Cabinet) -> Iterator[FakeClock]:
    """The session cabinet's clock, for this test only."""
    yield from clock_of(cabinet)
