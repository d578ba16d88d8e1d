"""Timer handlers content registers: an assignment's due time passing."""

from __future__ import annotations

from servicekit.timers import TimerHandler

from content.application import assignments


def timer_handlers() -> dict[str, TimerHandler]:
    """Every timer kind content schedules, with its handler."""
    return {assignments.OVERDUE: assignments.mark_overdue}
