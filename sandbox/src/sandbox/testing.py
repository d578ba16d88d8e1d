"""Helpers for tests of any package: serve an ASGI app, or run the SMTP sink, in the test's loop.

Typical fixtures::

    @pytest.fixture
    async def smtp_sink():
        async with running_smtp_sink() as sink:
            yield sink   # sink.smtp_host, sink.smtp_port, sink.store, sink.inspection_url
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import NamedTuple

from sandbox.serving import LOOPBACK, serve_app
from sandbox.smtp.inspection import create_inspection_app
from sandbox.smtp.server import serve_smtp
from sandbox.smtp.store import MessageStore

__all__ = ["RunningSmtpSink", "running_smtp_sink", "serve_app"]


class RunningSmtpSink(NamedTuple):
    """Where a running SMTP sink listens, and its store (unpacks as a 4-tuple)."""

    smtp_host: str
    smtp_port: int
    store: MessageStore
    inspection_url: str


@contextlib.asynccontextmanager
async def running_smtp_sink(
    host: str = LOOPBACK, smtp_port: int = 0, http_port: int = 0
) -> AsyncIterator[RunningSmtpSink]:
    """Run an SMTP sink and its inspection app (free loopback ports by default) in this loop."""
    store = MessageStore()
    async with (
        serve_smtp(store, host, smtp_port) as (smtp_host, bound_smtp_port),
        serve_app(create_inspection_app(store), host, http_port) as inspection_url,
    ):
        yield RunningSmtpSink(smtp_host, bound_smtp_port, store, inspection_url)
