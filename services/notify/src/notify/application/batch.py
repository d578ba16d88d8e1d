"""Planning a consumer's micro-batch at once: its look-ups read in a few queries, its timers
written in one statement.

servicekit's consumer runs the events of one micro-batch in one transaction, one handler after
another (:mod:`servicekit.messaging.consumer`). :func:`planning_batch` is notify's
``batch_scope`` for the queues whose handlers only *plan* (booking's, content's, notify's own
delivery failures): before the handlers it reads, for every event of the batch together,

* which of the people concerned were erased (one query),
* their contacts, preferences and linked chat (:func:`notify.adapters.people.reach_of_many`:
  one query; the rows land in the session, so a later ``session.get(Recipient, …)`` is free too),
* the appointment copies the appointment events update, locked for update in id order (one
  query; the lock the handlers took one by one before),

and the handlers take them from there (:func:`reach`, :func:`appointment_copy`). The timers they
schedule (``deliver``, ``reminder``) are kept and written on the way out in one statement
(:func:`schedule_timer`, :func:`servicekit.timers.schedule_many`); a cancelled key drops its
kept timer and is deleted at once, so schedule-then-cancel and cancel-then-schedule in one batch
end as they would one by one. Delivery and appointment rows are added to the session and flushed
together (SQLAlchemy batches the inserts). A batch of N events is then about ten statements
instead of about nine per event.

Only valid where no handler of the queue creates recipients, preferences or chats (a person
unknown at the start of the batch stays unknown in it): ``user-events`` (which creates them) runs
without it. Outside a batch (a timer, a request, the webhook) every function here reads and
writes directly, as before.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from contracts.booking.v1 import AppointmentFacts
from contracts.envelope import EventEnvelope
from servicekit.data_rights import SUBJECT_FIELDS, erased_among
from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import Due, cancel_many, schedule, schedule_many
from sqlmodel.ext.asyncio.session import AsyncSession

from notify.adapters.people import Reach, appointment_copies, reach_of, reach_of_many
from notify.adapters.tables import AppointmentCopy

Handler = Callable[[UnitOfWork, EventEnvelope[Any]], Awaitable[None]]


@dataclass
class PlanningBatch:
    """What one micro-batch read up front, and the timers its handlers scheduled."""

    erased: set[uuid.UUID] = field(default_factory=set)
    reach: dict[uuid.UUID, Reach] = field(default_factory=dict)
    copies: dict[uuid.UUID, AppointmentCopy | None] = field(default_factory=dict)
    timers: dict[tuple[str, str], Due] = field(default_factory=dict)


# The batch being planned in this task (None: none). A context variable, not a global: each
# consumer partition's task sees its own batch.
_current: ContextVar[PlanningBatch | None] = ContextVar("notify_planning_batch", default=None)


def _user_ids(payload: Any) -> set[uuid.UUID]:
    """Every id the event names (people among them; the others simply find nobody)."""
    return {v for v in vars(payload).values() if isinstance(v, uuid.UUID)}


def _subjects(payload: Any) -> list[uuid.UUID]:
    values = (getattr(payload, name, None) for name in SUBJECT_FIELDS)
    return [v for v in values if isinstance(v, uuid.UUID)]


@asynccontextmanager
async def planning_batch(
    uow: UnitOfWork, envelopes: Sequence[EventEnvelope[Any]]
) -> AsyncIterator[None]:
    """notify's ``batch_scope``: read the batch's look-ups, run its handlers, write its timers."""
    if not envelopes:
        yield
        return
    subjects = [s for e in envelopes for s in _subjects(e.payload)]
    erased = await erased_among(uow.session, subjects)
    async with planning_together(
        uow.session,
        people=set().union(*(_user_ids(e.payload) for e in envelopes)) - erased,
        appointments=[
            e.payload.appointment_id for e in envelopes if isinstance(e.payload, AppointmentFacts)
        ],
        erased=erased,
    ):
        yield


@asynccontextmanager
async def planning_together(
    session: AsyncSession,
    *,
    people: Iterable[uuid.UUID],
    appointments: Iterable[uuid.UUID] = (),
    share: bool = False,
    erased: set[uuid.UUID] | None = None,
) -> AsyncIterator[PlanningBatch]:
    """Plan several things in one transaction: ``people``'s reach and the ``appointments``'
    copies read at once (locked for update, or for share), the timers written on the way out.
    The consumer's batches (:func:`planning_batch`) and due reminders
    (:func:`notify.application.appointments.remind_due`) use it."""
    batch = PlanningBatch(erased=erased or set())
    batch.copies = await appointment_copies(session, appointments, share=share)
    batch.reach = await reach_of_many(session, people)
    token = _current.set(batch)
    try:
        yield batch
        await schedule_many(session, list(batch.timers.values()))
    finally:
        _current.reset(token)


def skipping_erased(handler: Handler) -> Handler:
    """The handler, except for an event about an erased person (as
    :func:`servicekit.data_rights.skip_erased_users`, read once per batch)."""

    async def handle(uow: UnitOfWork, event: EventEnvelope[Any]) -> None:
        subjects = _subjects(event.payload)
        batch = _current.get()
        if batch is not None:
            if batch.erased.intersection(subjects):
                return
        elif subjects and await erased_among(uow.session, subjects):
            return
        await handler(uow, event)

    handle.__doc__ = handler.__doc__
    handle.__name__ = getattr(handler, "__name__", "handle")
    return handle


async def reach(session: AsyncSession, user_id: uuid.UUID) -> Reach:
    """A user's contacts, preferences and linked chat (from the batch when it read them)."""
    batch = _current.get()
    if batch is not None and user_id in batch.reach:
        return batch.reach[user_id]
    return await reach_of(session, user_id)


async def appointment_copy(
    session: AsyncSession, appointment_id: uuid.UUID
) -> AppointmentCopy | None:
    """notify's copy of an appointment, locked for update (the batch locked it already)."""
    batch = _current.get()
    if batch is not None and appointment_id in batch.copies:
        return batch.copies[appointment_id]
    return await session.get(AppointmentCopy, appointment_id, with_for_update=True)


def copy_added(copy: AppointmentCopy) -> None:
    """A new copy is in the session: later events of the batch find it."""
    batch = _current.get()
    if batch is not None:
        batch.copies[copy.appointment_id] = copy


async def schedule_timer(session: AsyncSession, due: Due) -> None:
    """Schedule (or move) a timer: kept and written with the batch's, or at once outside one."""
    batch = _current.get()
    if batch is not None:
        batch.timers.pop((due.kind, due.key), None)  # re-added last: the latest wins
        batch.timers[(due.kind, due.key)] = due
        return
    await schedule(session, kind=due.kind, key=due.key, due_at=due.due_at, payload=due.payload)


async def cancel_timers(session: AsyncSession, kind: str, keys: Iterable[str]) -> None:
    """Drop pending timers: those the batch kept, and those already written."""
    keys = list(keys)
    batch = _current.get()
    if batch is not None:
        for key in keys:
            batch.timers.pop((kind, key), None)
    await cancel_many(session, kind=kind, keys=keys)
