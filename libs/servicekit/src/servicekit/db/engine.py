"""Async engine and session factory (SQLAlchemy 2 + asyncpg, SQLModel sessions)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

SessionFactory = async_sessionmaker[AsyncSession]


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
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed)
    return engine


def _refuse_closed(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    # The pool invalidates a connection refused here and checks out another (up to 3 times).
    driver = record.driver_connection
    if driver is not None and driver.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions that keep attributes after commit (no lazy reloads in async code)."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def asyncpg_dsn(database_url: str) -> str:
    """The plain ``postgresql://`` DSN asyncpg wants, from a SQLAlchemy URL."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
