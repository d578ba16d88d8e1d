"""A consumer's ``batch_scope``: entered once per micro-batch, around the handlers of the batch's
fresh events, inside the batch's transaction."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from contracts.cabinet.v1 import UserContactChangedV1
from contracts.envelope import EventEnvelope, new_envelope
from servicekit.messaging.consumer import EventConsumer, MessageProcessor
from servicekit.messaging.outbox import UnitOfWork
from servicekit.testing import StandInDelivery
from sqlalchemy import select

from .conftest import Kit, seen


def changed(name: str) -> EventEnvelope[Any]:
    return new_envelope(
        UserContactChangedV1(
            user_id=uuid.uuid4(), email="a@example.com", email_verified=True, name=name,
            time_zone="Europe/Moscow", language="ru", changed_fields=["name"],
        ),
        correlation_id="batch-scope",
    )  # fmt: skip


async def run(
    processor: MessageProcessor, envelopes: list[EventEnvelope[Any]]
) -> list[StandInDelivery]:
    messages = [
        StandInDelivery(e.model_dump_json().encode(), exchange="cabinet.events") for e in envelopes
    ]
    # Queued together before the partition drains: one micro-batch.
    await asyncio.gather(*(processor.process(m) for m in messages))  # type: ignore[arg-type]
    return messages


async def test_the_scope_wraps_each_batch_once_and_commits_with_it(kit: Kit) -> None:
    scopes: list[list[str]] = []
    handled: list[str] = []

    @contextlib.asynccontextmanager
    async def scope(
        uow: UnitOfWork, envelopes: Sequence[EventEnvelope[Any]]
    ) -> AsyncIterator[None]:
        names = [e.payload.name for e in envelopes]
        scopes.append(names)
        yield
        # written on the way out, after every handler, in the batch's transaction
        for e in envelopes:
            await uow.session.exec(  # type: ignore[call-overload]
                seen.insert().values(user_id=e.payload.user_id, name="scope", event_id=e.event_id)
            )

    consumer = EventConsumer("kittest", "scoped", batch_scope=scope)

    async def handle(uow: UnitOfWork, event: EventEnvelope[Any]) -> None:
        handled.append(event.payload.name)
        if event.payload.name == "bad":
            raise RuntimeError("this one fails")

    consumer.handles(UserContactChangedV1)(handle)

    async def dead(*_: Any) -> None:
        return None

    processor = MessageProcessor(consumer, kit.consumer_uow, dead, partitions=1)
    events = [changed(f"n{i}") for i in range(5)]
    first = await run(processor, [*events, events[0]])  # the last one: a duplicate
    assert scopes == [["n0", "n1", "n2", "n3", "n4"]]  # once, fresh events only
    assert handled == ["n0", "n1", "n2", "n3", "n4"]
    assert all(m.settled == ["ack"] for m in first)
    again = await run(processor, events[:2])  # redelivered: nothing fresh, nothing handled
    assert scopes[-1] == [] and len(handled) == 5
    assert all(m.settled == ["ack"] for m in again)

    # A failing handler rolls the batch back, scope writes included; the batch is re-run one
    # event per transaction, each in its own scope, and only the culprit is retried.
    scopes.clear()
    handled.clear()
    mixed = [changed("a"), changed("bad"), changed("b")]
    processor.retry_delay = lambda n: 0.0
    settled = await run(processor, mixed)
    assert scopes == [["a", "bad", "b"], ["a"], ["bad"], ["b"]]
    assert [m.settled for m in settled] == [["ack"], ["reject"], ["ack"]]
    async with kit.engine.connect() as conn:
        rows = (await conn.execute(select(seen.c.event_id).where(seen.c.name == "scope"))).all()
    assert {r.event_id for r in rows} == {e.event_id for e in events} | {
        mixed[0].event_id,
        mixed[2].event_id,
    }
