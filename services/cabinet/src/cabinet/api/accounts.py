"""``/api/cabinet/registrations``, ``/me`` and the admin user lookup."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Annotated, Literal

from argon2 import PasswordHasher
from contracts.cabinet.v1 import UserRegisteredV1
from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, EmailStr, Field, field_validator
from servicekit.clock import utcnow
from servicekit.http.deps import UowDep
from servicekit.http.problems import NotFound
from servicekit.security.deps import CurrentPrincipal, require_roles
from servicekit.security.fields import blind_index, normalize_phone
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import select

from cabinet.adapters.tables import User
from cabinet.domain.registration import DEFAULT_ROLES, MAX_PASSWORD, MIN_PASSWORD, is_time_zone

router = APIRouter(tags=["accounts"])
logger = logging.getLogger("cabinet.accounts")
_hasher = PasswordHasher()


class RegistrationCreate(BaseModel):
    """A registration request."""

    email: EmailStr
    password: str = Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, description="any common format; stored as E.164")
    time_zone: str = Field(default="Europe/Moscow", description="IANA zone")
    language: Literal["ru", "en"] = "ru"

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if not is_time_zone(value):
            raise ValueError("not an IANA time zone")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else normalize_phone(value)


class RegistrationAccepted(BaseModel):
    """The same answer whether or not the email was already registered (no enumeration)."""

    status: Literal["accepted"] = "accepted"
    detail: str = "If the address can be registered, a message is on its way to it."


class UserPublic(BaseModel):
    """An account as its owner (or an admin) sees it."""

    id: uuid.UUID
    email: str
    email_verified: bool
    name: str
    phone: str | None
    time_zone: str
    language: str
    roles: list[str]
    created_at: datetime


class UserList(BaseModel):
    """A page of users."""

    items: list[UserPublic]
    next_cursor: str | None = None


@router.post(
    "/registrations",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RegistrationAccepted,
    summary="Register an account",
)
async def register(body: RegistrationCreate, uow: UowDep) -> RegistrationAccepted:
    """Create the account and publish ``cabinet.user.registered``.

    An address (or phone) already in use creates nothing and answers exactly the same.
    """
    now = utcnow()
    user_id = uuid.uuid4()
    email = str(body.email)
    values = {
        "id": user_id,
        "email": email,
        "email_index": blind_index(email, kind="email"),
        "email_verified": False,
        "name": body.name,
        "phone": body.phone,
        "phone_index": None if body.phone is None else blind_index(body.phone, kind="phone"),
        "password_hash": _hasher.hash(body.password),
        "time_zone": body.time_zone,
        "language": body.language,
        "roles": list(DEFAULT_ROLES),
        "created_at": now,
    }
    created = (
        await uow.session.exec(
            insert(User).values(**values).on_conflict_do_nothing().returning(User.id)  # type: ignore[call-overload]
        )
    ).scalar_one_or_none()
    if created is None:
        logger.info("registration for an address or phone already in use")
    else:
        uow.emit(
            UserRegisteredV1(
                user_id=user_id,
                email=email,
                name=body.name,
                phone=body.phone,
                time_zone=body.time_zone,
                language=body.language,
                roles=list(DEFAULT_ROLES),
                registered_at=now,
            )
        )
    await uow.commit()
    return RegistrationAccepted()


def _public(user: User) -> UserPublic:
    return UserPublic.model_validate(user, from_attributes=True)


@router.get("/me", response_model=UserPublic, summary="The caller's account")
async def me(principal: CurrentPrincipal, uow: UowDep) -> UserPublic:
    user = await uow.session.get(User, principal.user_id)
    if user is None:
        raise NotFound("No account for this token.")
    return _public(user)


@router.get(
    "/users",
    response_model=UserList,
    dependencies=[Depends(require_roles("admin"))],
    summary="Find accounts by email (admin)",
)
async def find_users(
    uow: UowDep, email: Annotated[EmailStr, Query(description="any case")]
) -> UserList:
    rows = (
        await uow.session.exec(
            select(User).where(User.email_index == blind_index(str(email), kind="email"))
        )
    ).all()
    return UserList(items=[_public(u) for u in rows])
