"""Cross-service fixtures: every service in this process, each with its own throwaway database,
all on a private RabbitMQ vhost, tokens signed by a test key the services trust.

Nothing here touches a running local stack (its databases are ``praktika_<svc>``, its vhost
``/``); the tests' are ``test_<svc>_<random>`` and ``praktika-test-<random>``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from servicekit.http.app import create_app
from servicekit.runtime import ServiceRuntime
from servicekit.security.signing import generate_signing_key, issue_access_token, public_jwks
from servicekit.testing import migrated_database, temporary_vhost

ISSUER, AUDIENCE = "praktika-cabinet", "praktika"


@dataclass
class Service:
    """A service running in-process: its runtime, app, HTTP client and database URL."""

    name: str
    runtime: ServiceRuntime
    app: FastAPI
    client: httpx.AsyncClient
    database_url: str


@dataclass
class Stack:
    """The services of a test session and a way to mint tokens they accept."""

    services: dict[str, Service]
    signing_key: dict[str, Any]
    amqp_url: str

    def __getitem__(self, name: str) -> Service:
        return self.services[name]

    def token(self, *roles: str, sub: uuid.UUID | None = None) -> str:
        return issue_access_token(
            self.signing_key,
            subject=sub or uuid.uuid4(),
            roles=list(roles or ("client",)),
            issuer=ISSUER,
            audience=AUDIENCE,
        )

    def auth(self, *roles: str, sub: uuid.UUID | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(*roles, sub=sub)}"}


def _build(name: str, settings: dict[str, Any]) -> tuple[ServiceRuntime, FastAPI]:
    if name == "booking":
        from booking.bootstrap import build_runtime as b
        from booking.config import BookingSettings as S
    elif name == "content":
        from content.bootstrap import build_runtime as b  # type: ignore[no-redef]
        from content.config import ContentSettings as S  # type: ignore[no-redef]
    elif name == "cabinet":
        from cabinet.bootstrap import build_runtime as b  # type: ignore[no-redef]
        from cabinet.config import CabinetSettings as S  # type: ignore[no-redef]
    else:
        from notify.bootstrap import build_runtime as b  # type: ignore[no-redef]
        from notify.config import NotifySettings as S  # type: ignore[no-redef]
    runtime = b(S(**settings))
    return runtime, create_app(runtime)


@pytest.fixture(scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    from contextlib import AsyncExitStack

    from servicekit.security.signing import save_keyset

    key = generate_signing_key()
    keys_file = tmp_path_factory.mktemp("keys") / "signing.json"
    save_keyset(keys_file, [key])
    names: Iterable[str] = ("cabinet", "notify", "booking", "content")
    async with AsyncExitStack() as exit_stack:
        amqp_url = await exit_stack.enter_async_context(temporary_vhost())
        services: dict[str, Service] = {}
        for name in names:
            module = __import__(f"{name}.bootstrap", fromlist=["definition"])
            url = await exit_stack.enter_async_context(
                migrated_database(name, module.definition.migrations_dir)
            )
            runtime, app = _build(
                name,
                {
                    "database_url": url,
                    "amqp_url": amqp_url,
                    "environment": "test",
                    "jwks_url": None,
                    "jwt_public_jwks": json.dumps(public_jwks([key])),
                    "relay_poll_seconds": 0.2,
                    "jwt_signing_keys_file": str(keys_file),
                },
            )
            await runtime.start()
            exit_stack.push_async_callback(runtime.stop)
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=f"http://{name}"
            )
            exit_stack.push_async_callback(client.aclose)
            services[name] = Service(name, runtime, app, client, url)
        for service in services.values():
            import asyncio

            async with asyncio.timeout(30):
                await service.runtime.wait_consuming()
        yield Stack(services, key, amqp_url)
