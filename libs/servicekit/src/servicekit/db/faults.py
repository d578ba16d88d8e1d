"""What a lost database looks like: one classification for HTTP, consumers and the unit of work.

A database restart, a failover or an administrator's ``pg_terminate_backend`` reaches the code
in many shapes: asyncpg's ``InterfaceError("connection is closed")`` (no SQLSTATE), its
``ConnectionDoesNotExistError`` (08003), ``AdminShutdownError`` (57P01), ``CrashShutdownError``
(57P02), ``CannotConnectNowError`` (57P03, "the database system is starting up"), any of the
``08xxx`` connection exceptions, the termination notice caught by an idle connection just
before its socket closed (``InternalClientError``), a refused or reset socket, a timeout,
SQLAlchemy's ``DBAPIError`` with ``connection_invalidated`` (or wrapping any of these), a pool
that timed out waiting for a connection. :func:`is_transient` says yes to all of them and to
nothing a retry cannot fix (a constraint violation, a bug):

* HTTP answers them ``503 unavailable`` with ``Retry-After`` (``servicekit.http.app``);
* consumers wait for the database and retry them without counting a delivery attempt
  (``servicekit.messaging.consumer``);
* the unit of work discards the connection instead of returning it to the pool, and the pool
  refuses a connection whose socket is already closed at check-out (``servicekit.db.engine``),
  so the next request gets a healthy one.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa_exc

# 08xxx connection_exception (any), 57P01 admin_shutdown, 57P02 crash_shutdown,
# 57P03 cannot_connect_now, 53300 too_many_connections.
_TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
_CLOSED_MESSAGES = ("connection is closed", "connection was closed", "underlying connection")


def _transient_here(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str) and (sqlstate in _TRANSIENT_SQLSTATES or sqlstate[:2] == "08"):
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        text = str(exc).lower()
        return any(m in text for m in _CLOSED_MESSAGES)
    if isinstance(exc, asyncpg.InternalClientError):
        # The server's termination notice (FATAL 57P01) reached an idle pooled connection just
        # before its socket closed: the protocol is left consuming an error that never ends
        # (state 2, ERROR_CONSUME), and the next statement on it fails so. A dead connection.
        return "another operation (2) is in progress" in str(exc)
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    # A pool that waited its timeout for a connection; a connection the pool refused.
    return isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` means the database (or another dependency) is out of reach for now.

    Follows SQLAlchemy's ``orig``, explicit causes (``raise ... from``) and the members of an
    exception group. A bug or a rule (a unique violation, a ``ValueError``) is never transient.
    """
    stack: list[BaseException] = [exc]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if _transient_here(current):
            return True
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        for linked in (getattr(current, "orig", None), current.__cause__):
            if isinstance(linked, BaseException):
                stack.append(linked)
    return False


UNIQUE_VIOLATION = "23505"


def is_unique_violation(exc: BaseException, constraint: str | None = None) -> bool:
    """Whether ``exc`` (SQLAlchemy's ``IntegrityError``, asyncpg's own, or an error raised from
    one) is a unique violation (SQLSTATE 23505), of ``constraint`` when it is named. By code and
    constraint name, never by the message's words (they change with the server's language)."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if getattr(current, "sqlstate", None) == UNIQUE_VIOLATION:
            if constraint is None:
                return True
            name = getattr(current, "constraint_name", None)
            if name is not None:  # SQLAlchemy's wrapper has the code but not the name
                return bool(name == constraint)
        for linked in (getattr(current, "orig", None), current.__cause__):
            if isinstance(linked, BaseException):
                stack.append(linked)
    return False
