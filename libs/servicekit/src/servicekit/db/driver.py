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
* :func:`transaction_driver` returns the connection under a SQLAlchemy connection after checking
  (public APIs only) that the database is inside that connection's transaction: a connection
  that is not raises :class:`~servicekit.db.engine.TransactionNotOpen` instead of letting raw
  statements commit one by one;
* :func:`insert_row` inserts a table model's row there and attaches it to the session;
* :func:`new_row` builds the table model's instance for it the way the ORM builds a loaded one
  (no per-attribute change events: a tenth of the constructor's CPU).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar, cast
from uuid import UUID
from weakref import WeakKeyDictionary

import asyncpg
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from sqlalchemy import Dialect, Table, inspect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import configure_mappers, make_transient_to_detached
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from servicekit.db.engine import TransactionNotOpen
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

    Pending ORM changes are flushed first (a raw statement does not autoflush). The session must
    come from :func:`servicekit.db.engine.make_session_factory` (or be bound to a connection of
    an :func:`~servicekit.db.engine.eager_engine`): its transaction is then open on the database
    from the start. Otherwise — or if anything ended the transaction early — this raises
    :class:`~servicekit.db.engine.TransactionNotOpen` rather than let raw statements commit on
    their own.
    """
    if session.new or session.dirty or session.deleted:
        await session.flush()
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_DRIVER)
    if cached is not None and transaction is not None and cached[0] is transaction:
        driver_conn: asyncpg.Connection = cached[1]
        if not driver_conn.is_in_transaction():
            raise TransactionNotOpen("the session's transaction ended on the database")
        return driver_conn  # the same transaction: its connection is settled
    driver = await transaction_driver(await session.connection())
    session.info[_DRIVER] = (session.sync_session.get_transaction(), driver)
    return driver


async def transaction_driver(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under ``conn``, checked to be inside ``conn``'s transaction.

    Only public APIs: SQLAlchemy's ``in_transaction()`` and ``get_raw_connection()``, asyncpg's
    ``is_in_transaction()``. On an :func:`~servicekit.db.engine.eager_engine` the database
    transaction opens with ``await conn.begin()``; on any other engine SQLAlchemy's asyncpg
    adapter opens it only with its own first statement, and raw statements before that would
    each commit on their own: that is refused here with
    :class:`~servicekit.db.engine.TransactionNotOpen`.
    """
    if not conn.in_transaction():
        raise TransactionNotOpen("begin the connection's transaction before raw statements")
    raw = await conn.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    if not driver.is_in_transaction():
        raise TransactionNotOpen(
            "the database is not inside the connection's transaction: raw statements would"
            " commit one by one (use an eager engine: servicekit.db.engine.make_session_factory)"
        )
    return driver


def new_row(model: type[M], **values: Any) -> M:
    """An instance of the table model ``model`` holding ``values``, for :func:`insert_row`.

    Built as SQLAlchemy builds an instance it loads from a row (``__new__`` and the ORM's
    instance state, then the values placed in its ``__dict__``), not through ``__init__``: a
    table model's constructor validates nothing either, but it sends every attribute through
    SQLModel's and SQLAlchemy's instrumented ``__setattr__`` (175 µs for the 25 columns of an
    appointment, against 11 µs here). Fields not given take their defaults, each row its own
    copy of a mutable one (as pydantic's constructor gives); an unknown or a missing required
    field is a ``TypeError``. The values must already be what the columns hold (the caller's own,
    typed code builds them).
    """
    defaults = _DEFAULTS.get(model)
    if defaults is None:
        defaults = _DEFAULTS[model] = tuple(
            (name, field if _per_row(field) else None, field.default)
            for name, field in model.model_fields.items()
        )
    mapper = inspect(model)
    if not mapper.configured:  # as the constructor's first use would (SQLAlchemy is lazy)
        configure_mappers()
    row: M = mapper.class_manager.new_instance()
    state = row.__dict__
    for name, field, default in defaults:
        if name in values:
            state[name] = values[name]
        elif field is not None:  # a factory's value, or a copy of a mutable default
            state[name] = field.get_default(call_default_factory=True, validated_data=state)
        elif default is PydanticUndefined:
            raise TypeError(f"{model.__name__} needs a value for {name!r}")
        else:
            state[name] = default
    unknown = values.keys() - state.keys()
    if unknown:
        raise TypeError(f"{model.__name__} has no field(s) {sorted(unknown)}")
    object.__setattr__(row, "__pydantic_fields_set__", set(values))
    return row


# Defaults that rows may share as they are: nothing can change them in place.
_IMMUTABLE = (type(None), bool, int, float, str, bytes, Decimal, UUID, datetime, date, time, Enum)


def _per_row(field: FieldInfo) -> bool:
    """Whether each row needs the default made anew (a factory, or a mutable default value,
    which pydantic's ``get_default`` deep-copies)."""
    if field.default_factory is not None:
        return True
    default = field.default
    if default is PydanticUndefined or isinstance(default, _IMMUTABLE):
        return False
    return not (
        isinstance(default, tuple | frozenset)
        and all(isinstance(item, _IMMUTABLE) for item in default)
    )


# Derived once per model class and table, by identity (two services' tables may share a name).
_DEFAULTS: WeakKeyDictionary[type[SQLModel], tuple[tuple[str, FieldInfo | None, Any], ...]] = (
    WeakKeyDictionary()
)


@dataclass(frozen=True)
class _Insert:
    sql: str
    columns: tuple[tuple[str, Callable[[Any], Any] | None], ...]


_INSERTS: WeakKeyDictionary[Table, dict[str, _Insert]] = WeakKeyDictionary()


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
    plans = _INSERTS.get(table)
    if plans is None:
        plans = _INSERTS[table] = {}
    plan = plans.get(dialect.name)
    if plan is None:
        plan = plans[dialect.name] = _insert_plan(table, dialect)
    values = []
    for key, process in plan.columns:
        value = getattr(row, key)
        values.append(process(value) if process is not None and value is not None else value)
    await conn.execute(plan.sql, *values)


def _insert_plan(table: Table, dialect: Dialect) -> _Insert:
    """The INSERT of every column of ``table``, quoted and schema-qualified as ``dialect`` writes
    it, with each column's bind processor."""
    preparer = dialect.identifier_preparer
    names = [preparer.quote(c.name) for c in table.columns]
    marks = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    return _Insert(
        f"INSERT INTO {preparer.format_table(table)} ({', '.join(names)}) VALUES ({marks})",
        tuple((c.key, c.type.bind_processor(dialect)) for c in table.columns),
    )


def attach(session: AsyncSession, row: SQLModel) -> None:
    """Make ``row``, already inserted, persistent in ``session`` as if loaded."""
    make_transient_to_detached(row)
    session.add(row)
