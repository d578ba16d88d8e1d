"""The write side of the transactional outbox: the unit of work.

A :class:`UnitOfWork` owns one database transaction. Domain code changes state through
``uow.session`` and records what happened with :meth:`UnitOfWork.emit`; :meth:`commit` inserts
the outbox rows *in the same transaction* as the state change, so an event exists if and only
if its change was committed. The relay (:mod:`servicekit.messaging.relay`) publishes the rows.
A row's body is the message as it goes on the wire, personal and secret fields sealed
(:mod:`servicekit.messaging.sealing`): an outbox never holds them in the clear.

The correlation id is taken from the current context (HTTP request or consumed event), and an
event emitted while handling another one gets that event's id as its ``causation_id``. When the
work is traced, each event gets a ``create`` span and the row keeps its W3C trace context
(``trace_context``), which the relay continues (:mod:`servicekit.tracing`).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from types import TracebackType
from typing import Any

import asyncpg
from contracts.envelope import EventEnvelope, new_envelope, to_wire
from contracts.registry import spec_of
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from servicekit.clock import Clock, utcnow
from servicekit.correlation import current_causation_id, current_correlation_id, new_correlation_id
from servicekit.db.driver import insert_on, insert_row, session_connection, transaction_driver
from servicekit.db.engine import SessionFactory, TransactionNotOpen, is_eager
from servicekit.db.faults import is_transient
from servicekit.messaging.sealing import EventSealer
from servicekit.tracing import current_trace_context, messaging_attributes, start_span


class WrongProducer(RuntimeError):
    """A service tried to emit an event another service owns."""


_INSERT_OUTBOX_SQL = (
    "INSERT INTO outbox (event_id, event_type, version, exchange, routing_key, correlation_id,"
    " body, trace_context) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb)"
)


def _outbox_values(
    envelope: EventEnvelope[Any], sealer: EventSealer, trace_context: str | None
) -> tuple[Any, ...]:
    spec = spec_of(type(envelope.payload))
    return (
        envelope.event_id,
        envelope.event_type,
        envelope.version,
        spec.exchange,
        spec.routing_key,
        envelope.correlation_id,
        to_wire(envelope, sealer),
        trace_context,
    )


def _traced_create(envelope: EventEnvelope[Any]) -> str | None:
    """A ``create`` span for an event emitted in traced work; its context as stored JSON."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None  # not traced (tracing off, or work outside any span): nothing to keep
    spec = spec_of(type(envelope.payload))
    span = start_span(
        f"create {spec.exchange}",
        kind=SpanKind.PRODUCER,
        attributes=messaging_attributes(
            "create",
            exchange=spec.exchange,
            routing_key=spec.routing_key,
            message_id=str(envelope.event_id),
            conversation_id=envelope.correlation_id,
        ),
    )
    try:
        with trace.use_span(span):
            carrier = current_trace_context()
    finally:
        span.end()
    return None if carrier is None else json.dumps(carrier)


