"""The Telegram Bot API fake as an app and as a registered fake of the runner."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from fastapi import FastAPI

from sandbox.kit import FakeBuild, FaultExtension, create_sandbox_app
from sandbox.telegram.botapi import BotApi, add_bot_api_routes
from sandbox.telegram.inspection import add_inspection_routes
from sandbox.telegram.models import DEFAULT_BOT, BotIdentity, TelegramFault
from sandbox.telegram.simulator import UserSimulator
from sandbox.telegram.store import TelegramStore


def create_telegram_app(
    bots: Sequence[BotIdentity] = (DEFAULT_BOT,),
    *,
    clock: Callable[[], float] = time.time,
    webhook_timeout: float = 10.0,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """A fresh Telegram fake: ``/bot<token>/<METHOD>`` plus the ``/_sandbox/`` inspection API.

    ``bots`` are the tokens it accepts (default ``1000:sandbox-token``, alias ``sandbox-token``,
    bot id 1000, ``@praktika_sandbox_bot``). ``clock`` gives message dates and send times.
    Webhook deliveries use ``webhook_transport`` when given (e.g. ``httpx.ASGITransport`` to reach
    an app that is not listening on a port). The state is reachable as :func:`telegram_store`.
    """
    store = TelegramStore(bots, clock=clock)
    api = BotApi(store)
    users = UserSimulator(store, api, timeout=webhook_timeout, transport=webhook_transport)

    def add_fault(payload: dict[str, Any]) -> Any:
        return store.add_fault(TelegramFault.model_validate(payload))

    app = create_sandbox_app(
        "telegram",
        description="Telegram Bot API: /bot<token>/METHOD, simulated users, webhook delivery",
        reset_hooks=[store.reset],
        fault_extensions=[
            FaultExtension(
                kind="telegram",
                key="error_code",
                add=add_fault,
                pending=store.pending_faults,
                clear=store.clear_faults,
            )
        ],
    )
    app.state.telegram = store
    app.state.telegram_users = users
    add_bot_api_routes(app, store, api)
    add_inspection_routes(app, store, users)
    return app


def telegram_store(app: FastAPI) -> TelegramStore:
    """The :class:`TelegramStore` of an app made by :func:`create_telegram_app`."""
    store: TelegramStore = app.state.telegram
    return store


def build_telegram_fake(host: str, ports: dict[str, int]) -> FakeBuild:
    """Factory for the registry: the Telegram fake with the default bot."""
    return FakeBuild(app=create_telegram_app())
