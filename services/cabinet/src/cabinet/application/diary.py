"""The client diary (cabinet.domain.diary): writing, sharing, reading, the mood trend.

Writing needs the client's health-data consent; a specialist reads only shared entries of their
own clients (a confirmed appointment at some point, from booking's events), and only while the
client's health-data and transfer-to-the-specialist consents count. Anyone else gets 404.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from servicekit.http.pagination import keyset_page
from servicekit.messaging.outbox import UnitOfWork
from sqlalchemy import update
from sqlmodel import col, select

from cabinet.adapters.tables import AppointmentCopy, DiaryEntry
from cabinet.application import consents
from cabinet.domain.diary import (
    ClientNotFound,
    DiaryConsentRequired,
    DiaryEntryNotFound,
    EntryBody,
    UnknownAppointment,
)

HEALTH_DATA = "health_data_processing"
TRANSFER_TO_SPECIALIST = "transfer_to_specialist"
#: Sessions on the trend's time axis: planned or held ones.
SHOWN = ("confirmed", "completed", "no_show")


@dataclass(frozen=True)
class Entry:
    """A diary entry as its readers see it (decrypted)."""

    id: uuid.UUID
    user_id: uuid.UUID
    entry_date: date
    appointment_id: uuid.UUID | None
    body: EntryBody
    shared: bool
    created_at: datetime
    updated_at: datetime


def entry_of(row: DiaryEntry) -> Entry:
    """The readable form of a row."""
    return Entry(
        id=row.id,
        user_id=row.user_id,
        entry_date=row.entry_date,
        appointment_id=row.appointment_id,
        body=EntryBody.from_json(json.loads(row.body)),
        shared=row.shared_at is not None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _require(uow: UnitOfWork, user_id: uuid.UUID, purpose: str, now: datetime) -> None:
    if not await consents.consented(uow, user_id, purpose, now):
        raise DiaryConsentRequired(purpose)


async def _check_appointment(
    uow: UnitOfWork, user_id: uuid.UUID, appointment_id: uuid.UUID | None
) -> None:
    if appointment_id is None:
        return
    found = await uow.session.get(AppointmentCopy, appointment_id)
    if found is None or found.client_id != user_id:
        raise UnknownAppointment()


async def write(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    *,
    entry_date: date,
    appointment_id: uuid.UUID | None,
    body: EntryBody,
    shared: bool,
    now: datetime,
) -> Entry:
    """A new entry (private unless ``shared``)."""
    await _require(uow, user_id, HEALTH_DATA, now)
    await _check_appointment(uow, user_id, appointment_id)
    row = DiaryEntry(
        user_id=user_id,
        entry_date=entry_date,
        appointment_id=appointment_id,
        body=json.dumps(body.to_json(), ensure_ascii=False),
        shared_at=now if shared else None,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(row)
    await uow.session.flush()
    return entry_of(row)


async def _own(uow: UnitOfWork, user_id: uuid.UUID, entry_id: uuid.UUID) -> DiaryEntry:
    row = await uow.session.get(DiaryEntry, entry_id, with_for_update=True)
    if row is None or row.user_id != user_id:
        raise DiaryEntryNotFound()
    return row


async def read(uow: UnitOfWork, user_id: uuid.UUID, entry_id: uuid.UUID) -> Entry:
    """One of the user's own entries."""
    return entry_of(await _own(uow, user_id, entry_id))


async def change(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    entry_id: uuid.UUID,
    *,
    entry_date: date | None,
    appointment_id: uuid.UUID | None,
    clear_appointment: bool,
    body: EntryBody | None,
    now: datetime,
) -> Entry:
    """Change what the client wrote (health-data consent needed to store it)."""
    row = await _own(uow, user_id, entry_id)
    await _require(uow, user_id, HEALTH_DATA, now)
    if entry_date is not None:
        row.entry_date = entry_date
    if clear_appointment:
        row.appointment_id = None
    elif appointment_id is not None:
        await _check_appointment(uow, user_id, appointment_id)
        row.appointment_id = appointment_id
    if body is not None:
        row.body = json.dumps(body.to_json(), ensure_ascii=False)
    row.updated_at = now
    uow.session.add(row)
    return entry_of(row)


async def delete(uow: UnitOfWork, user_id: uuid.UUID, entry_id: uuid.UUID) -> None:
    """Delete one entry (the row goes: no ciphertext is left)."""
    row = await _own(uow, user_id, entry_id)
    await uow.session.delete(row)


