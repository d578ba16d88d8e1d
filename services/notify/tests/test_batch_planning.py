"""A micro-batch of events is planned with a bounded number of statements, and plans exactly what
the same events plan one by one."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from contracts.booking.v1 import AppointmentConfirmedV1
from contracts.envelope import EventEnvelope
from notify.adapters.tables import Recipient, TelegramChat
from sandbox.testing import RunningSmtpSink
from servicekit.messaging.consumer import MessageProcessor
from servicekit.security.fields import blind_index
from servicekit.testing import FakeClock, TokenMint, temporary_vhost
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


@dataclass
class Delivered:
    """An AMQP message as the broker hands it to the processor: what it reads of one."""

    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    delivery_tag: int | None = None
    channel: Any = None
    exchange: str = "booking.events"
    routing_key: str = ""
    message_id: str | None = None
    type: str | None = None
    settled: list[str] = field(default_factory=list)

    async def ack(self, multiple: bool = False) -> None:
        self.settled.append("ack")

    async def reject(self, requeue: bool = False) -> None:
        self.settled.append("reject")


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
    messages = [Delivered(e.model_dump_json().encode()) for e in envelopes]
    await asyncio.gather(*(processor.process(m) for m in messages))  # type: ignore[arg-type]
    assert all(m.settled == ["ack"] for m in messages)


async def linked_clients(notify: Notify, n: int) -> list[uuid.UUID]:
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
            chat = TelegramChat.for_chat_id(700_000_000 + (user_id.int % 100_000_000))
            chat.user_id, chat.linked_at = user_id, T0
            uow.session.add(chat)
        await uow.commit()
    return users


def confirmations(users: list[uuid.UUID]) -> list[EventEnvelope[Any]]:
    return [
        appointment(
            AppointmentConfirmedV1, u, intake_required=False, reschedule_count=0,
            amount_paid=None, starts_at=T0 + timedelta(days=5),
            ends_at=T0 + timedelta(days=5, minutes=50),
        )
        for u in users
    ]  # fmt: skip


async def test_statements_per_batch(still: Notify) -> None:
    notify = still
    for n in (1, 10, 50):
        users = await linked_clients(notify, n)
        with counting(notify) as statements:
            await in_one_batch(notify, "booking-events", confirmations(users))
        print(n, len(statements))
        for s in statements[:40]:
            print("   ", s[:150].replace("\n", " "))
