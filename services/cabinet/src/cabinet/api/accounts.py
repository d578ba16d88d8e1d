"""Accounts: registration, email verification, ``/me``, password change and reset, admin lookup.

Nothing here tells a caller whether an email is registered: registration and reset answer the
same either way, after the same work (cabinet.application.registration, .password_resets).
Registration, reset and resend requests are limited per target address and per source address
(429 with ``Retry-After``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel, EmailStr, Field, field_validator
from servicekit.http.deps import NowDep, UowDep
from servicekit.http.i18n import Text
from servicekit.http.inputs import EmailSearch, SafeText
from servicekit.http.problems import Msg
from servicekit.http.responses import problem_responses
from servicekit.security.deps import require_roles
from servicekit.security.fields import normalize_phone

from cabinet.adapters.tables import User
from cabinet.api.common import CabinetDep, CurrentAccount, SourceAddress
from cabinet.api.leads import UtmLabel
from cabinet.application import accounts, password_resets, registration
from cabinet.domain.registration import MAX_PASSWORD, MIN_PASSWORD, is_time_zone

router = APIRouter(tags=["accounts"])

Password = Annotated[str, Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)]
_RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {"description": "too_many_attempts (Retry-After)"}
}


def _zone(value: str) -> str:
    if not is_time_zone(value):
        raise ValueError("not an IANA time zone")
    return value


def _phone(value: str | None) -> str | None:
    return None if value is None else normalize_phone(value)


class RegistrationCreate(BaseModel):
    """A registration request."""

    email: EmailStr
    password: Password
    name: SafeText = Field(min_length=1, max_length=200)
    phone: SafeText | None = Field(
        default=None, max_length=40, description="any common format; stored as E.164"
    )
    time_zone: SafeText = Field(default="Europe/Moscow", max_length=64, description="IANA zone")
    language: Literal["ru", "en"] = "ru"
    # Where the person came from, as the front end read it from the page's URL (docs/leads.md).
    utm_source: UtmLabel | None = None
    utm_medium: UtmLabel | None = None
    utm_campaign: UtmLabel | None = None

    _check_zone = field_validator("time_zone")(_zone)
    _check_phone = field_validator("phone")(_phone)


class Accepted(BaseModel):
    """The same answer whether or not the email is registered (no enumeration)."""

    status: Literal["accepted"] = "accepted"
    detail: Text


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
    """The accounts found (an address has one at most, so there is never a next page)."""

    items: list[UserPublic]
    next_cursor: str | None = None


class MeUpdate(BaseModel):
    """Changes to one's own contacts, zone or language (only the fields sent change)."""

    name: SafeText | None = Field(default=None, min_length=1, max_length=200)
    phone: SafeText | None = Field(default=None, max_length=40)
    time_zone: SafeText | None = Field(default=None, max_length=64)
    language: Literal["ru", "en"] | None = None

    _check_phone = field_validator("phone")(_phone)

    @field_validator("time_zone")
    @classmethod
    def _check_zone(cls, value: str | None) -> str | None:
        return None if value is None else _zone(value)


class TokenBody(BaseModel):
    """A one-time token from an emailed link."""

    token: SafeText = Field(min_length=10, max_length=200)


class ResetRequest(BaseModel):
    """Ask for a password reset link."""

    email: EmailStr


class ResendRequest(BaseModel):
    """Ask for a new email verification link."""

    email: EmailStr


class ResetConfirm(BaseModel):
    """Set a new password with a reset token."""

    token: SafeText = Field(min_length=10, max_length=200)
    new_password: Password


class PasswordChange(BaseModel):
    """Change one's password."""

    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD)
    new_password: Password


def _public(user: User) -> UserPublic:
    return UserPublic.model_validate(user, from_attributes=True)


