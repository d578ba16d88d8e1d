"""Durable timers: fire at the due time, once, move when rescheduled, never after a cancel."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from servicekit.db.tables import outbox, timers
from servicekit.messaging.outbox import UnitOfWork
from servicekit.testing import FakeClock, opened_message
from servicekit.timers import Due, Timer, TimerWorker, cancel, cancel_many, schedule, schedule_many
from sqlalchemy import select

from .conftest import Kit

T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # the night Europe/Berlin moves to summer time


async def test_timer_fires_when_due_once_and_moves_with_a_reschedule(kit: Kit) -> None:
    clock = FakeClock(T0)
    fired: list[tuple[str, dict[str, object], datetime]] = []

    async def remind(uow: UnitOfWork, timer: Timer) -> None:
        fired.append((timer.key, dict(timer.payload), clock()))

    worker = TimerWorker(kit.producer, {"reminder": remind}, clock=clock)
    async with kit.producer() as uow:
        await schedule(
            uow.session,
            kind="reminder",
            key="appt-1",
            due_at=T0 + timedelta(hours=1),
            payload={"offset": "1h"},
        )
        await schedule(uow.session, kind="reminder", key="appt-2", due_at=T0 + timedelta(hours=2))
        await uow.commit()

    assert await worker.run_due() == 0
    clock.advance(minutes=59)
    assert await worker.run_due() == 0
    clock.advance(minutes=1)
    assert await worker.run_due() == 1
    assert fired == [("appt-1", {"offset": "1h"}, T0 + timedelta(hours=1))]
    assert await worker.run_due() == 0  # fired once

    # appt-2 is rescheduled three hours later before it fires: it moves.
    async with kit.producer() as uow:
        await schedule(uow.session, kind="reminder", key="appt-2", due_at=T0 + timedelta(hours=5))
        await uow.commit()
    clock.advance(hours=2)
    assert await worker.run_due() == 0
    clock.advance(hours=2)
    assert await worker.run_due() == 1
    assert [k for k, _, _ in fired] == ["appt-1", "appt-2"]


async def test_cancelled_timer_never_fires(kit: Kit) -> None:
    clock = FakeClock(T0)
    fired: list[str] = []

    async def remind(uow: UnitOfWork, timer: Timer) -> None:
        fired.append(timer.key)

    worker = TimerWorker(kit.producer, {"reminder": remind}, clock=clock)
    async with kit.producer() as uow:
        await schedule(uow.session, kind="reminder", key="a", due_at=T0 + timedelta(minutes=5))
        await uow.commit()
    async with kit.producer() as uow:
        assert await cancel(uow.session, kind="reminder", key="a") is True
        await uow.commit()
    clock.advance(hours=1)
    assert await worker.run_due() == 0
    assert fired == []


async def test_many_timers_are_scheduled_moved_and_cancelled_in_one_statement_each(
    kit: Kit,
) -> None:
    clock = FakeClock(T0)
    fired: list[tuple[str, dict[str, object]]] = []

    async def remind(uow: UnitOfWork, timer: Timer) -> None:
        fired.append((timer.key, dict(timer.payload)))

    worker = TimerWorker(kit.producer, {"reminder": remind}, clock=clock)
    async with kit.producer() as uow:
        await schedule(uow.session, kind="reminder", key="old", due_at=T0 + timedelta(hours=9))
        await uow.commit()
    async with kit.producer() as uow:
        await schedule_many(
            uow.session,
            [
                Due("reminder", "a", T0 + timedelta(minutes=1), {"n": 1}),
                Due("reminder", "b", T0 + timedelta(minutes=2)),
                Due("reminder", "a", T0 + timedelta(minutes=3), {"n": 2}),  # the last one wins
                Due("reminder", "old", T0 + timedelta(minutes=4)),  # moves an existing one
                Due("reminder", "gone", T0 + timedelta(minutes=5)),
            ],
        )
        await uow.commit()
    async with kit.producer() as uow:
        assert await cancel_many(uow.session, kind="reminder", keys=["gone", "nothing"]) == 1
        await uow.commit()
    clock.advance(minutes=2)
    assert await worker.run_due() == 1
    clock.advance(minutes=10)
    assert await worker.run_due() == 2
    assert fired == [("b", {}), ("a", {"n": 2}), ("old", {})]


async def test_two_workers_fire_each_timer_exactly_once(kit: Kit) -> None:
    clock = FakeClock(T0)
    fired: list[str] = []

    async def remind(uow: UnitOfWork, timer: Timer) -> None:
        await asyncio.sleep(0.001)  # let the other worker try to grab the same row
        fired.append(timer.key)

    async with kit.producer() as uow:
        for i in range(60):
            await schedule(
                uow.session, kind="reminder", key=f"k{i}", due_at=T0 + timedelta(seconds=i)
            )
        await uow.commit()
    clock.advance(minutes=5)
    a = TimerWorker(kit.producer, {"reminder": remind}, clock=clock)
    b = TimerWorker(kit.producer, {"reminder": remind}, clock=clock)
    counts = await asyncio.gather(a.run_due(), b.run_due())
    assert sum(counts) == 60
    assert min(counts) > 0  # both really worked
    assert sorted(fired) == sorted(f"k{i}" for i in range(60))


async def test_failing_handler_is_retried_later_and_its_effects_roll_back(kit: Kit) -> None:
    import uuid

    from contracts.cabinet.v1 import UserContactChangedV1

    clock = FakeClock(T0)
    calls = 0

    async def flaky(uow: UnitOfWork, timer: Timer) -> None:
        nonlocal calls
        calls += 1
        uow.emit(
            UserContactChangedV1(
                user_id=uuid.uuid4(),
                email="t@example.com",
                email_verified=True,
                name=f"try{calls}",
                time_zone="Europe/Moscow",
                language="ru",
                changed_fields=["name"],
            )
        )
        if calls == 1:
            raise ConnectionError("provider down")

    worker = TimerWorker(kit.producer, {"expire": flaky}, clock=clock)
    async with kit.producer() as uow:
        await schedule(uow.session, kind="expire", key="hold-1", due_at=T0)
        await uow.commit()
    assert await worker.run_due() == 1
    async with kit.engine.connect() as conn:
        row = (await conn.execute(select(timers))).one()
        assert row.fired_at is None and row.attempts == 1
        assert "provider down" in row.last_error
        assert row.due_at > T0
        assert (await conn.execute(select(outbox))).all() == []  # the failed try emitted nothing
    assert await worker.run_due() == 0  # backing off
    clock.advance(minutes=1)
    assert await worker.run_due() == 1
    async with kit.engine.connect() as conn:
        assert (await conn.execute(select(timers.c.fired_at))).scalar_one() == clock.now
        bodies = [r.body for r in (await conn.execute(select(outbox))).all()]
    assert [opened_message(b)["payload"]["name"] for b in bodies] == ["try2"]


async def test_savepoint_undoes_state_and_events_but_keeps_the_rest(kit: Kit) -> None:
    import uuid

    from contracts.cabinet.v1 import UserContactChangedV1

    def changed(name: str) -> UserContactChangedV1:
        return UserContactChangedV1(
            user_id=uuid.uuid4(),
            email="s@example.com",
            email_verified=True,
            name=name,
            time_zone="Europe/Moscow",
            language="ru",
            changed_fields=["name"],
        )

    uow: UnitOfWork
    async with kit.producer() as uow:
        uow.emit(changed("kept"))
        try:
            async with uow.savepoint():
                await uow.session.exec(
                    timers.insert().values(  # type: ignore[call-overload]
                        kind="k", key="undone", due_at=T0
                    )
                )
                uow.emit(changed("undone"))
                raise LookupError("refused")
        except LookupError:
            pass
        assert [e.payload.name for e in uow.pending_events] == ["kept"]  # type: ignore[attr-defined]
        await uow.commit()
    async with kit.engine.connect() as conn:
        assert (await conn.execute(select(timers))).all() == []
        rows = (await conn.execute(select(outbox))).all()
    names = [opened_message(r.body)["payload"]["name"] for r in rows]
    assert names == ["kept"]
