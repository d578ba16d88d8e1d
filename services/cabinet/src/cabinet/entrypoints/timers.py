"""cabinet's timers: the work a password-reset request queues
(cabinet.application.password_resets)."""

from __future__ import annotations

from datetime import timedelta

from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import Timer, TimerHandler

from cabinet.application import password_resets


async def send_reset_link(uow: UnitOfWork, timer: Timer) -> None:
    """Mail the reset link a request queued, when its address has an account."""
    await password_resets.send_reset_link(
        uow,
        email_index=str(timer.payload["email_index"]),
        page_url=str(timer.payload["page_url"]),
        ttl=timedelta(minutes=int(timer.payload["ttl_minutes"])),
        now=uow.now(),
    )


TIMERS: dict[str, TimerHandler] = {password_resets.PASSWORD_RESET_REQUEST: send_reset_link}
