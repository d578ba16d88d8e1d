"""Events notify consumes: cabinet's (recipients, consents, account mail), booking's (appointment
and payment messages, reminders, edits of Telegram messages, admin alerts), content's (crisis
alerts, articles) and its own ``notify.delivery.failed`` (a Telegram message goes by email).

Handlers only write rows (recipients, consents, the appointments copy, deliveries, timers) in the
consumer's transaction; nothing is sent from here. The inbox makes a redelivered event a no-op,
so the same event twice gives one message.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from contracts.booking.v1 import (
    ActionRejectedV1,
    AppointmentAttendanceConfirmedV1,
    AppointmentCancelledV1,
    AppointmentCompletedV1,
    AppointmentConfirmedV1,
    AppointmentExpiredV1,
    AppointmentFacts,
    AppointmentHeldV1,
    AppointmentNoShowV1,
    AppointmentRescheduledV1,
    IntakeSubmittedV1,
    PaymentFailedV1,
    RefundFailedV1,
    RefundSucceededV1,
    WaitlistOfferExpiredV1,
    WaitlistOfferMadeV1,
)
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
from contracts.content.v1 import InteractiveRunCompletedV1, ItemPublishedV1
from contracts.envelope import EventEnvelope
from contracts.notify.v1 import DeliveryFailedV1
from servicekit.messaging.consumer import EventConsumer
from servicekit.messaging.outbox import UnitOfWork
from servicekit.security.fields import blind_index
from servicekit.timers import cancel, schedule
from sqlmodel import col, select

from notify.adapters.deeplinks import create_deeplink
from notify.adapters.deliveries import (
    MARKETING_CONSENT,
    add_delivery,
    admin_ids,
    dump_context,
    plan_edits,
    plan_email_fallback,
    plan_notice,
    skip_pending,
)
from notify.adapters.tables import AppointmentCopy, Consent, Delivery, Recipient
from notify.context import NotifyContext
from notify.domain import rules
from notify.domain.formatting import DEFAULT_ZONE

logger = logging.getLogger("notify.consumers")

REMINDER = "reminder"
REMINDER_TEMPLATE = "appointment_reminder"

# Queue names are part of the deployed topology: keep them.
USER_EVENTS = "user-events"
BOOKING_EVENTS = "booking-events"
CONTENT_EVENTS = "content-events"
DELIVERY_FAILURES = "delivery-failures"


def reminder_key(appointment_id: uuid.UUID, minutes_before: int) -> str:
    """The timer key of one reminder of one appointment."""
    return f"{appointment_id}:{minutes_before}"


def build_consumers(ctx: NotifyContext) -> tuple[EventConsumer, ...]:
    """notify's consumers, their handlers bound to ``ctx``."""
    return (
        _user_events(ctx),
        _booking_events(ctx),
        _content_events(ctx),
        _delivery_failures(ctx),
    )


# -- cabinet ------------------------------------------------------------------------------


