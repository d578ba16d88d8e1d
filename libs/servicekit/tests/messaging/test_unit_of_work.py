"""The unit of work: state and outbox rows in one database transaction, whichever of the ORM or
plain asyncpg goes first; a session that joins later; events and rows committed together or not
at all (a COMMIT the database refuses leaves neither); the connection back in the pool; and a
loud refusal, never a silent autocommit, when raw statements would run outside the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from contracts.cabinet.v1 import UserContactChangedV1
from contracts.testing import example_payload
from servicekit.db.driver import new_row
from servicekit.db.engine import (
    TransactionNotOpen,
    asyncpg_dsn,
    make_engine,
    make_session_factory,
)
from servicekit.db.tables import install_kit_schema
from servicekit.messaging.outbox import UnitOfWork, UnitOfWorkFactory
from servicekit.testing import TEST_SEALER, temporary_database
from sqlalchemy import Column, ForeignKey, Uuid
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession


class _Base(SQLModel, registry=registry()):
    """Own registry, so the test table never joins the application's ``SQLModel.metadata``."""


class Note(_Base, table=True):
    __tablename__ = "uow_note"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    text: str
    version: int = 1
    # Checked at COMMIT: a dangling parent makes the database refuse the whole transaction
    # after every statement of it (ORM and raw) has run.
    parent_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(
            Uuid, ForeignKey("uow_note.id", deferrable=True, initially="DEFERRED"), nullable=True
        ),
    )


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    async with temporary_database("uow") as url:
        engine = make_engine(url, pool_size=1)
        async with engine.begin() as conn:
            await conn.run_sync(install_kit_schema)
            await conn.run_sync(_Base.metadata.create_all)
        await engine.dispose()
        yield url


@pytest.fixture
async def units(database_url: str) -> AsyncIterator[tuple[UnitOfWorkFactory, asyncpg.Connection]]:
    engine = make_engine(database_url, pool_size=1)  # one connection: a leak would hang the next
    raw = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        yield (
            UnitOfWorkFactory(make_session_factory(engine), "cabinet", sealer=TEST_SEALER),
            raw,
        )
    finally:
        await raw.close()
        await engine.dispose()


def _event(uow: UnitOfWork) -> uuid.UUID:
    return uow.emit(example_payload(UserContactChangedV1, user_id=uuid.uuid4())).event_id


async def _state(raw: asyncpg.Connection) -> tuple[list[str], int]:
    notes = [r["text"] for r in await raw.fetch("SELECT text FROM uow_note ORDER BY text")]
    return notes, await raw.fetchval("SELECT count(*) FROM outbox")


async def test_connection_then_session_is_one_transaction(
    units: tuple[UnitOfWorkFactory, asyncpg.Connection],
) -> None:
    """A row put in on the plain connection is in the session a later step asks for: a change
    to it flushes as an UPDATE, a row the session adds commits with it, and the event too."""
    factory, raw = units
    async with factory() as uow:
        conn = await uow.connection()
        assert conn.is_in_transaction()
        note = new_row(Note, text="plain")
        await uow.insert(note)
        assert await raw.fetchval("SELECT count(*) FROM uow_note") == 0  # not committed yet
        note.version = 2  # the session joins: the row is in it
        uow.session.add(Note(text="orm"))
        assert (await uow.session.exec(select(Note.text).order_by(Note.text))).all() == [
            "orm",
            "plain",
        ]
        event_id = _event(uow)
        await uow.commit()
    assert await _state(raw) == (["orm", "plain"], 1)
    assert await raw.fetchval("SELECT version FROM uow_note WHERE text = 'plain'") == 2
    assert await raw.fetchval("SELECT event_id FROM outbox") == event_id


