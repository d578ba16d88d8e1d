"""Plain asyncpg inside and outside a unit of work: raw statements belong to the session's
transaction (they commit and roll back with it, and see its pending ORM changes), a session
whose transaction is not open on the database refuses them loudly, and ``new_row`` /
``insert_row`` keep rows and tables apart."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from servicekit.db.driver import (
    insert_on,
    new_row,
    read_connection,
    session_connection,
    transaction_driver,
)
from servicekit.db.engine import (
    TransactionNotOpen,
    eager_engine,
    make_engine,
    make_session_factory,
)
from sqlalchemy import JSON, Column
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
    labels: list[str] = Field(default=[], sa_column=Column(JSON, nullable=False))


class _OtherService(SQLModel, registry=registry()):
    """Another service's models, in the same process (as in-process tests run them)."""


class OtherNote(_OtherService, table=True):
    """The same table name as :class:`Note`, other columns (another service's database)."""

    __tablename__ = "drv_note"
    id: int = Field(primary_key=True)
    body: str


async def _database(admin: asyncpg.Connection) -> str:
    name = f"sk_drv_{secrets.token_hex(6)}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    return name


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    admin = await asyncpg.connect(PG_ADMIN)
    name = await _database(admin)
    eng = make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", pool_size=2)
    try:
        async with eng.begin() as conn:
            await conn.run_sync(_Base.metadata.create_all)
        yield eng
    finally:
        await eng.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _session(engine: AsyncEngine) -> AsyncSession:
    return make_session_factory(engine)()


async def _count(engine: AsyncEngine) -> int:
    async with read_connection(engine) as conn:
        return int(await conn.fetchval("SELECT count(*) FROM drv_note"))


async def test_raw_statements_roll_back_with_the_session(engine: AsyncEngine) -> None:
    """The raw statement is the transaction's first: it must not commit on its own."""
    async with _session(engine) as session:
        conn = await session_connection(session)
        assert conn.is_in_transaction()
        await conn.execute(
            "INSERT INTO drv_note (id, text, labels) VALUES ($1, 'raw', '[]')", uuid.uuid4()
        )
        assert await conn.fetchval("SELECT count(*) FROM drv_note") == 1  # inside
        assert await _count(engine) == 0  # not committed: invisible elsewhere
        await session.rollback()
    assert await _count(engine) == 0


async def test_an_orm_write_and_a_raw_write_commit_or_roll_back_together(
    engine: AsyncEngine,
) -> None:
    async with _session(engine) as session:
        session.add(Note(text="orm"))
        conn = await session_connection(session)  # flushes the pending row first
        assert await conn.fetchval("SELECT text FROM drv_note") == "orm"
        await conn.execute(
            "INSERT INTO drv_note (id, text, labels) VALUES ($1, 'raw', '[]')", uuid.uuid4()
        )
        await session.commit()
        assert await _count(engine) == 2
        # A new transaction of the same session: raw statements belong to it, not the old one.
        conn = await session_connection(session)
        await conn.execute("DELETE FROM drv_note")
        session.add(Note(text="orm, rolled back"))
        await session.flush()
        await session.rollback()
    assert await _count(engine) == 2


async def test_a_session_not_open_on_the_database_refuses_raw_statements(
    engine: AsyncEngine,
) -> None:
    """A plain SQLAlchemy engine opens the transaction with its first statement: raw statements
    before it would each commit on their own, so asking for the connection fails loudly."""
    plain = create_async_engine(engine.url)
    try:
        async with AsyncSession(plain) as session:
            with pytest.raises(TransactionNotOpen):
                await session_connection(session)
        async with plain.connect() as conn:
            await conn.begin()
            with pytest.raises(TransactionNotOpen):
                await transaction_driver(conn)
    finally:
        await plain.dispose()
    assert await _count(engine) == 0


