"""Two runtimes in one process (as the tests run services) share no mutable state through the
service's definition: each runs its own consumers, with its own settings, and the
definitions (module-level objects of the service) are left as they were declared."""

from __future__ import annotations

from pathlib import Path

from contracts.cabinet.v1 import UserContactChangedV1
from contracts.envelope import EventEnvelope
from servicekit.messaging.consumer import EventConsumer
from servicekit.messaging.outbox import UnitOfWork
from servicekit.runtime import ServiceDefinition, ServiceRuntime
from servicekit.settings import ServiceSettings
from sqlalchemy import MetaData

# As a service declares it: at module level, its handler registered at import.
profile_events = EventConsumer("booking", "profile-events")


@profile_events.handles(UserContactChangedV1)
async def remember(uow: UnitOfWork, event: EventEnvelope[UserContactChangedV1]) -> None:
    """A handler (never called here)."""


DEFINITION = ServiceDefinition(
    name="booking",
    title="booking",
    description="two runtimes of one definition",
    metadata=MetaData(),
    migrations_dir=Path("."),
    consumers=[profile_events],
)


def _settings(delivery_limit: int) -> ServiceSettings:
    return ServiceSettings(
        environment="test",
        delivery_limit=delivery_limit,
        database_url="postgresql+asyncpg://postgres@127.0.0.1:5432/unused",  # never connected
    )


async def test_each_runtime_runs_its_own_consumers_and_the_definition_stays_as_declared() -> None:
    first = ServiceRuntime(DEFINITION, _settings(delivery_limit=3))
    second = ServiceRuntime(DEFINITION, _settings(delivery_limit=9))
    try:
        mine, theirs = first.consumers.consumers[0], second.consumers.consumers[0]
        assert mine is not profile_events and theirs is not profile_events and mine is not theirs
        assert mine.queue().delivery_limit == 3
        assert theirs.queue().delivery_limit == 9
        assert (
            mine.queue().arguments()["x-delivery-limit"]
            != (theirs.queue().arguments()["x-delivery-limit"])
        )
        assert first.consumers.processors[0].queue.delivery_limit == 3
        # The declaration is untouched (what another runtime, or the AsyncAPI document, reads).
        assert profile_events.delivery_limit == 5
        assert profile_events.queue().delivery_limit == 5
        # Handler tables are the runtime's own too: nothing one runtime does reaches the others.
        assert mine.handlers == profile_events.handlers
        assert mine.handlers is not profile_events.handlers
        assert mine.models is not profile_events.models
    finally:
        await first.stop()
        await second.stop()
