"""notify's composition root.

The consumers' and timers' handlers are bound to a :class:`~notify.context.NotifyContext` (the
runtime's settings, clock and channels), so each runtime builds its own definition; the module
level ``definition`` (built with default settings, nothing connected) describes the service for
the admin command line and the AsyncAPI document.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from contracts.notify.v1 import (
    DeeplinkActivatedV1,
    DeliveryFailedV1,
    TelegramActionRequestedV1,
    TelegramLinkedV1,
)
from servicekit.clock import Clock, utcnow
from servicekit.messaging.relay import AfterPublish
from servicekit.runtime import ServiceDefinition

from notify.adapters.tables import metadata
from notify.api.deeplinks import router as deeplinks_router
from notify.api.deliveries import router as deliveries_router
from notify.api.me import router as me_router
from notify.api.preferences import router as preferences_router
from notify.api.recipients import router as recipients_router
from notify.api.telegram import router as telegram_router
from notify.api.unsubscribe import router as unsubscribe_router
from notify.config import NotifySettings
from notify.context import NotifyContext
from notify.entrypoints.consumers import build_consumers
from notify.entrypoints.timers import build_timers
from notify.runtime import NotifyRuntime


def build_definition(ctx: NotifyContext) -> ServiceDefinition:
    """notify's definition, with handlers bound to ``ctx``."""
    return ServiceDefinition(
        name="notify",
        title="Praktika notify",
        description="Telegram bot, email, notification rules, reminders and the delivery log.",
        metadata=metadata,
        migrations_dir=Path(__file__).parent / "migrations",
        produces=(
            TelegramLinkedV1,
            DeeplinkActivatedV1,
            TelegramActionRequestedV1,
            DeliveryFailedV1,
        ),
        consumers=build_consumers(ctx),
        timers=build_timers(ctx),
        routers=(
            recipients_router,
            preferences_router,
            me_router,
            deliveries_router,
            deeplinks_router,
            telegram_router,
            unsubscribe_router,
        ),
        port=8004,
    )


# The description of the service (its AsyncAPI, the OpenAPI audit): the handlers bound here never
# run (build_runtime binds its own to the real settings), so the development defaults describe it
# without any secret being read from the environment.
definition = build_definition(NotifyContext(NotifySettings(environment="development")))


def build_runtime(
    settings: NotifySettings | None = None,
    *,
    clock: Clock = utcnow,
    relay_after_publish: AfterPublish | None = None,
) -> NotifyRuntime:
    """The notify runtime; tests pass their own settings or clock."""
    settings = settings or NotifySettings()
    ctx = NotifyContext(settings, clock)
    own = dataclasses.replace(definition, consumers=build_consumers(ctx), timers=build_timers(ctx))
    return NotifyRuntime(own, settings, ctx, clock=clock, relay_after_publish=relay_after_publish)