async def test_a_transaction_ended_behind_the_sessions_back_is_refused(
    engine: AsyncEngine,
) -> None:
    """A raw COMMIT ends the transaction early: later raw statements and the session's own
    commit refuse to go on as if it were open."""
    async with _session(engine) as session:
        conn = await session_connection(session)
        await conn.execute("COMMIT")
        with pytest.raises(TransactionNotOpen):
            await session_connection(session)
        with pytest.raises(TransactionNotOpen):
            await session.commit()


async def test_an_eager_connection_is_inside_its_transaction_from_begin(
    engine: AsyncEngine,
) -> None:
    """make_engine's engines begin eagerly; eager_engine gives any other engine an eager variant
    on its pool and leaves the engine itself as SQLAlchemy makes it."""
    assert eager_engine(engine) is engine
    plain = create_async_engine(engine.url)
    eager = eager_engine(plain)
    assert eager_engine(eager) is eager
    try:
        for eng in (engine, eager):
            async with eng.connect() as conn:
                await conn.begin()
                driver = await transaction_driver(conn)
                assert driver.is_in_transaction()
                await driver.execute(
                    "INSERT INTO drv_note (id, text, labels) VALUES ($1, 'x', '[]')", uuid.uuid4()
                )
                await conn.rollback()
                assert not driver.is_in_transaction()
        async with plain.connect() as conn:
            await conn.begin()
            assert not (await conn.get_raw_connection()).driver_connection.is_in_transaction()
    finally:
        await plain.dispose()
    assert await _count(engine) == 0


async def test_a_connection_given_back_inside_a_transaction_is_not_lent_again(
    engine: AsyncEngine,
) -> None:
    raw = await engine.raw_connection()
    leaked: asyncpg.Connection = raw.driver_connection
    await leaked.execute("BEGIN")
    await leaked.execute(
        "INSERT INTO drv_note (id, text, labels) VALUES ($1, 'leaked', '[]')", uuid.uuid4()
    )
    raw.close()  # back to the pool, still inside the transaction
    for _ in range(2):  # every connection the pool of two may hand out
        async with read_connection(engine) as conn:
            assert conn is not leaked
            assert not conn.is_in_transaction()
    assert leaked.is_closed()  # discarded: the server rolled its transaction back
    assert await _count(engine) == 0


def test_new_row_gives_each_row_its_own_mutable_default() -> None:
    first, second = new_row(Note, text="a"), new_row(Note, text="b")
    first.labels.append("urgent")
    assert second.labels == []
    assert new_row(Note, text="c").labels == []
    assert Note.model_fields["labels"].default == []
    assert first.id != second.id  # a factory runs per row


def test_new_row_refuses_unknown_and_missing_fields() -> None:
    with pytest.raises(TypeError, match="needs a value for 'text'"):
        new_row(Note)
    with pytest.raises(TypeError, match="no field"):
        new_row(Note, text="a", colour="red")


async def test_tables_of_the_same_name_in_two_services_keep_their_own_insert(
    engine: AsyncEngine,
) -> None:
    """Two services' tables called the same (each in its own database) in one process: each
    INSERT names its own table's columns."""
    admin = await asyncpg.connect(PG_ADMIN)
    name = await _database(admin)
    other = make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", pool_size=1)
    try:
        async with other.begin() as conn:
            await conn.run_sync(_OtherService.metadata.create_all)
        for eng, row in (
            (engine, new_row(Note, text="mine")),
            (other, OtherNote(id=7, body="theirs")),
        ):
            async with eager_engine(eng).connect() as conn:
                await conn.begin()
                await insert_on(await transaction_driver(conn), eng.dialect, row)
                await conn.commit()
        async with read_connection(other) as conn:
            assert await conn.fetchval("SELECT body FROM drv_note WHERE id = 7") == "theirs"
        async with read_connection(engine) as conn:
            assert await conn.fetchval("SELECT text FROM drv_note") == "mine"
    finally:
        await other.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