class UnitOfWork:
    """One transaction: state changes plus the events they raise.

    Use as ``async with uow_factory() as uow: ...; await uow.commit()``. Leaving the block
    without :meth:`commit` rolls everything back, events included.

    The transaction begins with whichever comes first: ``uow.session`` (the ORM) or
    :meth:`connection` (plain asyncpg for hot paths). Either way it is open on the database
    before a raw statement runs (the session factory's engine begins eagerly:
    :func:`servicekit.db.engine.eager_engine`), and a raw statement never runs outside it:
    :meth:`connection` checks, with asyncpg's ``is_in_transaction()``, and raises
    :class:`~servicekit.db.engine.TransactionNotOpen` otherwise. A unit that only ever asks for the
    connection never builds a session: it runs on a pooled connection, at about half the CPU
    per transaction (a session's set-up, begin, commit and close cost ~0.25 ms; measured). A
    session asked for after the connection joins that same transaction, and rows put in with
    :meth:`insert` before it existed are attached to it, so both ways see one state.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        producer: str,
        clock: Clock = utcnow,
        sealer: EventSealer | None = None,
    ) -> None:
        self._sessions = sessions
        self.producer = producer
        self.clock = clock
        self.sealer = sealer or EventSealer()  # default: the process keyring, no capabilities
        self._pending: list[EventEnvelope[Any]] = []
        self._traces: dict[uuid.UUID, str] = {}  # event id -> its stored trace context
        self._session: AsyncSession | None = None
        self._connection: AsyncConnection | None = None  # only when begun without a session
        self._driver: asyncpg.Connection | None = None
        self._inserted: list[SQLModel] = []
        self._open = False
        self.committed = False

    @property
    def _engine(self) -> AsyncEngine:
        engine = self._sessions.kw.get("bind")
        if not isinstance(engine, AsyncEngine):
            raise TypeError("the unit of work's session factory must be bound to an AsyncEngine")
        return engine

    @property
    def session(self) -> AsyncSession:
        """The session of this unit of work (only inside ``async with``)."""
        if not self._open:
            raise RuntimeError("UnitOfWork used outside 'async with'")
        if self._session is None:
            if self._connection is None:
                self._session = self._sessions()
            else:  # join the transaction the connection began: commit stays with the unit
                self._session = self._sessions(
                    bind=self._connection, join_transaction_mode="rollback_only"
                )
                self._session.add_all(self._inserted)  # changed since: flushed as UPDATEs
            self._inserted = []
        return self._session

    async def connection(self) -> asyncpg.Connection:
        """The asyncpg connection of this unit of work, inside its transaction (begun here if
        nothing has begun it yet); with a session, its pending changes are flushed first."""
        if not self._open:
            raise RuntimeError("UnitOfWork used outside 'async with'")
        if self._session is not None:
            return await session_connection(self._session)
        if self._driver is None:
            connection = await self._engine.connect()
            try:
                await connection.begin()  # an eager engine: BEGIN is sent here
                self._driver = await transaction_driver(connection)
            except BaseException:
                await connection.close()  # back to the pool (invalidated if it broke)
                raise
            self._connection = connection
        elif not self._driver.is_in_transaction():
            raise TransactionNotOpen("the unit of work's transaction ended on the database")
        return self._driver

    async def insert(self, row: SQLModel) -> None:
        """INSERT ``row`` (a table model) in this transaction without the ORM's flush
        (:func:`~servicekit.db.driver.insert_row`); it is, or will be, persistent in the
        session, so later changes to it flush as UPDATEs."""
        if self._session is not None:
            await insert_row(self._session, row)
            return
        await insert_on(await self.connection(), self._engine.dialect, row)
        make_transient_to_detached(row)  # from here on, changes to it are its history
        self._inserted.append(row)

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._connection = self._driver = None
        self._pending, self._inserted = [], []
        self._traces = {}
        self._open, self.committed = True, False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A connection that died under this unit (a restart, pg_terminate_backend) is discarded,
        # not pooled again, and cleaning up after it never hides the error that ended the unit.
        broken = exc is not None and is_transient(exc)
        try:
            if (
                not broken
                and not self.committed
                and self._connection is None
                and self._session is not None
            ):
                await self._session.rollback()
        except Exception as cleanup:
            broken = is_transient(cleanup)
            if exc is None:  # nothing else ended the unit: its rollback's failure is the news
                raise
        finally:
            self._open = False
            await self._release(discard=broken)  # a connection still in its transaction rolls back

    async def _release(self, *, discard: bool = False) -> None:
        session, connection = self._session, self._connection
        self._session = self._connection = self._driver = None
        self._inserted = []
        if discard:
            await _discard(session, connection)
            return
        try:
            if session is not None:
                await session.close()  # a joined session leaves the transaction alone
        finally:
            if connection is not None:
                await connection.close()

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
        traced = _traced_create(envelope)
        if traced is not None:
            self._traces[envelope.event_id] = traced
        return envelope

    @property
    def pending_events(self) -> list[EventEnvelope[Any]]:
        """Events emitted and not yet committed (in emission order)."""
        return list(self._pending)

    async def commit(self) -> None:
        """Write the outbox rows and commit them together with the state change."""
        if self._pending:
            # On the transaction's asyncpg connection, the body serialised by pydantic in one
            # pass: a third of the ORM path's cost for the statement every change ends with.
            conn = await self.connection()
            traces = self._traces
            rows = [_outbox_values(e, self.sealer, traces.get(e.event_id)) for e in self._pending]
            if len(rows) == 1:
                await conn.execute(_INSERT_OUTBOX_SQL, *rows[0])
            else:
                await conn.executemany(_INSERT_OUTBOX_SQL, rows)
        if self._connection is not None:
            if self._session is not None:
                await self._session.flush()
            await self._connection.commit()
            await self._release()  # the pool gets it back at once, as after a session's commit
        elif self._session is not None:
            await self._session.commit()
        self._pending = []
        self._traces = {}
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
        """Discard the state change and the events (a dead connection is discarded with them)."""
        self._pending = []
        self._traces = {}
        if self._connection is not None:
            await self._release()
        elif self._session is not None:
            try:
                await self._session.rollback()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                await self._release(discard=True)


async def _discard(session: AsyncSession | None, connection: AsyncConnection | None) -> None:
    """Invalidate the unit's connection (closed, never pooled again); errors of a dead one are
    expected and ignored."""
    with contextlib.suppress(Exception):
        if connection is None and session is not None and session.in_transaction():
            connection = await session.connection()
        if connection is not None:
            await connection.invalidate()
    if session is not None:
        with contextlib.suppress(Exception):
            await session.close()
    if connection is not None:
        with contextlib.suppress(Exception):
            await connection.close()


class UnitOfWorkFactory:
    """Makes units of work for one service (the composition root holds one)."""

    def __init__(
        self,
        sessions: SessionFactory,
        producer: str,
        clock: Clock = utcnow,
        sealer: EventSealer | None = None,
    ) -> None:
        bind = sessions.kw.get("bind")
        if not isinstance(bind, AsyncEngine) or not is_eager(bind):
            raise TypeError(
                "a unit of work needs sessions from servicekit.db.engine.make_session_factory"
                " (an eager engine), or its raw statements could not join the transaction"
            )
        self.sessions = sessions
        self.producer = producer
        self.clock = clock
        self.sealer = sealer or EventSealer()

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, self.producer, self.clock, self.sealer)
