"""Events booking consumes: cabinet's users and consents (kept as booking's own copies), and the
buttons users tap in Telegram (notify's ``telegram.action_requested``).

Handlers only touch the database: what must reach YooKassa afterwards (a payment for a hold
taken from Telegram, a refund) is a timer due now.
"""

from __future__ import annotations

from datetime import datetime

from contracts.booking.v1 import ActionRejectedV1
from contracts.cabinet.v1 import (
    ConsentDocumentPublishedV1,
    ConsentGrantedV1,
    ConsentWithdrawnV1,
    EmailVerifiedV1,
    SpecialistProfileUpdatedV1,
    UserContactChangedV1,
    UserRegisteredV1,
    UserRolesChangedV1,
)
from contracts.envelope import EventEnvelope
from contracts.notify.v1 import TelegramActionRequestedV1
from servicekit.http.problems import Problem
from servicekit.messaging.consumer import EventConsumer, PermanentFailure
from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import schedule

from booking.adapters.tables import Consent, ConsentDocument, Specialist
from booking.application import appointments, people, waitlist
from booking.application.payments import PAYMENT_CREATE
from booking.application.practice import practice
from booking.domain.schedule import zone_named

user_events = EventConsumer("booking", "user-events")
consent_events = EventConsumer("booking", "consents")
telegram_actions = EventConsumer("booking", "telegram-actions")


@user_events.handles(UserRegisteredV1)
async def add_client(uow: UnitOfWork, event: EventEnvelope[UserRegisteredV1]) -> None:
    """A registered user: keep what booking needs to know of them (contacts, zone, whether
    their email is verified, roles)."""
    p = event.payload
    await people.remember_user(
        uow,
        p.user_id,
        at=p.registered_at,
        name=p.name,
        email=p.email,
        phone=p.phone,
        keep_phone=False,
        time_zone=p.time_zone,
        email_verified=p.email_verified,
        roles=p.roles,
    )


@user_events.handles(UserContactChangedV1)
async def update_client(uow: UnitOfWork, event: EventEnvelope[UserContactChangedV1]) -> None:
    """Replace booking's copy with the full current state the event carries (a new address is
    unverified until cabinet says otherwise)."""
    p = event.payload
    await people.remember_user(
        uow,
        p.user_id,
        at=event.occurred_at,
        name=p.name,
        email=p.email,
        phone=p.phone,
        keep_phone=False,
        time_zone=p.time_zone,
        email_verified=p.email_verified,
    )


@user_events.handles(EmailVerifiedV1)
async def email_verified(uow: UnitOfWork, event: EventEnvelope[EmailVerifiedV1]) -> None:
    """The user confirmed their address: from now on they may book and submit forms."""
    p = event.payload
    await people.remember_user(uow, p.user_id, at=event.occurred_at, email_verified=True)


@user_events.handles(SpecialistProfileUpdatedV1)
async def specialist_profile(
    uow: UnitOfWork, event: EventEnvelope[SpecialistProfileUpdatedV1]
) -> None:
    """cabinet owns a specialist's public profile (name, bio, photo, active); booking keeps it
    beside what it owns itself: the services given, the hours and the schedule's zone.

    The first profile creates the specialist (cabinet writes one only for a user holding the
    role), in the profile's zone, with no working hours (no slots) and no services until they
    or an admin set them. Later profiles never move the schedule's zone, and the profile's
    ``service_ids`` are not booking's to take: services are attached in booking, where who
    owns them is known. A user without the role stays inactive.
    """
    p = event.payload
    try:
        zone_named(p.time_zone)
    except ValueError as exc:
        raise PermanentFailure(f"unknown time zone {p.time_zone!r}") from exc
    now = uow.now()
    user = await people.known_user(uow.session, p.specialist_id)
    specialist = await uow.session.get(Specialist, p.specialist_id, with_for_update=True)
    if specialist is None:
        specialist = Specialist(
            user_id=p.specialist_id,
            display_name=p.display_name,
            time_zone=p.time_zone,
            weekly_hours=[],
            service_ids=[],
            active=p.active,
            created_at=now,
            updated_at=now,
            version=0,
        )
        uow.session.add(specialist)
    specialist.display_name, specialist.bio = p.display_name, p.bio
    specialist.photo_url = p.photo_url
    specialist.active = p.active and (user is None or user.is_specialist)
    specialist.updated_at = now
    specialist.version += 1


@user_events.handles(UserRolesChangedV1)
async def roles_changed(uow: UnitOfWork, event: EventEnvelope[UserRolesChangedV1]) -> None:
    """Someone who is no longer a specialist takes no new bookings and leaves the catalogue;
    given the role again, they are back."""
    p = event.payload
    await people.remember_user(uow, p.user_id, at=event.occurred_at, roles=p.roles)


