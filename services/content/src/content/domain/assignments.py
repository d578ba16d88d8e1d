"""When an assigned questionnaire is due, and when it is overdue.

A repeating assignment is due again ``repeat_every_days`` after each completion (measurement-
based care: "every two weeks" means two weeks after the last one, not on a fixed calendar).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from servicekit.errors import DomainError

MAX_REPEAT_DAYS = 365


class DueInThePast(DomainError):
    """An assignment must be due after it is made."""

    code = "due_in_the_past"


def check_due(due_at: datetime, now: datetime) -> datetime:
    """``due_at`` when it is in the future."""
    if due_at <= now:
        raise DueInThePast()
    return due_at


def next_due(completed_at: datetime, repeat_every_days: int) -> datetime:
    """When a repeating assignment is due again after a completion."""
    return completed_at + timedelta(days=repeat_every_days)


def is_overdue(status: str, due_at: datetime, now: datetime) -> bool:
    """An open assignment past its due time."""
    return status == "open" and due_at <= now
