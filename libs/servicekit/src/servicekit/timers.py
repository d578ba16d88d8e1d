"""Durable timers: rows with a due time, claimed like the outbox, fired once.

Later features schedule work for a moment in the future (hold expiry, reminders, offer expiry,
payment reconciliation). A timer is a row ``(kind, key, due_at, payload)``; ``(kind, key)`` is
unique, so scheduling the same key again *moves* the timer (a reschedule) and :func:`cancel`
drops it. The :class:`TimerWorker` claims due rows with ``FOR UPDATE SKIP LOCKED`` and runs the
handler for the kind in the *same transaction* that marks the row fired, together with any state
change and outbox rows the handler makes: a timer fires once even with several replicas, and a
crash mid-handler leaves it due. A failing handler is retried with backoff.

A timer scheduled in traced work keeps that trace context (``trace_context``) and its handler
runs in a child span, ``timer <kind>`` (:mod:`servicekit.tracing`).

The clock is injectable so tests drive time.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from opentelemetry.trace import SpanKind
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from servicekit.clock import Clock, utcnow
from servicekit.correlation import correlation_scope, current_correlation_id
from servicekit.db.tables import timers
from servicekit.messaging.outbox import UnitOfWork, UnitOfWorkFactory
from servicekit.metrics import ServiceMetrics
from servicekit.tracing import context_from, current_trace_context, tracer

logger = logging.getLogger("servicekit.timers")


@dataclass(frozen=True)
class Timer:
    """A due timer as its handler sees it."""

    id: int
    kind: str
    key: str
    due_at: datetime
    payload: Mapping[str, Any]
    attempts: int


TimerHandler = Callable[[UnitOfWork, Timer], Awaitable[None]]


async def schedule(
    session: AsyncSession,
    *,
    kind: str,
    key: str,
    due_at: datetime,
    payload: Mapping[str, Any] | None = None,
) -> None:
    """Create the timer ``(kind, key)`` or move it to ``due_at`` (re-arming a fired one)."""
    await schedule_many(session, [Due(kind, key, due_at, payload)])


@dataclass(frozen=True)
class Due:
    """One timer to schedule with :func:`schedule_many`; it keeps the correlation id and trace
    context current where it is made (a handler's), however much later it is written."""

    kind: str
    key: str
    due_at: datetime
    payload: Mapping[str, Any] | None = None
    correlation_id: str | None = field(default_factory=current_correlation_id)
    trace_context: dict[str, str] | None = field(default_factory=current_trace_context)


async def schedule_many(session: AsyncSession, due: Sequence[Due]) -> None:
    """:func:`schedule` for many timers in one statement (a key given twice: the last wins)."""
    latest = {(d.kind, d.key): d for d in due}
    if not latest:
        return
    if any(d.due_at.tzinfo is None for d in latest.values()):
        raise ValueError("due_at must be timezone-aware")
    rows = [
        {
            "kind": d.kind,
            "key": d.key,
            "due_at": d.due_at,
            "payload": dict(d.payload or {}),
            "correlation_id": d.correlation_id,
            "trace_context": d.trace_context,
        }
        for d in latest.values()
    ]
    stmt = insert(timers)
    stmt = stmt.on_conflict_do_update(
        constraint="timers_kind_key",
        set_={
            "due_at": stmt.excluded.due_at,
            "payload": stmt.excluded.payload,
            "correlation_id": stmt.excluded.correlation_id,
            "trace_context": stmt.excluded.trace_context,
            "fired_at": None,
            "attempts": 0,
            "last_error": None,
        },
    )
    # One statement compiled once (cached), its rows sent together (executemany): a VALUES
    # list would be compiled anew for every count of rows.
    await session.exec(stmt, params=rows)


async def cancel_many(session: AsyncSession, *, kind: str, keys: Sequence[str]) -> int:
    """:func:`cancel` for many keys of one kind in one statement; how many there were."""
    if not keys:
        return 0
    result = await session.exec(
        delete(timers)
        .where(timers.c.kind == kind, timers.c.key.in_(list(keys)), timers.c.fired_at.is_(None))
        .returning(timers.c.id)
    )
    return len(result.all())


async def cancel(session: AsyncSession, *, kind: str, key: str) -> bool:
    """Drop a pending timer; ``True`` if there was one."""
    result = await session.exec(
        delete(timers)
        .where(timers.c.kind == kind, timers.c.key == key, timers.c.fired_at.is_(None))
        .returning(timers.c.id)
    )
    return result.first() is not None


def _carrier(value: Any) -> dict[str, Any] | None:
    """A row's stored trace context (JSONB: a dict, or its text with a plain driver)."""
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else None


class TimerWorker:
    """Fires due timers. ``await worker.run()`` until cancelled, or ``run_due()`` in tests."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        handlers: Mapping[str, TimerHandler],
        *,
        clock: Clock = utcnow,
        poll_seconds: float = 1.0,
        max_backoff: timedelta = timedelta(minutes=10),
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self.uow_factory = uow_factory
        self.handlers = dict(handlers)
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.max_backoff = max_backoff
        self.metrics = metrics or ServiceMetrics()

    async def fire_one(self) -> bool:
        """Claim and fire one due timer; ``False`` when none is due (or all are claimed)."""
        now = self.clock()
        kinds = list(self.handlers)
        async with self.uow_factory() as uow:
            row = (
                await uow.session.exec(  # type: ignore[call-overload]
                    select(timers)
                    .where(
                        timers.c.fired_at.is_(None),
                        timers.c.due_at <= now,
                        timers.c.kind.in_(kinds),
                    )
                    .order_by(timers.c.due_at, timers.c.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            ).first()
            if row is None:
                return False
            timer = Timer(row.id, row.kind, row.key, row.due_at, row.payload, row.attempts)
            parent = context_from(_carrier(row.trace_context))
            with (
                correlation_scope(row.correlation_id),
                tracer.start_as_current_span(
                    f"timer {timer.kind}",
                    context=parent,
                    kind=SpanKind.INTERNAL,
                    attributes={"praktika.timer.kind": timer.kind, "praktika.timer.id": timer.id},
                ),
            ):
                try:
                    await self.handlers[timer.kind](uow, timer)
                    await uow.session.exec(
                        update(timers).where(timers.c.id == timer.id).values(fired_at=now)
                    )
                    await uow.commit()
                except Exception as exc:
                    await uow.rollback()
                    await self._record_failure(timer, exc, now)
                    return True
        self.metrics.timers_fired.labels(timer.kind, "fired").inc()
        return True

    async def _record_failure(self, timer: Timer, exc: Exception, now: datetime) -> None:
        attempts = timer.attempts + 1
        delay = min(self.max_backoff, timedelta(seconds=2 ** min(attempts, 12)))
        logger.warning(
            "timer handler failed; will retry",
            extra={
                "timer_kind": timer.kind,
                "timer_key": timer.key,
                "attempts": attempts,
                "error": f"{type(exc).__name__}: {exc}",
            },
        )
        self.metrics.timers_fired.labels(timer.kind, "failed").inc()
        async with self.uow_factory() as uow:
            await uow.session.exec(
                update(timers)
                .where(timers.c.id == timer.id, timers.c.fired_at.is_(None))
                .values(
                    attempts=attempts,
                    last_error=f"{type(exc).__name__}: {exc}"[:2000],
                    due_at=now + delay,
                )
            )
            await uow.commit()

    async def run_due(self, limit: int = 10_000) -> int:
        """Fire every timer due now (up to ``limit``); returns how many were handled."""
        fired = 0
        while fired < limit and await self.fire_one():
            fired += 1
        return fired

    async def overdue(self) -> int:
        """Timers due and unfired right now."""
        async with self.uow_factory() as uow:
            result = await uow.session.exec(  # type: ignore[call-overload]
                select(func.count()).where(
                    timers.c.fired_at.is_(None), timers.c.due_at <= self.clock()
                )
            )
            return int(result.scalar_one())

    async def run(self) -> None:
        """Fire due timers forever, polling every ``poll_seconds``."""
        while True:
            try:
                await self.run_due()
                self.metrics.timers_due.set(await self.overdue())
            except Exception:
                logger.exception("timer worker iteration failed")
            await asyncio.sleep(self.poll_seconds)
