"""The revocation feed over a real RabbitMQ: every replica learns every revocation, and one that
starts later reads back the revocations its tokens could still meet (a stream, not a queue)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aio_pika
import pytest
from contracts.cabinet.v1 import SessionsRevokedV1
from contracts.envelope import new_envelope
from contracts.registry import spec_of
from servicekit.security.revocation import RevocationFeed, RevocationList
from servicekit.testing import temporary_vhost, wait_until


@contextlib.asynccontextmanager
async def feed(amqp_url: str, remember: float = 930) -> AsyncIterator[RevocationList]:
    revoked = RevocationList()
    reader = RevocationFeed(
        service="booking", amqp_url=amqp_url, revocations=revoked, remember_seconds=remember
    )
    task = asyncio.create_task(reader.run())
    try:
        async with asyncio.timeout(20):
            await reader.consuming.wait()
        yield revoked
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def publish(amqp_url: str, sid: uuid.UUID, at: datetime) -> None:
    payload = SessionsRevokedV1(
        user_id=uuid.uuid4(), session_ids=[sid], reason="logout", revoked_at=at
    )
    envelope = new_envelope(payload, correlation_id="test")
    spec = spec_of(SessionsRevokedV1)
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            spec.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        await exchange.publish(
            aio_pika.Message(envelope.model_dump_json().encode()), routing_key=spec.routing_key
        )


@pytest.mark.asyncio(loop_scope="session")
async def test_every_replica_and_a_late_one_learn_of_a_revocation() -> None:
    async with temporary_vhost() as amqp_url, feed(amqp_url) as first, feed(amqp_url) as second:
        sid, old_sid = uuid.uuid4(), uuid.uuid4()
        now = datetime.now(UTC)
        await publish(amqp_url, sid, now)
        # revoked longer ago than any token lives: nothing to refuse any more
        await publish(amqp_url, old_sid, now - timedelta(hours=1))
        await wait_until(lambda: first.is_revoked(sid.hex) and second.is_revoked(str(sid)))
        # a replica that starts now (a restart, a new instance) reads the stream back
        async with feed(amqp_url) as late:
            await wait_until(lambda: late.is_revoked(str(sid)), timeout=10)
            assert not late.is_revoked(str(old_sid))
        assert not first.is_revoked(str(uuid.uuid4()))
