"""Reminders before a confirmed appointment: when each is due, and whether it still goes."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

REMINDER_TEMPLATE = "appointment_reminder"


def reminder_key(appointment_id: uuid.UUID, minutes_before: int) -> str:
    """The timer key of one reminder of one appointment."""
    return f"{appointment_id}:{minutes_before}"


def reminder_times(
    starts_at: datetime, offsets: Iterable[int], now: datetime
) -> list[tuple[int, datetime | None]]:
    """For each offset (minutes before the start), when its reminder is due; ``None`` when that
    moment has passed already (the reminder is dropped, not sent late)."""
    times: list[tuple[int, datetime | None]] = []
    for minutes in offsets:
        due = starts_at - timedelta(minutes=minutes)
        times.append((minutes, due if due > now else None))
    return times


def reminder_still_due(
    *,
    status: str,
    starts_at: datetime,
    minutes_before: int,
    offsets: Sequence[int],
    now: datetime,
) -> bool:
    """A reminder that fired goes out only while the appointment is confirmed and ahead, and
    when no closer reminder is due as well (after an outage: one reminder rather than two)."""
    if status != "confirmed" or starts_at <= now:
        return False
    closer = [m for m in offsets if m < minutes_before]
    return not any(starts_at - timedelta(minutes=m) <= now for m in closer)
