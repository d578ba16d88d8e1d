"""A whole stack as ``make run`` starts it (real processes, the nginx gateway, the sandbox), on
free ports, its own databases and a private vhost: tests here use the local run's own
configuration (devstack.environment), not test-only overrides, and never touch `make run`'s.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from devstack import StackLayout, down, up
from devstack.journeys import Praktika
from devstack.processes import drop_databases
from servicekit.testing import temporary_vhost

#: A running stack and clients for what a person and the outside world reach: the same class the
#: demo (``praktika-stack demo``) walks ``make run``'s stack with, so the journeys' steps are one
#: piece of code (devstack.journeys).
LocalStack = Praktika


@pytest.fixture(scope="package")
async def local_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    state: Path = tmp_path_factory.mktemp("stack")
    async with temporary_vhost() as amqp_url:
        layout = StackLayout.on_free_ports(
            state, amqp_url=amqp_url, database_prefix=f"test_stack_{secrets.token_hex(4)}_"
        )
        try:
            await asyncio.to_thread(up, layout, timeout=180)
            async with httpx.AsyncClient(base_url=layout.origin, timeout=30) as gateway:
                yield Praktika(layout, gateway)
        finally:
            await asyncio.to_thread(down, layout)
            await drop_databases(layout)
