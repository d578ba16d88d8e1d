"""Async engine and session factory (SQLAlchemy 2 + asyncpg, SQLModel sessions).

Units of work mix the ORM and plain asyncpg statements in one transaction
(:mod:`servicekit.db.driver`), so their transaction must be open *on the database* before a raw
statement runs. SQLAlchemy's asyncpg adapter opens its transaction lazily, with the first
statement it runs itself, and offers no public way to open it earlier. Engines here therefore
begin *eagerly*: the adapter runs in DBAPI autocommit (it then never begins or ends anything
itself) and ``BEGIN``/``COMMIT``/``ROLLBACK`` are sent by listeners on SQLAlchemy's public
connection events (``begin``/``commit``/``rollback``), through the adapter's public
``run_async``. This is SQLAlchemy's documented recipe for a driver whose transactions it does
not drive the way an application needs (the pysqlite ``BEGIN`` recipe), applied to asyncpg:
after ``await conn.begin()`` (or a session's first use of its connection) the database is
inside the transaction, which asyncpg's public ``is_in_transaction()`` confirms, and a
connection that is not is refused loudly (:class:`TransactionNotOpen`) instead of running raw
statements in autocommit. For everything else the engine behaves as before: the same
transactions, begun by the same calls, with the same number of round trips.

:func:`make_engine` makes such an engine; :func:`eager_engine` gives any other asyncpg engine an
eager variant on the same pool (per check-out, so a little slower); the sessions of
:func:`make_session_factory` always run on an eager engine.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy import Connection, event
from sqlalchemy.engine import AdaptedConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

SessionFactory = async_sessionmaker[AsyncSession]


class TransactionNotOpen(RuntimeError):
    """Plain asyncpg statements were about to run on a connection that is not inside the
    transaction they belong to (they would have committed on their own, one by one)."""


def make_engine(database_url: str, *, pool_size: int = 20, echo: bool = False) -> AsyncEngine:
    """An asyncpg engine with a fixed-size pool (connections open as needed, up to ``pool_size``).

    No overflow: an overflow connection is closed when it is returned to a full pool, so a load
    above the pool size opened and closed a connection every few requests (asyncpg's start-up,
    SQLAlchemy's codec set-up, every prepared statement again) — under 32 concurrent slot
    searches that halved throughput and put p99 near a second (bench/booking.py). Requests
    beyond the pool wait for a connection instead.

    No ``pool_pre_ping``: it costs a round trip per transaction. Instead a check-out looks at the
    socket (no round trip): a connection the server closed while it sat in the pool (a restart,
    ``pg_terminate_backend``) is discarded there and a fresh one opened, so the first request
    after a restart does not fail on it. A connection that dies under a request fails that
    request with a 503 (:mod:`servicekit.db.faults`) and is discarded, not pooled again.

    ``hide_parameters``: statement parameters are personal data as often as not; errors and
    echo show the statement only.

    Eager transactions (see the module's docstring): every connection is opened in the
    adapter's autocommit mode once, so no check-out pays for switching it.
    """
    engine = create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=0,
        # A failed statement's message never carries its parameters (emails, names, notes) into
        # a log or an error report.
        hide_parameters=True,
        pool_recycle=1800,
        echo=echo,
        isolation_level="AUTOCOMMIT",  # the adapter's; transactions are begun by _begin
    )
    _begin_eagerly(engine)
    event.listen(engine.sync_engine, "checkout", _refuse_closed)
    return engine


def _refuse_closed(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    # The pool invalidates a connection refused here and checks out another (up to 3 times).
    driver = record.driver_connection
    if driver is not None and driver.is_closed():
        raise DisconnectionError("the server closed this pooled connection")
    if driver is not None and driver.is_in_transaction():
        # Given back inside a transaction (an interrupted COMMIT, a raw BEGIN): never lent again,
        # or its next user's statements would join a stranger's transaction.
        raise DisconnectionError("this pooled connection was returned inside a transaction")


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions that keep attributes after commit (no lazy reloads in async code), on
    :func:`eager_engine`: their transaction is open on the database from its start, so plain
    asyncpg statements can join it (:func:`servicekit.db.driver.session_connection`)."""
    return async_sessionmaker(eager_engine(engine), class_=AsyncSession, expire_on_commit=False)


def eager_engine(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` (the same pool) whose transactions begin on the database when SQLAlchemy
    begins them, not with their first statement (see the module's docstring); an engine of
    :func:`make_engine` is one already."""
    if is_eager(engine):
        return engine
    eager = engine.execution_options(isolation_level="AUTOCOMMIT")
    _begin_eagerly(eager)
    return eager


def _begin_eagerly(engine: AsyncEngine) -> None:
    event.listen(engine.sync_engine, "begin", _begin)
    event.listen(engine.sync_engine, "commit", _commit)
    event.listen(engine.sync_engine, "rollback", _rollback)


def is_eager(engine: AsyncEngine) -> bool:
    """Whether ``engine`` is an :func:`eager_engine` (its listeners send BEGIN/COMMIT/ROLLBACK)."""
    return event.contains(engine.sync_engine, "begin", _begin)


def _adapted(conn: Connection) -> AdaptedConnection:
    dbapi = conn.connection.dbapi_connection
    if not isinstance(dbapi, AdaptedConnection):
        raise TypeError("an eager engine needs an asyncio driver (postgresql+asyncpg)")
    return dbapi


def _run(dbapi: AdaptedConnection, statement: str) -> None:
    # In a connection event SQLAlchemy runs synchronously inside its greenlet; ``run_async`` is
    # its public way to await the driver there.
    dbapi.run_async(lambda driver: driver.execute(statement))


def _begin(conn: Connection) -> None:
    dbapi = _adapted(conn)
    driver: asyncpg.Connection = dbapi.driver_connection
    if driver.is_in_transaction():
        raise TransactionNotOpen("the connection is already inside a transaction nobody began")
    _run(dbapi, "BEGIN")
    if not driver.is_in_transaction():
        raise TransactionNotOpen("BEGIN did not open a transaction on the database")


def _commit(conn: Connection) -> None:
    dbapi = _adapted(conn)
    driver: asyncpg.Connection = dbapi.driver_connection
    if not driver.is_in_transaction():
        # Ended behind SQLAlchemy's back (a raw COMMIT or ROLLBACK): what followed ran in
        # autocommit, so "commit" cannot keep its promise.
        raise TransactionNotOpen("COMMIT outside a transaction: the transaction ended early")
    _run(dbapi, "COMMIT")


def _rollback(conn: Connection) -> None:
    if conn.closed or conn.invalidated:
        return  # a connection that is gone took its transaction with it
    dbapi = _adapted(conn)
    driver: asyncpg.Connection = dbapi.driver_connection
    if driver.is_closed() or not driver.is_in_transaction():
        return  # nothing left to undo (a failed COMMIT ends the transaction)
    _run(dbapi, "ROLLBACK")


def asyncpg_dsn(database_url: str) -> str:
    """The plain ``postgresql://`` DSN asyncpg wants, from a SQLAlchemy URL."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
