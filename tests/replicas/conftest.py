"""A stack as ``make run`` starts it (devstack: real processes, the gateway, the sandbox) on free
ports, its own databases and a private vhost, whose tokens the test mints itself; the replica test
starts further replicas of booking and notify beside it, as ``docker compose --scale`` would."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from devstack import StackLayout, down, up
from devstack.processes import drop_databases
from servicekit.security.signing import save_keyset
from servicekit.testing import TokenMint, temporary_vhost


@dataclasses.dataclass
class ReplicaStack:
    layout: StackLayout
    tokens: TokenMint


@pytest.fixture(scope="package")
async def replica_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ReplicaStack]:
    state: Path = tmp_path_factory.mktemp("replicas")
    async with temporary_vhost() as amqp_url:
        layout = StackLayout.on_free_ports(
            state, amqp_url=amqp_url, database_prefix=f"test_replicas_{secrets.token_hex(3)}_"
        )
        # cabinet signs with this key (it keeps an existing key file): tokens minted here are
        # accepted by every service through cabinet's JWKS, as ``make token``'s are.
        tokens = TokenMint()
        layout.state.mkdir(parents=True, exist_ok=True)
        save_keyset(layout.signing_keys_file, [tokens.signing_key])
        try:
            await asyncio.to_thread(up, layout, timeout=180)
            yield ReplicaStack(layout, tokens)
        finally:
            await asyncio.to_thread(down, layout)
            await drop_databases(layout)
