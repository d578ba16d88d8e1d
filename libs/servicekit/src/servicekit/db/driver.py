"""Plain asyncpg on the pool's connections, for hot paths where the ORM's cost shows.

SQLAlchemy's ORM costs roughly 0.3–0.6 ms of CPU per statement (compiling, cache keys, row
loading, greenlet hops); a prepared asyncpg statement costs a tenth of that. Read paths that run
thousands of times a second (slot search) and the few statements of a booking use these helpers;
everything else stays on the session.

Both helpers hand out the asyncpg connection *of the pool* (the same codecs: ``json``/``jsonb``
decode to Python objects), so there is one pool and one set of settings:

* :func:`read_connection` borrows a connection for reads outside any unit of work (autocommit:
  each statement sees committed data, no transaction is held open);
* :func:`session_connection` returns the connection of a unit of work's session, inside its
  transaction, after flushing what the session holds, so raw statements see the session's own
  writes and commit or roll back with it;
* :func:`insert_row` inserts a table model's row there and attaches it to the session;
* :func:`new_row` builds the table model's instance for it the way the ORM builds a loaded one
  (no per-attribute change events: a tenth of the constructor's CPU).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import asyncpg
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from sqlalchemy import Dialect, Table, inspect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import configure_mappers, make_transient_to_detached
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from servicekit.db.faults import is_transient

M = TypeVar("M", bound=SQLModel)

_DRIVER = "servicekit.driver"  # session.info key: (the transaction, its asyncpg connection)


@asynccontextmanager
async def read_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A pooled asyncpg connection for autocommit reads; returned to the pool afterwards.

    Taken straight from the pool (half the CPU of ``engine.connect()``); a connection that
    failed at the transport level is invalidated rather than put back.
    """
    raw = await engine.raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    try:
        yield driver
    except BaseException as exc:
        if is_transient(exc) or driver.is_closed():
            raw.invalidate()
        raise
    finally:
        raw.close()


async def session_connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection of ``session``, inside the session's transaction.

    Pending ORM changes are flushed first (a raw statement does not autoflush). SQLAlchemy's
    asyncpg adapter opens its transaction lazily, on its first statement; if the session has
    not run one yet, the transaction is begun here, so the raw statements are part of it.
    """
    if session.new or session.dirty or session.deleted:
        await session.flush()
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_DRIVER)
    if cached is not None and transaction is not None and cached[0] is transaction:
        driver_conn: asyncpg.Connection = cached[1]
        return driver_conn  # the same transaction: its connection and BEGIN are settled
    driver = await begun_driver(await session.connection())
    session.info[_DRIVER] = (session.sync_session.get_transaction(), driver)
    return driver


async def begun_driver(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under ``conn`` (in a transaction SQLAlchemy has begun), with the
    transaction begun on the database now, so raw statements run inside it.

    SQLAlchemy's asyncpg adapter opens its transaction lazily, on its first statement; this
    begins it the adapter's own (private) way, so the adapter then owns it as if its first
    statement had begun it, and commits or rolls it back with the connection or session.
    """
    raw = await conn.get_raw_connection()
    adapter: Any = raw.dbapi_connection
    if getattr(adapter, "_transaction", True) is None:
        await adapter._start_transaction()
    driver: asyncpg.Connection = raw.driver_connection
    return driver


def new_row(model: type[M], **values: Any) -> M:
    """An instance of the table model ``model`` holding ``values``, for :func:`insert_row`.

    Built as SQLAlchemy builds an instance it loads from a row (``__new__`` and the ORM's
    instance state, then the values placed in its ``__dict__``), not through ``__init__``: a
    table model's constructor validates nothing either, but it sends every attribute through
    SQLModel's and SQLAlchemy's instrumented ``__setattr__`` (175 µs for the 25 columns of an
    appointment, against 11 µs here). Fields not given take their defaults; an unknown
    or a missing required field is a ``TypeError``. The values must already be what the columns
    hold (the caller's own, typed code builds them).
    """
    defaults = _DEFAULTS.get(model)
    if defaults is None:
        defaults = _DEFAULTS[model] = tuple(
            (name, field if field.default_factory is not None else None, field.default)
            for name, field in model.model_fields.items()
        )
    mapper = inspect(model)
    if not mapper.configured:  # as the constructor's first use would (SQLAlchemy is lazy)
        configure_mappers()
    row: M = mapper.class_manager.new_instance()
    state = row.__dict__
    for name, factory, default in defaults:
        if name in values:
            state[name] = values[name]
        elif factory is not None:
            state[name] = factory.get_default(call_default_factory=True, validated_data=state)
        elif default is PydanticUndefined:
            raise TypeError(f"{model.__name__} needs a value for {name!r}")
        else:
            state[name] = default
    unknown = values.keys() - state.keys()
    if unknown:
        raise TypeError(f"{model.__name__} has no field(s) {sorted(unknown)}")
    object.__setattr__(row, "__pydantic_fields_set__", set(values))
    return row


_DEFAULTS: dict[type[SQLModel], tuple[tuple[str, FieldInfo | None, Any], ...]] = {}


@dataclass(frozen=True)
class _Insert:
    sql: str
    columns: tuple[tuple[str, Callable[[Any], Any] | None], ...]


_INSERTS: dict[tuple[str, str], _Insert] = {}


async def insert_row(session: AsyncSession, row: SQLModel) -> None:
    """INSERT ``row`` (a table model) on the session's connection, then attach it to the session
    as persistent, without the ORM's flush (a quarter of a booking's CPU, measured).

    Values are bound exactly as the ORM binds them (each column type's bind processor: JSON
    serialised, encrypted columns encrypted). A database error surfaces as asyncpg's own
    exception (with its ``sqlstate``); the transaction is then aborted, as after a failed flush.
    Afterwards the object behaves as if loaded: later changes flush as UPDATEs.
    """
    await insert_on(await session_connection(session), session.get_bind().dialect, row)
    attach(session, row)


async def insert_on(conn: asyncpg.Connection, dialect: Dialect, row: SQLModel) -> None:
    """INSERT ``row`` (a table model) on ``conn``, its values bound as ``dialect``'s ORM binds
    them; the statement is built once per table."""
    table = cast(Table, row.__table__)  # type: ignore[attr-defined]
    plan = _INSERTS.get((table.name, dialect.name))
    if plan is None:
        names = [c.name for c in table.columns]
        marks = ", ".join(f"${i}" for i in range(1, len(names) + 1))
        plan = _Insert(
            f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})",
            tuple((c.key, c.type.bind_processor(dialect)) for c in table.columns),
        )
        _INSERTS[(table.name, dialect.name)] = plan
    values = []
    for key, process in plan.columns:
        value = getattr(row, key)
        values.append(process(value) if process is not None and value is not None else value)
    await conn.execute(plan.sql, *values)


def attach(session: AsyncSession, row: SQLModel) -> None:
    """Make ``row``, already inserted, persistent in ``session`` as if loaded."""
    make_transient_to_detached(row)
    session.add(row)
