"""booking's composition root."""

from __future__ import annotations

from pathlib import Path

from servicekit.clock import Clock, utcnow
from servicekit.messaging.relay import AfterPublish
from servicekit.runtime import ServiceDefinition, ServiceRuntime

from booking.adapters.tables import metadata
from booking.api.clients import router as clients_router
from booking.config import BookingSettings
from booking.entrypoints.consumers import user_events

definition = ServiceDefinition(
    name="booking",
    title="Praktika booking",
    description=(
        "Service catalog, schedules, slot search, appointments, payments and refunds, "
        "waitlist, intake forms and outcome records."
    ),
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    produces=(),
    consumers=(user_events,),
    routers=(clients_router,),
    port=8001,
)


def build_runtime(
    settings: BookingSettings | None = None,
    *,
    clock: Clock = utcnow,
    relay_after_publish: AfterPublish | None = None,
) -> ServiceRuntime:
    """The booking runtime; tests pass their own settings or clock."""
    return ServiceRuntime(
        definition,
        settings or BookingSettings(),
        clock=clock,
        relay_after_publish=relay_after_publish,
    )
