"""Roles (admin grants and removes them) and specialists' public profiles
(cabinet.application.roles says what follows from each)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, HttpUrl, UrlConstraints
from servicekit.http.deps import NowDep, UowDep
from servicekit.http.inputs import SafeText
from servicekit.http.responses import problem_responses
from servicekit.security.deps import CurrentPrincipal, ensure_owner, require_roles
from servicekit.security.jwt import Principal

from cabinet.adapters.tables import SpecialistProfile
from cabinet.application import roles
from cabinet.domain.roles import GrantableRole

router = APIRouter(tags=["roles and specialists"])

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
    after = await roles.grant_role(uow, user_id, body.role, admin_id=admin.user_id)
    return RolesPublic(user_id=user_id, roles=after)


@router.delete(
    "/users/{user_id}/roles/{role}",
    response_model=RolesPublic,
    summary="Remove a role (admin); ends the user's sessions in every service within seconds",
    responses=problem_responses(404, 409),
)
async def revoke_role(
    user_id: uuid.UUID, role: GrantableRole, uow: UowDep, admin: Principal = Admin
) -> RolesPublic:
    after = await roles.revoke_role(uow, user_id, role, admin_id=admin.user_id)
    return RolesPublic(user_id=user_id, roles=after)


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
    profile = roles.Profile(
        display_name=body.display_name,
        bio=body.bio,
        photo_url=None if body.photo_url is None else str(body.photo_url),
        active=body.active,
    )
    return _profile(await roles.write_profile(uow, user_id, profile, now=now))
