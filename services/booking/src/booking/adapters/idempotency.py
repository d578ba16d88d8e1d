"""``Idempotency-Key`` storage: the first answer to a POST that creates or charges, kept 24 h.

The key is claimed in the request's own transaction (``INSERT … ON CONFLICT DO NOTHING``): a
concurrent request with the same key waits for the first to commit, then replays its answer; if
the first rolled back, the second runs. What a repeat gets is the domain's rule
(:mod:`booking.domain.idempotency`).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from servicekit.messaging.outbox import UnitOfWork
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters.tables import IdempotencyKey
from booking.domain.idempotency import EarlierRequest, Replay, replay_of

# On the session's asyncpg connection: these two run on every keyed POST.
CLAIM_SQL = """
INSERT INTO idempotency_keys (user_id, key, operation, fingerprint, created_at)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING key
"""
REMEMBER_SQL = """
UPDATE idempotency_keys SET status_code = $3, response = $4::jsonb
WHERE user_id = $1 AND key = $2
"""


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
    earlier = EarlierRequest(
        row.operation, row.fingerprint, row.created_at, row.status_code, row.response
    )
    replay = replay_of(earlier, operation=operation, digest=digest, now=now, ttl=ttl)
    if replay is None:  # expired: the key is this request's now
        row.operation, row.fingerprint, row.created_at = operation, digest, now
        row.status_code, row.response = None, None
    return replay


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
