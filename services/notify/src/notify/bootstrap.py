"""notify's composition root."""

from __future__ import annotations

from pathlib import Path

from servicekit.clock import Clock, utcnow
from servicekit.messaging.relay import AfterPublish
from servicekit.runtime import ServiceDefinition, ServiceRuntime

from notify.adapters.tables import metadata
from notify.api.recipients import router as recipients_router
from notify.config import NotifySettings
from notify.entrypoints.consumers import user_events

definition = ServiceDefinition(
    name="notify",
    title="Praktika notify",
    description="Telegram bot, email, notification rules, reminders and the delivery log.",
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    produces=(),
    consumers=(user_events,),
    routers=(recipients_router,),
    port=8004,
)


def build_runtime(
    settings: NotifySettings | None = None,
    *,
    clock: Clock = utcnow,
    relay_after_publish: AfterPublish | None = None,
) -> ServiceRuntime:
    """The notify runtime; tests pass their own settings or clock."""
    return ServiceRuntime(
        definition,
        settings or NotifySettings(),
        clock=clock,
        relay_after_publish=relay_after_publish,
    )
