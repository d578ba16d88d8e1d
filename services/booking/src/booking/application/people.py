"""booking's copy of cabinet's users, and the rules that read it: who may book, who may be a
specialist, which services a specialist may give.

The copy is kept by the consumers (cabinet's ``user.registered``, ``user.contact_changed``,
``user.email_verified``, ``user.roles_changed``, ``specialist_profile.updated``); everything here
runs inside the caller's unit of work.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from servicekit.messaging.outbox import UnitOfWork
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters.tables import Client, ServiceOffering, Specialist
from booking.domain import people as rules
from booking.domain.people import EmailNotVerified, KnownUser, role_change

#: booking's zone for a user it has not heard the zone of yet.
DEFAULT_ZONE = "Europe/Moscow"


async def known_user(session: AsyncSession, user_id: uuid.UUID) -> KnownUser | None:
    """What booking knows of a user (None: cabinet has not told booking of them)."""
    row = await session.get(Client, user_id)
    if row is None:
        return None
    return KnownUser(row.user_id, tuple(row.roles), row.email_verified)


async def require_verified_email(session: AsyncSession, user_id: uuid.UUID) -> None:
    """:class:`EmailNotVerified` unless cabinet said the user's email is verified."""
    user = await known_user(session, user_id)
    if user is None or not user.email_verified:
        raise EmailNotVerified()


async def require_specialist_user(session: AsyncSession, user_id: uuid.UUID) -> KnownUser:
    """The user, who must hold the specialist role (:func:`booking.domain.people.
    ensure_specialist`)."""
    return rules.ensure_specialist(await known_user(session, user_id))


async def is_specialist_now(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Whether booking's copy of cabinet's roles says the user is a specialist (it follows a
    removal within seconds, while a token naming the role may not have expired yet)."""
    user = await known_user(session, user_id)
    return user is not None and user.is_specialist


async def check_services_given(
    session: AsyncSession, specialist_id: uuid.UUID, service_ids: Sequence[uuid.UUID]
) -> None:
    """Every service exists and is the specialist's own or shared
    (:func:`booking.domain.people.check_services_given`)."""
    if not service_ids:
        return
    owners = {
        row[0]: row[1]
        for row in (
            await session.exec(
                select(ServiceOffering.id, ServiceOffering.owner_specialist_id).where(
                    col(ServiceOffering.id).in_(service_ids)
                )
            )
        ).all()
    }
    rules.check_services_given(specialist_id, service_ids, owners)


# -- the copy, kept from cabinet's events ---------------------------------------------------


async def remember_user(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    *,
    at: datetime,
    name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    keep_phone: bool = True,
    time_zone: str | None = None,
    email_verified: bool | None = None,
    roles: Sequence[str] | None = None,
) -> Client:
    """Create or update booking's copy of a user with the fields an event carries."""
    row = await uow.session.get(Client, user_id, with_for_update=True)
    if row is None:
        row = Client(
            user_id=user_id,
            name="",
            email="",
            time_zone=time_zone or DEFAULT_ZONE,
            known_since=at,
            email_verified=False,
            roles=[],
        )
        uow.session.add(row)
    if name is not None:
        row.name = name
    if email is not None:
        row.email = email
    if not keep_phone:
        row.phone = phone
    if time_zone is not None:
        row.time_zone = time_zone
    if email_verified is not None:
        row.email_verified = email_verified
    if roles is not None:
        await _apply_roles(uow, row, roles)
    return row


async def _apply_roles(uow: UnitOfWork, row: Client, roles: Sequence[str]) -> None:
    """A user who loses the specialist role is hidden from search and the catalogue; one who
    (again) holds it is bookable again, when booking has their record."""
    change = role_change(row.roles, roles)
    row.roles = list(roles)
    if not (change.activates or change.deactivates):
        return
    specialist = await uow.session.get(Specialist, row.user_id, with_for_update=True)
    if specialist is None or specialist.active == change.activates:
        return
    specialist.active = change.activates
    specialist.updated_at = uow.now()
    specialist.version += 1


async def remember_specialist_profile(
    uow: UnitOfWork,
    specialist_id: uuid.UUID,
    *,
    display_name: str,
    bio: str | None,
    photo_url: str | None,
    time_zone: str,
    active: bool,
) -> Specialist:
    """cabinet owns a specialist's public profile (name, bio, photo, active); booking keeps it
    beside what it owns itself: the services given, the hours and the schedule's zone.

    The first profile creates the specialist (cabinet writes one only for a user holding the
    role), in the profile's zone, with no working hours (no slots) and no services until they
    or an admin set them. Later profiles never move the schedule's zone, and the profile's
    ``service_ids`` are not booking's to take: services are attached in booking, where who
    owns them is known. A user without the role stays inactive.
    """
    now = uow.now()
    user = await known_user(uow.session, specialist_id)
    specialist = await uow.session.get(Specialist, specialist_id, with_for_update=True)
    if specialist is None:
        specialist = Specialist(
            user_id=specialist_id,
            display_name=display_name,
            time_zone=time_zone,
            weekly_hours=[],
            service_ids=[],
            active=active,
            created_at=now,
            updated_at=now,
            version=0,
        )
        uow.session.add(specialist)
    specialist.display_name, specialist.bio = display_name, bio
    specialist.photo_url = photo_url
    specialist.active = active and (user is None or user.is_specialist)
    specialist.updated_at = now
    specialist.version += 1
    return specialist