def _user_events(ctx: NotifyContext) -> EventConsumer:
    consumer = EventConsumer("notify", USER_EVENTS)

    async def keep_contacts(
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

    @consumer.handles(UserRegisteredV1)
    async def registered(uow: UnitOfWork, event: EventEnvelope[UserRegisteredV1]) -> None:
        """Keep the new user's contacts and welcome them."""
        if await keep_contacts(uow, event, event.payload) is not None:
            await uow.session.flush()
            await plan_notice(uow, ctx, rules.welcome(event.payload), source=event)

    @consumer.handles(UserContactChangedV1)
    async def contact_changed(uow: UnitOfWork, event: EventEnvelope[UserContactChangedV1]) -> None:
        """Replace the copy of contacts, zone and language."""
        await keep_contacts(uow, event, event.payload)

    @consumer.handles(UserRolesChangedV1)
    async def roles_changed(uow: UnitOfWork, event: EventEnvelope[UserRolesChangedV1]) -> None:
        """Who is an admin or a specialist (alerts go to them)."""
        recipient = await uow.session.get(Recipient, event.payload.user_id)
        if recipient is not None:
            recipient.roles = list(event.payload.roles)
            uow.session.add(recipient)

    async def keep_consent(
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

    @consumer.handles(ConsentGrantedV1)
    async def consent_granted(uow: UnitOfWork, event: EventEnvelope[ConsentGrantedV1]) -> None:
        """A granted purpose (marketing messages: non-essential mail may go)."""
        p = event.payload
        await keep_consent(uow, p.user_id, p.purpose, True, p.granted_at)

    @consumer.handles(ConsentWithdrawnV1)
    async def consent_withdrawn(uow: UnitOfWork, event: EventEnvelope[ConsentWithdrawnV1]) -> None:
        """A withdrawn purpose: from now on no non-essential messages (even those queued)."""
        p = event.payload
        await keep_consent(uow, p.user_id, p.purpose, False, p.withdrawn_at)

    @consumer.handles(EmailVerificationRequestedV1)
    async def verification(
        uow: UnitOfWork, event: EventEnvelope[EmailVerificationRequestedV1]
    ) -> None:
        """Mail the one-time verification link (to the address in the event)."""
        await _plan_to_address(
            uow,
            ctx,
            rules.email_verification(event.payload),
            event.payload.email,
            event.payload.language,
            event,
        )

    @consumer.handles(PasswordResetRequestedV1)
    async def reset(uow: UnitOfWork, event: EventEnvelope[PasswordResetRequestedV1]) -> None:
        """Mail the one-time password reset link."""
        await _plan_to_address(
            uow,
            ctx,
            rules.password_reset(event.payload),
            event.payload.email,
            event.payload.language,
            event,
        )

    @consumer.handles(RegistrationAttemptedV1)
    async def registration_attempted(
        uow: UnitOfWork, event: EventEnvelope[RegistrationAttemptedV1]
    ) -> None:
        """Tell an address's owner that someone tried to register with it."""
        await _plan_to_address(
            uow,
            ctx,
            rules.registration_attempted(event.payload),
            event.payload.email,
            event.payload.language,
            event,
        )

    @consumer.handles(DataExportCompletedV1)
    async def export_ready(uow: UnitOfWork, event: EventEnvelope[DataExportCompletedV1]) -> None:
        """Tell the user their export can be downloaded."""
        await plan_notice(uow, ctx, rules.data_export_ready(event.payload), source=event)

    return consumer


async def _plan_to_address(
    uow: UnitOfWork,
    ctx: NotifyContext,
    notice: rules.Notice,
    email: str,
    language: str,
    event: EventEnvelope[Any],
) -> None:
    """Account mail goes to the address the event names (a new address is not in the copy yet)."""
    recipient = await uow.session.get(Recipient, notice.user_id)
    await add_delivery(
        uow,
        ctx,
        due_at=ctx.clock(),
        user_id=notice.user_id,
        channel="email",
        template=notice.template,
        category=notice.category,
        language=language,
        time_zone=recipient.time_zone if recipient else DEFAULT_ZONE,
        recipient=email,
        context=dump_context(notice.context),
        source_event_id=event.event_id,
        source_event_type=event.event_type,
    )


# -- booking ------------------------------------------------------------------------------

_STATUS: dict[type[AppointmentFacts], str] = {
    AppointmentHeldV1: "held",
    AppointmentConfirmedV1: "confirmed",
    AppointmentRescheduledV1: "confirmed",
    AppointmentAttendanceConfirmedV1: "confirmed",
    AppointmentCancelledV1: "cancelled",
    AppointmentExpiredV1: "expired",
    AppointmentCompletedV1: "completed",
    AppointmentNoShowV1: "no_show",
}


def _facts(p: AppointmentFacts) -> dict[str, Any]:
    return AppointmentFacts.model_validate(p.model_dump()).model_dump(mode="json")


def paid_of(copy: AppointmentCopy | None) -> dict[str, Any] | None:
    """What the client paid for an appointment, as far as notify saw (its confirmation)."""
    if copy is None:
        return None
    paid: dict[str, Any] | None = json.loads(copy.facts).get("amount_paid")
    return paid


async def keep_appointment(uow: UnitOfWork, event: EventEnvelope[Any]) -> bool:
    """Update the appointments copy; ``False`` when a newer state is already known."""
    p = event.payload
    copy = await uow.session.get(AppointmentCopy, p.appointment_id, with_for_update=True)
    if copy is not None and copy.updated_at > event.occurred_at:
        return False
    if copy is None:
        copy = AppointmentCopy(
            appointment_id=p.appointment_id,
            client_id=p.client_id,
            specialist_id=p.specialist_id,
            status="",
            starts_at=p.starts_at,
            facts="{}",
            updated_at=event.occurred_at,
        )
    facts = _facts(p)
    # What was paid is told once, by the confirmation; later states keep it (a no-show names it).
    paid = getattr(p, "amount_paid", None)
    facts["amount_paid"] = paid.model_dump(mode="json") if paid is not None else paid_of(copy)
    copy.status = _STATUS[type(p)]
    copy.starts_at = p.starts_at
    copy.specialist_id = p.specialist_id
    copy.facts = json.dumps(facts, ensure_ascii=False)
    copy.updated_at = event.occurred_at
    uow.session.add(copy)
    return True


async def schedule_reminders(uow: UnitOfWork, ctx: NotifyContext, p: AppointmentFacts) -> None:
    """Reminders before a confirmed appointment (moved when it moves; past ones dropped)."""
    now = ctx.clock()
    for minutes in ctx.settings.reminder_offsets_minutes:
        key = reminder_key(p.appointment_id, minutes)
        due = p.starts_at - timedelta(minutes=minutes)
        if due > now:
            await schedule(
                uow.session,
                kind=REMINDER,
                key=key,
                due_at=due,
                payload={"appointment_id": str(p.appointment_id), "minutes_before": minutes},
            )
        else:
            await cancel(uow.session, kind=REMINDER, key=key)


async def drop_reminders(uow: UnitOfWork, ctx: NotifyContext, appointment_id: uuid.UUID) -> None:
    """No reminder of this appointment will fire, and none still queued will go out."""
    for minutes in ctx.settings.reminder_offsets_minutes:
        await cancel(uow.session, kind=REMINDER, key=reminder_key(appointment_id, minutes))
    await skip_pending(
        uow,
        ctx,
        ref=rules.appointment_ref(appointment_id),
        templates=[REMINDER_TEMPLATE],
        reason="appointment_not_confirmed",
    )


def _booking_events(ctx: NotifyContext) -> EventConsumer:
    consumer = EventConsumer("notify", BOOKING_EVENTS)

    @consumer.handles(AppointmentHeldV1)
    async def held(uow: UnitOfWork, event: EventEnvelope[AppointmentHeldV1]) -> None:
        """Payment link to the client; an accepted waitlist offer's message says so."""
        await keep_appointment(uow, event)
        notice, edits = rules.appointment_held(event.payload)
        await plan_notice(uow, ctx, notice, source=event)
        for edit in edits:
            await plan_edits(uow, ctx, edit, source=event)

    @consumer.handles(AppointmentConfirmedV1)
    async def confirmed(uow: UnitOfWork, event: EventEnvelope[AppointmentConfirmedV1]) -> None:
        """Confirmation, and the reminders."""
        if await keep_appointment(uow, event):
            await schedule_reminders(uow, ctx, event.payload)
        await plan_notice(uow, ctx, rules.appointment_confirmed(event.payload), source=event)

    @consumer.handles(AppointmentRescheduledV1)
    async def rescheduled(uow: UnitOfWork, event: EventEnvelope[AppointmentRescheduledV1]) -> None:
        """Old and new time; the reminders move with it."""
        if await keep_appointment(uow, event):
            await skip_pending(
                uow,
                ctx,
                ref=rules.appointment_ref(event.payload.appointment_id),
                templates=[REMINDER_TEMPLATE],
                reason="appointment_rescheduled",
            )
            await schedule_reminders(uow, ctx, event.payload)
        await plan_notice(uow, ctx, rules.appointment_rescheduled(event.payload), source=event)

    @consumer.handles(AppointmentCancelledV1)
    async def cancelled(uow: UnitOfWork, event: EventEnvelope[AppointmentCancelledV1]) -> None:
        """Cancellation with the refund; reminders dropped; buttons on earlier messages retired."""
        await keep_appointment(uow, event)
        await drop_reminders(uow, ctx, event.payload.appointment_id)
        notice, edit = rules.appointment_cancelled(event.payload)
        await plan_edits(uow, ctx, edit, source=event)
        await plan_notice(uow, ctx, notice, source=event)

    @consumer.handles(AppointmentExpiredV1)
    async def expired(uow: UnitOfWork, event: EventEnvelope[AppointmentExpiredV1]) -> None:
        """The unpaid hold ran out."""
        await keep_appointment(uow, event)
        await drop_reminders(uow, ctx, event.payload.appointment_id)
        notice, edit = rules.appointment_expired(event.payload)
        await plan_edits(uow, ctx, edit, source=event)
        await plan_notice(uow, ctx, notice, source=event)

    @consumer.handles(AppointmentAttendanceConfirmedV1)
    async def attendance(
        uow: UnitOfWork, event: EventEnvelope[AppointmentAttendanceConfirmedV1]
    ) -> None:
        """The reminder the client answered now says "confirmed"."""
        await keep_appointment(uow, event)
        await plan_edits(uow, ctx, rules.attendance_confirmed(event.payload), source=event)

    @consumer.handles(AppointmentCompletedV1)
    async def completed(uow: UnitOfWork, event: EventEnvelope[AppointmentCompletedV1]) -> None:
        """Held: nothing more to remind of; the client gets a short follow-up."""
        fresh = await keep_appointment(uow, event)
        await drop_reminders(uow, ctx, event.payload.appointment_id)
        if fresh:
            await plan_notice(uow, ctx, rules.appointment_completed(event.payload), source=event)

    @consumer.handles(AppointmentNoShowV1)
    async def no_show(uow: UnitOfWork, event: EventEnvelope[AppointmentNoShowV1]) -> None:
        """Marked as a no-show: nothing more to remind of; the client is told the policy."""
        p = event.payload
        fresh = await keep_appointment(uow, event)
        await drop_reminders(uow, ctx, p.appointment_id)
        if fresh:
            copy = await uow.session.get(AppointmentCopy, p.appointment_id)
            notice = rules.appointment_no_show(p, amount_paid=paid_of(copy))
            await plan_notice(uow, ctx, notice, source=event)

    @consumer.handles(PaymentFailedV1)
    async def payment_failed(uow: UnitOfWork, event: EventEnvelope[PaymentFailedV1]) -> None:
        """The payment was declined: the client learns why and what to do next."""
        await plan_notice(uow, ctx, rules.payment_failed(event.payload), source=event)

    @consumer.handles(IntakeSubmittedV1)
    async def intake_submitted(uow: UnitOfWork, event: EventEnvelope[IntakeSubmittedV1]) -> None:
        """The specialist learns a client's intake form is waiting (and before which session)."""
        p = event.payload
        client = await uow.session.get(Recipient, p.client_id)
        copy = None
        if p.appointment_id is not None:
            copy = await uow.session.get(AppointmentCopy, p.appointment_id)
        notice = rules.intake_submitted(
            p,
            client_name=client.name if client else None,
            starts_at=copy.starts_at.isoformat() if copy else None,
        )
        await plan_notice(uow, ctx, notice, source=event)

    @consumer.handles(RefundFailedV1)
    async def refund_failed(uow: UnitOfWork, event: EventEnvelope[RefundFailedV1]) -> None:
        """A refund that keeps failing alerts every admin (or the configured address)."""
        p = event.payload
        client = await uow.session.get(Recipient, p.client_id)
        client_name = client.name if client else None
        admins = await admin_ids(uow.session)
        for admin_id in admins:
            notice = rules.refund_failed(p, admin_id=admin_id, client_name=client_name)
            await plan_notice(uow, ctx, notice, source=event)
        if not admins:
            notice = rules.refund_failed(p, admin_id=uuid.UUID(int=0), client_name=client_name)
            address = ctx.settings.admin_alert_email
            logger.error(
                "a refund keeps failing and notify knows no admin user",
                extra={"refund_id": str(p.refund_id), "fallback_address": bool(address)},
            )
            await add_delivery(
                uow,
                ctx,
                due_at=ctx.clock() if address else None,
                user_id=None,
                channel="email",
                template=notice.template,
                category=notice.category,
                language="ru",
                time_zone=DEFAULT_ZONE,
                recipient=address or "",
                context=dump_context(notice.context),
                last_error=None if address else "no_admin",
                source_event_id=event.event_id,
                source_event_type=event.event_type,
            )

    @consumer.handles(RefundSucceededV1)
    async def refunded(uow: UnitOfWork, event: EventEnvelope[RefundSucceededV1]) -> None:
        """The money went back."""
        await plan_notice(uow, ctx, rules.refund_succeeded(event.payload), source=event)

    @consumer.handles(WaitlistOfferMadeV1)
    async def offer_made(uow: UnitOfWork, event: EventEnvelope[WaitlistOfferMadeV1]) -> None:
        """The offer, with an Accept button in Telegram and a bot link in email."""
        p = event.payload
        _, token = await create_deeplink(
            uow.session,
            action="waitlist_offer",
            now=ctx.clock(),
            expires_at=p.expires_at,
            user_id=p.client_id,
            waitlist_offer_id=p.offer_id,
            details=p.model_dump_json(),
        )
        notice = rules.waitlist_offer(p, telegram_link=ctx.deeplink(token))
        await plan_notice(uow, ctx, notice, source=event)

    @consumer.handles(WaitlistOfferExpiredV1)
    async def offer_expired(uow: UnitOfWork, event: EventEnvelope[WaitlistOfferExpiredV1]) -> None:
        """The offer's message loses its Accept button."""
        await plan_edits(uow, ctx, rules.waitlist_offer_expired(event.payload), source=event)

    @consumer.handles(ActionRejectedV1)
    async def rejected(uow: UnitOfWork, event: EventEnvelope[ActionRejectedV1]) -> None:
        """A tapped action was refused: the tapped message says why."""
        await plan_edits(uow, ctx, rules.action_rejected(event.payload), source=event)

    return consumer


# -- content ------------------------------------------------------------------------------


def _content_events(ctx: NotifyContext) -> EventConsumer:
    consumer = EventConsumer("notify", CONTENT_EVENTS)

    @consumer.handles(InteractiveRunCompletedV1)
    async def run_completed(
        uow: UnitOfWork, event: EventEnvelope[InteractiveRunCompletedV1]
    ) -> None:
        """A crisis flag alerts the client's specialist at once (admins when there is none)."""
        p = event.payload
        if not p.crisis:
            return
        client = await uow.session.get(Recipient, p.user_id)
        specialists = [p.assigned_by_specialist_id] if p.assigned_by_specialist_id else []
        if not specialists:
            latest = (
                await uow.session.exec(
                    select(AppointmentCopy.specialist_id)
                    .where(AppointmentCopy.client_id == p.user_id)
                    .order_by(col(AppointmentCopy.starts_at).desc())
                    .limit(1)
                )
            ).first()
            if latest is not None:
                specialists = [latest]
        if not specialists:
            specialists = await admin_ids(uow.session)
        for specialist_id in specialists:
            notice = rules.crisis_alert(
                p, specialist_id=specialist_id, client_name=client.name if client else None
            )
            if notice is not None:
                await plan_notice(uow, ctx, notice, source=event)

    @consumer.handles(ItemPublishedV1)
    async def item_published(uow: UnitOfWork, event: EventEnvelope[ItemPublishedV1]) -> None:
        """A new article, to users of its language who agreed to marketing messages."""
        p = event.payload
        if rules.new_article(p, uuid.UUID(int=0)) is None:
            return
        readers = await uow.session.exec(
            select(Recipient.user_id)
            .join(Consent, col(Consent.user_id) == col(Recipient.user_id))
            .where(
                Consent.purpose == MARKETING_CONSENT,
                col(Consent.granted).is_(True),
                Recipient.language == p.language,
            )
        )
        for user_id in readers.all():
            notice = rules.new_article(p, user_id)
            if notice is not None:
                await plan_notice(uow, ctx, notice, source=event)

    return consumer


# -- notify's own -------------------------------------------------------------------------


def _delivery_failures(ctx: NotifyContext) -> EventConsumer:
    consumer = EventConsumer("notify", DELIVERY_FAILURES)

    @consumer.handles(DeliveryFailedV1)
    async def delivery_failed(uow: UnitOfWork, event: EventEnvelope[DeliveryFailedV1]) -> None:
        """A Telegram message that failed for good goes by email, once, where the user keeps
        email among their channels (an email that fails is not sent anywhere else: no loops)."""
        if event.payload.channel != "telegram":
            return
        failed = await uow.session.get(Delivery, event.payload.delivery_id)
        if failed is not None:
            await plan_email_fallback(uow, ctx, failed)

    return consumer
