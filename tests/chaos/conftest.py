"""The chaos stack: the whole local stack (``make run``'s processes, gateway and sandbox, through
devstack) on free ports, against a private PostgreSQL cluster and a private RabbitMQ node reached
through an in-process TCP proxy, so faults can be injected without touching anything shared.

Chaos tests run only when asked for (``make test-chaos``, ``pytest -m chaos``): ``make test``
deselects them, and a bare ``pytest`` skips them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from devstack import StackLayout, down, up
from servicekit.security.signing import save_keyset
from servicekit.testing import TokenMint

from tests.chaos.infra import PrivatePostgres, PrivateRabbit, TcpProxy


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "chaos" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="chaos tests run with `make test-chaos` (pytest -m chaos)")
    for item in items:
        if item.get_closest_marker("chaos") is not None:
            item.add_marker(skip)


@dataclasses.dataclass
class ChaosStack:
    layout: StackLayout
    postgres: PrivatePostgres
    rabbit: PrivateRabbit
    proxy: TcpProxy
    tokens: TokenMint


@pytest.fixture(scope="package")
async def chaos_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ChaosStack]:
    state: Path = tmp_path_factory.mktemp("chaos")
    postgres, rabbit = PrivatePostgres(), PrivateRabbit()
    proxy = TcpProxy(rabbit.port)
    layout: StackLayout | None = None
    try:
        await asyncio.to_thread(postgres.init)
        await asyncio.to_thread(postgres.start)
        await asyncio.to_thread(rabbit.start)
        await proxy.start()
        layout = dataclasses.replace(
            StackLayout.on_free_ports(
                state,
                amqp_url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/",
                database_prefix=f"chaos_{secrets.token_hex(3)}_",
            ),
            pg_admin_dsn=postgres.admin_dsn,
        )
        # cabinet signs with this key (it keeps an existing key file), so tokens minted here are
        # accepted by every service through cabinet's JWKS, as ``make token``'s are.
        tokens = TokenMint()
        layout.state.mkdir(parents=True, exist_ok=True)
        save_keyset(layout.signing_keys_file, [tokens.signing_key])
        # In a thread: the proxy forwards on this loop while the services start.
        await asyncio.to_thread(up, layout, timeout=180)
        yield ChaosStack(layout, postgres, rabbit, proxy, tokens)
    finally:
        if layout is not None:
            await asyncio.to_thread(down, layout)
        await proxy.close()
        await asyncio.to_thread(rabbit.destroy)
        await asyncio.to_thread(postgres.destroy)
