"""Registration and email verification.

Nothing here tells a caller whether an address is registered: registering a taken address
creates nothing, tells its owner (a couple of times an hour at most) and answers as for a new
one; a new verification link is sent only for an unverified account, and the answer is the same
either way. Registrations and resends are limited per address asked for and per source address.
A phone number reserves nothing until it is verified.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from contracts.cabinet.v1 import (
    EmailVerificationRequestedV1,
    EmailVerifiedV1,
    RegistrationAttemptedV1,
    UserRegisteredV1,
)
from servicekit.messaging.outbox import UnitOfWork
from servicekit.security.fields import Keyring
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import select

from cabinet.adapters import throttles
from cabinet.adapters.credentials import Passwords
from cabinet.adapters.tables import User
from cabinet.application import leads, throttling
from cabinet.application.links import close_links, issue_link, redeem
from cabinet.config import CabinetSettings
from cabinet.domain.registration import DEFAULT_ROLES
from cabinet.domain.throttle import ATTEMPT_NOTICE_POLICY, allowance, longest_wait

logger = logging.getLogger("cabinet.registration")
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Utm:
    """The UTM values a front end passed with a registration (each optional)."""

    source: str | None = None
    medium: str | None = None
    campaign: str | None = None


@dataclass(frozen=True)
class NewAccount:
    """What a registration gives (validated at the edge: a known zone, an E.164 phone)."""

    email: str
    password: str
    name: str
    phone: str | None
    time_zone: str
    language: Literal["ru", "en"]


async def register(
    uow: UnitOfWork,
    account: NewAccount,
    *,
    source: str,
    settings: CabinetSettings,
    passwords: Passwords,
    keyring: Keyring,
    now: datetime,
    utm: Utm | None = None,
) -> None:
    """Create the account, send the verification link (through notify), publish
    ``cabinet.user.registered``; for an address already in use, create nothing and tell its
    owner. ``source`` is the caller's address (limited apart from the address registered).
    Either way the registration is a touch of the person's lead (found by the email's blind
    index: registering twice is one lead), credited to ``utm``."""
    email_index = throttles.email_key(account.email, keyring)
    await throttling.limit(
        uow,
        {
            f"register:{email_index}": allowance(settings.registrations_per_target_per_hour, HOUR),
            f"register-from:{source}": allowance(settings.registrations_per_address_per_hour, HOUR),
        },
        now,
    )
    await uow.commit()  # the counts stand; no row stays locked while the password is hashed
    password_hash = await passwords.hash(account.password)
    user = User(
        id=uuid.uuid4(),
        email=account.email,
        email_index=keyring.blind_index(account.email, kind="email"),
        email_verified=False,
        name=account.name,
        phone=account.phone,
        phone_index=None
        if account.phone is None
        else keyring.blind_index(account.phone, kind="phone"),
        phone_verified=False,
        password_hash=password_hash,
        time_zone=account.time_zone,
        language=account.language,
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
                email=account.email,
                name=account.name,
                phone=account.phone,
                time_zone=account.time_zone,
                language=account.language,
                roles=list(DEFAULT_ROLES),
                registered_at=now,
            )
        )
        await _send_verification_link(uow, user, settings, now)
    utm = utm or Utm()
    touch = await leads.campaign_touch(
        uow,
        channel="registration",
        at=now,
        source=utm.source,
        medium=utm.medium,
        campaign=utm.campaign,
    )
    contact = leads.Contact(user_id=created, email=account.email, name=account.name)
    await leads.touched(uow, keyring, contact, touch)
    await uow.commit()


async def _tell_owner_of_attempt(uow: UnitOfWork, email_index: str, now: datetime) -> None:
    """Someone registered with an address that has an account: its owner learns of it (by
    mail, through notify), a couple of times an hour at most."""
    owner = (await uow.session.exec(select(User).where(User.email_index == email_index))).first()
    if owner is None:
        return
    key = f"attempt:{email_index}"
    if longest_wait(await throttles.states(uow, [key]), now) is not None:
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


async def resend_verification(
    uow: UnitOfWork,
    email: str,
    *,
    source: str,
    settings: CabinetSettings,
    keyring: Keyring,
    now: datetime,
) -> None:
    """A new link for an unverified account; earlier links stop working. Nothing for an unknown
    or a verified address, after the same limit: per address asked for and per caller."""
    email_index = throttles.email_key(email, keyring)
    await throttling.limit(
        uow,
        {
            f"resend:{email_index}": allowance(settings.verification_resends_per_hour, HOUR),
            f"resend-from:{source}": allowance(
                settings.verification_resends_per_address_per_hour, HOUR
            ),
        },
        now,
    )
    user = (await uow.session.exec(select(User).where(User.email_index == email_index))).first()
    if user is not None and not user.email_verified:
        await close_links(uow, user.id, "verify_email", now)
        await _send_verification_link(uow, user, settings, now)
    await uow.commit()


async def verify_email(uow: UnitOfWork, token: str, *, now: datetime) -> None:
    """Confirm the address of the account a verification link belongs to (once; publishes
    ``cabinet.user.email_verified``)."""
    user = await redeem(uow, token, "verify_email", now)
    if not user.email_verified:
        user.email_verified = True
        uow.session.add(user)
        uow.emit(EmailVerifiedV1(user_id=user.id, email=user.email, verified_at=now))
    await uow.commit()
