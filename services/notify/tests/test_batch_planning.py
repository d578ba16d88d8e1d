"""A micro-batch of events is planned with a bounded number of statements, and plans exactly what
the same events plan one by one."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from contracts.booking.v1 import (
    AppointmentCancelledV1,
    AppointmentConfirmedV1,
    AppointmentRescheduledV1,
)
from contracts.envelope import EventEnvelope
from notify.adapters.tables import Recipient, TelegramChat
from sandbox.testing import RunningSmtpSink
from servicekit.data_rights import tombstone
from servicekit.messaging.consumer import MessageProcessor
from servicekit.security.fields import blind_index
from servicekit.testing import FakeClock, StandInDelivery, TokenMint, temporary_vhost
from sqlalchemy import event

from .conftest import Notify, running_notify
from .test_rules import appointment

pytestmark = pytest.mark.asyncio(loop_scope="session")

T0 = datetime(2030, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
async def still(tokens: TokenMint, smtp: RunningSmtpSink) -> AsyncIterator[Notify]:
    async with (
        temporary_vhost() as amqp_url,
        running_notify(
            amqp_url=amqp_url, tokens=tokens, smtp=smtp, clock=FakeClock(T0), run_timers=False
        ) as n,
    ):
        yield n


@contextmanager
def counting(notify: Notify) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = notify.svc.runtime.engine.sync_engine

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def in_one_batch(notify: Notify, purpose: str, envelopes: list[EventEnvelope[Any]]) -> None:
    runtime = notify.svc.runtime
    consumer = next(c for c in runtime.consumers.consumers if c.purpose == purpose)

    async def dead(*_: Any) -> None:
        raise AssertionError("dead-lettered")

    processor = MessageProcessor(consumer, runtime.uow, dead, partitions=1)
    messages = [
        StandInDelivery(e.model_dump_json().encode(), exchange="booking.events") for e in envelopes
    ]
    await asyncio.gather(*(processor.process(m) for m in messages))  # type: ignore[arg-type]
    assert all(m.settled == ["ack"] for m in messages)


async def clients(notify: Notify, n: int) -> list[uuid.UUID]:
    """``n`` recipients; the even ones have a linked Telegram chat, the odd ones email only."""
    users = [uuid.uuid4() for _ in range(n)]
    async with notify.svc.runtime.uow() as uow:
        for i, user_id in enumerate(users):
            email = f"batch.{user_id.hex[:10]}@example.org"
            uow.session.add(
                Recipient(
                    user_id=user_id, email=email, email_index=blind_index(email, kind="email"),
                    name=f"Client {i}", time_zone="Europe/Moscow", language="ru",
                    roles=["client"], updated_at=T0,
                )
            )  # fmt: skip
            if i % 2 == 0:
                chat = TelegramChat.for_chat_id(700_000_000 + (user_id.int % 100_000_000))
                chat.user_id, chat.linked_at = user_id, T0
                uow.session.add(chat)
        await uow.commit()
    return users


STARTS = T0 + timedelta(days=5)


def confirmations(users: list[uuid.UUID]) -> list[EventEnvelope[Any]]:
    return [
        appointment(
            AppointmentConfirmedV1, u, intake_required=False, reschedule_count=0,
            amount_paid=None, starts_at=STARTS, ends_at=STARTS + timedelta(minutes=50),
        )
        for u in users
    ]  # fmt: skip


def scenario(users: list[uuid.UUID]) -> list[EventEnvelope[Any]]:
    """Per client: a confirmation; every third also cancelled in the same batch, every fourth
    (from the second) moved; the last client was erased (nothing is planned for them)."""
    events = []
    for i, user in enumerate(users):
        appointment_id = uuid.uuid4()
        facts = {"appointment_id": appointment_id, "starts_at": STARTS,
                 "ends_at": STARTS + timedelta(minutes=50)}  # fmt: skip
        events.append(
            appointment(
                AppointmentConfirmedV1, user, intake_required=False, reschedule_count=0,
                amount_paid=None, **facts,
            )
        )  # fmt: skip
        if i % 3 == 0:
            events.append(
                appointment(
                    AppointmentCancelledV1, user, previous_status="confirmed",
                    cancelled_by="client", late_cancellation=False, refund_percent=100,
                    refund_amount={"amount": 350000, "currency": "RUB"}, **facts,
                )
            )  # fmt: skip
        elif i % 4 == 1:
            later = STARTS + timedelta(days=1)
            events.append(
                appointment(
                    AppointmentRescheduledV1, user, previous_starts_at=STARTS,
                    reschedule_count=1, **{**facts, "starts_at": later,
                    "ends_at": later + timedelta(minutes=50)},
                )
            )  # fmt: skip
    return events


async def erase(notify: Notify, user_id: uuid.UUID) -> None:
    async with notify.svc.runtime.uow() as uow:
        await tombstone(uow.session, user_id, uuid.uuid4(), T0)
        await uow.commit()


async def planned(notify: Notify, users: list[uuid.UUID]) -> dict[str, list[Any]]:
    """What was planned for ``users``, with each user as their index (comparable across runs)."""
    index = {u: i for i, u in enumerate(users)}
    deliveries = await notify.rows(
        "SELECT id, user_id, template, channel, status, last_error, next_attempt_at "
        "FROM deliveries WHERE user_id = ANY($1)",
        users,
    )
    copies = await notify.rows(
        "SELECT appointment_id, client_id, status, starts_at FROM appointments "
        "WHERE client_id = ANY($1)",
        users,
    )
    owner = {c["appointment_id"]: index[c["client_id"]] for c in copies}
    timers = await notify.rows("SELECT kind, key, due_at, fired_at, payload FROM timers")
    by_delivery = {d["id"]: index[d["user_id"]] for d in deliveries}
    reminders, sends = [], []
    for t in timers:
        payload = json.loads(t["payload"]) if isinstance(t["payload"], str) else t["payload"]
        if t["kind"] == "reminder" and uuid.UUID(payload["appointment_id"]) in owner:
            who = owner[uuid.UUID(payload["appointment_id"])]
            reminders.append((who, payload["minutes_before"], t["due_at"], t["fired_at"]))
        elif t["kind"] == "deliver" and uuid.UUID(payload["delivery_id"]) in by_delivery:
            sends.append((by_delivery[uuid.UUID(payload["delivery_id"])], t["due_at"]))
    return {
        "deliveries": sorted(
            (
                index[d["user_id"]],
                d["template"],
                d["channel"],
                d["status"],
                d["last_error"],
                d["next_attempt_at"],
            )
            for d in deliveries
        ),
        "copies": sorted((owner[c["appointment_id"]], c["status"], c["starts_at"]) for c in copies),
        "reminders": sorted(reminders),
        "sends": sorted(sends),
    }


async def test_a_micro_batch_plans_what_one_by_one_plans(still: Notify) -> None:
    """Confirmations, cancellations and moves, one by one and in one batch: the same rows."""
    notify = still
    one_by_one, batched = [await clients(notify, 12) for _ in range(2)]
    for users in (one_by_one, batched):
        await erase(notify, users[-1])
    for envelope in scenario(one_by_one):
        await in_one_batch(notify, "booking-events", [envelope])
    await in_one_batch(notify, "booking-events", scenario(batched))

    alone, at_once = await planned(notify, one_by_one), await planned(notify, batched)
    assert at_once == alone  # the same rows, statuses, due times and timers
    # and it is not nothing: confirmations, cancellations, moves, reminders, sends
    templates = {d[1] for d in at_once["deliveries"]}
    assert {"appointment_confirmed", "appointment_cancelled", "appointment_rescheduled"} <= (
        templates
    )
    assert {d[2] for d in at_once["deliveries"]} == {"email", "telegram"}
    assert not [d for d in at_once["deliveries"] if d[0] == 11]  # the erased client: nothing
    assert len(at_once["reminders"]) == 2 * 7  # 2 per confirmed, not cancelled, known client
    assert len(at_once["sends"]) == len(at_once["deliveries"])


async def test_a_batch_of_confirmations_takes_a_fixed_number_of_statements(still: Notify) -> None:
    """The common load (confirmations: a message, two reminders each): one by one a handful of
    statements an event (nine before batches were planned at once); in one batch the same
    handful, whether 10 events or 50."""
    notify = still
    counts = {}
    for n in (10, 50):
        users = await clients(notify, n)
        with counting(notify) as statements:
            await in_one_batch(notify, "booking-events", confirmations(users))
        counts[n] = len(statements)
        assert len((await planned(notify, users))["reminders"]) == 2 * n
    users = await clients(notify, 10)
    with counting(notify) as each:
        for envelope in confirmations(users):
            await in_one_batch(notify, "booking-events", [envelope])
    assert len(each) >= 5 * 10  # a batch of one each: a handful of statements per event
    assert counts[10] <= 8
    assert counts[50] == counts[10]
