"""The YooKassa fake as a registered fake (``praktika-sandbox``) and as a test helper.

The runner's fake reads its settings from the environment: ``SANDBOX_YOOKASSA_WEBHOOK_URL``
(where notifications go; also settable at run time with ``POST /_sandbox/webhook``),
``SANDBOX_YOOKASSA_SHOP_ID`` and ``SANDBOX_YOOKASSA_SECRET_KEY`` (default ``sandbox-shop`` /
``sandbox-secret``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any, NamedTuple

from fastapi import FastAPI

from sandbox.kit import FakeBuild
from sandbox.serving import LOOPBACK, serve_app
from sandbox.yookassa.app import (
    DEFAULT_SECRET_KEY,
    DEFAULT_SHOP_ID,
    YooKassaFake,
    create_yookassa_app,
    yookassa_fake,
)


def build_yookassa_fake(
    host: str, ports: dict[str, int], environ: Mapping[str, str] | None = None
) -> FakeBuild:
    """Factory for the registry: the YooKassa app, configured from ``environ`` (the process's)."""
    env = os.environ if environ is None else environ
    app = create_yookassa_app(
        webhook_url=env.get("SANDBOX_YOOKASSA_WEBHOOK_URL") or None,
        credentials={
            env.get("SANDBOX_YOOKASSA_SHOP_ID") or DEFAULT_SHOP_ID: env.get(
                "SANDBOX_YOOKASSA_SECRET_KEY"
            )
            or DEFAULT_SECRET_KEY
        },
    )
    return FakeBuild(app=app)


class RunningYooKassa(NamedTuple):
    """A YooKassa fake serving on the loopback (unpacks as a 4-tuple)."""

    base_url: str
    """``http://127.0.0.1:PORT``: the checkout page and ``/_sandbox/`` live here."""
    api_url: str
    """``<base_url>/v3``: what a YooKassa client takes as its API base URL."""
    app: FastAPI
    fake: YooKassaFake
    """Direct access to the store and notifier (e.g. ``fake.notifier.wait_for(...)``)."""


@contextlib.asynccontextmanager
async def running_yookassa(
    host: str = LOOPBACK, port: int = 0, **options: Any
) -> AsyncIterator[RunningYooKassa]:
    """Serve a fresh YooKassa fake in this event loop (a free port by default) until exit.

    ``options`` go to :func:`~sandbox.yookassa.app.create_yookassa_app` (``webhook_url``,
    ``credentials``, ``notification_policy``, ``clock``, ...).
    """
    app = create_yookassa_app(**options)
    async with serve_app(app, host, port) as base_url:
        yield RunningYooKassa(base_url, f"{base_url}/v3", app, yookassa_fake(app))
