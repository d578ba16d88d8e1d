"""Roles (admin grants and removes them) and specialists' public profiles.

cabinet is where a profile is written; booking keeps a copy (``cabinet.specialist_profile.
updated``) beside the specialist's services, hours and zone and serves the one public catalogue
(``GET /api/booking/specialists``). Granting the specialist role makes booking create the
specialist; removing it deactivates them there. Removing any role also ends every session of
the user at once (``cabinet.sessions.revoked``): tokens still naming the role stop working in
every service within seconds, and the next login carries the roles left.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from contracts.cabinet.v1 import SpecialistProfileUpdatedV1, UserRolesChangedV1
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, HttpUrl, UrlConstraints
from servicekit.http.deps import NowDep, UowDep
from servicekit.http.inputs import SafeText
from servicekit.http.problems import Conflict, Msg, NotFound
from servicekit.http.responses import problem_responses
from servicekit.messaging.outbox import UnitOfWork
from servicekit.security.deps import CurrentPrincipal, ensure_owner, require_roles
from servicekit.security.jwt import Principal

from cabinet.adapters.tables import SpecialistProfile, User
from cabinet.application.sessions import end_sessions

router = APIRouter(tags=["roles and specialists"])

_NO_SPECIALIST = Msg(ru="Такого специалиста нет.", en="No such specialist.")

GrantableRole = Literal["specialist", "moderator", "admin"]
Admin = Depends(require_roles("admin"))


class RoleGrant(BaseModel):
    """A role to grant."""

    role: GrantableRole


class RolesPublic(BaseModel):
    """A user's roles after a change."""

    user_id: uuid.UUID
    roles: list[str]


class ProfileUpdate(BaseModel):
    """A specialist's public profile (full state)."""

    display_name: SafeText = Field(min_length=1, max_length=200)
    bio: SafeText | None = Field(default=None, max_length=5000)
    photo_url: Annotated[HttpUrl, UrlConstraints(max_length=1000)] | None = Field(
        default=None, description="at most 1000 characters (the column's length)"
    )
    active: bool = True


class ProfilePublic(BaseModel):
    """A profile as written (the catalogue that shows it is booking's)."""

    user_id: uuid.UUID
    display_name: str
    bio: str | None
    photo_url: str | None
    active: bool
    updated_at: datetime


async def _change_roles(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    admin: Principal,
    *,
    grant: str | None = None,
    revoke: str | None = None,
) -> RolesPublic:
    user = await uow.session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound(Msg(ru="Такого пользователя нет.", en="No such user."))
    roles = list(user.roles)
    if grant is not None and grant not in roles:
        roles.append(grant)
    if revoke is not None and revoke in roles:
        roles.remove(revoke)
    if roles != user.roles:
        user.roles = roles
        uow.session.add(user)
        uow.emit(
            UserRolesChangedV1(
                user_id=user.id,
                roles=roles,
                granted=[grant] if grant else [],
                revoked=[revoke] if revoke else [],
                changed_by_user_id=admin.user_id,
            )
        )
        if revoke is not None:
            await end_sessions(uow, user.id, "roles_revoked", uow.now())
        await uow.commit()
    return RolesPublic(user_id=user.id, roles=roles)


@router.post(
    "/users/{user_id}/roles",
    response_model=RolesPublic,
    summary="Grant a role (admin); takes effect in the user's next access token",
    responses=problem_responses(404),
)
async def grant_role(
    user_id: uuid.UUID,
    body: RoleGrant,
    uow: UowDep,
    admin: Principal = Admin,
) -> RolesPublic:
    return await _change_roles(uow, user_id, admin, grant=body.role)


@router.delete(
    "/users/{user_id}/roles/{role}",
    response_model=RolesPublic,
    summary="Remove a role (admin); ends the user's sessions in every service within seconds",
    responses=problem_responses(404, 409),
)
async def revoke_role(
    user_id: uuid.UUID, role: GrantableRole, uow: UowDep, admin: Principal = Admin
) -> RolesPublic:
    if role == "admin" and user_id == admin.user_id:
        raise Conflict(
            Msg(
                ru="Администратор не может снять роль администратора с самого себя.",
                en="An admin cannot remove their own admin role.",
            ),
            code="last_admin_guard",
        )
    return await _change_roles(uow, user_id, admin, revoke=role)


def _profile(p: SpecialistProfile) -> ProfilePublic:
    return ProfilePublic.model_validate(p, from_attributes=True)


@router.put(
    "/specialists/{user_id}/profile",
    response_model=ProfilePublic,
    summary="Create or replace a specialist's public profile (the specialist or an admin); "
    "booking's catalogue shows it within seconds",
    responses=problem_responses(404),
)
async def put_profile(
    user_id: uuid.UUID,
    body: ProfileUpdate,
    uow: UowDep,
    principal: CurrentPrincipal,
    now: NowDep,
) -> ProfilePublic:
    ensure_owner(principal, user_id)
    user = await uow.session.get(User, user_id)
    if user is None or "specialist" not in user.roles:
        raise NotFound(_NO_SPECIALIST)
    profile = await uow.session.get(SpecialistProfile, user_id) or SpecialistProfile(
        user_id=user_id, display_name=body.display_name, updated_at=now
    )
    profile.display_name = body.display_name
    profile.bio = body.bio
    profile.photo_url = None if body.photo_url is None else str(body.photo_url)
    profile.active = body.active
    profile.updated_at = now
    uow.session.add(profile)
    uow.emit(
        SpecialistProfileUpdatedV1(
            specialist_id=user_id,
            display_name=profile.display_name,
            bio=profile.bio,
            photo_url=profile.photo_url,
            time_zone=user.time_zone,
            active=profile.active,
        )
    )
    await uow.commit()
    return _profile(profile)
