"""Test helpers any package's tests use: throwaway databases and vhosts, a cuttable TCP proxy.

Tests never touch the databases or vhost of a running local stack: each test session creates
``test_<prefix>_<random>`` databases and a ``praktika-test-<random>`` RabbitMQ vhost and drops
them at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
from contracts.envelope import parse_envelope
from fastapi import FastAPI

from servicekit.clock import Clock
from servicekit.db.migrations import upgrade
from servicekit.http.app import create_app
from servicekit.messaging.sealing import EventSealer, capability_keyring
from servicekit.runtime import ServiceDefinition, ServiceRuntime
from servicekit.security.fields import Keyring
from servicekit.security.signing import generate_signing_key, issue_access_token, public_jwks
from servicekit.settings import (
    DEV_BLIND_INDEX_KEY,
    DEV_CAPABILITY_KEY,
    DEV_FIELD_KEY,
    ServiceSettings,
)

#: What a test reads events with: the development keys every service under test holds, the
#: capability key included (as cabinet and notify hold it).
TEST_SEALER = EventSealer(
    Keyring([DEV_FIELD_KEY], DEV_BLIND_INDEX_KEY), capability_keyring([DEV_CAPABILITY_KEY])
)


def opened_message(body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """A published message (an AMQP body, an outbox row's body) as its consumers read it: JSON
    with the sealed parts opened and merged back into ``payload``. For tests' event taps."""
    return dict(json.loads(parse_envelope(body, opener=TEST_SEALER).model_dump_json()))


PG_ADMIN_DSN = os.environ.get("TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_BASE = os.environ.get("TEST_AMQP_BASE", "amqp://guest:guest@127.0.0.1:5672")
RABBITMQCTL = os.environ.get("RABBITMQCTL", shutil.which("rabbitmqctl") or "rabbitmqctl")


def _database_url(name: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"


@contextlib.asynccontextmanager
async def temporary_database(prefix: str) -> AsyncIterator[str]:
    """A fresh empty database; yields its SQLAlchemy (asyncpg) URL; dropped afterwards."""
    name = f"test_{prefix}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield _database_url(name)
    finally:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@contextlib.asynccontextmanager
async def migrated_database(prefix: str, migrations_dir: Path) -> AsyncIterator[str]:
    """A fresh database migrated to head with a service's Alembic migrations."""
    async with temporary_database(prefix) as url:
        await asyncio.to_thread(upgrade, migrations_dir, url)
        yield url


def _ctl(*args: str) -> None:
    subprocess.run([RABBITMQCTL, "-q", *args], check=True, capture_output=True, timeout=60)


@contextlib.asynccontextmanager
async def temporary_vhost() -> AsyncIterator[str]:
    """A fresh RabbitMQ vhost for guest; yields its AMQP URL; deleted afterwards."""
    vhost = f"praktika-test-{secrets.token_hex(4)}"
    await asyncio.to_thread(_ctl, "add_vhost", vhost)
    await asyncio.to_thread(_ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield f"{AMQP_BASE}/{quote(vhost, safe='')}"
    finally:
        await asyncio.to_thread(_ctl, "delete_vhost", vhost)


class TcpProxy:
    """A loopback TCP proxy a test can cut (drop every connection, refuse new ones) and restore.

    Put it between a client and RabbitMQ to make the broker "unreachable" without touching the
    broker other tests use.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen on a free loopback port (the same port again after a restore)."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        for task in (
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def cut(self) -> None:
        """Stop listening and drop every open connection (clients see the broker vanish)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()

    async def restore(self) -> None:
        """Accept connections again on the same port."""
        await self.start()

    async def close(self) -> None:
        """Cut for good."""
        await self.cut()


async def wait_until(predicate: object, *, timeout: float = 20.0, interval: float = 0.05) -> None:
    """Await ``predicate()`` (sync or async) until it is truthy; ``TimeoutError`` otherwise."""
    async with asyncio.timeout(timeout):
        while True:
            result = predicate()  # type: ignore[operator]
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(interval)


@dataclass
class RunningService:
    """A service started in-process for a test: runtime, app, HTTP client, database URL."""

    name: str
    runtime: ServiceRuntime
    app: FastAPI
    client: httpx.AsyncClient
    database_url: str


@dataclass
class TokenMint:
    """Mints access tokens that services started by :func:`running_service` accept."""

    signing_key: dict[str, Any] = field(default_factory=generate_signing_key)
    issuer: str = "praktika-cabinet"
    audience: str = "praktika"

    @property
    def jwks_json(self) -> str:
        """The public JWKS, as the ``jwt_public_jwks`` setting wants it."""
        return json.dumps(public_jwks([self.signing_key]))

    def token(
        self,
        *roles: str,
        sub: uuid.UUID | None = None,
        lang: str | None = None,
        sid: uuid.UUID | None = None,
    ) -> str:
        """An access token for ``sub`` (random when omitted) with ``roles`` (client by default),
        in session ``sid`` (random when omitted) and, when given, the user's language as the
        ``lang`` claim (as cabinet issues it)."""
        return issue_access_token(
            self.signing_key,
            subject=sub or uuid.uuid4(),
            roles=list(roles or ("client",)),
            issuer=self.issuer,
            audience=self.audience,
            session_id=sid,
            extra_claims=None if lang is None else {"lang": lang},
        )

    def auth(
        self, *roles: str, sub: uuid.UUID | None = None, lang: str | None = None
    ) -> dict[str, str]:
        """``Authorization`` header for :meth:`token`."""
        return {"Authorization": f"Bearer {self.token(*roles, sub=sub, lang=lang)}"}


@contextlib.asynccontextmanager
async def running_service(
    definition: ServiceDefinition,
    build_runtime: Callable[..., ServiceRuntime],
    settings_class: type[ServiceSettings],
    *,
    amqp_url: str,
    tokens: TokenMint,
    clock: Clock | None = None,
    jwks_url: str | None = None,
    database_url: str | None = None,
    **settings: Any,
) -> AsyncIterator[RunningService]:
    """Run a service in this process on its own migrated database and the given vhost.

    ``build_runtime`` is the service's own (``<svc>.bootstrap.build_runtime``); extra keyword
    arguments become settings (e.g. the sandbox fakes' URLs). The consumers are subscribed before
    this yields. Tokens from ``tokens`` are accepted, and with ``jwks_url`` also those signed by
    the keys served there (cabinet's JWKS). With ``database_url`` the service runs on that
    database as it is (a test that migrated it itself, say from an older revision).
    """
    async with contextlib.AsyncExitStack() as stack:
        url: str = (
            database_url
            if database_url is not None
            else await stack.enter_async_context(
                migrated_database(definition.name, definition.migrations_dir)
            )
        )
        config = settings_class(
            database_url=url,
            amqp_url=amqp_url,
            environment="test",
            jwks_url=jwks_url,
            jwt_public_jwks=tokens.jwks_json,
            relay_poll_seconds=0.2,
            timers_poll_seconds=0.2,
            **settings,
        )
        kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
        runtime = build_runtime(config, **kwargs)
        app = create_app(runtime)
        await runtime.start()
        try:
            async with asyncio.timeout(30):
                await runtime.wait_consuming()
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=f"http://{definition.name}"
            ) as client:
                yield RunningService(definition.name, runtime, app, client, url)
        finally:
            await runtime.stop()