async def test_leaving_without_commit_rolls_back_both_ways(
    units: tuple[UnitOfWorkFactory, asyncpg.Connection],
) -> None:
    factory, raw = units

    async def refused() -> None:
        async with factory() as uow:
            await uow.insert(new_row(Note, text="lost"))
            _event(uow)
            raise RuntimeError("refused")

    with pytest.raises(RuntimeError, match="refused"):
        await refused()
    async with factory() as uow:  # with one pooled connection: it was given back
        await uow.insert(new_row(Note, text="lost too"))
        uow.session.add(Note(text="orm, lost"))
        await uow.session.flush()
    async with factory() as uow:
        await uow.insert(new_row(Note, text="rolled back"))
        await uow.rollback()
        await uow.insert(new_row(Note, text="kept"))  # the unit goes on in a new transaction
        await uow.commit()
    assert await _state(raw) == (["kept"], 0)


async def test_a_failed_statement_aborts_the_unit_and_frees_the_connection(
    units: tuple[UnitOfWorkFactory, asyncpg.Connection],
) -> None:
    """As after a failed flush: the database's own error, nothing written, the pool intact."""
    factory, raw = units
    note = new_row(Note, text="first")
    async with factory() as uow:
        await uow.insert(note)
        await uow.commit()

    async def duplicate() -> None:
        async with factory() as uow:
            await uow.insert(new_row(Note, text="second"))
            _event(uow)
            await uow.insert(new_row(Note, id=note.id, text="duplicate"))
            await uow.commit()

    with pytest.raises(asyncpg.UniqueViolationError):
        await duplicate()
    async with factory() as uow:
        await uow.insert(new_row(Note, text="after"))
        _event(uow)
        await uow.commit()
    assert await _state(raw) == (["after", "first"], 1)


async def test_commit_gives_the_connection_back_and_the_unit_goes_on(
    units: tuple[UnitOfWorkFactory, asyncpg.Connection],
) -> None:
    """After a commit the pool has the connection again (with a pool of one, another unit can
    run while this one waits, as a route does on YooKassa); the unit then begins anew."""
    factory, raw = units
    async with factory() as uow:
        await uow.insert(new_row(Note, text="one"))
        await uow.commit()
        async with factory() as other:
            await other.insert(new_row(Note, text="meanwhile"))
            await other.commit()
        conn = await uow.connection()
        assert conn.is_in_transaction()
        await uow.insert(new_row(Note, text="two"))
        _event(uow)
        await uow.commit()
    assert await _state(raw) == (["meanwhile", "one", "two"], 1)


async def test_outside_async_with_is_an_error(
    units: tuple[UnitOfWorkFactory, asyncpg.Connection],
) -> None:
    factory, _ = units
    uow = factory()
    with pytest.raises(RuntimeError, match="outside"):
        await uow.connection()
    with pytest.raises(RuntimeError, match="outside"):
        uow.session  # noqa: B018


async def test_a_savepoint_after_the_connection_undoes_only_its_block(
    units: tuple[UnitOfWorkFactory, asyncpg.Connection],
) -> None:
    """A refused step inside ``uow.savepoint()`` leaves nothing behind (rows or events), while
    what the unit did before it, on the plain connection, still commits."""
    factory, raw = units

    async def refused_step(uow: UnitOfWork) -> None:
        async with uow.savepoint():
            await uow.insert(new_row(Note, text="inside"))
            uow.session.add(Note(text="inside, orm"))
            _event(uow)
            raise LookupError("refused")

    async with factory() as uow:
        await uow.insert(new_row(Note, text="before"))
        kept = _event(uow)
        with pytest.raises(LookupError):
            await refused_step(uow)
        await uow.insert(new_row(Note, text="after"))
        await uow.commit()
    assert await _state(raw) == (["after", "before"], 1)
    assert await raw.fetchval("SELECT event_id FROM outbox") == kept


