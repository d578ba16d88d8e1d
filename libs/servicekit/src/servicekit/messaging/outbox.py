"""The write side of the transactional outbox: the unit of work.

A :class:`UnitOfWork` owns one database transaction. Domain code changes state through
``uow.session`` and records what happened with :meth:`UnitOfWork.emit`; :meth:`commit` inserts
the outbox rows *in the same transaction* as the state change, so an event exists if and only
if its change was committed. The relay (:mod:`servicekit.messaging.relay`) publishes the rows.

The correlation id is taken from the current context (HTTP request or consumed event), and an
event emitted while handling another one gets that event's id as its ``causation_id``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from types import TracebackType
from typing import Any

from contracts.envelope import EventEnvelope, new_envelope
from contracts.registry import spec_of
from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from servicekit.clock import Clock, utcnow
from servicekit.correlation import current_causation_id, current_correlation_id, new_correlation_id
from servicekit.db.driver import session_connection
from servicekit.db.engine import SessionFactory


class WrongProducer(RuntimeError):
    """A service tried to emit an event another service owns."""


_INSERT_OUTBOX_SQL = (
    "INSERT INTO outbox (event_id, event_type, version, exchange, routing_key, correlation_id,"
    " body) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)"
)


def _outbox_values(envelope: EventEnvelope[Any]) -> tuple[Any, ...]:
    spec = spec_of(type(envelope.payload))
    return (
        envelope.event_id,
        envelope.event_type,
        envelope.version,
        spec.exchange,
        spec.routing_key,
        envelope.correlation_id,
        envelope.model_dump_json(),
    )


class UnitOfWork:
    """One transaction: state changes plus the events they raise.

    Use as ``async with uow_factory() as uow: ...; await uow.commit()``. Leaving the block
    without :meth:`commit` rolls everything back, events included.
    """

    def __init__(self, sessions: SessionFactory, producer: str, clock: Clock = utcnow) -> None:
        self._sessions = sessions
        self.producer = producer
        self.clock = clock
        self._pending: list[EventEnvelope[Any]] = []
        self._session: AsyncSession | None = None
        self.committed = False

    @property
    def session(self) -> AsyncSession:
        """The session of this unit of work (only inside ``async with``)."""
        if self._session is None:
            raise RuntimeError("UnitOfWork used outside 'async with'")
        return self._session

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._sessions()
        self._pending = []
        self.committed = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        try:
            if not self.committed:
                await session.rollback()
        finally:
            await session.close()
            self._session = None

    def emit(self, payload: BaseModel, *, event_id: uuid.UUID | None = None) -> EventEnvelope[Any]:
        """Record an event to be written with this transaction; returns its envelope."""
        spec = spec_of(type(payload))
        if spec.producer != self.producer:
            raise WrongProducer(f"{self.producer} cannot emit {spec.event_type}")
        envelope = new_envelope(
            payload,
            correlation_id=current_correlation_id() or new_correlation_id(),
            causation_id=current_causation_id(),
            event_id=event_id,
        )
        self._pending.append(envelope)
        return envelope

    @property
    def pending_events(self) -> list[EventEnvelope[Any]]:
        """Events emitted and not yet committed (in emission order)."""
        return list(self._pending)

    async def commit(self) -> None:
        """Write the outbox rows and commit them together with the state change."""
        session = self.session
        if self._pending:
            # On the session's asyncpg connection, the body serialised by pydantic in one pass:
            # a third of the ORM path's cost for the statement every state change ends with.
            conn = await session_connection(session)
            rows = [_outbox_values(e) for e in self._pending]
            if len(rows) == 1:
                await conn.execute(_INSERT_OUTBOX_SQL, *rows[0])
            else:
                await conn.executemany(_INSERT_OUTBOX_SQL, rows)
        await session.commit()
        self._pending = []
        self.committed = True

    def now(self) -> datetime:
        """Now, by the service's clock (tests drive it through ``build_runtime(clock=...)``)."""
        return self.clock()

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested transaction: if the block raises, its state changes *and* the events it
        emitted are undone, while the rest of the unit of work goes on."""
        mark = len(self._pending)
        try:
            async with self.session.begin_nested():
                yield
        except BaseException:
            del self._pending[mark:]
            raise

    async def rollback(self) -> None:
        """Discard the state change and the events."""
        await self.session.rollback()
        self._pending = []


class UnitOfWorkFactory:
    """Makes units of work for one service (the composition root holds one)."""

    def __init__(self, sessions: SessionFactory, producer: str, clock: Clock = utcnow) -> None:
        self.sessions = sessions
        self.producer = producer
        self.clock = clock

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, self.producer, self.clock)
