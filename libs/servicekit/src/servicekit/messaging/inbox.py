"""The idempotent inbox: ``(consumer, event_id)`` recorded in the same transaction as the effect.

Delivery is at least once; with the inbox, effects are exactly once. ``ON CONFLICT DO NOTHING``
avoids the failed INSERT that would abort the transaction; a concurrent duplicate waits on the
key lock and then sees the row.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import bindparam
from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from servicekit.db.driver import session_connection
from servicekit.db.tables import inbox


async def claim(
    session: AsyncSession, *, consumer: str, event_id: uuid.UUID, event_type: str
) -> bool:
    """Record the event for ``consumer``; ``False`` if it was already handled (a duplicate)."""
    result = await session.exec(
        _CLAIM, params={"consumer": consumer, "event_id": event_id, "event_type": event_type}
    )
    return result.scalar_one_or_none() is not None


async def claim_many(
    session: AsyncSession, *, consumer: str, events: Sequence[tuple[uuid.UUID, str]]
) -> set[uuid.UUID]:
    """Record several events at once; returns the ids that were new (the rest are duplicates).

    One prepared statement for any batch size, on the unit of work's asyncpg connection (a
    multi-row VALUES through SQLAlchemy compiled anew for every new batch size).
    """
    unique = list(dict.fromkeys(events))
    if not unique:
        return set()
    conn = await session_connection(session)
    rows = await conn.fetch(
        _CLAIM_MANY_SQL, consumer, [e for e, _ in unique], [t for _, t in unique]
    )
    return {row[0] for row in rows}


_CLAIM_MANY_SQL = """
INSERT INTO inbox (consumer, event_id, event_type)
SELECT $1, e, t FROM unnest($2::uuid[], $3::text[]) AS u(e, t)
ON CONFLICT (consumer, event_id) DO NOTHING
RETURNING event_id
"""


# Built once with bound parameters, so SQLAlchemy compiles it once.
_CLAIM = (
    insert(inbox)
    .values(
        consumer=bindparam("consumer"),
        event_id=bindparam("event_id"),
        event_type=bindparam("event_type"),
    )
    .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
    .returning(inbox.c.event_id)
)
