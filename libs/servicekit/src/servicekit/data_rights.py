"""What every service holding personal data does the same way for data-subject requests
(docs/data-rights.md): its part of an export, served through the gateway by a signed, expiring
link for that one user; and the tombstone of an erased user, which its consumers check so an
event still in flight never recreates what was erased.

Each service declares two tables of the same shape in its own metadata (the schema-drift test
compares them with its migrations): ``export_files`` (``export_id`` primary key, ``user_id``,
``token_hash`` unique, ``body`` an ``EncryptedString``, ``sha256``, ``size_bytes``,
``record_counts`` JSONB, ``created_at``, ``expires_at``, ``downloaded_at``) and
``erased_users`` (``user_id`` primary key, ``erasure_request_id``, ``erased_at``). The
functions here read and write them with plain SQL.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from contracts.envelope import EventEnvelope
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from servicekit.messaging.consumer import EventConsumer
from servicekit.messaging.outbox import UnitOfWork
from servicekit.security.fields import get_keyring

__all__ = [
    "ExportFile",
    "erased",
    "erased_among",
    "export_file_for_download",
    "skip_erased_users",
    "store_export_file",
    "tombstone",
]

#: Payload fields that name the person an event is about.
SUBJECT_FIELDS = ("user_id", "client_id")

Handler = Callable[[UnitOfWork, EventEnvelope[Any]], Awaitable[None]]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ExportFile:
    """A service's part of an export, stored encrypted until its link is used or expires."""

    token: str
    sha256: str
    size_bytes: int
    expires_at: datetime


def export_document(document: Any) -> bytes:
    """The part's bytes: compact, stable JSON (UTF-8), what the SHA-256 is taken of."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str).encode()


async def store_export_file(
    session: AsyncSession,
    *,
    export_id: uuid.UUID,
    user_id: uuid.UUID,
    body: bytes,
    record_counts: dict[str, int],
    now: datetime,
    ttl: timedelta,
) -> ExportFile:
    """Keep (or replace, when asked again) the part of ``export_id``; returns its new token."""
    token = secrets.token_urlsafe(32)
    sha = hashlib.sha256(body).hexdigest()
    await session.execute(
        text(
            "INSERT INTO export_files (export_id, user_id, token_hash, body, sha256, size_bytes,"
            " record_counts, created_at, expires_at, downloaded_at)"
            " VALUES (:e, :u, :t, :b, :s, :n, CAST(:c AS jsonb), :now, :exp, NULL)"
            " ON CONFLICT (export_id) DO UPDATE SET token_hash = EXCLUDED.token_hash,"
            " body = EXCLUDED.body, sha256 = EXCLUDED.sha256, size_bytes = EXCLUDED.size_bytes,"
            " record_counts = EXCLUDED.record_counts, created_at = EXCLUDED.created_at,"
            " expires_at = EXCLUDED.expires_at, downloaded_at = NULL"
        ),
        {
            "e": export_id,
            "u": user_id,
            "t": _digest(token),
            "b": get_keyring().encrypt(body.decode()),
            "s": sha,
            "n": len(body),
            "c": json.dumps(record_counts),
            "now": now,
            "exp": now + ttl,
        },
    )
    return ExportFile(token, sha, len(body), now + ttl)


async def export_file_for_download(
    session: AsyncSession, token: str, now: datetime
) -> bytes | None:
    """The part a link's token opens, if it has not expired (None otherwise); marks it
    downloaded. The body is dropped once downloaded: cabinet keeps the assembled archive."""
    row = (
        await session.execute(
            text(
                "UPDATE export_files SET downloaded_at = :now, body = NULL"
                " WHERE token_hash = :t AND expires_at > :now AND body IS NOT NULL"
                " RETURNING body"
            ),
            {"t": _digest(token), "now": now},
        )
    ).first()
    if row is None:
        return None
    return get_keyring().decrypt(str(row[0])).encode()


async def erased(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Whether ``user_id`` was erased here."""
    return bool(await erased_among(session, [user_id]))


async def erased_among(session: AsyncSession, user_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``user_ids`` erased here."""
    ids = list(set(user_ids))
    if not ids:
        return set()
    rows = await session.execute(
        text("SELECT user_id FROM erased_users WHERE user_id = ANY(:ids)"), {"ids": ids}
    )
    return {r[0] for r in rows}


async def tombstone(
    session: AsyncSession, user_id: uuid.UUID, erasure_request_id: uuid.UUID, now: datetime
) -> None:
    """Remember that ``user_id`` is erased (events about them arriving later are ignored)."""
    await session.execute(
        text(
            "INSERT INTO erased_users (user_id, erasure_request_id, erased_at)"
            " VALUES (:u, :r, :now) ON CONFLICT (user_id) DO NOTHING"
        ),
        {"u": user_id, "r": erasure_request_id, "now": now},
    )
    # The part of an export not yet downloaded holds their data too.
    await session.execute(text("DELETE FROM export_files WHERE user_id = :u"), {"u": user_id})


def _subjects(payload: Any) -> list[uuid.UUID]:
    found = []
    for name in SUBJECT_FIELDS:
        value = getattr(payload, name, None)
        if isinstance(value, uuid.UUID):
            found.append(value)
    return found


def _guarded(handler: Handler) -> Handler:
    async def handle(uow: UnitOfWork, event: EventEnvelope[Any]) -> None:
        subjects = _subjects(event.payload)
        if subjects and await erased_among(uow.session, subjects):
            return  # about a person erased here: recreate nothing
        await handler(uow, event)

    handle.__doc__ = handler.__doc__
    handle.__name__ = getattr(handler, "__name__", "handle")
    return handle


def skip_erased_users(consumer: EventConsumer, *, except_types: Iterable[str] = ()) -> None:
    """Make every handler of ``consumer`` ignore an event whose ``user_id`` or ``client_id`` is
    an erased user (the inbox still records it). Call once, where the consumer is defined,
    after its handlers are registered; ``except_types`` are event types handled anyway."""
    kept = set(except_types)
    for key, handler in list(consumer.handlers.items()):
        if key[0] not in kept:
            consumer.handlers[key] = _guarded(handler)


def create_data_rights_tables(op: Any) -> None:
    """Create ``export_files`` and ``erased_users`` (from a service's Alembic revision)."""
    import sqlalchemy as sa
    from sqlalchemy.dialects.postgresql import JSONB
    from sqlalchemy.types import DateTime

    ts = DateTime(timezone=True)
    op.create_table(
        "export_files",
        sa.Column("export_id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("record_counts", JSONB(), nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("expires_at", ts, nullable=False),
        sa.Column("downloaded_at", ts, nullable=True),
    )
    op.create_table(
        "erased_users",
        sa.Column("user_id", sa.Uuid(), primary_key=True),
        sa.Column("erasure_request_id", sa.Uuid(), nullable=False),
        sa.Column("erased_at", ts, nullable=False),
    )


def drop_data_rights_tables(op: Any) -> None:
    """Drop what :func:`create_data_rights_tables` made."""
    op.drop_table("erased_users")
    op.drop_table("export_files")
