"""Async engine and session factory (SQLAlchemy 2 + asyncpg, SQLModel sessions)."""

from __future__ import annotations

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

    No ``pool_pre_ping``: it costs a round trip per transaction. A connection broken by a database
    restart fails one request, and SQLAlchemy then invalidates the whole pool.

    ``hide_parameters``: statement parameters are personal data as often as not; errors and
    echo show the statement only.
    """
    return create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=0,
        # A failed statement's message never carries its parameters (emails, names, notes) into
        # a log or an error report.
        hide_parameters=True,
        pool_recycle=1800,
        echo=echo,
    )


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions that keep attributes after commit (no lazy reloads in async code)."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def asyncpg_dsn(database_url: str) -> str:
    """The plain ``postgresql://`` DSN asyncpg wants, from a SQLAlchemy URL."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
