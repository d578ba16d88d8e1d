"""Sessions: log in, refresh (rotating, with reuse detection), log out.

* Login answers the same ``invalid_credentials`` for an unknown email and a wrong password, and
  takes the same time (a dummy hash is verified when there is no account).
* Failures are counted per account (by the email's blind index, so unknown emails are throttled
  alike) and per source address; past the allowance the key is locked for a growing time and the
  answer is 429 with ``Retry-After``.
* A refresh token is single-use: each refresh returns a new one in the same family. Presenting a
  used one again means it was stolen (or replayed): the whole family is revoked.
* The family is the session (``sid`` in its access tokens): it ends ``SESSION_MAX_DAYS`` after
  the login however often it is refreshed, after ``REFRESH_TOKEN_TTL_DAYS`` unused, or when it
  is revoked; a revocation reaches every service within seconds (cabinet.application.sessions).
* Passwords are checked in the hashing pool, outside any database transaction.
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
from cabinet.application.sessions import end_sessions
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
    family_expires_at: datetime,
    settings: CabinetSettings,
    now: datetime,
) -> tuple[RefreshToken, str]:
    secret = new_secret()
    row = RefreshToken(
        family_id=family,
        user_id=user_id,
        token_hash=digest(secret),
        created_at=now,
        expires_at=min(now + timedelta(days=settings.refresh_token_ttl_days), family_expires_at),
        family_expires_at=family_expires_at,
    )
    uow.session.add(row)
    return row, secret


def _pair(settings: CabinetSettings, user: User, refresh: RefreshToken, secret: str) -> TokenPair:
    return TokenPair(
        access_token=access_token(
            settings, user.id, user.roles, user.language, session_id=refresh.family_id
        ),
        expires_in=settings.access_token_ttl_seconds,
        refresh_token=secret,
        refresh_expires_in=max(0, int((refresh.expires_at - refresh.created_at).total_seconds())),
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
        user_id = None if user is None else user.id
        password_hash = None if user is None else user.password_hash
    # No connection is held while the password is checked (in the hashing pool).
    valid = await verify_password(password_hash, body.password)
    async with runtime.uow() as uow:
        if not valid:
            await throttles.count(uow, account_key, ACCOUNT_POLICY, now)
            await throttles.count(uow, address_key, ADDRESS_POLICY, now)
            await uow.commit()
            raise _invalid_credentials()
        user = None if user_id is None else await uow.session.get(User, user_id)
        if user is None:
            raise _invalid_credentials()
        await uow.session.exec(
            update(LoginThrottle)
            .where(col(LoginThrottle.key) == account_key)
            .values(failures=0, locked_until=None)
        )
        family_ends = now + timedelta(days=settings.session_max_days)
        row, secret = await _new_refresh(uow, user.id, uuid.uuid4(), family_ends, settings, now)
        await uow.commit()
        return _pair(settings, user, row, secret)


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
        if (
            row is None
            or row.revoked_at is not None
            or row.expires_at <= now
            or row.family_expires_at <= now
        ):
            raise Unauthorized(_SESSION_ENDED, code="invalid_refresh_token")
        if row.used_at is not None:
            await end_sessions(
                uow, row.user_id, "refresh_token_reused", now, families=[row.family_id]
            )
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
        new_row, secret = await _new_refresh(
            uow, user.id, row.family_id, row.family_expires_at, settings, now
        )
        row.used_at, row.replaced_by = now, new_row.id
        uow.session.add(row)
        await uow.commit()
        return _pair(settings, user, new_row, secret)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End the session the refresh token belongs to (its access tokens stop working in "
    "every service within seconds)",
)
async def logout(body: RefreshRequest, uow: UowDep, now: NowDep) -> Response:
    row = (
        await uow.session.exec(
            select(RefreshToken).where(RefreshToken.token_hash == digest(body.refresh_token))
        )
    ).first()
    if row is not None:
        await end_sessions(uow, row.user_id, "logout", now, families=[row.family_id])
        await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
