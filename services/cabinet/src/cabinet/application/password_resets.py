"""Password resets: ask for a link, the link is mailed, the link sets a new password.

Asking only queues a timer (:data:`PASSWORD_RESET_REQUEST`), for every address: the answer
comes after the same work whether or not the address is registered, so neither its words nor
its timing tell. The look-up, the link and the mail happen in the timer, a moment later.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from contracts.cabinet.v1 import EmailVerifiedV1, PasswordResetRequestedV1
from servicekit.messaging.outbox import UnitOfWork
from servicekit.security.fields import Keyring
from servicekit.timers import schedule
from sqlmodel import select

from cabinet.adapters import throttles
from cabinet.adapters.credentials import Passwords
from cabinet.adapters.tables import User
from cabinet.application import throttling
from cabinet.application.links import issue_link, redeem
from cabinet.application.sessions import end_sessions
from cabinet.config import CabinetSettings
from cabinet.domain.throttle import allowance

#: The timer kind a reset request queues (``cabinet.entrypoints.timers`` runs it).
PASSWORD_RESET_REQUEST = "password_reset_request"
HOUR = timedelta(hours=1)


async def request_reset(
    uow: UnitOfWork,
    email: str,
    *,
    source: str,
    settings: CabinetSettings,
    keyring: Keyring,
    now: datetime,
) -> None:
    """Queue the mail of a reset link to ``email`` (limited per address asked for and per
    caller, known or not)."""
    email_index = throttles.email_key(email, keyring)
    await throttling.limit(
        uow,
        {
            f"reset:{email_index}": allowance(settings.password_resets_per_target_per_hour, HOUR),
            f"reset-from:{source}": allowance(settings.password_resets_per_address_per_hour, HOUR),
        },
        now,
    )
    await schedule(
        uow.session,
        kind=PASSWORD_RESET_REQUEST,
        key=uuid.uuid4().hex,
        due_at=now,
        payload={
            "email_index": email_index,
            "page_url": settings.public_url("reset-password"),
            "ttl_minutes": settings.password_reset_ttl_minutes,
        },
    )
    await uow.commit()


async def send_reset_link(
    uow: UnitOfWork, *, email_index: str, page_url: str, ttl: timedelta, now: datetime
) -> None:
    """Mail a reset link (through notify) when the address asked for belongs to an account."""
    user = (await uow.session.exec(select(User).where(User.email_index == email_index))).first()
    if user is None:
        return
    url, expires = await issue_link(uow, user, "reset_password", ttl, page_url, now)
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


async def confirm_reset(
    uow: UnitOfWork, token: str, new_password: str, *, passwords: Passwords, now: datetime
) -> None:
    """Set a new password with a reset link; every session of the account ends."""
    password_hash = await passwords.hash(new_password)
    user = await redeem(uow, token, "reset_password", now)
    user.password_hash = password_hash
    if not user.email_verified:
        # The link came to the address: whoever registered it first (maybe not its owner)
        # loses the account to the owner, and the address counts as verified from now on.
        user.email_verified = True
        uow.emit(EmailVerifiedV1(user_id=user.id, email=user.email, verified_at=now))
    uow.session.add(user)
    # Every session ends with the old password, in every service within seconds.
    await end_sessions(uow, user.id, "password_reset", now)
    await uow.commit()
