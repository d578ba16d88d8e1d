"""pytest plugin (entry point ``pytest11``): sandbox fixtures for the tests of any package.

- ``smtp_sink``: a fresh SMTP sink on free loopback ports, as
  :class:`sandbox.testing.RunningSmtpSink` (``smtp_host, smtp_port, store, inspection_url``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from sandbox.testing import RunningSmtpSink, running_smtp_sink


@pytest_asyncio.fixture
async def smtp_sink() -> AsyncIterator[RunningSmtpSink]:
    """A running SMTP sink and its inspection app, stopped after the test."""
    async with running_smtp_sink() as sink:
        yield sink
