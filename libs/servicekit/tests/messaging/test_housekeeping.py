"""Retention as a task of its own: old rows go, recent and unfinished ones stay, one replica
purges at a time, and the relay (which used to purge) only publishes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from servicekit.db.engine import asyncpg_dsn
from servicekit.db.tables import inbox, outbox, timers
from servicekit.housekeeping import Housekeeping, RetentionRule
from servicekit.messaging.relay import OutboxRelay
from servicekit.metrics import ServiceMetrics
from servicekit.testing import outbox_drained, wait_until
from sqlalchemy import func, select

from .conftest import Kit

OLD = datetime.now(UTC) - timedelta(days=40)
RECENT = datetime.now(UTC) - timedelta(hours=1)


async def _seed(kit: Kit) -> None:
    """Outbox rows, inbox rows and timers, old and recent, finished and not; and rows of a
    service's own rule (a throttle table kept a day)."""
    async with kit.engine.begin() as conn:
        for when, key in ((OLD, "old"), (RECENT, "recent")):
            await conn.execute(
                outbox.insert().values(
                    event_id=uuid.uuid4(),
                    event_type=f"test.{key}",
                    version=1,
                    exchange="cabinet.events",
                    routing_key=f"test.{key}.v1",
                    correlation_id=key,
                    created_at=when,
                    published_at=when,
                )
            )
            await conn.execute(
                inbox.insert().values(
                    consumer="c", event_id=uuid.uuid4(), event_type=key, received_at=when
                )
            )
            await conn.execute(
                timers.insert().values(kind="k", key=key, due_at=when, fired_at=when)
            )
        # Unfinished work is never purged, however old: an unpublished row, an unfired timer.
        await conn.execute(
            outbox.insert().values(
                event_id=uuid.uuid4(),
                event_type="test.unpublished",
                version=1,
                exchange="cabinet.events",
                routing_key="test.unpublished.v1",
                correlation_id="unpublished",
                created_at=OLD,
            )
        )
        await conn.execute(timers.insert().values(kind="k", key="pending", due_at=OLD))
        await conn.exec_driver_sql("CREATE TABLE throttle (k text, started_at timestamptz)")
        await conn.exec_driver_sql(
            "INSERT INTO throttle VALUES ('old', now() - interval '2 days'), ('new', now())"
        )


async def _left(kit: Kit) -> dict[str, list[str]]:
    async with kit.engine.connect() as conn:
        return {
            "outbox": sorted((await conn.execute(select(outbox.c.correlation_id))).scalars().all()),
            "inbox": sorted((await conn.execute(select(inbox.c.event_type))).scalars().all()),
            "timers": sorted((await conn.execute(select(timers.c.key))).scalars().all()),
            "throttle": sorted(
                (await conn.exec_driver_sql("SELECT k FROM throttle")).scalars().all()
            ),
        }


def _housekeeping(
    kit: Kit, *, interval_seconds: float = 600.0, metrics: ServiceMetrics | None = None
) -> Housekeeping:
    return Housekeeping(
        service="cabinet",
        dsn=asyncpg_dsn(kit.url),
        metrics=metrics or kit.metrics,
        interval_seconds=interval_seconds,
        extra_retention=[("throttle", "started_at", timedelta(days=1))],
    )


async def test_old_rows_are_purged_and_recent_and_unfinished_ones_kept(kit: Kit) -> None:
    await _seed(kit)
    deleted = await _housekeeping(kit).purge()
    assert deleted == {
        "outbox.published_at": 1,
        "inbox.received_at": 1,
        "timers.fired_at": 1,
        "throttle.started_at": 1,
    }
    assert await _left(kit) == {
        "outbox": ["recent", "unpublished"],
        "inbox": ["recent"],
        "timers": ["pending", "recent"],
        "throttle": ["new"],
    }
    counter = kit.metrics.retention_deleted.labels("outbox.published_at")
    assert counter._value.get() == 1


async def test_a_failing_rule_does_not_stop_the_others(kit: Kit) -> None:
    await _seed(kit)
    housekeeping = _housekeeping(kit)
    housekeeping.rules.insert(0, RetentionRule("missing", "at", timedelta(days=1)))
    deleted = await housekeeping.purge()
    assert deleted["missing.at"] == -1
    assert deleted["outbox.published_at"] == 1 and deleted["throttle.started_at"] == 1


async def test_one_leader_purges_and_a_standby_takes_over(kit: Kit) -> None:
    """Two replicas: only one holds the lock and purges (at once, then every interval); when it
    stops, the other becomes leader within an interval and purges what is due."""
    await _seed(kit)
    first = _housekeeping(kit, interval_seconds=0.2, metrics=ServiceMetrics())
    second = _housekeeping(kit, interval_seconds=0.2, metrics=ServiceMetrics())
    leading = kit.start(first.run())
    await wait_until(lambda: first.is_leader, timeout=10)
    await wait_until(_purged(kit), timeout=10)
    kit.start(second.run())
    await wait_until(lambda: second.lock_attempts >= 2, timeout=10)  # it tried, twice
    assert first.is_leader and not second.is_leader
    assert first.metrics.housekeeping_leader._value.get() == 1
    assert second.metrics.housekeeping_leader._value.get() == 0
    leading.cancel()
    await asyncio.gather(leading, return_exceptions=True)
    async with kit.engine.begin() as conn:  # due again, for the new leader
        await conn.exec_driver_sql(
            "INSERT INTO throttle VALUES ('old again', now() - interval '3 days')"
        )
    await wait_until(lambda: second.is_leader, timeout=10)
    await wait_until(_purged(kit), timeout=10)


def _purged(kit: Kit) -> object:
    async def check() -> bool:
        return (await _left(kit))["throttle"] == ["new"]

    return check


async def test_the_relay_no_longer_purges(kit: Kit) -> None:
    """The relay's leader publishes for a while past an old published row: the row stays (it is
    the housekeeping's to delete)."""
    await _seed(kit)
    relay = kit.relay()
    assert not hasattr(OutboxRelay, "purge")
    kit.start(relay.run())
    await wait_until(lambda: relay.is_leader, timeout=10)
    async with kit.engine.begin() as conn:  # the seeded unpublished row would go to no queue
        await conn.execute(outbox.delete().where(outbox.c.correlation_id == "unpublished"))
    for i in range(3):
        await kit.change_name(uuid.uuid4(), f"n{i}")
    await outbox_drained(kit.url)
    async with kit.engine.connect() as conn:
        published = (
            await conn.execute(select(func.count()).where(outbox.c.published_at < RECENT))
        ).scalar_one()
    assert published == 1  # the 40-day-old row


async def test_the_lock_is_the_housekeepings_own(kit: Kit) -> None:
    """Housekeeping and the relay lead independently (different advisory lock keys)."""
    await _seed(kit)
    relay = kit.relay()
    housekeeping = _housekeeping(kit, interval_seconds=60)
    kit.start(relay.run())
    kit.start(housekeeping.run())
    await wait_until(lambda: relay.is_leader and housekeeping.is_leader, timeout=10)
    holder = await asyncpg.connect(asyncpg_dsn(kit.url))
    try:
        locks = await holder.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
            " WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()"
        )
    finally:
        await holder.close()
    assert locks == 2
