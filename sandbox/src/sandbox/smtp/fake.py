"""The SMTP sink as a registered fake: the SMTP listener plus its inspection app, one store."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sandbox.kit import FakeBuild
from sandbox.smtp.inspection import create_inspection_app
from sandbox.smtp.server import serve_smtp
from sandbox.smtp.store import MessageStore

SMTP_PORT_NAME = "smtp"
"""Name of the SMTP listener's port in the registry (env ``SANDBOX_SMTP_PORT``)."""


def build_smtp_fake(host: str, ports: dict[str, int]) -> FakeBuild:
    """Factory for the registry: inspection app plus the SMTP server on ``ports["smtp"]``."""
    store = MessageStore()

    @contextlib.asynccontextmanager
    async def smtp_listener() -> AsyncIterator[str]:
        async with serve_smtp(store, host, ports[SMTP_PORT_NAME]) as (bound_host, bound_port):
            yield f"smtp://{bound_host}:{bound_port}"

    return FakeBuild(app=create_inspection_app(store), companions=[smtp_listener()])