async def test_a_refused_commit_leaves_neither_the_state_nor_the_outbox_row(
    units: tuple[UnitOfWorkFactory, asyncpg.Connection],
) -> None:
    """The database refuses the COMMIT (a deferred foreign key) after the state change and the
    raw outbox INSERT both ran: if the raw statements had run outside the transaction (no BEGIN
    on the database), the outbox row would be there without its change."""
    factory, raw = units
    dangling = uuid.uuid4()

    async def orm_first() -> None:
        async with factory() as uow:
            uow.session.add(Note(text="orm", parent_id=dangling))
            await uow.session.flush()
            _event(uow)
            await uow.commit()

    async def raw_first() -> None:
        async with factory() as uow:
            _event(uow)
            await uow.insert(new_row(Note, text="raw", parent_id=dangling))
            uow.session.add(Note(text="orm, joined"))
            await uow.commit()

    async def events_first() -> None:  # the raw outbox INSERT is the transaction's first write
        async with factory() as uow:
            _event(uow)
            await (await uow.connection()).execute(
                "INSERT INTO uow_note (id, text, version, parent_id) VALUES ($1, 'raw', 1, $2)",
                uuid.uuid4(),
                dangling,
            )
            await uow.commit()

    for attempt in (orm_first, raw_first, events_first):
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await attempt()
        assert await _state(raw) == ([], 0), attempt.__name__
    async with factory() as uow:  # the one pooled connection is healthy and out of any transaction
        await uow.insert(new_row(Note, text="after"))
        _event(uow)
        await uow.commit()
    assert await _state(raw) == (["after"], 1)


async def test_a_rollback_undoes_the_orm_write_and_the_raw_write(
    units: tuple[UnitOfWorkFactory, asyncpg.Connection],
) -> None:
    """ORM first, then plain asyncpg in the same unit (the session's own transaction): a rollback
    undoes both; so does leaving the block without a commit."""
    factory, raw = units
    async with factory() as uow:
        uow.session.add(Note(text="orm"))
        conn = await uow.connection()  # flushes the ORM row into the transaction
        assert conn.is_in_transaction()
        await uow.insert(new_row(Note, text="raw"))
        assert await conn.fetchval("SELECT count(*) FROM uow_note") == 2
        assert await raw.fetchval("SELECT count(*) FROM uow_note") == 0
        await uow.rollback()
    async with factory() as uow:
        _event(uow)
        uow.session.add(Note(text="orm, left"))
        await (await uow.connection()).execute(
            "INSERT INTO uow_note (id, text, version) VALUES ($1, 'raw, left', 1)", uuid.uuid4()
        )
    assert await _state(raw) == ([], 0)


async def test_raw_statements_outside_a_database_transaction_fail_loudly(
    database_url: str, units: tuple[UnitOfWorkFactory, asyncpg.Connection]
) -> None:
    """Sessions on a plain engine (SQLAlchemy opens the transaction with its own first
    statement): the factory refuses them, and a unit made with them anyway refuses to hand out
    its connection; a transaction ended behind the unit's back is refused too."""
    engine = create_async_engine(database_url)  # as SQLAlchemy makes it
    plain = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    try:
        with pytest.raises(TypeError, match="make_session_factory"):
            UnitOfWorkFactory(plain, "cabinet", sealer=TEST_SEALER)
        async with UnitOfWork(plain, "cabinet", sealer=TEST_SEALER) as uow:
            _event(uow)
            with pytest.raises(TransactionNotOpen):
                await uow.connection()
            with pytest.raises(TransactionNotOpen):
                await uow.commit()
    finally:
        await engine.dispose()
    factory, raw = units
    async with factory() as uow:
        conn = await uow.connection()
        await conn.execute("COMMIT")  # someone ends it early
        with pytest.raises(TransactionNotOpen):
            await uow.connection()
    async with factory() as uow:
        uow.session.add(Note(text="orm"))
        conn = await uow.connection()
        await conn.execute("ROLLBACK")
        _event(uow)
        with pytest.raises(TransactionNotOpen):
            await uow.commit()
    assert await _state(raw) == ([], 0)
