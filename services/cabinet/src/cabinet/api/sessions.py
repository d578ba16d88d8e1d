"""Sessions: log in, refresh (rotating, with reuse detection), log out.

* Login answers the same ``invalid_credentials`` for an unknown email and a wrong password, and
  takes the same time (a dummy hash is verified when there is no account).
* Failures are counted per account (by the email's blind index, so unknown emails are throttled
  alike) and per source address; past the allowance the key is locked for a growing time and the
  answer is 429 with ``Retry-After``.
* A refresh token is single-use: each refresh returns a new one in the same family. Presenting a
  used one again means it was stolen (or replayed): the whole family is revoked.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field
from servicekit.http.deps import NowDep, RuntimeDep, UowDep
from servicekit.http.problems import Msg, Unauthorized
from servicekit.http.responses import problem_responses
from servicekit.messaging.outbox import UnitOfWork
from sqlalchemy import update
from sqlmodel import col, select

from cabinet.adapters import throttles
from cabinet.adapters.credentials import access_token, digest, new_secret, verify_password
from cabinet.adapters.tables import LoginThrottle, RefreshToken, User
from cabinet.adapters.throttles import email_key
from cabinet.api.common import SettingsDep, SourceAddress
from cabinet.config import CabinetSettings
from cabinet.domain.throttle import ACCOUNT_POLICY, ADDRESS_POLICY

router = APIRouter(prefix="/sessions", tags=["sessions"])


class LoginRequest(BaseModel):
    """Credentials."""

    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=256)


class RefreshRequest(BaseModel):
    """A refresh token."""

    refresh_token: str = Field(min_length=10, max_length=200)


class TokenPair(BaseModel):
    """An access token for the APIs and a single-use refresh token for the next one."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


def _invalid_credentials() -> Unauthorized:
    return Unauthorized(
        Msg(
            ru="Неверный адрес электронной почты или пароль.",
            en="The email or the password is not right.",
        ),
        code="invalid_credentials",
    )


_SESSION_ENDED = Msg(ru="Сеанс завершён; войдите снова.", en="The session has ended; log in again.")


async def _new_refresh(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    family: uuid.UUID,
    settings: CabinetSettings,
    now: datetime,
) -> tuple[RefreshToken, str]:
    secret = new_secret()
    row = RefreshToken(
        family_id=family,
        user_id=user_id,
        token_hash=digest(secret),
        created_at=now,
        expires_at=now + timedelta(days=settings.refresh_token_ttl_days),
    )
    uow.session.add(row)
    return row, secret


def _pair(settings: CabinetSettings, user: User, refresh_secret: str) -> TokenPair:
    return TokenPair(
        access_token=access_token(settings, user.id, user.roles, user.language),
        expires_in=settings.access_token_ttl_seconds,
        refresh_token=refresh_secret,
        refresh_expires_in=settings.refresh_token_ttl_days * 86400,
    )


@router.post(
    "",
    response_model=TokenPair,
    summary="Log in with email and password",
    responses={
        401: {"description": "invalid_credentials"},
        429: {"description": "too many attempts (Retry-After)"},
    },
)
async def login(
    body: LoginRequest,
    runtime: RuntimeDep,
    settings: SettingsDep,
    address: SourceAddress,
    now: NowDep,
) -> TokenPair:
    email_index = email_key(body.email)
    account_key, address_key = f"account:{email_index}", f"address:{address}"
    async with runtime.uow() as uow:
        wait = await throttles.retry_after(uow, [account_key, address_key], now)
        if wait is not None:
            raise throttles.too_many_attempts(wait)
        user = (await uow.session.exec(select(User).where(User.email_index == email_index))).first()
        if not verify_password(None if user is None else user.password_hash, body.password):
            await throttles.count(uow, account_key, ACCOUNT_POLICY, now)
            await throttles.count(uow, address_key, ADDRESS_POLICY, now)
            await uow.commit()
            raise _invalid_credentials()
        assert user is not None
        await uow.session.exec(
            update(LoginThrottle)
            .where(col(LoginThrottle.key) == account_key)  # type: ignore[call-overload]
            .values(failures=0, locked_until=None)
        )
        _, secret = await _new_refresh(uow, user.id, uuid.uuid4(), settings, now)
        await uow.commit()
        return _pair(settings, user, secret)


async def _revoke_family(uow: UnitOfWork, family: uuid.UUID, now: datetime) -> None:
    await uow.session.exec(
        update(RefreshToken)  # type: ignore[call-overload]
        .where(col(RefreshToken.family_id) == family, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )


@router.post(
    "/refresh",
    response_model=TokenPair,
    summary="Trade a refresh token for new tokens (single use)",
    responses=problem_responses(401),
)
async def refresh(
    body: RefreshRequest, runtime: RuntimeDep, settings: SettingsDep, now: NowDep
) -> TokenPair:
    async with runtime.uow() as uow:
        row = (
            await uow.session.exec(
                select(RefreshToken)
                .where(RefreshToken.token_hash == digest(body.refresh_token))
                .with_for_update()
            )
        ).first()
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            raise Unauthorized(_SESSION_ENDED, code="invalid_refresh_token")
        if row.used_at is not None:
            await _revoke_family(uow, row.family_id, now)
            await uow.commit()
            raise Unauthorized(
                Msg(
                    ru="Этот токен обновления уже использован; все связанные с ним сеансы "
                    "завершены. Войдите снова.",
                    en="This refresh token was already used; every session of its family has "
                    "been ended. Log in again.",
                ),
                code="refresh_token_reused",
            )
        user = await uow.session.get(User, row.user_id)
        if user is None:
            raise Unauthorized(_SESSION_ENDED, code="invalid_refresh_token")
        new_row, secret = await _new_refresh(uow, user.id, row.family_id, settings, now)
        row.used_at, row.replaced_by = now, new_row.id
        uow.session.add(row)
        await uow.commit()
        return _pair(settings, user, secret)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End the session the refresh token belongs to",
)
async def logout(body: RefreshRequest, uow: UowDep, now: NowDep) -> Response:
    row = (
        await uow.session.exec(
            select(RefreshToken).where(RefreshToken.token_hash == digest(body.refresh_token))
        )
    ).first()
    if row is not None:
        await _revoke_family(uow, row.family_id, now)
        await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
