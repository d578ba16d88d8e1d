"""Accounts: registration, email verification, ``/me``, password change and reset, admin lookup.

Nothing here tells a caller whether an email is registered: registration and reset answer the
same either way, after the same work (a reset request only queues a timer, for every address).
Registration, reset and resend requests are limited per target address and per source address
(429 with ``Retry-After``). A phone number reserves nothing until it is verified; an email
address already taken creates nothing and its owner is told.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from contracts.cabinet.v1 import (
    EmailVerificationRequestedV1,
    EmailVerifiedV1,
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
from servicekit.timers import schedule
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from cabinet.adapters import throttles
from cabinet.adapters.credentials import digest, hash_password, verify_password
from cabinet.adapters.tables import OneTimeToken, User
from cabinet.api.common import CurrentAccount, SettingsDep, SourceAddress
from cabinet.application.links import issue_link
from cabinet.application.sessions import end_sessions
from cabinet.config import CabinetSettings
from cabinet.domain.registration import DEFAULT_ROLES, MAX_PASSWORD, MIN_PASSWORD, is_time_zone
from cabinet.domain.throttle import ATTEMPT_NOTICE_POLICY, allowance
from cabinet.entrypoints.timers import PASSWORD_RESET_REQUEST

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


async def _limit(uow: UnitOfWork, keys: dict[str, Any], now: datetime) -> None:
    """429 when any key is locked; else count one more use of each."""
    wait = await throttles.retry_after(uow, list(keys), now)
    if wait is not None:
        raise throttles.too_many_attempts(wait)
    for key, policy in keys.items():
        await throttles.count(uow, key, policy, now)


async def _redeem(uow: UnitOfWork, secret: str, purpose: str, now: datetime) -> User:
    hashed = digest(secret)
    owner = (
        await uow.session.exec(
            select(OneTimeToken.user_id).where(
                OneTimeToken.token_hash == hashed, OneTimeToken.purpose == purpose
            )
        )
    ).first()
    if owner is None:
        raise INVALID_LINK
    # One redemption closes every open link of the same purpose for the user: an older link
    # still in a mailbox (or a forwarded one) opens nothing once the owner used any of them.
    # They are locked in one order, so two links redeemed at once never deadlock: the second
    # finds its own link used.
    open_links = (
        await uow.session.exec(
            select(OneTimeToken)
            .where(
                OneTimeToken.user_id == owner,
                OneTimeToken.purpose == purpose,
                col(OneTimeToken.used_at).is_(None),
            )
            .order_by(col(OneTimeToken.id))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()
    token = next((t for t in open_links if t.token_hash == hashed), None)
    if token is None or token.expires_at <= now:
        raise INVALID_LINK
    for link in open_links:
        link.used_at = now
        uow.session.add(link)
    user = await uow.session.get(User, token.user_id)
    if user is None:
        raise INVALID_LINK
    return user


@router.post(
    "/registrations",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    summary="Register an account (rate-limited)",
    responses={429: {"description": "too_many_attempts (Retry-After)"}},
)
async def register(
    body: RegistrationCreate,
    uow: UowDep,
    settings: SettingsDep,
    address: SourceAddress,
    now: NowDep,
) -> Accepted:
    """Create the account, send the verification link (through notify), publish
    ``cabinet.user.registered``. An address already in use creates nothing, its owner is told
    and the answer is exactly the same. A phone number is not reserved until verified, so one
    already given by another account does not stop a registration."""
    email = str(body.email)
    email_index = throttles.email_key(email)
    await _limit(
        uow,
        {
            f"register:{email_index}": allowance(settings.registrations_per_target_per_hour, _HOUR),
            f"register-from:{address}": allowance(
                settings.registrations_per_address_per_hour, _HOUR
            ),
        },
        now,
    )
    await uow.commit()  # the counts stand; no row stays locked while the password is hashed
    password_hash = await hash_password(body.password)
    user = User(
        id=uuid.uuid4(),
        email=email,
        email_index=blind_index(email, kind="email"),
        email_verified=False,
        name=body.name,
        phone=body.phone,
        phone_index=None if body.phone is None else blind_index(body.phone, kind="phone"),
        phone_verified=False,
        password_hash=password_hash,
        time_zone=body.time_zone,
        language=body.language,
        roles=list(DEFAULT_ROLES),
        created_at=now,
    )
    created = (
        await uow.session.exec(
            insert(User)  # type: ignore[call-overload]
            .values(**user.model_dump())
            .on_conflict_do_nothing(index_elements=["email_index"])
            .returning(User.id)
        )
    ).scalar_one_or_none()
    if created is None:
        logger.info("registration for an address already in use")
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
        return
    key = f"attempt:{email_index}"
    if await throttles.retry_after(uow, [key], now) is not None:
        return
    await throttles.count(uow, key, ATTEMPT_NOTICE_POLICY, now)
    uow.emit(
        RegistrationAttemptedV1(
            user_id=owner.id,
            email=owner.email,
            name=owner.name,
            language=owner.language,
            attempted_at=now,
        )
    )


async def _send_verification_link(
    uow: UnitOfWork, user: User, settings: CabinetSettings, now: datetime
) -> None:
    url, expires = await issue_link(
        uow,
        user,
        "verify_email",
        timedelta(hours=settings.email_verification_ttl_hours),
        settings.public_url("verify-email"),
        now,
    )
    uow.emit(
        EmailVerificationRequestedV1(
            user_id=user.id,
            email=user.email,
            name=user.name,
            language=user.language,
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
    await _limit(uow, keys, now)
    user = (await uow.session.exec(select(User).where(User.email_index == email_index))).first()
    if user is not None and not user.email_verified:
        await uow.session.exec(
            update(OneTimeToken)
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
    summary="Ask for a password reset link (rate-limited)",
    responses={429: {"description": "too_many_attempts (Retry-After)"}},
)
async def request_reset(
    body: ResetRequest,
    uow: UowDep,
    settings: SettingsDep,
    address: SourceAddress,
    now: NowDep,
) -> Accepted:
    """Queue the request (cabinet.entrypoints.timers): the answer comes after the same work
    whether or not the address is registered, so neither its words nor its timing tell."""
    email_index = throttles.email_key(str(body.email))
    await _limit(
        uow,
        {
            f"reset:{email_index}": allowance(settings.password_resets_per_target_per_hour, _HOUR),
            f"reset-from:{address}": allowance(
                settings.password_resets_per_address_per_hour, _HOUR
            ),
        },
        now,
    )
    await schedule(
        uow.session,
        kind=PASSWORD_RESET_REQUEST,
        key=uuid.uuid4().hex,
        due_at=now,
        payload={
            "email_index": email_index,
            "page_url": settings.public_url("reset-password"),
            "ttl_minutes": settings.password_reset_ttl_minutes,
        },
    )
    await uow.commit()
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
async def confirm_reset(body: ResetConfirm, uow: UowDep, now: NowDep) -> Response:
    password_hash = await hash_password(body.new_password)
    user = await _redeem(uow, body.token, "reset_password", now)
    user.password_hash = password_hash
    if not user.email_verified:
        # The link came to the address: whoever registered it first (maybe not its owner)
        # loses the account to the owner, and the address counts as verified from now on.
        user.email_verified = True
        uow.emit(EmailVerifiedV1(user_id=user.id, email=user.email, verified_at=now))
    uow.session.add(user)
    # Every session ends with the old password, in every service within seconds.
    await end_sessions(uow, user.id, "password_reset", now)
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
            changed.append(field)
    if "phone" in body.model_fields_set and body.phone != user.phone:
        user.phone = body.phone
        user.phone_index = None if body.phone is None else blind_index(body.phone, kind="phone")
        user.phone_verified = False  # a new number reserves nothing until it is verified
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
                language=user.language,
                changed_fields=changed,
            )
        )
        try:
            await uow.commit()
        except Exception as exc:  # a verified phone's blind index is unique
            if "users_verified_phone" in str(exc):
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
    if not await verify_password(user.password_hash, body.current_password):
        raise Problem(
            Msg(ru="Текущий пароль указан неверно.", en="The current password is not right."),
            status=403,
            code="wrong_password",
            title=Msg(ru="Неверный пароль", en="Wrong password"),
        )
    user.password_hash = await hash_password(body.new_password)
    uow.session.add(user)
    await end_sessions(uow, user.id, "password_changed", now)
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
