"""Cross-service fixtures: every service in this process, each with its own throwaway database,
all on a private RabbitMQ vhost, tokens signed by a test key the services trust.

Nothing here touches a running local stack (its databases are ``praktika_<svc>``, its vhost
``/``); the tests' are ``test_<svc>_<random>`` and ``praktika-test-<random>``.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sandbox.smtp import MessageStore
from sandbox.telegram import TelegramSandbox, running_telegram_fake
from sandbox.testing import running_smtp_sink
from sandbox.yookassa import running_yookassa
from servicekit.security.signing import save_keyset
from servicekit.testing import RunningService, TokenMint, running_service, temporary_vhost

SERVICES = ("cabinet", "notify", "booking", "content")
# The practice's on-duty contact for crisis alerts when no specialist of the client is known.
ON_DUTY_EMAIL = "on-duty@practice.example"
ON_DUTY_CHAT = 777_000_001
SETTINGS = {
    "booking": "BookingSettings",
    "content": "ContentSettings",
    "cabinet": "CabinetSettings",
    "notify": "NotifySettings",
}


@dataclass
class Stack:
    """The services of a test session and a way to mint tokens they accept."""

    services: dict[str, RunningService]
    tokens: TokenMint
    amqp_url: str
    mail: MessageStore
    telegram: TelegramSandbox

    def __getitem__(self, name: str) -> RunningService:
        return self.services[name]

    def auth(self, *roles: str, sub: uuid.UUID | None = None) -> dict[str, str]:
        return self.tokens.auth(*roles, sub=sub)


class ToNotify(httpx.AsyncBaseTransport):
    """The Telegram fake's webhook calls, into notify's app in this process (notify needs the
    fake's URL first, so the app is set once it runs)."""

    def __init__(self) -> None:
        self.app: Any = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.app is None:
            return httpx.Response(503)
        return await httpx.ASGITransport(app=self.app).handle_async_request(request)


@pytest.fixture(scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    tokens = TokenMint()
    # cabinet signs with the key every service here trusts, so its login tokens work everywhere.
    keys_file = tmp_path_factory.mktemp("keys") / "signing.json"
    save_keyset(keys_file, [tokens.signing_key])
    async with AsyncExitStack() as exit_stack:
        amqp_url = await exit_stack.enter_async_context(temporary_vhost())
        # The outside world is the stack's own: never the sandbox of a running `make run`.
        smtp = await exit_stack.enter_async_context(running_smtp_sink())
        webhook = ToNotify()
        telegram = await exit_stack.enter_async_context(
            running_telegram_fake(webhook_transport=webhook)
        )
        await telegram.create_user(ON_DUTY_CHAT, first_name="Дежурный", language_code="ru")
        yookassa = await exit_stack.enter_async_context(running_yookassa())
        services: dict[str, RunningService] = {}
        for name in SERVICES:
            bootstrap = importlib.import_module(f"{name}.bootstrap")
            settings_class = getattr(importlib.import_module(f"{name}.config"), SETTINGS[name])
            services[name] = await exit_stack.enter_async_context(
                running_service(
                    bootstrap.definition,
                    bootstrap.build_runtime,
                    settings_class,
                    amqp_url=amqp_url,
                    tokens=tokens,
                    jwt_signing_keys_file=str(keys_file),
                    smtp_host=smtp.smtp_host,
                    smtp_port=smtp.smtp_port,
                    telegram_api_base=telegram.base_url,
                    telegram_bot_token=telegram.token,
                    yookassa_base_url=yookassa.api_url,
                    # every test registers from the same address (cabinet tests the limit)
                    registrations_per_address_per_hour=100_000,
                    password_resets_per_address_per_hour=100_000,
                    crisis_on_duty_email=ON_DUTY_EMAIL,
                    crisis_on_duty_telegram_chat_id=ON_DUTY_CHAT,
                )
            )
        # Telegram reaches notify's bot as in production: its webhook, set as the CLI does.
        notify = services["notify"]
        webhook.app = notify.app
        notify_settings = notify.runtime.settings
        await notify.runtime.notify.telegram.bot.set_webhook(
            notify_settings.telegram_webhook_url,
            secret_token=notify_settings.telegram_webhook_secret,
        )
        yield Stack(services, tokens, amqp_url, smtp.store, telegram)
