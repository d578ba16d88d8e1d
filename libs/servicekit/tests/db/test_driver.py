"""Plain asyncpg inside and outside a unit of work: raw statements belong to the session's
transaction (they commit and roll back with it, and see its pending ORM changes)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from servicekit.db.driver import read_connection, session_connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


class _Base(SQLModel, registry=registry()):
    """Own registry, so this test table never joins the application's metadata."""


class Note(_Base, table=True):
    __tablename__ = "drv_note"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    text: str


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    name = f"sk_drv_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    eng = create_async_engine(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}")
    try:
        async with eng.begin() as conn:
            await conn.run_sync(_Base.metadata.create_all)
        yield eng
    finally:
        await eng.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _count(engine: AsyncEngine) -> int:
    async with read_connection(engine) as conn:
        return int(await conn.fetchval("SELECT count(*) FROM drv_note"))


async def test_raw_statements_roll_back_with_the_session(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session:
        conn = await session_connection(session)
        await conn.execute("INSERT INTO drv_note (id, text) VALUES ($1, 'raw')", uuid.uuid4())
        assert await conn.fetchval("SELECT count(*) FROM drv_note") == 1  # inside
        assert await _count(engine) == 0  # not committed: invisible elsewhere
        await session.rollback()
    assert await _count(engine) == 0


async def test_raw_statements_see_pending_orm_changes_and_commit_with_them(
    engine: AsyncEngine,
) -> None:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        session.add(Note(text="orm"))
        conn = await session_connection(session)  # flushes the pending row first
        assert await conn.fetchval("SELECT text FROM drv_note") == "orm"
        await conn.execute("INSERT INTO drv_note (id, text) VALUES ($1, 'raw')", uuid.uuid4())
        await session.commit()
        assert await _count(engine) == 2
        # A new transaction of the same session: raw statements belong to it, not the old one.
        conn = await session_connection(session)
        await conn.execute("DELETE FROM drv_note")
        await session.rollback()
    assert await _count(engine) == 2
