"""Erasure (GDPR art. 17, 152-FZ art. 21): a user (or an admin acting on a written request,
its basis recorded) asks; after the cooling-off period, unless cancelled, the account is
erased here at once (nobody can log in, every session ends) and
``cabinet.user.erasure_requested`` asks every other service to erase or anonymise by its own
retention rules; each confirms with ``<service>.user_data.erased`` (what it kept, and why) and
cabinet records completion once all have.

What cabinet keeps: the consent audit (152-FZ art. 9: proof of consent), its contact data
removed (source address, user agent); the erasure request itself (proof it was honoured);
the account row as a tombstone with its contacts overwritten (no ciphertext of them is left).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Literal

from contracts.cabinet.v1 import UserErasureRequestedV1
from contracts.data_rights import UserDataErased
from servicekit.data_rights import tombstone
from servicekit.errors import DomainError
from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import cancel as cancel_timer
from servicekit.timers import schedule
from sqlalchemy import delete, text, update
from sqlmodel import col, select

from cabinet.adapters.tables import (
    AppointmentCopy,
    ConsentRecord,
    DiaryEntry,
    ErasureRequest,
    OneTimeToken,
    RefreshToken,
    SpecialistProfile,
    User,
)
from cabinet.application import leads, sessions
from cabinet.config import CabinetSettings

EXECUTE = "erasure.execute"
COOLING_OFF, CANCELLED, ERASING, COMPLETED = "cooling_off", "cancelled", "erasing", "completed"
#: How long the other services have to confirm (152-FZ art. 21 part 3: 10 working days; the
#: event's deadline, not a timer here).
SERVICE_DEADLINE = timedelta(days=10)


class ErasureNotFound(DomainError):
    """No erasure request of this user has this id."""

    code = "not_found"


class ErasureInProgress(DomainError):
    """The user already has an erasure request pending."""

    code = "erasure_in_progress"


class ErasureNotCancellable(DomainError):
    """The cooling-off period is over (or the request was cancelled already)."""

    code = "erasure_not_cancellable"


async def request(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    *,
    requested_by: uuid.UUID,
    reason: Literal["user_request", "admin"],
    basis: str | None,
    settings: CabinetSettings,
    now: datetime,
) -> ErasureRequest:
    """A new erasure request, executed after the cooling-off period."""
    user = await uow.session.get(User, user_id)
    if user is None or user.erased_at is not None:
        raise ErasureNotFound()
    pending = (
        await uow.session.exec(
            select(ErasureRequest.id).where(
                ErasureRequest.user_id == user_id,
                col(ErasureRequest.status).in_([COOLING_OFF, ERASING]),
            )
        )
    ).first()
    if pending is not None:
        raise ErasureInProgress()
    row = ErasureRequest(
        user_id=user_id,
        reason=reason,
        requested_by=requested_by,
        basis=basis,
        status=COOLING_OFF,
        requested_at=now,
        execute_at=now + timedelta(days=settings.erasure_cooling_off_days),
        confirmations={s: None for s in dict.fromkeys(settings.data_export_parts)},
    )
    uow.session.add(row)
    await uow.session.flush()
    await schedule(uow.session, kind=EXECUTE, key=str(row.id), due_at=row.execute_at)
    return row


async def view(uow: UnitOfWork, user_id: uuid.UUID | None, request_id: uuid.UUID) -> ErasureRequest:
    """A request (``user_id``: only if it is theirs; None: an admin)."""
    row = await uow.session.get(ErasureRequest, request_id)
    if row is None or (user_id is not None and row.user_id != user_id):
        raise ErasureNotFound()
    return row


async def cancel(
    uow: UnitOfWork, user_id: uuid.UUID, request_id: uuid.UUID, now: datetime
) -> ErasureRequest:
    """The client changed their mind within the cooling-off period."""
    row = await uow.session.get(ErasureRequest, request_id, with_for_update=True)
    if row is None or row.user_id != user_id:
        raise ErasureNotFound()
    if row.status != COOLING_OFF:
        raise ErasureNotCancellable()
    row.status, row.cancelled_at = CANCELLED, now
    uow.session.add(row)
    await cancel_timer(uow.session, kind=EXECUTE, key=str(row.id))
    return row


async def execute(uow: UnitOfWork, request_id: uuid.UUID, now: datetime) -> None:
    """The cooling-off period is over: erase the account here and ask every service."""
    row = await uow.session.get(ErasureRequest, request_id, with_for_update=True)
    if row is None or row.status != COOLING_OFF:
        return
    user = await uow.session.get(User, row.user_id, with_for_update=True)
    if user is None:
        return
    user_id = user.id
    await leads.forget_user(uow, user_id, user.email_index)  # CRM leads, before the index goes
    # Login stops at once; every session ends (and every service hears it within seconds).
    await sessions.end_sessions(uow, user_id, "roles_revoked", now)
    user.email, user.name, user.phone = "", "", None
    user.email_index = f"erased-{user_id.hex}"
    user.phone_index, user.email_verified, user.phone_verified = None, False, False
    user.password_hash, user.roles, user.erased_at = "!erased", [], now
    uow.session.add(user)
    await uow.session.flush()
    # Plain statements: the ORM's synchronisation of loaded rows would compare encrypted
    # columns (refused), and none of these rows is needed loaded.
    connection = await uow.session.connection()
    for table in (DiaryEntry, OneTimeToken, RefreshToken):
        await connection.execute(delete(table).where(col(table.user_id) == user_id))
    await connection.execute(
        delete(SpecialistProfile).where(col(SpecialistProfile.user_id) == user_id)
    )
    await connection.execute(
        delete(AppointmentCopy).where(col(AppointmentCopy.client_id) == user_id)
    )
    # Archives and parts not handed out yet hold their data too (NULL: no ciphertext left).
    await connection.execute(
        text(
            "UPDATE data_export_parts SET body = NULL, download_url = NULL WHERE export_id IN"
            " (SELECT id FROM data_exports WHERE user_id = :u)"
        ),
        {"u": user_id},
    )
    await connection.execute(
        text(
            "UPDATE data_exports SET archive = NULL, download_token_hash = NULL WHERE user_id = :u"
        ),
        {"u": user_id},
    )
    # The consent audit stays (proof of consent), without the contact data it carried.
    await connection.execute(
        update(ConsentRecord)
        .where(col(ConsentRecord.user_id) == user_id)
        .values(source_ip="", user_agent=None)
    )
    await tombstone(uow.session, user_id, row.id, now)
    row.status, row.executed_at = ERASING, now
    expected = list(row.confirmations)
    if not expected:
        row.status, row.completed_at = COMPLETED, now
    uow.session.add(row)
    uow.emit(
        UserErasureRequestedV1(
            erasure_request_id=row.id,
            user_id=user_id,
            requested_at=row.requested_at,
            deadline_at=now + SERVICE_DEADLINE,
            reason=row.reason,
            expected_parts=expected,
        )
    )


async def confirmed(
    uow: UnitOfWork, service: str, payload: UserDataErased, *, now: datetime
) -> None:
    """A service confirmed the erasure (with what it kept); complete once all have."""
    row = await uow.session.get(ErasureRequest, payload.erasure_request_id, with_for_update=True)
    if row is None or row.user_id != payload.user_id or row.status not in (ERASING, COMPLETED):
        return
    confirmations = dict(row.confirmations)
    confirmations[service] = {
        "erased_at": payload.erased_at.isoformat(),
        "retained": [r.model_dump(mode="json") for r in payload.retained],
    }
    row.confirmations = confirmations
    if all(v is not None for v in confirmations.values()):
        row.status = COMPLETED
        row.completed_at = row.completed_at or now
    uow.session.add(row)


async def open_requests(uow: UnitOfWork) -> list[ErasureRequest]:
    """Requests not completed or cancelled, oldest first (an admin's view)."""
    return list(
        (
            await uow.session.exec(
                select(ErasureRequest)
                .where(col(ErasureRequest.status).in_([COOLING_OFF, ERASING]))
                .order_by(col(ErasureRequest.requested_at))
            )
        ).all()
    )
