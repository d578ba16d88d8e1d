"""Delivery rows and their timers: the queries the use cases run on ``deliveries``.

A delivery is sent by a ``deliver`` timer (a fresh key each time: the firing one is marked
fired); while the provider is called, a *recovery* timer of the same kind waits for the outcome
(``notify.application.sending``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from servicekit.db.tables import timers
from servicekit.http.pagination import keyset_page
from servicekit.timers import Due, cancel, schedule
from sqlalchemy import and_, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from notify.adapters.tables import Delivery

DELIVER = "deliver"
UNSENT = ("pending", "retrying")


def dump_context(context: Mapping[str, Any]) -> str:
    """The JSON stored (encrypted) in ``deliveries.context``."""
    return json.dumps(dict(context), ensure_ascii=False, default=str, sort_keys=True)


def load_context(delivery: Delivery) -> dict[str, Any]:
    """The context a delivery renders."""
    value: dict[str, Any] = json.loads(delivery.context)
    return value


def deliver_timer(delivery_id: uuid.UUID, due_at: datetime) -> Due:
    """A ``deliver`` timer for the delivery (a fresh key each time: the firing one is marked)."""
    return Due(
        kind=DELIVER,
        key=f"{delivery_id}:{uuid.uuid4().hex[:12]}",
        due_at=due_at,
        payload={"delivery_id": str(delivery_id)},
    )


async def schedule_delivery(
    session: AsyncSession, delivery_id: uuid.UUID, due_at: datetime
) -> None:
    """Schedule a ``deliver`` timer for the delivery now (:func:`deliver_timer`)."""
    due = deliver_timer(delivery_id, due_at)
    await schedule(session, kind=due.kind, key=due.key, due_at=due.due_at, payload=due.payload)


def _recovery_key(delivery_id: uuid.UUID, attempt: int) -> str:
    return f"{delivery_id}:sending:{attempt}"


async def schedule_recovery(
    session: AsyncSession, delivery_id: uuid.UUID, attempt: int, due_at: datetime
) -> None:
    """The timer that resolves attempt ``attempt`` if its outcome is never written."""
    await schedule(
        session,
        kind=DELIVER,
        key=_recovery_key(delivery_id, attempt),
        due_at=due_at,
        payload={"delivery_id": str(delivery_id)},
    )


async def cancel_recovery(session: AsyncSession, delivery_id: uuid.UUID, attempt: int) -> None:
    """The outcome of attempt ``attempt`` is written: its recovery timer is not needed."""
    await cancel(session, kind=DELIVER, key=_recovery_key(delivery_id, attempt))


async def mark_timer_fired(session: AsyncSession, timer_id: int, now: datetime) -> None:
    """Mark the firing timer fired now (before the unit of work commits the attempt)."""
    await session.exec(update(timers).where(timers.c.id == timer_id).values(fired_at=now))


async def claim_due(
    session: AsyncSession, *, kind: str, now: datetime, limit: int, besides: int
) -> list[tuple[int, dict[str, Any]]]:
    """Other due, unfired timers of ``kind`` (not ``besides``, the one firing), claimed as the
    timer worker claims one (``FOR UPDATE SKIP LOCKED``): ``(id, payload)``, oldest first."""
    rows = await session.exec(
        select(timers.c.id, timers.c.payload)
        .where(
            timers.c.kind == kind,
            timers.c.fired_at.is_(None),
            timers.c.due_at <= now,
            timers.c.id != besides,
        )
        .order_by(timers.c.due_at, timers.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [(i, json.loads(p) if isinstance(p, str) else dict(p)) for i, p in rows]


async def mark_timers_fired(session: AsyncSession, timer_ids: Sequence[int], now: datetime) -> None:
    """Mark timers claimed with :func:`claim_due` fired (in the transaction that handled them)."""
    if timer_ids:
        await session.exec(
            update(timers).where(timers.c.id.in_(list(timer_ids))).values(fired_at=now)
        )


async def skip_unsent(
    session: AsyncSession,
    *,
    ref: str,
    templates: Sequence[str],
    reason: str,
    now: datetime,
) -> int:
    """Mark unsent deliveries about ``ref`` of ``templates`` skipped; how many there were."""
    result = await session.exec(
        update(Delivery)
        .where(
            col(Delivery.ref) == ref,
            col(Delivery.template).in_(list(templates)),
            col(Delivery.status).in_(UNSENT),
        )
        .values(status="skipped", last_error=reason, updated_at=now, next_attempt_at=None)
        .returning(col(Delivery.id))
    )
    return len(result.all())


async def unsent_by_telegram(session: AsyncSession, user_id: uuid.UUID) -> list[Delivery]:
    """A user's deliveries still waiting to go to Telegram (locked)."""
    waiting = await session.exec(
        select(Delivery)
        .where(
            Delivery.user_id == user_id,
            Delivery.channel == "telegram",
            col(Delivery.status).in_(UNSENT),
        )
        .with_for_update()
    )
    return list(waiting.all())


async def has_email_copy(session: AsyncSession, failed: Delivery) -> bool:
    """Whether the message of ``failed`` went (or goes) by email already: its fallback, or the
    same event's message to the same user by email."""
    same_by_email = [col(Delivery.fallback_of) == failed.id]
    if failed.source_event_id is not None:
        same_by_email.append(
            and_(
                col(Delivery.source_event_id) == failed.source_event_id,
                col(Delivery.user_id) == failed.user_id,
                col(Delivery.template) == failed.template,
                col(Delivery.channel) == "email",
            )
        )
    found = await session.exec(select(Delivery.id).where(or_(*same_by_email)).limit(1))
    return found.first() is not None


@dataclass(frozen=True)
class LogFilter:
    """What the delivery log is narrowed to (``None``: any)."""

    status: str | None = None
    channel: str | None = None
    template: str | None = None
    user_id: uuid.UUID | None = None
    source_event_id: uuid.UUID | None = None


async def delivery_log(
    session: AsyncSession, where: LogFilter, *, limit: int, cursor: str | None
) -> tuple[list[Delivery], str | None]:
    """One page of the delivery log, newest first (it is read for what just happened)."""
    query = select(Delivery)
    if where.status:
        query = query.where(Delivery.status == where.status)
    if where.channel:
        query = query.where(Delivery.channel == where.channel)
    if where.template:
        query = query.where(Delivery.template == where.template)
    if where.user_id:
        query = query.where(Delivery.user_id == where.user_id)
    if where.source_event_id:
        query = query.where(Delivery.source_event_id == where.source_event_id)
    rows, next_cursor = await keyset_page(
        session,
        query,
        order=col(Delivery.created_at),
        tiebreak=col(Delivery.id),
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )
    return list(rows), next_cursor
