"""``Idempotency-Key`` for POSTs that create or charge: the first answer is kept for 24 h.

The key is claimed in the request's own transaction (``INSERT … ON CONFLICT DO NOTHING``): a
concurrent request with the same key waits for the first to commit, then replays its answer; if
the first rolled back, the second runs. The same key with another body is 422
``idempotency_key_reused``. A key older than the TTL counts as new.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from servicekit.http.problems import Conflict, Msg, Problem, validation_failed
from servicekit.messaging.outbox import UnitOfWork
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters.tables import IdempotencyKey

MAX_KEY_LENGTH = 255

# On the session's asyncpg connection: these two run on every keyed POST.
CLAIM_SQL = """
INSERT INTO idempotency_keys (user_id, key, operation, fingerprint, created_at)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING key
"""
REMEMBER_SQL = """
UPDATE idempotency_keys SET status_code = $3, response = $4::jsonb
WHERE user_id = $1 AND key = $2
"""


@dataclass(frozen=True)
class Replay:
    """The answer an earlier request with the same key got."""

    status_code: int
    body: dict[str, Any]


def fingerprint(operation: str, body: Any) -> str:
    """A digest of what was asked (operation and body), to tell a replay from a reuse."""
    canonical = json.dumps([operation, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    """422 for a key that is empty, too long or not printable ASCII."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise validation_failed(
            [
                {
                    "loc": ["header", "Idempotency-Key"],
                    "msg": Msg(ru="неверный ключ", en="invalid key"),
                    "type": "value_error",
                }
            ],
            Msg(
                ru="Idempotency-Key должен состоять из 1–255 печатных символов ASCII.",
                en="Idempotency-Key must be 1–255 printable ASCII characters.",
            ),
        )
    return key


async def claim(
    uow: UnitOfWork,
    *,
    user_id: uuid.UUID,
    key: str,
    operation: str,
    digest: str,
    now: datetime,
    ttl: timedelta,
) -> Replay | None:
    """Claim ``key`` for this request; a :class:`Replay` if an earlier one already answered."""
    conn = await uow.connection()
    inserted = await conn.fetchval(CLAIM_SQL, user_id, key, operation, digest, now)
    if inserted is not None:
        return None
    row = (
        await uow.session.exec(
            select(IdempotencyKey)
            .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
            .with_for_update()
        )
    ).one()
    if row.created_at <= now - ttl:
        row.operation, row.fingerprint, row.created_at = operation, digest, now
        row.status_code, row.response = None, None
        return None
    if row.operation != operation or row.fingerprint != digest:
        raise Problem(
            Msg(
                ru="Этот Idempotency-Key уже использован для другого запроса; возьмите новый ключ.",
                en="This Idempotency-Key was used for another request; use a new key.",
            ),
            status=422,
            code="idempotency_key_reused",
            title=Msg(ru="Ключ идемпотентности уже использован", en="Idempotency key reused"),
        )
    if row.status_code is None or row.response is None:
        raise Conflict(
            Msg(
                ru="Запрос с этим Idempotency-Key ещё обрабатывается; "
                "повторите попытку чуть позже.",
                en="A request with this Idempotency-Key is still being processed; retry shortly.",
            ),
            code="request_in_progress",
        )
    return Replay(row.status_code, row.response)


async def remember(
    uow: UnitOfWork,
    *,
    user_id: uuid.UUID,
    key: str,
    status_code: int,
    body: dict[str, Any],
) -> None:
    """Store the answer to replay."""
    conn = await uow.connection()
    await conn.execute(REMEMBER_SQL, user_id, key, status_code, json.dumps(body))


async def forget(session: AsyncSession, *, user_id: uuid.UUID, key: str) -> None:
    """Release a key whose request failed after an earlier commit, so a retry runs again."""
    row = await session.get(IdempotencyKey, (user_id, key))
    if row is not None and row.status_code is None:
        await session.delete(row)
