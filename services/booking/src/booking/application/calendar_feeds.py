"""Private calendar feeds (docs/calendar-files.md): a person's appointments as one ``VCALENDAR``
behind an unguessable, read-only URL a calendar app subscribes to (``webcal://``).

Each user has at most one feed. Its token (256 random bits) is shown when the feed is created
or rotated and never again: booking keeps only its SHA-256, so a copy of the table opens no
feed. Rotating replaces the hash (the old URL answers 404 at once); revoking deletes the row.

The feed holds every appointment the owner is the client of, and, for a specialist, every one
they give: from ``calendar_feed_past_days`` ago (90) on, all future ones, confirmed or over,
and cancelled ones that had been confirmed (``STATUS:CANCELLED``, so a subscribed calendar drops
them). A specialist's events name clients by initials unless they chose full names. The events
are :mod:`servicekit.calendar`'s, the same builder notify's invitations use: the same ``UID``
and ``SEQUENCE`` for the same appointment.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from servicekit.calendar import (
    Session,
    calendar_document,
    initials,
    session_event,
    texts,
)
from servicekit.db.faults import is_unique_violation
from servicekit.errors import DomainError
from servicekit.messaging.outbox import UnitOfWork
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, or_, select

from booking.adapters.tables import Appointment, CalendarFeed, Client
from booking.config import BookingSettings

#: What a feed shows: booked sessions (and, as cancelled, those that had been confirmed).
SHOWN = ("confirmed", "completed", "no_show", "cancelled")
MAX_EVENTS = 5000


class CalendarFeedNotFound(DomainError):
    """The caller has no calendar feed."""

    code = "calendar_feed_not_found"


class CalendarFeedExists(DomainError):
    """The caller has a feed already: rotate it to get a new URL."""

    code = "calendar_feed_exists"


class UnknownFeedToken(DomainError):
    """No feed has this token (never had, rotated or revoked)."""

    code = "not_found"


@dataclass(frozen=True)
class IssuedFeed:
    """A feed with its token, as only creating or rotating it returns."""

    feed: CalendarFeed
    token: str


def feed_token_hash(token: str) -> str:
    """What is stored for a feed token (SHA-256 hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits, 43 characters of A-Za-z0-9_-


async def _own(uow: UnitOfWork, user_id: uuid.UUID, *, lock: bool = False) -> CalendarFeed:
    statement = select(CalendarFeed).where(CalendarFeed.user_id == user_id)
    if lock:
        statement = statement.with_for_update()
    feed = (await uow.session.exec(statement)).first()
    if feed is None:
        raise CalendarFeedNotFound()
    return feed


async def create_feed(
    uow: UnitOfWork,
    *,
    user_id: uuid.UUID,
    language: str,
    show_client_names: bool,
    now: datetime,
) -> IssuedFeed:
    """A new feed for ``user_id``; :class:`CalendarFeedExists` when they have one."""
    token = _new_token()
    feed = CalendarFeed(
        id=uuid.uuid4(),
        user_id=user_id,
        token_hash=feed_token_hash(token),
        show_client_names=show_client_names,
        language=language,
        created_at=now,
        rotated_at=now,
    )
    uow.session.add(feed)
    try:
        await uow.session.flush()
    except IntegrityError as exc:
        if is_unique_violation(exc, "calendar_feeds_user_id_key"):
            raise CalendarFeedExists() from None
        raise
    return IssuedFeed(feed, token)


async def read_feed(uow: UnitOfWork, *, user_id: uuid.UUID) -> CalendarFeed:
    """The caller's feed (without its token)."""
    return await _own(uow, user_id)


async def change_feed(
    uow: UnitOfWork,
    *,
    user_id: uuid.UUID,
    show_client_names: bool | None,
    language: str | None,
) -> CalendarFeed:
    """Change how the caller's feed reads (full client names, language); the URL stays."""
    feed = await _own(uow, user_id, lock=True)
    if show_client_names is not None:
        feed.show_client_names = show_client_names
    if language is not None:
        feed.language = language
    uow.session.add(feed)
    return feed


async def rotate_feed(uow: UnitOfWork, *, user_id: uuid.UUID, now: datetime) -> IssuedFeed:
    """A new token for the caller's feed: the old URL stops working at once."""
    feed = await _own(uow, user_id, lock=True)
    token = _new_token()
    feed.token_hash = feed_token_hash(token)
    feed.rotated_at = now
    uow.session.add(feed)
    return IssuedFeed(feed, token)


async def revoke_feed(uow: UnitOfWork, *, user_id: uuid.UUID) -> None:
    """Delete the caller's feed: its URL answers 404 from now on."""
    feed = await _own(uow, user_id, lock=True)
    await uow.session.delete(feed)


async def feed_calendar(
    uow: UnitOfWork, *, token: str, settings: BookingSettings, now: datetime
) -> bytes:
    """The ``VCALENDAR`` a feed token serves; :class:`UnknownFeedToken` for any other token."""
    if not 16 <= len(token) <= 128:
        raise UnknownFeedToken()
    feed = (
        await uow.session.exec(
            select(CalendarFeed).where(CalendarFeed.token_hash == feed_token_hash(token))
        )
    ).first()
    if feed is None:
        raise UnknownFeedToken()
    owner = feed.user_id
    since = now - timedelta(days=settings.calendar_feed_past_days)
    rows = (
        await uow.session.exec(
            select(Appointment)
            .where(
                or_(col(Appointment.client_id) == owner, col(Appointment.specialist_id) == owner),
                col(Appointment.status).in_(SHOWN),
                col(Appointment.confirmed_at).is_not(None),
                col(Appointment.ends_at) >= since,
            )
            .order_by(col(Appointment.starts_at), col(Appointment.id))
            .limit(MAX_EVENTS)
        )
    ).all()
    clients = {r.client_id for r in rows if r.client_id != owner}
    people = {owner, *clients}
    known = (await uow.session.exec(select(Client).where(col(Client.user_id).in_(people)))).all()
    by_id = {c.user_id: c for c in known}
    own_zone = by_id[owner].time_zone if owner in by_id else None
    events = []
    for row in rows:
        as_client = row.client_id == owner
        if as_client:
            counterpart = row.specialist_name
        else:
            client = by_id.get(row.client_id)
            name = client.name if client else ""
            counterpart = name if feed.show_client_names and name else initials(name)
        session = Session(
            appointment_id=row.id,
            service_name=row.service_name,
            format=row.format,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            specialist_time_zone=row.specialist_time_zone,
            counterpart=counterpart,
            viewer="client" if as_client else "specialist",
            reschedule_count=row.reschedule_count,
            cancelled=row.status == "cancelled",
            viewer_time_zone=own_zone if as_client else row.specialist_time_zone,
            address=settings.practice_address or None,
        )
        events.append(session_event(session, language=feed.language, stamp=now))
    name = texts(feed.language)["calendar_name"]
    return calendar_document(events, method="PUBLISH", name=name)
