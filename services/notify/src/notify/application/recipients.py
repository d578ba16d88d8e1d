"""What cabinet tells notify of its users: contacts, roles and consents (kept as notify's own
copy), and the account mail it asks notify to send."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from contracts.cabinet.v1 import (
    ConsentGrantedV1,
    ConsentWithdrawnV1,
    DataExportCompletedV1,
    EmailVerificationRequestedV1,
    PasswordResetRequestedV1,
    RegistrationAttemptedV1,
    UserContactChangedV1,
    UserRegisteredV1,
    UserRolesChangedV1,
)
from contracts.envelope import EventEnvelope
from servicekit.errors import DomainError
from servicekit.messaging.outbox import UnitOfWork
from servicekit.security.fields import blind_index

from notify.adapters import people
from notify.adapters.tables import Consent, Recipient
from notify.application.planning import plan_notice, plan_to_address
from notify.application.ports import NotifyPorts
from notify.domain import rules


class NoSuchRecipient(DomainError):
    """notify knows no user with this id (cabinet's registration has not arrived)."""

    code = "not_found"


async def _keep_contacts(
    uow: UnitOfWork,
    event: EventEnvelope[Any],
    p: UserRegisteredV1 | UserContactChangedV1,
) -> Recipient | None:
    """Replace notify's copy with the event's full state, unless a newer one arrived."""
    recipient = await uow.session.get(Recipient, p.user_id)
    if recipient is None:
        recipient = Recipient(
            user_id=p.user_id,
            email=p.email,
            email_index="",
            name=p.name,
            time_zone=p.time_zone,
            language=p.language,
            roles=[],
            updated_at=event.occurred_at,
        )
    elif recipient.updated_at > event.occurred_at:
        return None  # a newer state already arrived
    recipient.email = p.email
    recipient.email_index = blind_index(p.email, kind="email")
    recipient.name = p.name
    recipient.phone = p.phone
    recipient.time_zone = p.time_zone
    recipient.language = p.language
    if isinstance(p, UserRegisteredV1):
        recipient.roles = list(p.roles)
    recipient.updated_at = event.occurred_at
    uow.session.add(recipient)
    return recipient


async def user_registered(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[UserRegisteredV1]
) -> None:
    """Keep the new user's contacts and welcome them."""
    if await _keep_contacts(uow, event, event.payload) is not None:
        await uow.session.flush()
        await plan_notice(uow, notify, rules.welcome(event.payload), source=event)


async def contact_changed(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[UserContactChangedV1]
) -> None:
    """Replace the copy of contacts, zone and language."""
    await _keep_contacts(uow, event, event.payload)


async def roles_changed(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[UserRolesChangedV1]
) -> None:
    """Who is an admin or a specialist (alerts go to them)."""
    recipient = await uow.session.get(Recipient, event.payload.user_id)
    if recipient is not None:
        recipient.roles = list(event.payload.roles)
        uow.session.add(recipient)


async def _keep_consent(
    uow: UnitOfWork, user_id: uuid.UUID, purpose: str, granted: bool, at: datetime
) -> None:
    consent = await uow.session.get(Consent, (user_id, purpose))
    if consent is None:
        consent = Consent(user_id=user_id, purpose=purpose, granted=granted, changed_at=at)
    elif consent.changed_at > at:
        return  # an older event arriving late
    consent.granted = granted
    consent.changed_at = at
    uow.session.add(consent)


async def consent_granted(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[ConsentGrantedV1]
) -> None:
    """A granted purpose (marketing messages: non-essential mail may go)."""
    p = event.payload
    await _keep_consent(uow, p.user_id, p.purpose, True, p.granted_at)


async def consent_withdrawn(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[ConsentWithdrawnV1]
) -> None:
    """A withdrawn purpose: from now on no non-essential messages (even those queued)."""
    p = event.payload
    await _keep_consent(uow, p.user_id, p.purpose, False, p.withdrawn_at)


async def email_verification_requested(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[EmailVerificationRequestedV1]
) -> None:
    """Mail the one-time verification link (to the address in the event)."""
    p = event.payload
    notice = rules.email_verification(p)
    await plan_to_address(uow, notify, notice, email=p.email, language=p.language, source=event)


async def password_reset_requested(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[PasswordResetRequestedV1]
) -> None:
    """Mail the one-time password reset link."""
    p = event.payload
    notice = rules.password_reset(p)
    await plan_to_address(uow, notify, notice, email=p.email, language=p.language, source=event)


async def registration_attempted(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[RegistrationAttemptedV1]
) -> None:
    """Tell an address's owner that someone tried to register with it."""
    p = event.payload
    notice = rules.registration_attempted(p)
    await plan_to_address(uow, notify, notice, email=p.email, language=p.language, source=event)


async def data_export_completed(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[DataExportCompletedV1]
) -> None:
    """Tell the user their export can be downloaded."""
    await plan_notice(uow, notify, rules.data_export_ready(event.payload), source=event)


async def recipient(uow: UnitOfWork, user_id: uuid.UUID) -> Recipient:
    """notify's copy of a user's contacts."""
    found = await uow.session.get(Recipient, user_id)
    if found is None:
        raise NoSuchRecipient
    return found


async def recipients_with_email(uow: UnitOfWork, email: str) -> list[Recipient]:
    """Whom notify knows with this address."""
    return await people.recipients_with_email(uow.session, email)
