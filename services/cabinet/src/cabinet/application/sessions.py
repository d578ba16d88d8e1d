"""Sessions: log in, refresh (rotating, with reuse detection), log out, end sessions early.

* Logging in refuses an unknown email and a wrong password alike (``InvalidCredentials``) after
  the same work (a dummy hash is verified when there is no account).
* Failures are counted per account (by the email's blind index, so unknown emails are throttled
  alike) and per source address; past the allowance the key is locked for a growing time.
* A refresh token is single-use: each refresh returns a new one in the same family. Presenting a
  used one again means it was stolen (or replayed): the whole family is revoked.
* The family is the session (``sid`` in its access tokens): it ends ``SESSION_MAX_DAYS`` after
  the login however often it is refreshed, after ``REFRESH_TOKEN_TTL_DAYS`` unused, or when it
  is revoked.
* Ending sessions early (logout, a reused refresh token, a password change or reset, a role
  removed) revokes their refresh tokens and publishes ``cabinet.sessions.revoked``, which every
  service's token verifier reads within seconds (servicekit ``security.revocation``): the access
  tokens already handed out stop working everywhere, not after their 15 minutes.
* Passwords are checked in the hashing pool, outside any database transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.cabinet.v1 import SessionEndReason, SessionsRevokedV1
from servicekit.messaging.outbox import UnitOfWork, UnitOfWorkFactory
from servicekit.security.fields import Keyring
from sqlalchemy import update
from sqlmodel import col, select

from cabinet.adapters import throttles
from cabinet.adapters.credentials import Passwords, access_token, digest, new_secret
from cabinet.adapters.tables import RefreshToken, User
from cabinet.application import throttling
from cabinet.config import CabinetSettings
from cabinet.domain import sessions as rules
from cabinet.domain.sessions import InvalidCredentials, RefreshTokenReused, SessionEnded
from cabinet.domain.throttle import ACCOUNT_POLICY, ADDRESS_POLICY


@dataclass(frozen=True)
class IssuedTokens:
    """An access token for the APIs and a single-use refresh token for the next one."""

    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


async def log_in(
    uows: UnitOfWorkFactory,
    email: str,
    password: str,
    *,
    source: str,
    settings: CabinetSettings,
    passwords: Passwords,
    keyring: Keyring,
    now: datetime,
) -> IssuedTokens:
    """A new session for the account of ``email`` when ``password`` is its own. ``uows``:
    no connection is held while the password is checked."""
    email_index = throttles.email_key(email, keyring)
    account_key, address_key = f"account:{email_index}", f"address:{source}"
    async with uows() as uow:
        await throttling.check(uow, [account_key, address_key], now)
        user = (await uow.session.exec(select(User).where(User.email_index == email_index))).first()
        user_id = None if user is None else user.id
        password_hash = None if user is None else user.password_hash
    valid = await passwords.verify(password_hash, password)
    # A hash made with older parameters is replaced now that the password is known to be right
    # (computed before the transaction: no connection is held while hashing).
    rehashed = (
        await passwords.hash(password)
        if valid and password_hash is not None and passwords.needs_rehash(password_hash)
        else None
    )
    async with uows() as uow:
        if not valid:
            await throttles.count(uow, account_key, ACCOUNT_POLICY, now)
            await throttles.count(uow, address_key, ADDRESS_POLICY, now)
            await uow.commit()
            raise InvalidCredentials()
        user = None if user_id is None else await uow.session.get(User, user_id)
        if user is None:
            raise InvalidCredentials()
        await throttles.clear(uow, account_key)
        if rehashed is not None and user.password_hash == password_hash:
            user.password_hash = rehashed
            uow.session.add(user)
        family_ends = now + timedelta(days=settings.session_max_days)
        row, secret = _new_refresh(uow, user.id, uuid.uuid4(), family_ends, settings, now)
        await uow.commit()
        return _issued(settings, user, row, secret)


async def refresh(
    uow: UnitOfWork, refresh_token: str, *, settings: CabinetSettings, now: datetime
) -> IssuedTokens:
    """New tokens for a refresh token, used up by this; a token used before ends its whole
    family (:class:`RefreshTokenReused`)."""
    row = (
        await uow.session.exec(
            select(RefreshToken)
            .where(RefreshToken.token_hash == digest(refresh_token))
            .with_for_update()
        )
    ).first()
    verdict = rules.verdict(
        None
        if row is None
        else rules.RefreshState(row.expires_at, row.family_expires_at, row.used_at, row.revoked_at),
        now,
    )
    if row is None or verdict == "ended":
        raise SessionEnded()
    if verdict == "reused":
        await end_sessions(uow, row.user_id, "refresh_token_reused", now, families=[row.family_id])
        await uow.commit()
        raise RefreshTokenReused()
    user = await uow.session.get(User, row.user_id)
    if user is None:
        raise SessionEnded()
    new_row, secret = _new_refresh(
        uow, user.id, row.family_id, row.family_expires_at, settings, now
    )
    row.used_at, row.replaced_by = now, new_row.id
    uow.session.add(row)
    await uow.commit()
    return _issued(settings, user, new_row, secret)


async def log_out(uow: UnitOfWork, refresh_token: str, *, now: datetime) -> None:
    """End the session ``refresh_token`` belongs to (nothing for an unknown token)."""
    row = (
        await uow.session.exec(
            select(RefreshToken).where(RefreshToken.token_hash == digest(refresh_token))
        )
    ).first()
    if row is not None:
        await end_sessions(uow, row.user_id, "logout", now, families=[row.family_id])
        await uow.commit()


async def end_sessions(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    reason: SessionEndReason,
    now: datetime,
    *,
    families: Sequence[uuid.UUID] | None = None,
) -> list[uuid.UUID]:
    """Revoke ``families`` of ``user_id`` (None: every open session of the user) and publish
    the revocation; returns the sessions that were still open."""
    conditions = [col(RefreshToken.user_id) == user_id, col(RefreshToken.revoked_at).is_(None)]
    if families is not None:
        conditions.append(col(RefreshToken.family_id).in_(list(families)))
    result = await uow.session.exec(
        update(RefreshToken)  # type: ignore[call-overload]
        .where(*conditions)
        .values(revoked_at=now)
        .returning(RefreshToken.family_id)
    )
    ended = sorted({row[0] for row in result.all()})
    if ended:
        uow.emit(
            SessionsRevokedV1(user_id=user_id, session_ids=ended, reason=reason, revoked_at=now)
        )
    return ended


def _new_refresh(
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
        expires_at=rules.refresh_expiry(
            now, timedelta(days=settings.refresh_token_ttl_days), family_expires_at
        ),
        family_expires_at=family_expires_at,
    )
    uow.session.add(row)
    return row, secret


def _issued(
    settings: CabinetSettings, user: User, refresh: RefreshToken, secret: str
) -> IssuedTokens:
    return IssuedTokens(
        access_token=access_token(
            settings, user.id, user.roles, user.language, session_id=refresh.family_id
        ),
        expires_in=settings.access_token_ttl_seconds,
        refresh_token=secret,
        refresh_expires_in=rules.lifetime_seconds(refresh.created_at, refresh.expires_at),
    )
