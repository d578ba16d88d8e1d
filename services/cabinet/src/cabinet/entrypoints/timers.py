"""cabinet's timers: the work a password-reset request queues.

``POST /password-resets`` answers after the same work for every address (throttle counts and
this timer), so its timing tells nobody whether the address is registered; the look-up, the
link and the mail happen here, a moment later.
"""

from __future__ import annotations

from datetime import timedelta

from contracts.cabinet.v1 import PasswordResetRequestedV1
from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import Timer
from sqlmodel import select

from cabinet.adapters.tables import User
from cabinet.application.links import issue_link

PASSWORD_RESET_REQUEST = "password_reset_request"


async def send_reset_link(uow: UnitOfWork, timer: Timer) -> None:
    """Mail a reset link (through notify) when the address asked for belongs to an account."""
    email_index = str(timer.payload["email_index"])
    user = (await uow.session.exec(select(User).where(User.email_index == email_index))).first()
    if user is None:
        return
    url, expires = await issue_link(
        uow,
        user,
        "reset_password",
        timedelta(minutes=int(timer.payload["ttl_minutes"])),
        str(timer.payload["page_url"]),
        uow.now(),
    )
    uow.emit(
        PasswordResetRequestedV1(
            user_id=user.id,
            email=user.email,
            name=user.name,
            language=user.language,
            reset_url=url,
            expires_at=expires,
        )
    )


TIMERS = {PASSWORD_RESET_REQUEST: send_reset_link}