async def _record_consent(
    uow: UnitOfWork,
    payload: ConsentGrantedV1 | ConsentWithdrawnV1,
    *,
    granted: bool,
    at: datetime,
) -> None:
    consent = await uow.session.get(
        Consent, (payload.user_id, payload.purpose), with_for_update=True
    )
    if consent is not None and consent.changed_at > at:
        return  # an older word arriving late does not override a newer one
    if consent is None:
        consent = Consent(
            user_id=payload.user_id,
            purpose=payload.purpose,
            granted=granted,
            document_id=payload.document_id,
            document_version=payload.document_version,
            changed_at=at,
            consent_id=payload.consent_id,
        )
        uow.session.add(consent)
        return
    consent.granted = granted
    consent.document_id = payload.document_id
    consent.document_version = payload.document_version
    consent.changed_at = at
    consent.consent_id = payload.consent_id


@consent_events.handles(ConsentGrantedV1)
async def consent_granted(uow: UnitOfWork, event: EventEnvelope[ConsentGrantedV1]) -> None:
    """A user consented to a purpose."""
    await _record_consent(uow, event.payload, granted=True, at=event.payload.granted_at)


@consent_events.handles(ConsentWithdrawnV1)
async def consent_withdrawn(uow: UnitOfWork, event: EventEnvelope[ConsentWithdrawnV1]) -> None:
    """A user withdrew a consent: P2 reads and writes stop at once."""
    await _record_consent(uow, event.payload, granted=False, at=event.payload.withdrawn_at)


@consent_events.handles(ConsentDocumentPublishedV1)
async def document_published(
    uow: UnitOfWork, event: EventEnvelope[ConsentDocumentPublishedV1]
) -> None:
    """A new consent document version (it may make older grants stop counting)."""
    p = event.payload
    document = await uow.session.get(ConsentDocument, p.document_id)
    if document is None:
        uow.session.add(
            ConsentDocument(
                document_id=p.document_id,
                purpose=p.purpose,
                version=p.version,
                effective_from=p.effective_from,
                requires_reconsent=p.requires_reconsent,
            )
        )
        return
    document.purpose, document.version = p.purpose, p.version
    document.effective_from, document.requires_reconsent = p.effective_from, p.requires_reconsent


# -- Telegram buttons -----------------------------------------------------------------------

#: Problem codes of the use cases → the reasons notify understands.
_REJECTION = {
    "not_found": "not_found",
    "offer_expired": "offer_expired",
    "offer_accepted": "already_done",
    "too_late": "too_late",
    "notice_too_short": "too_late",
    "slot_taken": "slot_taken",
    "day_full": "slot_taken",
    "time_off": "slot_taken",
    "outside_working_hours": "slot_taken",
    "beyond_horizon": "slot_taken",
}


class _AlreadyDone(Problem):
    code = "already_done"


async def _act(uow: UnitOfWork, p: TelegramActionRequestedV1) -> None:
    now = uow.now()
    if p.action == "accept_waitlist_offer":
        assert p.waitlist_offer_id is not None
        _, payment = await waitlist.accept(
            uow, p.waitlist_offer_id, client_id=p.user_id, now=now, hold_for=practice.hold_for
        )
        if payment is not None:
            await schedule(
                uow.session,
                kind=PAYMENT_CREATE,
                key=str(payment.id),
                due_at=now,
                payload={"payment_id": str(payment.id)},
            )
        return
    assert p.appointment_id is not None
    appointment = await appointments.lock(uow.session, p.appointment_id)
    if appointment is None or appointment.client_id != p.user_id:
        raise Problem("no such appointment", code="not_found")
    if p.action == "confirm_attendance":
        if not await appointments.confirm_attendance(uow, appointment, via="telegram", now=now):
            raise _AlreadyDone("attendance already confirmed")
        return
    if appointment.status == "cancelled":
        raise _AlreadyDone("already cancelled")
    await appointments.cancel(
        uow,
        appointment,
        actor=appointments.Actor("client", p.user_id),
        reason=None,
        now=now,
    )


@telegram_actions.handles(TelegramActionRequestedV1)
async def telegram_action(uow: UnitOfWork, event: EventEnvelope[TelegramActionRequestedV1]) -> None:
    """Apply a tap; a refusal is ``booking.action.rejected`` (the outcome events carry this
    event's id as their causation_id, so notify can match them to the message)."""
    p = event.payload
    try:
        # A savepoint: a refused action leaves nothing behind (state or events), even inside a
        # micro-batch.
        async with uow.savepoint():
            await _act(uow, p)
    except Problem as exc:
        reason = _REJECTION.get(exc.code, "already_done" if exc.code == "already_done" else None)
        uow.emit(
            ActionRejectedV1(
                action_id=p.action_id,
                action=p.action,
                user_id=p.user_id,
                appointment_id=p.appointment_id,
                waitlist_offer_id=p.waitlist_offer_id,
                reason=reason or "not_allowed",
            )
        )
