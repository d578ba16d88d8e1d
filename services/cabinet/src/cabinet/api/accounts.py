"""Accounts: registration, email verification, ``/me``, password change and reset, admin lookup.

Nothing here tells a caller whether an email is registered: registration and reset answer the
same either way.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal

from contracts.cabinet.v1 import (
    EmailVerificationRequestedV1,
    EmailVerifiedV1,
    PasswordResetRequestedV1,
    RegistrationAttemptedV1,
    UserContactChangedV1,
    UserRegisteredV1,
)
from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel, EmailStr, Field, field_validator
from servicekit.http.deps import NowDep, UowDep
from servicekit.http.i18n import Text
from servicekit.http.inputs import EmailSearch, SafeText
from servicekit.http.problems import Msg, Problem
from servicekit.http.responses import problem_responses
from servicekit.messaging.outbox import UnitOfWork
from servicekit.security.deps import require_roles
from servicekit.security.fields import blind_index, normalize_phone
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from cabinet.adapters import throttles
from cabinet.adapters.credentials import digest, hash_password, new_secret, verify_password
from cabinet.adapters.tables import OneTimeToken, RefreshToken, User
from cabinet.api.common import CurrentAccount, SettingsDep, SourceAddress
from cabinet.config import CabinetSettings
from cabinet.domain.registration import DEFAULT_ROLES, MAX_PASSWORD, MIN_PASSWORD, is_time_zone
from cabinet.domain.throttle import ATTEMPT_NOTICE_POLICY, allowance

router = APIRouter(tags=["accounts"])
_HOUR = timedelta(hours=1)
logger = logging.getLogger("cabinet.accounts")

Password = Annotated[str, Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)]


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
    """A page of users."""

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


INVALID_LINK = Problem(
    Msg(
        ru="Ссылка недействительна, уже использована или устарела. Запросите новую.",
        en="This link is invalid, used or expired. Ask for a new one.",
    ),
    status=400,
    code="invalid_token",
    title=Msg(ru="Недействительная ссылка", en="Invalid link"),
)


async def _issue_link(
    uow: UnitOfWork,
    user: User,
    purpose: str,
    ttl: timedelta,
    settings: CabinetSettings,
    now: datetime,
) -> tuple[str, datetime]:
    secret = new_secret()
    expires = now + ttl
    uow.session.add(
        OneTimeToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=digest(secret),
            expires_at=expires,
            created_at=now,
        )
    )
    page = "verify-email" if purpose == "verify_email" else "reset-password"
    return f"{settings.public_url(page)}#token={secret}", expires


async def _redeem(uow: UnitOfWork, secret: str, purpose: str, now: datetime) -> User:
    token = (
        await uow.session.exec(
            select(OneTimeToken)
            .where(OneTimeToken.token_hash == digest(secret), OneTimeToken.purpose == purpose)
            .with_for_update()
        )
    ).first()
    if token is None or token.used_at is not None or token.expires_at <= now:
        raise INVALID_LINK
    token.used_at = now
    uow.session.add(token)
    user = await uow.session.get(User, token.user_id)
    if user is None:
        raise INVALID_LINK
    return user


@router.post(
    "/registrations",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    summary="Register an account",
)
async def register(
    body: RegistrationCreate, uow: UowDep, settings: SettingsDep, now: NowDep
) -> Accepted:
    """Create the account, send the verification link (through notify), publish
    ``cabinet.user.registered``. An address or phone already in use creates nothing and answers
    exactly the same."""
    email = str(body.email)
    user = User(
        id=uuid.uuid4(),
        email=email,
        email_index=blind_index(email, kind="email"),
        email_verified=False,
        name=body.name,
        phone=body.phone,
        phone_index=None if body.phone is None else blind_index(body.phone, kind="phone"),
        password_hash=hash_password(body.password),
        time_zone=body.time_zone,
        language=body.language,
        roles=list(DEFAULT_ROLES),
        created_at=now,
    )
    created = (
        await uow.session.exec(
            insert(User)  # type: ignore[call-overload]
            .values(**user.model_dump())
            .on_conflict_do_nothing()
            .returning(User.id)
        )
    ).scalar_one_or_none()
    if created is None:
        logger.info("registration for an address or phone already in use")
        await _tell_owner_of_attempt(uow, user.email_index, now)
    else:
        uow.emit(
            UserRegisteredV1(
                user_id=user.id,
                email=email,
                name=body.name,
                phone=body.phone,
                time_zone=body.time_zone,
                language=body.language,
                roles=list(DEFAULT_ROLES),
                registered_at=now,
            )
        )
        await _send_verification_link(uow, user, settings, now)
    await uow.commit()
    return Accepted(
        detail=Msg(
            ru="Если этот адрес можно зарегистрировать, на него уже отправлено письмо.",
            en="If the address can be registered, a message is on its way to it.",
        )
    )


async def _tell_owner_of_attempt(uow: UnitOfWork, email_index: str, now: datetime) -> None:
    """Someone registered with an address that has an account: its owner learns of it (by
    mail, through notify), a couple of times an hour at most."""
    owner = (await uow.session.exec(select(User).where(User.email_index == email_index))).first()
    if owner is None:
        return  # the phone was in use, not the address: nobody to tell by mail
    key = f"attempt:{email_index}"
    if await throttles.retry_after(uow, [key], now) is not None:
        return
    await throttles.count(uow, key, ATTEMPT_NOTICE_POLICY, now)
    uow.emit(
        RegistrationAttemptedV1(
            user_id=owner.id,
            email=owner.email,
            name=owner.name,
            language=owner.language,  # type: ignore[arg-type]
            attempted_at=now,
        )
    )


async def _send_verification_link(
    uow: UnitOfWork, user: User, settings: CabinetSettings, now: datetime
) -> None:
    url, expires = await _issue_link(
        uow,
        user,
        "verify_email",
        timedelta(hours=settings.email_verification_ttl_hours),
        settings,
        now,
    )
    uow.emit(
        EmailVerificationRequestedV1(
            user_id=user.id,
            email=user.email,
            name=user.name,
            language=user.language,  # type: ignore[arg-type]
            verification_url=url,
            expires_at=expires,
        )
    )


@router.post(
    "/email-verifications/resend",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    summary="Send a new email verification link (rate-limited)",
    responses={429: {"description": "too_many_attempts (Retry-After)"}},
)
async def resend_verification(
    body: ResendRequest,
    uow: UowDep,
    settings: SettingsDep,
    address: SourceAddress,
    now: NowDep,
) -> Accepted:
    """A new link for an unverified account; earlier links stop working. The answer is the
    same for an unknown, a verified and an unverified address (no enumeration), and so is the
    limit: per address asked for and per caller."""
    email_index = throttles.email_key(str(body.email))
    keys = {
        f"resend:{email_index}": allowance(settings.verification_resends_per_hour, _HOUR),
        f"resend-from:{address}": allowance(
            settings.verification_resends_per_address_per_hour, _HOUR
        ),
    }
    wait = await throttles.retry_after(uow, list(keys), now)
    if wait is not None:
        raise throttles.too_many_attempts(wait)
    for key, policy in keys.items():
        await throttles.count(uow, key, policy, now)
    user = (await uow.session.exec(select(User).where(User.email_index == email_index))).first()
    if user is not None and not user.email_verified:
        await uow.session.exec(
            update(OneTimeToken)  # type: ignore[call-overload]
            .where(
                col(OneTimeToken.user_id) == user.id,
                col(OneTimeToken.purpose) == "verify_email",
                col(OneTimeToken.used_at).is_(None),
            )
            .values(used_at=now)
        )
        await _send_verification_link(uow, user, settings, now)
    await uow.commit()
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
    user = await _redeem(uow, body.token, "verify_email", now)
    if not user.email_verified:
        user.email_verified = True
        uow.session.add(user)
        uow.emit(EmailVerifiedV1(user_id=user.id, email=user.email, verified_at=now))
    await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/password-resets",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    summary="Ask for a password reset link",
)
async def request_reset(
    body: ResetRequest, uow: UowDep, settings: SettingsDep, now: NowDep
) -> Accepted:
    user = (
        await uow.session.exec(
            select(User).where(User.email_index == blind_index(str(body.email), kind="email"))
        )
    ).first()
    if user is not None:
        url, expires = await _issue_link(
            uow,
            user,
            "reset_password",
            timedelta(minutes=settings.password_reset_ttl_minutes),
            settings,
            now,
        )
        uow.emit(
            PasswordResetRequestedV1(
                user_id=user.id,
                email=user.email,
                name=user.name,
                language=user.language,  # type: ignore[arg-type]
                reset_url=url,
                expires_at=expires,
            )
        )
    await uow.commit()
    return Accepted(
        detail=Msg(
            ru="Если этот адрес зарегистрирован, на него уже отправлена ссылка для смены пароля.",
            en="If the address is registered, a reset link is on its way to it.",
        )
    )


async def _revoke_sessions(uow: UnitOfWork, user_id: uuid.UUID, now: datetime) -> None:
    await uow.session.exec(
        update(RefreshToken)  # type: ignore[call-overload]
        .where(col(RefreshToken.user_id) == user_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )


@router.post(
    "/password-resets/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set a new password with the emailed token",
    responses=problem_responses(400),
)
async def confirm_reset(body: ResetConfirm, uow: UowDep, now: NowDep) -> Response:
    user = await _redeem(uow, body.token, "reset_password", now)
    user.password_hash = hash_password(body.new_password)
    uow.session.add(user)
    await _revoke_sessions(uow, user.id, now)  # every session ends with the old password
    await uow.commit()
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
async def update_me(body: MeUpdate, user: CurrentAccount, uow: UowDep) -> UserPublic:
    changed: list[Literal["email", "phone", "name", "time_zone", "language"]] = []
    for field in ("name", "time_zone", "language"):
        value = getattr(body, field)
        if value is not None and value != getattr(user, field):
            setattr(user, field, value)
            changed.append(field)  # type: ignore[arg-type]
    if "phone" in body.model_fields_set and body.phone != user.phone:
        user.phone = body.phone
        user.phone_index = None if body.phone is None else blind_index(body.phone, kind="phone")
        changed.append("phone")
    if changed:
        uow.session.add(user)
        uow.emit(
            UserContactChangedV1(
                user_id=user.id,
                email=user.email,
                email_verified=user.email_verified,
                name=user.name,
                phone=user.phone,
                time_zone=user.time_zone,
                language=user.language,  # type: ignore[arg-type]
                changed_fields=changed,
            )
        )
        try:
            await uow.commit()
        except Exception as exc:  # the phone's blind index is unique
            if "phone_index" in str(exc):
                raise Problem(
                    Msg(
                        ru="Этот номер телефона использовать нельзя.",
                        en="This phone number cannot be used.",
                    ),
                    status=409,
                    code="phone_unavailable",
                    title=Msg(ru="Номер телефона недоступен", en="Phone unavailable"),
                ) from exc
            raise
    return _public(user)


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change one's password (ends every session)",
    responses=problem_responses(403),
)
async def change_password(
    body: PasswordChange, user: CurrentAccount, uow: UowDep, now: NowDep
) -> Response:
    if not verify_password(user.password_hash, body.current_password):
        raise Problem(
            Msg(ru="Текущий пароль указан неверно.", en="The current password is not right."),
            status=403,
            code="wrong_password",
            title=Msg(ru="Неверный пароль", en="Wrong password"),
        )
    user.password_hash = hash_password(body.new_password)
    uow.session.add(user)
    await _revoke_sessions(uow, user.id, now)
    await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/users/search",
    response_model=UserList,
    dependencies=[Depends(require_roles("admin"))],
    summary="Find accounts by email (admin)",
)
async def find_users(uow: UowDep, body: EmailSearch) -> UserList:
    rows = (
        await uow.session.exec(
            select(User).where(User.email_index == blind_index(str(body.email), kind="email"))
        )
    ).all()
    return UserList(items=[_public(u) for u in rows])
