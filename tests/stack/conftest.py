"""A whole stack as ``make run`` starts it (real processes, the nginx gateway, the sandbox), on
free ports, its own databases and a private vhost: tests here use the local run's own
configuration (devstack.environment), not test-only overrides, and never touch `make run`'s.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from devstack import StackLayout, down, up
from devstack.environment import service_env
from devstack.processes import drop_databases
from servicekit.testing import temporary_vhost, wait_until


@dataclass
class LocalStack:
    """A running stack and clients for what a person and the outside world reach."""

    layout: StackLayout
    gateway: httpx.AsyncClient
    """The one origin: every request of a person or front end goes through it."""

    def sandbox(self, port_name: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.layout.sandbox_url(port_name), timeout=30)

    def token(self, role: str, sub: str | None = None) -> str:
        """What ``make token`` prints, for this stack."""
        argv = ["cabinet-admin", "issue-token", "--role", role]
        if sub is not None:
            argv += ["--sub", sub]
        done = subprocess.run(
            argv,
            env=service_env(self.layout, "cabinet"),
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    async def mail_to(self, address: str, subject_contains: str) -> dict[str, Any]:
        """The newest message to ``address`` whose subject contains the text (waits for it)."""
        found: dict[str, Any] = {}

        async def arrived() -> bool:
            async with self.sandbox("smtp-inspection") as smtp:
                messages = (await smtp.get("/_sandbox/messages")).json()
            for message in reversed(messages):
                if address in message["to_addresses"] and subject_contains in message["subject"]:
                    found.update(message)
                    return True
            return False

        await wait_until(arrived, timeout=30)
        return found

    @staticmethod
    def link_in(message: dict[str, Any]) -> str:
        match = re.search(r"https?://\S+", message["text"])
        assert match is not None, message["text"]
        return match.group(0)


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
                yield LocalStack(layout, gateway)
        finally:
            await asyncio.to_thread(down, layout)
            await drop_databases(layout)
