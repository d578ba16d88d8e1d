"""An account as its owner keeps it (contacts, zone, language, password) and as an admin finds
it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from contracts.cabinet.v1 import UserContactChangedV1
from servicekit.db.faults import is_unique_violation
from servicekit.errors import DomainError
from servicekit.messaging.outbox import UnitOfWork
from servicekit.security.fields import Keyring
from sqlmodel import select

from cabinet.adapters.credentials import Passwords
from cabinet.adapters.tables import User
from cabinet.application.sessions import end_sessions
from cabinet.domain.accounts import Contacts, NoAccount, WrongPassword, contact_changes

#: The unique index on a verified phone's blind index (migration 0004).
VERIFIED_PHONE = "users_verified_phone"


class PhoneUnavailable(DomainError):
    """The number is verified on another account."""

    code = "phone_unavailable"


async def account_of(uow: UnitOfWork, user_id: uuid.UUID) -> User:
    """The account of ``user_id`` (:class:`NoAccount` when there is none)."""
    user = await uow.session.get(User, user_id)
    if user is None or user.erased_at is not None:
        raise NoAccount()
    return user


async def change_contacts(
    uow: UnitOfWork, user: User, sent: Mapping[str, str | None], *, keyring: Keyring
) -> User:
    """Apply the fields the owner sent that change their account and publish the full new
    state (``cabinet.user.contact_changed``); a new phone number is unverified and reserves
    nothing until it is verified."""
    changes = contact_changes(Contacts(user.name, user.phone, user.time_zone, user.language), sent)
    if not changes:
        return user
    for field, value in changes.items():
        setattr(user, field, value)
    if "phone" in changes:
        user.phone_index = (
            None if user.phone is None else keyring.blind_index(user.phone, kind="phone")
        )
        user.phone_verified = False
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
            changed_fields=list(changes),
        )
    )
    try:
        await uow.commit()
    except Exception as exc:
        if is_unique_violation(exc, VERIFIED_PHONE):
            raise PhoneUnavailable() from exc
        raise
    return user


async def change_password(
    uow: UnitOfWork,
    user: User,
    current_password: str,
    new_password: str,
    *,
    passwords: Passwords,
    now: datetime,
) -> None:
    """Set a new password when the current one is right (:class:`WrongPassword`); every
    session of the account ends."""
    await uow.commit()  # no connection is held while the passwords are hashed
    if not await passwords.verify(user.password_hash, current_password):
        raise WrongPassword()
    user.password_hash = await passwords.hash(new_password)
    uow.session.add(user)
    await end_sessions(uow, user.id, "password_changed", now)
    await uow.commit()


async def find_by_email(uow: UnitOfWork, email: str, *, keyring: Keyring) -> list[User]:
    """The accounts of ``email`` (one at most: an address has one account)."""
    index = keyring.blind_index(email, kind="email")
    return list((await uow.session.exec(select(User).where(User.email_index == index))).all())