@router.post(
    "/registrations",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    summary="Register an account (rate-limited)",
    responses=_RATE_LIMITED,
)
async def register(
    body: RegistrationCreate,
    uow: UowDep,
    ports: CabinetDep,
    address: SourceAddress,
    now: NowDep,
) -> Accepted:
    """Create the account, send the verification link (through notify), publish
    ``cabinet.user.registered``. An address already in use creates nothing, its owner is told
    and the answer is exactly the same. A phone number is not reserved until verified, so one
    already given by another account does not stop a registration."""
    await registration.register(
        uow,
        registration.NewAccount(
            email=str(body.email),
            password=body.password,
            name=body.name,
            phone=body.phone,
            time_zone=body.time_zone,
            language=body.language,
        ),
        utm=registration.Utm(body.utm_source, body.utm_medium, body.utm_campaign),
        source=address,
        settings=ports.settings,
        passwords=ports.passwords,
        keyring=ports.keyring,
        now=now,
    )
    return Accepted(
        detail=Msg(
            ru="Если этот адрес можно зарегистрировать, на него уже отправлено письмо.",
            en="If the address can be registered, a message is on its way to it.",
        )
    )


@router.post(
    "/email-verifications/resend",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    summary="Send a new email verification link (rate-limited)",
    responses=_RATE_LIMITED,
)
async def resend_verification(
    body: ResendRequest,
    uow: UowDep,
    ports: CabinetDep,
    address: SourceAddress,
    now: NowDep,
) -> Accepted:
    """A new link for an unverified account; earlier links stop working. The answer is the
    same for an unknown, a verified and an unverified address (no enumeration), and so is the
    limit: per address asked for and per caller."""
    await registration.resend_verification(
        uow,
        str(body.email),
        source=address,
        settings=ports.settings,
        keyring=ports.keyring,
        now=now,
    )
    return Accepted(
        detail=Msg(
            ru="Если адрес принадлежит ещё не подтверждённой учётной записи, новая ссылка уже "
            "отправлена на него.",
            en="If the address belongs to an account still to be confirmed, a new link is on "
            "its way to it.",
        )
    )


@router.post(
    "/email-verifications",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Confirm an email address with the emailed token",
    responses=problem_responses(400),
)
async def verify_email(body: TokenBody, uow: UowDep, now: NowDep) -> Response:
    await registration.verify_email(uow, body.token, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/password-resets",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    summary="Ask for a password reset link (rate-limited)",
    responses=_RATE_LIMITED,
)
async def request_reset(
    body: ResetRequest,
    uow: UowDep,
    ports: CabinetDep,
    address: SourceAddress,
    now: NowDep,
) -> Accepted:
    """Queue the request: the answer comes after the same work whether or not the address is
    registered, so neither its words nor its timing tell."""
    await password_resets.request_reset(
        uow,
        str(body.email),
        source=address,
        settings=ports.settings,
        keyring=ports.keyring,
        now=now,
    )
    return Accepted(
        detail=Msg(
            ru="Если этот адрес зарегистрирован, на него уже отправлена ссылка для смены пароля.",
            en="If the address is registered, a reset link is on its way to it.",
        )
    )


@router.post(
    "/password-resets/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set a new password with the emailed token",
    responses=problem_responses(400),
)
async def confirm_reset(
    body: ResetConfirm, uow: UowDep, ports: CabinetDep, now: NowDep
) -> Response:
    await password_resets.confirm_reset(
        uow, body.token, body.new_password, passwords=ports.passwords, now=now
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=UserPublic, summary="The caller's account")
async def me(user: CurrentAccount) -> UserPublic:
    return _public(user)


@router.patch(
    "/me",
    response_model=UserPublic,
    summary="Change one's contacts, zone or language",
    responses=problem_responses(409),
)
async def update_me(
    body: MeUpdate, user: CurrentAccount, uow: UowDep, ports: CabinetDep
) -> UserPublic:
    sent = body.model_dump(include=body.model_fields_set)
    changed = await accounts.change_contacts(uow, user, sent, keyring=ports.keyring)
    return _public(changed)


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change one's password (ends every session)",
    responses=problem_responses(403),
)
async def change_password(
    body: PasswordChange, user: CurrentAccount, uow: UowDep, ports: CabinetDep, now: NowDep
) -> Response:
    await accounts.change_password(
        uow,
        user,
        body.current_password,
        body.new_password,
        passwords=ports.passwords,
        now=now,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/users/search",
    response_model=UserList,
    dependencies=[Depends(require_roles("admin"))],
    summary="Find accounts by email (admin)",
)
async def find_users(uow: UowDep, body: EmailSearch, ports: CabinetDep) -> UserList:
    found = await accounts.find_by_email(uow, str(body.email), keyring=ports.keyring)
    return UserList(items=[_public(u) for u in found])
