"""Fixtures for the messaging tests: a real database and a private RabbitMQ vhost.

The "producer" writes through the real unit of work as ``cabinet`` (any registered contract
event will do: here ``cabinet.user.contact_changed``, whose ``user_id`` is the aggregate), and the
consumer is a test service ``kittest`` with its own queue, inbox and effect table.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from contracts.cabinet.v1 import UserContactChangedV1
from contracts.envelope import EventEnvelope
from servicekit.db.engine import asyncpg_dsn, make_engine, make_session_factory
from servicekit.db.tables import install_kit_schema
from servicekit.messaging.broker import ConsumerHost
from servicekit.messaging.consumer import EventConsumer
from servicekit.messaging.outbox import UnitOfWork, UnitOfWorkFactory
from servicekit.messaging.relay import AfterPublish, OutboxRelay
from servicekit.metrics import ServiceMetrics
from servicekit.testing import TEST_SEALER, temporary_database, temporary_vhost
from sqlalchemy import BigInteger, Column, Identity, Integer, MetaData, Table, Text, func, select
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncEngine

test_metadata = MetaData()
profiles = Table(
    "profiles",
    test_metadata,
    Column("user_id", UUID(as_uuid=True), primary_key=True),
    Column("name", Text, nullable=False),
    Column("version", Integer, nullable=False),
)
seen = Table(
    "seen",
    test_metadata,
    Column("seq", BigInteger, Identity(), primary_key=True),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("name", Text, nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),
)

EXCHANGE = "cabinet.events"


@pytest.fixture
async def amqp_url() -> AsyncIterator[str]:
    async with temporary_vhost() as url:
        yield url


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    async with temporary_database("kit") as url:
        engine = make_engine(url, pool_size=2)
        async with engine.begin() as conn:
            await conn.run_sync(install_kit_schema)
            await conn.run_sync(test_metadata.create_all)
        await engine.dispose()
        yield url


@dataclass
class Kit:
    """Producer side, consumer side and a relay factory over one database and vhost."""

    url: str
    amqp_url: str
    engine: AsyncEngine
    producer: UnitOfWorkFactory
    consumer_uow: UnitOfWorkFactory
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    hosts: list[ConsumerHost] = field(default_factory=list)

    async def change_name(self, user_id: uuid.UUID, name: str) -> EventEnvelope[Any]:
        """A state change and its event, committed together (what a route does)."""
        async with self.producer() as uow:
            current = (
                await uow.session.exec(
                    select(profiles.c.version).where(profiles.c.user_id == user_id)
                )  # type: ignore[call-overload]
            ).scalar_one_or_none()
            if current is None:
                await uow.session.exec(
                    profiles.insert().values(user_id=user_id, name=name, version=1)
                )  # type: ignore[call-overload]
            else:
                await uow.session.exec(  # type: ignore[call-overload]
                    profiles.update()
                    .where(profiles.c.user_id == user_id)
                    .values(name=name, version=current + 1)
                )
            envelope = uow.emit(
                UserContactChangedV1(
                    user_id=user_id,
                    email="a@example.com",
                    email_verified=True,
                    name=name,
                    time_zone="Europe/Moscow",
                    language="ru",
                    changed_fields=["name"],
                )
            )
            await uow.commit()
        return envelope

    def relay(
        self,
        *,
        amqp_url: str | None = None,
        after_publish: AfterPublish | None = None,
        batch_size: int = 200,
        poll_seconds: float = 0.5,
    ) -> OutboxRelay:
        return OutboxRelay(
            service="cabinet",
            dsn=asyncpg_dsn(self.url),
            amqp_url=amqp_url or self.amqp_url,
            exchanges=[EXCHANGE],
            metrics=self.metrics,
            batch_size=batch_size,
            poll_seconds=poll_seconds,
            max_backoff=1.0,
            after_publish=after_publish,
        )

    def start(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self.tasks.append(task)
        return task

    async def consume(
        self,
        purpose: str,
        handler: Callable[[UnitOfWork, EventEnvelope[UserContactChangedV1]], Awaitable[None]]
        | None = None,
        *,
        delivery_limit: int = 4,
        amqp_url: str | None = None,
        partitions: int = 1,
        rebalance_seconds: float = 5.0,
    ) -> ConsumerHost:
        """Start a ``kittest.<purpose>`` consumer that records every event in ``seen`` (another
        call with the same purpose starts another replica of it)."""
        consumer = EventConsumer(
            "kittest", purpose, delivery_limit=delivery_limit, partitions=partitions
        )

        async def record(uow: UnitOfWork, event: EventEnvelope[UserContactChangedV1]) -> None:
            if handler is not None:
                await handler(uow, event)
            await uow.session.exec(  # type: ignore[call-overload]
                seen.insert().values(
                    user_id=event.payload.user_id, name=event.payload.name, event_id=event.event_id
                )
            )

        consumer.handles(UserContactChangedV1)(record)
        host = ConsumerHost(
            service="kittest",
            amqp_url=amqp_url or self.amqp_url,
            consumers=[consumer],
            produces_exchanges=[],
            uow_factory=self.consumer_uow,
            metrics=self.metrics,
            prefetch_count=16,
            rebalance_seconds=rebalance_seconds,
        )
        await host.start()
        self.hosts.append(host)
        return host

    def duplicates_ignored(self, queue: str) -> float:
        """How many redelivered events the consumer of ``queue`` recognised and skipped."""
        counter = self.metrics.consumed.labels(queue, "cabinet.user.contact_changed", "duplicate")
        return float(counter._value.get())

    async def seen_rows(self) -> list[tuple[uuid.UUID, str]]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(select(seen.c.user_id, seen.c.name).order_by(seen.c.seq))
            ).all()
        return [(r.user_id, r.name) for r in rows]

    async def seen_count(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(seen))).scalar_one())

    async def unpublished(self) -> int:
        from servicekit.db.tables import outbox

        async with self.engine.connect() as conn:
            return int(
                (
                    await conn.execute(select(func.count()).where(outbox.c.published_at.is_(None)))
                ).scalar_one()
            )


@pytest.fixture
async def kit(database_url: str, amqp_url: str) -> AsyncIterator[Kit]:
    engine = make_engine(database_url, pool_size=5)
    sessions = make_session_factory(engine)
    sealer = TEST_SEALER
    k = Kit(
        url=database_url,
        amqp_url=amqp_url,
        engine=engine,
        producer=UnitOfWorkFactory(sessions, "cabinet", sealer=sealer),
        consumer_uow=UnitOfWorkFactory(sessions, "kittest", sealer=sealer),
    )
    try:
        yield k
    finally:
        for task in k.tasks:
            task.cancel()
        await asyncio.gather(*k.tasks, return_exceptions=True)
        for host in k.hosts:
            await host.stop()
        await engine.dispose()
