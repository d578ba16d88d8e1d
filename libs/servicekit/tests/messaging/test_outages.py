"""Outages of the broker and of the database, made with servicekit.testing's TCP proxy (never by
stopping the machine's servers): the relay resumes within a second of the broker's return, and
a message consumed while the database is away is handled after it, not dead-lettered."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from servicekit.db.engine import asyncpg_dsn, make_engine, make_session_factory
from servicekit.messaging.dlq import depths
from servicekit.messaging.outbox import UnitOfWorkFactory
from servicekit.messaging.relay import OutboxRelay
from servicekit.testing import TEST_SEALER, TcpProxy, wait_until

from .conftest import EXCHANGE, Kit

pytestmark = pytest.mark.slow


async def test_relay_publishes_the_backlog_within_a_second_of_the_brokers_return(
    kit: Kit,
) -> None:
    await kit.consume("return")
    proxy = TcpProxy("127.0.0.1", 5672)
    await proxy.start()
    vhost = kit.amqp_url.rsplit("/", 1)[1]
    relay = OutboxRelay(  # the production defaults: backoff up to 30 s
        service="cabinet",
        dsn=asyncpg_dsn(kit.url),
        amqp_url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/{vhost}",
        exchanges=[EXCHANGE],
        metrics=kit.metrics,
        poll_seconds=0.5,
    )
    kit.start(relay.run())
    user = uuid.uuid4()
    await kit.change_name(user, "warm-up")
    await wait_until(lambda: kit.seen_count(), timeout=10)

    await proxy.cut()
    for i in range(10):
        await kit.change_name(user, f"{i:02d}")
    await asyncio.sleep(8)  # long enough for an exponential backoff to have grown past seconds
    assert await kit.unpublished() == 10

    await proxy.restore()
    returned = time.monotonic()
    await wait_until(lambda: _unpublished_is(kit, 0), timeout=30, interval=0.02)
    assert time.monotonic() - returned < 1.0
    await wait_until(lambda: _seen_at_least(kit, 11), timeout=10)
    names = [name for _, name in await kit.seen_rows()]
    assert names == ["warm-up", *[f"{i:02d}" for i in range(10)]]  # in order
    await proxy.close()


async def test_message_consumed_during_a_database_outage_is_handled_after_it_not_dead_lettered(
    kit: Kit,
) -> None:
    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.start()
    proxied = make_engine(kit.url.replace(":5432/", f":{proxy.port}/"), pool_size=2)
    kit.consumer_uow = UnitOfWorkFactory(
        make_session_factory(proxied), "kittest", sealer=TEST_SEALER
    )
    try:
        host = await kit.consume("outage-db", delivery_limit=3)
        kit.start(kit.relay().run())  # the producer's side talks to the database directly
        before = uuid.uuid4()
        await kit.change_name(before, "before")
        await wait_until(lambda: kit.seen_count(), timeout=10)

        await proxy.cut()  # the consumer's database is gone
        during = uuid.uuid4()
        await kit.change_name(during, "during")
        await asyncio.sleep(10)
        await proxy.restore()

        await wait_until(lambda: _seen_at_least(kit, 2), timeout=20)
        assert await kit.seen_rows() == [(before, "before"), (during, "during")]
        dlq = host.consumers[0].queue().dlq
        assert (await depths(kit.amqp_url, [dlq]))[dlq] == 0
    finally:
        await proxy.close()
        await proxied.dispose()


async def _unpublished_is(kit: Kit, n: int) -> bool:
    return await kit.unpublished() == n


async def _seen_at_least(kit: Kit, n: int) -> bool:
    return await kit.seen_count() >= n
