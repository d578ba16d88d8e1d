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
  writes and commit or roll back with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession


@asynccontextmanager
async def read_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A pooled asyncpg connection for autocommit reads; returned to the pool afterwards.

    Taken straight from the pool (half the CPU of ``engine.connect()``); a connection that
    failed at the transport level is invalidated rather than put back.
    """
    raw = await engine.raw_connection()
    try:
        driver: asyncpg.Connection = raw.driver_connection
        yield driver
    except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError):
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
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    adapter: Any = raw.dbapi_connection
    if getattr(adapter, "_transaction", True) is None:
        # The adapter's own (private) way to begin: it then owns the transaction as if its
        # first statement had begun it, and commits or rolls it back with the session.
        await adapter._start_transaction()
    driver: asyncpg.Connection = raw.driver_connection
    return driver