async def share(
    uow: UnitOfWork, user_id: uuid.UUID, entry_id: uuid.UUID, *, shared: bool, now: datetime
) -> Entry:
    """Share one entry with the client's specialists, or stop sharing it (at once)."""
    row = await _own(uow, user_id, entry_id)
    if shared and row.shared_at is None:
        row.shared_at = now
    elif not shared:
        row.shared_at = None
    uow.session.add(row)
    return entry_of(row)


async def share_all(uow: UnitOfWork, user_id: uuid.UUID, *, shared: bool, now: datetime) -> int:
    """Share every entry, or stop sharing every entry; returns how many changed."""
    condition = (
        col(DiaryEntry.shared_at).is_(None) if shared else col(DiaryEntry.shared_at).is_not(None)
    )
    result = await uow.session.exec(
        update(DiaryEntry)
        .where(col(DiaryEntry.user_id) == user_id, condition)
        .values(shared_at=now if shared else None)
    )
    return int(result.rowcount or 0)


async def page(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    *,
    shared_only: bool,
    limit: int,
    cursor: str | None,
) -> tuple[list[Entry], str | None]:
    """A page of a client's entries, newest first."""
    query = select(DiaryEntry).where(DiaryEntry.user_id == user_id)
    if shared_only:
        query = query.where(col(DiaryEntry.shared_at).is_not(None))
    rows, next_cursor = await keyset_page(
        uow.session,
        query,
        order=col(DiaryEntry.created_at),
        newest_first=True,
        tiebreak=col(DiaryEntry.id),
        limit=limit,
        cursor=cursor,
    )
    return [entry_of(r) for r in rows], next_cursor


async def is_client_of(uow: UnitOfWork, client_id: uuid.UUID, specialist_id: uuid.UUID) -> bool:
    """Whether ``client_id`` has (or had) a confirmed appointment with ``specialist_id``."""
    found = (
        await uow.session.exec(
            select(AppointmentCopy.appointment_id)
            .where(
                AppointmentCopy.client_id == client_id,
                AppointmentCopy.specialist_id == specialist_id,
                col(AppointmentCopy.confirmed).is_(True),
            )
            .limit(1)
        )
    ).first()
    return found is not None


async def require_reader(
    uow: UnitOfWork, reader_id: uuid.UUID, client_id: uuid.UUID, now: datetime
) -> bool:
    """Whether the reader is the client (True) or one of their specialists allowed to read
    what was shared (False); :class:`ClientNotFound` for anyone else, and
    :class:`DiaryConsentRequired` for a specialist without the client's consents."""
    if reader_id == client_id:
        return True
    if not await is_client_of(uow, client_id, reader_id):
        raise ClientNotFound()
    await _require(uow, client_id, HEALTH_DATA, now)
    await _require(uow, client_id, TRANSFER_TO_SPECIALIST, now)
    return False


@dataclass(frozen=True)
class MoodPoint:
    """One entry's mood on the time axis."""

    entry_id: uuid.UUID
    entry_date: date
    mood: int
    sleep_hours: float | None


@dataclass(frozen=True)
class MoodTrend:
    """A client's mood over time and their sessions on the same axis."""

    client_id: uuid.UUID
    points: list[MoodPoint]
    sessions: list[AppointmentCopy]


async def mood_trend(
    uow: UnitOfWork, reader_id: uuid.UUID, client_id: uuid.UUID, now: datetime
) -> MoodTrend:
    """The client's own trend (every entry), or what their specialist may see (shared entries,
    sessions with that specialist)."""
    own = await require_reader(uow, reader_id, client_id, now)
    query = select(DiaryEntry).where(DiaryEntry.user_id == client_id)
    if not own:
        query = query.where(col(DiaryEntry.shared_at).is_not(None))
    rows = (
        await uow.session.exec(query.order_by(col(DiaryEntry.entry_date), col(DiaryEntry.id)))
    ).all()
    points = []
    for row in rows:
        body = EntryBody.from_json(json.loads(row.body))
        points.append(MoodPoint(row.id, row.entry_date, body.mood, body.sleep_hours))
    sessions = select(AppointmentCopy).where(
        AppointmentCopy.client_id == client_id, col(AppointmentCopy.status).in_(SHOWN)
    )
    if not own:
        sessions = sessions.where(AppointmentCopy.specialist_id == reader_id)
    found = (await uow.session.exec(sessions.order_by(col(AppointmentCopy.starts_at)))).all()
    return MoodTrend(client_id, points, list(found))
