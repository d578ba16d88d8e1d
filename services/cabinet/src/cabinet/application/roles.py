"""Roles (an admin grants and removes them) and specialists' public profiles.

cabinet is where a profile is written; booking keeps a copy (``cabinet.specialist_profile.
updated``) beside the specialist's services, hours and zone and serves the one public catalogue.
Granting the specialist role makes booking create the specialist; removing it deactivates them
there. Removing any role also ends every session of the user at once (``cabinet.sessions.
revoked``): tokens still naming the role stop working in every service within seconds, and the
next login carries the roles left.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from contracts.cabinet.v1 import SpecialistProfileUpdatedV1, UserRolesChangedV1
from servicekit.messaging.outbox import UnitOfWork

from cabinet.adapters.tables import SpecialistProfile, User
from cabinet.application.sessions import end_sessions
from cabinet.domain.roles import (
    GrantableRole,
    NoSuchSpecialist,
    NoSuchUser,
    check_removal,
    is_specialist,
    roles_after,
)


async def grant_role(
    uow: UnitOfWork, user_id: uuid.UUID, role: GrantableRole, *, admin_id: uuid.UUID
) -> list[str]:
    """Give ``role`` to the user (it is in their next access token); their roles after."""
    return await _change_roles(uow, user_id, admin_id, grant=role)


async def revoke_role(
    uow: UnitOfWork, user_id: uuid.UUID, role: GrantableRole, *, admin_id: uuid.UUID
) -> list[str]:
    """Take ``role`` from the user and end their sessions; their roles after."""
    check_removal(role, user_id, admin_id)
    return await _change_roles(uow, user_id, admin_id, revoke=role)


async def _change_roles(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    admin_id: uuid.UUID,
    *,
    grant: str | None = None,
    revoke: str | None = None,
) -> list[str]:
    user = await uow.session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NoSuchUser()
    roles = roles_after(user.roles, grant=grant, revoke=revoke)
    if roles != user.roles:
        user.roles = roles
        uow.session.add(user)
        uow.emit(
            UserRolesChangedV1(
                user_id=user.id,
                roles=roles,
                granted=[grant] if grant else [],
                revoked=[revoke] if revoke else [],
                changed_by_user_id=admin_id,
            )
        )
        if revoke is not None:
            await end_sessions(uow, user.id, "roles_revoked", uow.now())
        await uow.commit()
    return roles


@dataclass(frozen=True)
class Profile:
    """A specialist's public profile as they write it (full state)."""

    display_name: str
    bio: str | None
    photo_url: str | None
    active: bool


async def write_profile(
    uow: UnitOfWork, specialist_id: uuid.UUID, profile: Profile, *, now: datetime
) -> SpecialistProfile:
    """Create or replace a specialist's profile and publish it (booking's catalogue shows it
    within seconds); :class:`NoSuchSpecialist` for an account without the role."""
    user = await uow.session.get(User, specialist_id)
    if user is None or not is_specialist(user.roles):
        raise NoSuchSpecialist()
    row = await uow.session.get(SpecialistProfile, specialist_id) or SpecialistProfile(
        user_id=specialist_id, display_name=profile.display_name, updated_at=now
    )
    row.display_name = profile.display_name
    row.bio = profile.bio
    row.photo_url = profile.photo_url
    row.active = profile.active
    row.updated_at = now
    uow.session.add(row)
    uow.emit(
        SpecialistProfileUpdatedV1(
            specialist_id=specialist_id,
            display_name=row.display_name,
            bio=row.bio,
            photo_url=row.photo_url,
            time_zone=user.time_zone,
            active=row.active,
        )
    )
    await uow.commit()
    return row
