"""EncryptedString, blind-index lookups and key rotation against a real PostgreSQL."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from cryptography.fernet import Fernet
from servicekit.db.driver import insert_row, new_row
from servicekit.db.engine import eager_engine
from servicekit.security.fields import (
    EncryptedString,
    Keyring,
    blind_index,
    configure_keyring,
)
from servicekit.security.rotation import RotationError, encrypted_columns, reencrypt_all
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, delete, insert, type_coerce
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
BLIND = "test-blind-index-key-0123456789"
OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


class _Base(SQLModel, registry=registry()):
    """Own registry, so these test tables never join the application's ``SQLModel.metadata``."""


class Person(_Base, table=True):
    __tablename__ = "sec_person"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(sa_type=EncryptedString)
    email_index: str = Field(sa_type=String(64), index=True)
    note: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))


core_metadata = MetaData()
diary = Table(
    "sec_diary",
    core_metadata,
    Column("user_id", Integer, primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("text", EncryptedString, nullable=False),
)


@pytest.fixture(scope="module")
async def database() -> AsyncIterator[str]:
    name = f"sk_sec_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(database="postgres", **PG)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield name
    finally:
        conn = await asyncpg.connect(database="postgres", **PG)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture(scope="module")
async def engine(database: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}")
    async with eng.begin() as conn:
        await conn.run_sync(_Base.metadata.create_all)
        await conn.run_sync(core_metadata.create_all)
    yield eng
    await eng.dispose()


@pytest.fixture
async def raw(database: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database=database, **PG)
    yield conn
    await conn.close()


@pytest.fixture
def old_keyring() -> Iterator[Keyring]:
    ring = Keyring([OLD_KEY], BLIND)
    previous = configure_keyring(ring)
    yield ring
    configure_keyring(previous)


@pytest.fixture
async def clean(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(Person))
        await conn.execute(diary.delete())


async def add_person(engine: AsyncEngine, email: str, note: str | None = None) -> uuid.UUID:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        person = Person(email=email, email_index=blind_index(email, kind="email"), note=note)
        session.add(person)
        await session.commit()
        return person.id


async def test_raw_row_holds_ciphertext_and_orm_reads_plaintext(
    engine: AsyncEngine, raw: asyncpg.Connection, old_keyring: Keyring, clean: None
) -> None:
    pid = await add_person(engine, "alice@example.com", note="панические атаки по ночам")
    row = await raw.fetchrow("SELECT email, note, email_index FROM sec_person WHERE id = $1", pid)
    assert row is not None
    for column, plain in (("email", "alice@example.com"), ("note", "панические атаки")):
        stored = row[column]
        assert plain not in stored
        assert "alice" not in stored
        assert stored.startswith("gAAAAA")  # Fernet version byte 0x80, base64url
        assert Fernet(OLD_KEY.encode()).decrypt(stored.encode()).decode().startswith(plain)
    assert "alice" not in row["email_index"]
    assert len(row["email_index"]) == 64

    async with AsyncSession(engine) as session:
        person = await session.get(Person, pid)
        assert person is not None
        assert person.email == "alice@example.com"
        assert person.note == "панические атаки по ночам"


async def test_insert_row_on_plain_asyncpg_encrypts_and_attaches(
    engine: AsyncEngine, raw: asyncpg.Connection, old_keyring: Keyring, clean: None
) -> None:
    """The ORM-free insert binds values as the ORM does: health data is ciphertext at rest, and
    the object is then persistent in the session (a later change is an UPDATE)."""
    async with AsyncSession(eager_engine(engine)) as session:  # raw statements join its BEGIN
        person = Person(
            email="bob@example.com",
            email_index=blind_index("bob@example.com", kind="email"),
            note="бессонница",
        )
        await insert_row(session, person)
        pid = person.id
        person.note = "бессонница, тревога"
        await session.commit()
    row = await raw.fetchrow("SELECT email, note FROM sec_person WHERE id = $1", pid)
    assert row is not None
    assert "bob" not in row["email"] and "бессонница" not in row["note"]
    fernet = Fernet(OLD_KEY.encode())
    assert fernet.decrypt(row["note"].encode()).decode() == "бессонница, тревога"
    assert await raw.fetchval("SELECT count(*) FROM sec_person") == 1


async def test_new_row_is_what_the_constructor_builds_and_inserts_alike(
    engine: AsyncEngine, raw: asyncpg.Connection, old_keyring: Keyring, clean: None
) -> None:
    """``new_row`` skips the instrumented constructor, not its outcome: the same values and
    defaults, a row inserted with ciphertext at rest, then an ordinary persistent object."""
    built = Person(email="eve@example.com", email_index="i" * 64)
    fast = new_row(Person, email="eve@example.com", email_index="i" * 64)
    assert fast.note is None and isinstance(fast.id, uuid.UUID)  # default and default factory
    assert fast.model_dump(exclude={"id"}) == built.model_dump(exclude={"id"})
    assert fast.model_fields_set == built.model_fields_set
    with pytest.raises(TypeError, match="nickname"):
        new_row(Person, email="x", email_index="y", nickname="z")
    with pytest.raises(TypeError, match="email_index"):
        new_row(Person, email="x")

    async with AsyncSession(eager_engine(engine)) as session:
        await insert_row(session, fast)
        pid = fast.id
        fast.note = "кошмары"
        await session.commit()
    row = await raw.fetchrow("SELECT email, note FROM sec_person WHERE id = $1", pid)
    assert row is not None and "eve" not in row["email"]
    assert Fernet(OLD_KEY.encode()).decrypt(row["note"].encode()).decode() == "кошмары"


async def test_null_stays_null(
    engine: AsyncEngine, raw: asyncpg.Connection, old_keyring: Keyring, clean: None
) -> None:
    pid = await add_person(engine, "bob@example.com", note=None)
    assert await raw.fetchval("SELECT note FROM sec_person WHERE id = $1", pid) is None
    async with AsyncSession(engine) as session:
        person = await session.get(Person, pid)
        assert person is not None
        assert person.note is None
        found = (await session.exec(select(Person).where(col(Person.note).is_(None)))).all()
        assert [p.id for p in found] == [pid]


async def test_lookup_by_blind_index(
    engine: AsyncEngine, old_keyring: Keyring, clean: None
) -> None:
    pid = await add_person(engine, "alice@example.com")
    await add_person(engine, "someone@example.com")
    async with AsyncSession(engine) as session:
        query = select(Person).where(
            Person.email_index == blind_index("  Alice@Example.COM ", kind="email")
        )
        found = (await session.exec(query)).all()
        assert [p.id for p in found] == [pid]
        assert found[0].email == "alice@example.com"
        missing = select(Person).where(
            Person.email_index == blind_index("nobody@example.com", kind="email")
        )
        assert (await session.exec(missing)).all() == []


async def test_orm_update_reencrypts(
    engine: AsyncEngine, raw: asyncpg.Connection, old_keyring: Keyring, clean: None
) -> None:
    pid = await add_person(engine, "carol@example.com", note="first")
    before = await raw.fetchval("SELECT note FROM sec_person WHERE id = $1", pid)
    async with AsyncSession(engine) as session:
        person = await session.get(Person, pid)
        assert person is not None
        person.note = "second"
        await session.commit()
    after = await raw.fetchval("SELECT note FROM sec_person WHERE id = $1", pid)
    assert after != before
    assert old_keyring.decrypt(after) == "second"


async def test_reencrypt_all_after_key_rotation(
    engine: AsyncEngine, raw: asyncpg.Connection, old_keyring: Keyring, clean: None
) -> None:
    people = {
        await add_person(
            engine, f"user{i}@example.com", note=None if i % 3 == 0 else f"заметка {i}"
        )
        for i in range(23)
    }
    async with engine.begin() as conn:
        await conn.execute(
            insert(diary),
            [{"user_id": u, "day": d, "text": f"день {d}"} for u in range(3) for d in range(4)],
        )
    assert len(people) == 23
    before = {r["id"]: r["email"] for r in await raw.fetch("SELECT id, email FROM sec_person")}

    new_ring = Keyring([NEW_KEY, OLD_KEY], BLIND)
    configure_keyring(new_ring)
    counts = await reencrypt_all(engine, [_Base.metadata, core_metadata], batch_size=5)
    assert counts == {"sec_person": 23, "sec_diary": 12}

    only_new = Fernet(NEW_KEY.encode())
    rows = await raw.fetch("SELECT id, email, note FROM sec_person ORDER BY id")
    for row in rows:
        assert row["email"] != before[row["id"]]
        assert only_new.decrypt(row["email"].encode()).decode().endswith("@example.com")
        if row["note"] is not None:
            assert only_new.decrypt(row["note"].encode()).decode().startswith("заметка")
    for row in await raw.fetch("SELECT day, text FROM sec_diary"):
        assert only_new.decrypt(row["text"].encode()).decode() == f"день {row['day']}"

    # Plaintext is unchanged, readable with the new key alone.
    configure_keyring(Keyring([NEW_KEY], BLIND))
    async with AsyncSession(engine) as session:
        emails = sorted(p.email for p in (await session.exec(select(Person))).all())
    assert emails == sorted(f"user{i}@example.com" for i in range(23))
    async with engine.connect() as conn:
        texts = (await conn.execute(select(diary.c.text).order_by(diary.c.day))).scalars().all()
    assert sorted(set(texts)) == [f"день {d}" for d in range(4)]

    # A second run finds nothing left to do; force rewrites everything again.
    configure_keyring(new_ring)
    assert await reencrypt_all(engine, _Base.metadata) == {"sec_person": 0}
    counts = await reencrypt_all(engine, _Base.metadata, force=True)
    assert counts == {"sec_person": 23}


async def test_reencrypt_failure_rolls_back_only_the_batch(
    engine: AsyncEngine, raw: asyncpg.Connection, old_keyring: Keyring, clean: None
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(diary), [{"user_id": 1, "day": d, "text": f"день {d}"} for d in range(10)]
        )
    # A value written under a key nobody has any more (day 7).
    stray = Fernet(Fernet.generate_key()).encrypt(b"lost").decode()
    await raw.execute("UPDATE sec_diary SET text = $1 WHERE day = 7", stray)
    snapshot = dict(await raw.fetch("SELECT day, text FROM sec_diary"))

    configure_keyring(Keyring([NEW_KEY, OLD_KEY], BLIND))
    with pytest.raises(RotationError) as info:
        await reencrypt_all(engine, core_metadata, batch_size=3)
    assert info.value.primary_key == (1, 7)
    assert "lost" not in str(info.value)

    after = dict(await raw.fetch("SELECT day, text FROM sec_diary"))
    only_new = Fernet(NEW_KEY.encode())
    for day in range(10):
        if day < 6:  # batches [0-2] and [3-5] committed
            assert only_new.decrypt(after[day].encode()).decode() == f"день {day}"
        else:  # batch [6-8] rolled back, [9] never reached: untouched
            assert after[day] == snapshot[day]


def test_encrypted_columns_discovery() -> None:
    found = {
        t.name: [c.name for c in cols]
        for t, cols in encrypted_columns([_Base.metadata, core_metadata, _Base.metadata])
    }
    assert found == {"sec_person": ["email", "note"], "sec_diary": ["text"]}


async def test_raw_text_bypass_is_possible(
    engine: AsyncEngine, old_keyring: Keyring, clean: None
) -> None:
    """Reading through type_coerce(col, Text) yields the token, as the rotation relies on."""
    await add_person(engine, "dave@example.com")
    async with engine.connect() as conn:
        token = (await conn.execute(select(type_coerce(col(Person.email), Text)))).scalar_one()
    assert token.startswith("gAAAAA")
    assert old_keyring.decrypt(token) == "dave@example.com"
