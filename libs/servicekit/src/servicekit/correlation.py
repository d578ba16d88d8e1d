"""Correlation ids: one id follows a request through HTTP, the outbox, AMQP and consumers.

The id lives in a :class:`~contextvars.ContextVar`; the HTTP middleware and the event consumer set
it, the unit of work copies it into outbox rows, the relay puts it on the AMQP message, and the
JSON log formatter prints it on every line.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
_causation_id: ContextVar[uuid.UUID | None] = ContextVar("causation_id", default=None)

MAX_LEN = 128


def new_correlation_id() -> str:
    """A fresh correlation id (uuid4 hex with dashes)."""
    return str(uuid.uuid4())


def current_correlation_id() -> str | None:
    """The correlation id of the work in progress, if any."""
    return _correlation_id.get()


def current_causation_id() -> uuid.UUID | None:
    """The id of the event being handled, if the current work was caused by one."""
    return _causation_id.get()


def sanitize(value: str | None) -> str | None:
    """Accept a client-supplied id only if it is short printable ASCII; else ``None``."""
    if not value:
        return None
    value = value.strip()
    if not value or len(value) > MAX_LEN or not value.isascii() or not value.isprintable():
        return None
    return value


@contextmanager
def correlation_scope(
    correlation_id: str | None, causation_id: uuid.UUID | None = None
) -> Iterator[str]:
    """Run a block under ``correlation_id`` (a new one when ``None``) and ``causation_id``."""
    cid = correlation_id or new_correlation_id()
    t1 = _correlation_id.set(cid)
    t2 = _causation_id.set(causation_id)
    try:
        yield cid
    finally:
        _causation_id.reset(t2)
        _correlation_id.reset(t1)
