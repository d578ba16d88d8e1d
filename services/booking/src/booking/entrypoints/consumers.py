"""Events booking consumes: cabinet's users and consents (kept as booking's own copies), and the
buttons users tap in Telegram (notify's ``telegram.action_requested``).

:func:`booking_consumers` builds them for one runtime (the Telegram actions run by its
:class:`~booking.application.practice.Practice`). Handlers only touch the database: what must
reach YooKassa afterwards (a payment for a hold taken from Telegram, a refund) is a call after
the commit. A refused tap becomes ``booking.action.rejected`` with the reason notify shows, from
:data:`REJECTIONS`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Literal

from contracts.booking.v1 import (
    ActionRejectedV1,
    AppointmentCancelledV1,
    AppointmentConfirmedV1,
    AppointmentRescheduledV1,
)
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
from contracts.notify.v1 import CalendarDecisionRequestedV1, TelegramActionRequestedV1
from servicekit.data_rights import PartLinks, skip_erased_users
from servicekit.errors import DomainError, ErrorTable
from servicekit.messaging.consumer import EventConsumer, PermanentFailure
from servicekit.messaging.outbox import UnitOfWork

from booking.application import actions, calendar, consents, data_rights, people
from booking.application.actions import AlreadyDone
from booking.application.appointments import AppointmentNotFound, TooLate
from booking.application.bookings import ClientUnknown
from booking.application.calendar import NothingToDecide
from booking.application.catalog import ServiceNotFound, SpecialistNotGiving
from booking.application.practice import Practice
from booking.application.waitlist import OfferAccepted, OfferExpired, OfferNotFound
from booking.domain.appointments import InvalidTransition
from booking.domain.catalog import DurationNotOffered
from booking.domain.people import EmailNotVerified, OwnSlot
from booking.domain.schedule import zone_named
from booking.domain.slots import (
    BeyondHorizon,
    DayFull,
    DuringTimeOff,
    NoticeTooShort,
    OutsideWorkingHours,
    SlotTaken,
)

logger = logging.getLogger("booking.consumers")

#: The reasons notify knows (``booking.action.rejected``).
Rejection = Literal[
    "not_found", "not_allowed", "already_done", "too_late", "slot_taken", "offer_expired"
]

#: What a client's refused tap reads as in Telegram (the reasons notify knows).
REJECTIONS: ErrorTable[Rejection] = ErrorTable(
    {
        AppointmentNotFound: "not_found",
        OfferNotFound: "not_found",
        ServiceNotFound: "not_found",  # gone since the offer was made
        SpecialistNotGiving: "not_found",
        OfferExpired: "offer_expired",
        OfferAccepted: "already_done",
        AlreadyDone: "already_done",
        NothingToDecide: "already_done",
        TooLate: "too_late",
        NoticeTooShort: "too_late",
        SlotTaken: "slot_taken",
        DayFull: "slot_taken",
        DuringTimeOff: "slot_taken",
        OutsideWorkingHours: "slot_taken",
        BeyondHorizon: "slot_taken",
        InvalidTransition: "not_allowed",
        EmailNotVerified: "not_allowed",
        OwnSlot: "not_allowed",
        ClientUnknown: "not_allowed",
        DurationNotOffered: "not_allowed",
    }
)


def booking_consumers(
    practice: Practice, links: PartLinks | None = None
) -> tuple[EventConsumer, ...]:
    """booking's consumers, new for one runtime (which sets their delivery limit); ``links``:
    where its parts of data exports are served (the development gateway by default)."""
    user_events = EventConsumer("booking", "user-events")
    consent_events = EventConsumer("booking", "consents")
    telegram_actions = EventConsumer("booking", "telegram-actions")
    calendar_pushes = EventConsumer("booking", "calendar-pushes")
    calendar_pushes.handles(AppointmentConfirmedV1)(push_to_calendar)
    calendar_pushes.handles(AppointmentRescheduledV1)(push_to_calendar)
    calendar_pushes.handles(AppointmentCancelledV1)(push_to_calendar)
    user_events.handles(UserRegisteredV1)(add_client)
    user_events.handles(UserContactChangedV1)(update_client)
    user_events.handles(EmailVerifiedV1)(email_verified)
    user_events.handles(SpecialistProfileUpdatedV1)(specialist_profile)
    user_events.handles(UserRolesChangedV1)(roles_changed)
    consent_events.handles(ConsentGrantedV1)(consent_granted)
    consent_events.handles(ConsentWithdrawnV1)(consent_withdrawn)
    consent_events.handles(ConsentDocumentPublishedV1)(document_published)

    @telegram_actions.handles(TelegramActionRequestedV1)
    async def telegram_action(
        uow: UnitOfWork, event: EventEnvelope[TelegramActionRequestedV1]
    ) -> None:
        """Apply a tap; a refusal is ``booking.action.rejected`` (the outcome events carry
        this event's id as their causation_id, so notify can match them to the message)."""
        await act_on_tap(uow, practice, event.payload)

    @telegram_actions.handles(CalendarDecisionRequestedV1)
    async def calendar_decision(
        uow: UnitOfWork, event: EventEnvelope[CalendarDecisionRequestedV1]
    ) -> None:
        """The specialist's answer about an event they changed in Google Calendar. A refusal
        (not theirs, answered already) has no ``booking.action.rejected`` form: it is logged."""
        p = event.payload
        try:
            async with uow.savepoint():
                await actions.calendar_decision(
                    uow,
                    practice,
                    specialist_id=p.user_id,
                    appointment_id=p.appointment_id,
                    keep=p.decision == "keep",
                    now=uow.now(),
                )
        except DomainError as exc:
            logger.warning(
                "calendar decision refused",
                extra={"action_id": str(p.action_id), "code": exc.code},
            )

    # An event about an erased user recreates nothing (servicekit.data_rights). The calendar
    # pushes are booking's own appointment events: the specialist's calendar follows them even
    # when the client was erased (erasure cancels what was upcoming).
    for consumer in (user_events, consent_events, telegram_actions):
        skip_erased_users(consumer)
    answers = data_rights.consumer(
        links or PartLinks("http://127.0.0.1:8080", "booking", timedelta(days=1))
    )
    return user_events, consent_events, telegram_actions, calendar_pushes, answers


async def push_to_calendar(
    uow: UnitOfWork,
    event: EventEnvelope[AppointmentConfirmedV1]
    | EventEnvelope[AppointmentRescheduledV1]
    | EventEnvelope[AppointmentCancelledV1],
) -> None:
    """booking's own appointment events: the specialist's Google Calendar follows (a timer
    per appointment makes the call after the commit; nothing if they have no calendar)."""
    p = event.payload
    await calendar.appointment_changed(uow, p.appointment_id, p.specialist_id, uow.now())


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


async def email_verified(uow: UnitOfWork, event: EventEnvelope[EmailVerifiedV1]) -> None:
    """The user confirmed their address: from now on they may book and submit forms."""
    p = event.payload
    await people.remember_user(uow, p.user_id, at=event.occurred_at, email_verified=True)


async def specialist_profile(
    uow: UnitOfWork, event: EventEnvelope[SpecialistProfileUpdatedV1]
) -> None:
    """cabinet's profile of a specialist, kept beside what booking owns (an event naming an
    unknown time zone is malformed: it goes to the DLQ)."""
    p = event.payload
    try:
        zone_named(p.time_zone)
    except ValueError as exc:
        raise PermanentFailure(f"unknown time zone {p.time_zone!r}") from exc
    await people.remember_specialist_profile(
        uow,
        p.specialist_id,
        display_name=p.display_name,
        bio=p.bio,
        photo_url=p.photo_url,
        time_zone=p.time_zone,
        active=p.active,
    )


async def roles_changed(uow: UnitOfWork, event: EventEnvelope[UserRolesChangedV1]) -> None:
    """Someone who is no longer a specialist takes no new bookings and leaves the catalogue;
    given the role again, they are back."""
    p = event.payload
    await people.remember_user(uow, p.user_id, at=event.occurred_at, roles=p.roles)


async def consent_granted(uow: UnitOfWork, event: EventEnvelope[ConsentGrantedV1]) -> None:
    """A user consented to a purpose."""
    await consents.record_consent(uow, event.payload, granted=True, at=event.payload.granted_at)


async def consent_withdrawn(uow: UnitOfWork, event: EventEnvelope[ConsentWithdrawnV1]) -> None:
    """A user withdrew a consent: P2 reads and writes stop at once."""
    await consents.record_consent(uow, event.payload, granted=False, at=event.payload.withdrawn_at)


async def document_published(
    uow: UnitOfWork, event: EventEnvelope[ConsentDocumentPublishedV1]
) -> None:
    """A new consent document version (it may make older grants stop counting)."""
    p = event.payload
    await consents.remember_document(
        uow,
        document_id=p.document_id,
        purpose=p.purpose,
        version=p.version,
        effective_from=p.effective_from,
        requires_reconsent=p.requires_reconsent,
    )


# -- Telegram buttons -----------------------------------------------------------------------


async def act_on_tap(uow: UnitOfWork, practice: Practice, p: TelegramActionRequestedV1) -> None:
    """Do what a tap asks (:func:`booking.application.actions.perform`); a refusal is
    ``booking.action.rejected`` with its reason (:data:`REJECTIONS`)."""
    try:
        # A savepoint: a refused action leaves nothing behind (state or events), even inside a
        # micro-batch.
        async with uow.savepoint():
            await actions.perform(
                uow,
                practice,
                action=p.action,
                user_id=p.user_id,
                appointment_id=p.appointment_id,
                waitlist_offer_id=p.waitlist_offer_id,
                now=uow.now(),
            )
    except DomainError as exc:
        reason = REJECTIONS.get(exc)
        if reason is None:  # a refusal nobody gave words to: still the client's answer
            logger.error("no rejection reason for %s", type(exc).__qualname__)
            reason = "not_allowed"
        uow.emit(
            ActionRejectedV1(
                action_id=p.action_id,
                action=p.action,
                user_id=p.user_id,
                appointment_id=p.appointment_id,
                waitlist_offer_id=p.waitlist_offer_id,
                reason=reason,
            )
        )
