"""Reminders 24 h and 1 h before a confirmed appointment, driven by a fake clock: they fire at
the right time, move with a reschedule, never fire after a cancellation, and fire once with two
timer workers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from contracts.booking.v1 import (
    AppointmentCancelledV1,
    AppointmentConfirmedV1,
    AppointmentRescheduledV1,
)
from contracts.envelope import EventEnvelope
from notify.bootstrap import NotifyRuntime, build_runtime
from sandbox.testing import RunningSmtpSink
from servicekit.testing import FakeClock, TokenMint, temporary_vhost
from servicekit.timers import TimerWorker

from .conftest import Notify, running_notify, wait_for
from .test_recipients import register
from .test_rules import appointment

pytestmark = pytest.mark.asyncio(loop_scope="session")

T0 = datetime(2030, 3, 10, 9, 0, tzinfo=UTC)
STARTS = datetime(2030, 3, 15, 9, 0, tzinfo=UTC)  # 12:00 in Moscow


@pytest.fixture
async def frozen(tokens: TokenMint, smtp: RunningSmtpSink) -> AsyncIterator[Notify]:
    """notify whose clock stands still at T0 until the test moves it; timers fire only when
    told. One per test (its own clock, database and timers: no test sees another's), on its own
    vhost (another notify on the same queues would take half of the events)."""
    async with (
        temporary_vhost() as amqp_url,
        running_notify(
            amqp_url=amqp_url,
            tokens=tokens,
            smtp=smtp,
            clock=FakeClock(T0),
            run_timers=False,
        ) as n,
    ):
        yield n


async def handled(notify: Notify, env: EventEnvelope[Any]) -> None:
    await wait_for(lambda: notify.rows("SELECT 1 FROM inbox WHERE event_id = $1", env.event_id))


async def at(notify: Notify, moment: datetime) -> int:
    """Move the clock to ``moment`` and fire whatever is due (reminders, then their sends)."""
    notify.clock.set(moment)
    return await notify.svc.runtime.timers.run_due()


def reminders(notify: Notify, email: str) -> list[str]:
    return [
        m.subject or ""
        for m in notify.smtp.store.messages(to=email)
        if (m.subject or "").startswith("Напоминание")
    ]


async def confirmed_appointment(
    notify: Notify, client: uuid.UUID, starts: datetime = STARTS
) -> tuple[uuid.UUID, EventEnvelope[Any]]:
    appointment_id = uuid.uuid4()
    env = appointment(
        AppointmentConfirmedV1,
        client,
        appointment_id=appointment_id,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=50),
        intake_required=False,
        reschedule_count=0,
        amount_paid=None,
    )
    await notify.producer.publish(env)
    await handled(notify, env)
    return appointment_id, env


async def test_reminders_fire_move_with_a_reschedule_and_never_after_a_cancellation(
    frozen: Notify,
) -> None:
    notify = frozen
    client, email = await register(notify)
    appointment_id, _ = await confirmed_appointment(notify, client)
    due = await notify.rows(
        "SELECT key, due_at FROM timers WHERE kind = 'reminder' AND key LIKE $1 ORDER BY due_at",
        f"{appointment_id}:%",
    )
    assert [(r["key"], r["due_at"]) for r in due] == [
        (f"{appointment_id}:1440", STARTS - timedelta(hours=24)),
        (f"{appointment_id}:60", STARTS - timedelta(hours=1)),
    ]

    await at(notify, STARTS - timedelta(hours=24, seconds=1))
    assert reminders(notify, email) == []
    await at(notify, STARTS - timedelta(hours=24) + timedelta(seconds=1))
    assert reminders(notify, email) == [
        "Напоминание: Консультация психолога, пятница, 15 марта 2030, 12:00"
    ]
    (mail,) = [
        m for m in notify.smtp.store.messages(to=email) if "Напоминание" in (m.subject or "")
    ]
    assert mail.text is not None and "(Europe/Moscow, UTC+03:00)" in mail.text

    # moved a day later: the 1 h reminder of the old time does not fire, the new ones do
    new_start = STARTS + timedelta(days=1)
    moved = appointment(
        AppointmentRescheduledV1,
        client,
        appointment_id=appointment_id,
        starts_at=new_start,
        ends_at=new_start + timedelta(minutes=50),
        previous_starts_at=STARTS,
        previous_ends_at=STARTS + timedelta(minutes=50),
        reschedule_count=1,
        max_reschedules=2,
        rescheduled_by="client",
    )
    await notify.producer.publish(moved)
    await handled(notify, moved)
    await at(notify, STARTS - timedelta(minutes=59))
    assert len(reminders(notify, email)) == 1
    await at(notify, new_start - timedelta(hours=24) + timedelta(seconds=1))
    assert reminders(notify, email)[1:] == [
        "Напоминание: Консультация психолога, суббота, 16 марта 2030, 12:00"
    ]

    # cancelled: the 1 h reminder never fires
    cancelled = appointment(
        AppointmentCancelledV1,
        client,
        appointment_id=appointment_id,
        starts_at=new_start,
        ends_at=new_start + timedelta(minutes=50),
        previous_status="confirmed",
        cancelled_by="client",
        late_cancellation=False,
        refund_percent=100,
        refund_amount={"amount": 350000, "currency": "RUB"},
    )
    await notify.producer.publish(cancelled)
    await handled(notify, cancelled)
    await at(notify, new_start - timedelta(minutes=30))
    assert len(reminders(notify, email)) == 2
    assert not await notify.rows(
        "SELECT 1 FROM timers WHERE kind = 'reminder' AND key LIKE $1 AND fired_at IS NULL",
        f"{appointment_id}:%",
    )


async def test_a_reminder_planned_just_before_a_cancellation_is_not_sent(frozen: Notify) -> None:
    notify = frozen
    client, email = await register(notify)
    appointment_id, _ = await confirmed_appointment(notify, client)
    await at(notify, T0 + timedelta(minutes=1))  # the confirmation goes out
    runtime = notify.svc.runtime
    only_reminders = TimerWorker(
        runtime.uow, {"reminder": runtime.definition.timers["reminder"]}, clock=notify.clock
    )
    notify.clock.set(STARTS - timedelta(minutes=59))
    # both are due (as after an outage): the 24 h one gives way to the 1 h one, planned not sent
    # (the first to fire plans every reminder due with it, in one transaction)
    assert await only_reminders.run_due() == 1
    assert not await notify.rows(
        "SELECT 1 FROM timers WHERE kind = 'reminder' AND key LIKE $1 AND fired_at IS NULL",
        f"{appointment_id}:%",
    )
    assert [
        r["status"]
        for r in await notify.rows(
            "SELECT status FROM deliveries WHERE template = 'appointment_reminder' AND ref = $1",
            f"appointment:{appointment_id}",
        )
    ] == ["pending"]
    cancelled = appointment(
        AppointmentCancelledV1,
        client,
        appointment_id=appointment_id,
        previous_status="confirmed",
        cancelled_by="specialist",
        late_cancellation=False,
        refund_percent=100,
        refund_amount={"amount": 350000, "currency": "RUB"},
    )
    await notify.producer.publish(cancelled)
    await handled(notify, cancelled)
    await at(notify, STARTS - timedelta(minutes=58))
    assert reminders(notify, email) == []
    rows = await notify.rows(
        "SELECT status, last_error FROM deliveries "
        "WHERE template = 'appointment_reminder' AND ref = $1",
        f"appointment:{appointment_id}",
    )
    assert {(r["status"], r["last_error"]) for r in rows} == {
        ("skipped", "appointment_not_confirmed")
    }
    assert any("Запись отменена" in (m.subject or "") for m in notify.smtp.store.messages(to=email))


async def test_two_timer_workers_send_each_reminder_once(frozen: Notify) -> None:
    notify = frozen
    client, email = await register(notify)
    await confirmed_appointment(notify, client)
    await at(notify, T0 + timedelta(minutes=1))
    other: NotifyRuntime = build_runtime(
        notify.svc.runtime.settings.model_copy(),
        clock=notify.clock,  # type: ignore[arg-type]
    )
    workers = [notify.svc.runtime.timers, other.timers] * 2
    try:
        for moment in (STARTS - timedelta(hours=23), STARTS - timedelta(minutes=30)):
            notify.clock.set(moment)
            fired = await asyncio.gather(*(w.run_due() for w in workers))
            assert sum(fired) == 2  # a reminder and its send, each fired by exactly one worker
    finally:
        await other.stop()
    assert len(reminders(notify, email)) == 2  # 24 h and 1 h, once each
    rows = await notify.rows(
        "SELECT status FROM deliveries WHERE template = 'appointment_reminder' AND user_id = $1",
        client,
    )
    assert [r["status"] for r in rows] == ["sent", "sent"]
