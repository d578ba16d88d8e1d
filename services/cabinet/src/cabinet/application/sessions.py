"""Sessions: a session is a refresh family; its id is the access tokens' ``sid``.

Ending sessions early (logout, a reused refresh token, a password change or reset, a role
removed) revokes their refresh tokens here and publishes ``cabinet.sessions.revoked``, which
every service's token verifier reads within seconds (servicekit ``security.revocation``): the
access tokens already handed out stop working everywhere, not after their 15 minutes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from contracts.cabinet.v1 import SessionEndReason, SessionsRevokedV1
from servicekit.messaging.outbox import UnitOfWork
from sqlalchemy import update
from sqlmodel import col

from cabinet.adapters.tables import RefreshToken


async def end_sessions(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    reason: SessionEndReason,
    now: datetime,
    *,
    families: Sequence[uuid.UUID] | None = None,
) -> list[uuid.UUID]:
    """Revoke ``families`` of ``user_id`` (None: every open session of the user) and publish
    the revocation; returns the sessions that were still open."""
    conditions = [col(RefreshToken.user_id) == user_id, col(RefreshToken.revoked_at).is_(None)]
    if families is not None:
        conditions.append(col(RefreshToken.family_id).in_(list(families)))
    result = await uow.session.exec(
        update(RefreshToken)  # type: ignore[call-overload]
        .where(*conditions)
        .values(revoked_at=now)
        .returning(RefreshToken.family_id)
    )
    ended = sorted({row[0] for row in result.all()})
    if ended:
        uow.emit(
            SessionsRevokedV1(user_id=user_id, session_ids=ended, reason=reason, revoked_at=now)
        )
    return ended
