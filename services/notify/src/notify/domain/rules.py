"""Which event produces which message, to whom, how urgent: notify's rules, without I/O.

A rule turns an event payload into :class:`Notice` values (a message to one user, rendered later
from ``template`` in the user's language and zone) and :class:`Edit` values (a new text for a
Telegram message sent earlier, e.g. the reminder whose Confirm button was tapped). Contexts are
JSON values: times stay UTC ISO strings and are rendered in the recipient's zone.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from contracts.booking.v1 import (
    ActionRejectedV1,
    AppointmentAttendanceConfirmedV1,
    AppointmentCancelledV1,
    AppointmentCompletedV1,
    AppointmentConfirmedV1,
    AppointmentExpiredV1,
    AppointmentHeldV1,
    AppointmentNoShowV1,
    AppointmentRescheduledV1,
    CalendarEventChangedV1,
    CalendarSyncFailedV1,
    IntakeSubmittedV1,
    PaymentFailedV1,
    RefundFailedV1,
    RefundSucceededV1,
    WaitlistOfferExpiredV1,
    WaitlistOfferMadeV1,
)
from contracts.cabinet.v1 import (
    DataExportCompletedV1,
    EmailVerificationRequestedV1,
    PasswordResetRequestedV1,
    RegistrationAttemptedV1,
    UserRegisteredV1,
)
from contracts.content.v1 import (
    AssignmentCreatedV1,
    AssignmentOverdueV1,
    InteractiveRunCompletedV1,
    ItemPublishedV1,
    ModerationDecidedV1,
)
from pydantic import BaseModel

from notify.domain.preferences import Category, Channel

ButtonAction = Literal[
    "confirm_attendance",
    "cancel_appointment",
    "accept_waitlist_offer",
    "calendar_cancel_appointment",
    "calendar_keep_appointment",
]

#: Buttons that answer ``booking.calendar.event_changed`` (``notify.calendar.decision_requested``).
CALENDAR_DECISIONS: Mapping[str, Literal["cancel", "keep"]] = {
    "calendar_cancel_appointment": "cancel",
    "calendar_keep_appointment": "keep",
}

EMAIL_ONLY: tuple[Channel, ...] = ("email",)
TELEGRAM_ONLY: tuple[Channel, ...] = ("telegram",)
# Templates with only a Telegram part: the bot's replies and the edits of earlier messages.
TELEGRAM_ONLY_PREFIXES = ("bot_", "edit_")


@dataclass(frozen=True)
class Button:
    """An inline button: a link (``url``) or an action bound to one appointment or offer."""

    label: str  # a key of the button labels: pay, confirm, cancel, accept, open, book, take
    url: str | None = None
    action: ButtonAction | None = None
    appointment_id: uuid.UUID | None = None
    waitlist_offer_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Notice:
    """One message to one user; the channel is chosen from their preferences."""

    template: str
    user_id: uuid.UUID
    context: Mapping[str, Any]
    category: Category = "transactional"
    urgent: bool = False  # ignores quiet hours
    ref: str | None = None  # "appointment:<id>" / "offer:<id>": later edits and clean-ups find it
    buttons: tuple[Button, ...] = ()
    channels: tuple[Channel, ...] | None = None  # None: any channel the user prefers


@dataclass(frozen=True)
class Edit:
    """New text for Telegram messages sent earlier: those with ``ref`` that still have buttons,
    or the one whose button made the request ``action_id``."""

    template: str
    context: Mapping[str, Any]
    ref: str | None = None
    action_id: uuid.UUID | None = None
    buttons: tuple[Button, ...] = field(default_factory=tuple)


def appointment_ref(appointment_id: uuid.UUID) -> str:
    """The ``ref`` of messages about one appointment."""
    return f"appointment:{appointment_id}"


def appointment_of_ref(ref: str) -> uuid.UUID | None:
    """The appointment a ``ref`` made by :func:`appointment_ref` is about (``None``: another)."""
    kind, _, value = ref.partition(":")
    if kind != "appointment":
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def offer_ref(offer_id: uuid.UUID) -> str:
    """The ``ref`` of messages about one waitlist offer."""
    return f"offer:{offer_id}"


def has_email_form(template: str, *, is_edit: bool) -> bool:
    """Whether a message can go by email too: not a bot reply, not an edit of a Telegram
    message (those exist only in the chat)."""
    return not is_edit and not template.startswith(TELEGRAM_ONLY_PREFIXES)


def _ctx(payload: BaseModel, **extra: Any) -> dict[str, Any]:
    return {**payload.model_dump(mode="json"), **extra}


# -- cabinet ------------------------------------------------------------------------------


def welcome(p: UserRegisteredV1) -> Notice:
    """A new user: welcome, how to link Telegram."""
    return Notice("welcome", p.user_id, _ctx(p))


def email_verification(p: EmailVerificationRequestedV1) -> Notice:
    """The one-time link that confirms an email address (email only, at once)."""
    return Notice("email_verification", p.user_id, _ctx(p), urgent=True, channels=EMAIL_ONLY)


def password_reset(p: PasswordResetRequestedV1) -> Notice:
    """The one-time password reset link (email only, at once)."""
    return Notice("password_reset", p.user_id, _ctx(p), urgent=True, channels=EMAIL_ONLY)


def registration_attempted(p: RegistrationAttemptedV1) -> Notice:
    """Someone tried to register with the owner's address: tell them how to get in, or that
    nothing changed (email only, at once: it is about their account's safety)."""
    return Notice("registration_attempted", p.user_id, _ctx(p), urgent=True, channels=EMAIL_ONLY)


def data_export_ready(p: DataExportCompletedV1) -> Notice:
    """The user's data export can be downloaded: by email only (the link opens their health
    data; a chat is read by more eyes), at once."""
    return Notice("data_export_ready", p.user_id, _ctx(p), urgent=True, channels=EMAIL_ONLY)


# -- booking ------------------------------------------------------------------------------


def appointment_held(p: AppointmentHeldV1) -> tuple[Notice, list[Edit]]:
    """Slot held: pay by ``hold_expires_at`` (urgent: the hold runs out). An accepted waitlist
    offer's message is edited to say so."""
    buttons = (Button("pay", url=p.confirmation_url),) if p.confirmation_url else ()
    notice = Notice(
        "appointment_held",
        p.client_id,
        _ctx(p),
        urgent=True,
        ref=appointment_ref(p.appointment_id),
        buttons=buttons,
    )
    edits = []
    if p.waitlist_offer_id is not None:
        edits.append(Edit("edit_offer_accepted", _ctx(p), ref=offer_ref(p.waitlist_offer_id)))
    return notice, edits


def appointment_confirmed(p: AppointmentConfirmedV1) -> Notice:
    """Paid or booked without prepayment: the confirmation."""
    return Notice(
        "appointment_confirmed", p.client_id, _ctx(p), ref=appointment_ref(p.appointment_id)
    )


def appointment_rescheduled(p: AppointmentRescheduledV1) -> Notice:
    """Moved: the old and the new time."""
    return Notice(
        "appointment_rescheduled", p.client_id, _ctx(p), ref=appointment_ref(p.appointment_id)
    )


def appointment_cancelled(p: AppointmentCancelledV1) -> tuple[Notice, Edit]:
    """Cancelled, with the refund; the buttons on earlier messages about it are retired."""
    ref = appointment_ref(p.appointment_id)
    return (
        Notice("appointment_cancelled", p.client_id, _ctx(p), ref=ref),
        Edit("edit_cancelled", _ctx(p), ref=ref),
    )


def appointment_expired(p: AppointmentExpiredV1) -> tuple[Notice, Edit]:
    """The hold ran out unpaid; the slot is free again."""
    ref = appointment_ref(p.appointment_id)
    return (
        Notice("appointment_expired", p.client_id, _ctx(p), ref=ref),
        Edit("edit_expired", _ctx(p), ref=ref),
    )


def attendance_confirmed(p: AppointmentAttendanceConfirmedV1) -> Edit:
    """The client confirmed they will come: the reminder says so instead of asking."""
    return Edit("edit_attendance_confirmed", _ctx(p), ref=appointment_ref(p.appointment_id))


def refund_succeeded(p: RefundSucceededV1) -> Notice:
    """Money went back."""
    return Notice("refund_succeeded", p.client_id, _ctx(p), ref=appointment_ref(p.appointment_id))


def payment_failed(p: PaymentFailedV1) -> Notice:
    """The bank or YooKassa declined the payment: why, and what next (urgent while the hold is
    still open: the client can still pay before it runs out)."""
    return Notice(
        "payment_failed",
        p.client_id,
        _ctx(p),
        urgent=p.hold_expires_at is not None,
        ref=appointment_ref(p.appointment_id),
    )


def appointment_completed(p: AppointmentCompletedV1) -> Notice:
    """The session took place: a short follow-up to the client (how to book the next one)."""
    return Notice(
        "appointment_completed", p.client_id, _ctx(p), ref=appointment_ref(p.appointment_id)
    )


def appointment_no_show(p: AppointmentNoShowV1, *, amount_paid: Mapping[str, Any] | None) -> Notice:
    """Marked as a no-show: the policy, told to the client. The payment is named (as kept) only
    when notify saw one confirm the appointment (``amount_paid``): an unpaid or free session
    says nothing about money."""
    paid = dict(amount_paid) if amount_paid and int(amount_paid.get("amount", 0)) > 0 else None
    return Notice(
        "appointment_no_show",
        p.client_id,
        _ctx(p, amount_paid=paid),
        ref=appointment_ref(p.appointment_id),
    )


def intake_submitted(
    p: IntakeSubmittedV1, *, client_name: str | None, starts_at: str | None
) -> Notice:
    """The specialist learns a client's intake form is waiting (never the answers)."""
    return Notice(
        "intake_submitted",
        p.specialist_id,
        _ctx(p, client_name=client_name, starts_at=starts_at),
        ref=appointment_ref(p.appointment_id) if p.appointment_id else None,
    )


def calendar_event_changed(p: CalendarEventChangedV1) -> Notice:
    """The specialist deleted or moved an appointment's event in Google Calendar: nothing was
    cancelled; they choose (urgent: a client may be on the way), with both buttons."""
    return Notice(
        "calendar_event_changed",
        p.specialist_id,
        _ctx(p),
        urgent=True,
        ref=f"calendar:{p.appointment_id}",
        buttons=(
            Button(
                "calendar_cancel",
                action="calendar_cancel_appointment",
                appointment_id=p.appointment_id,
            ),
            Button(
                "calendar_keep", action="calendar_keep_appointment", appointment_id=p.appointment_id
            ),
        ),
    )


def calendar_sync_failed(p: CalendarSyncFailedV1) -> Notice:
    """booking lost the specialist's Google Calendar (revoked, refused, unreachable): they are
    told, so appointments do not silently stop reaching their calendar."""
    return Notice("calendar_sync_failed", p.specialist_id, _ctx(p), category="alert", urgent=True)


def refund_failed(p: RefundFailedV1, *, admin_id: uuid.UUID, client_name: str | None) -> Notice:
    """A refund YooKassa keeps cancelling: an admin must act. An alert: at once, every channel."""
    return Notice(
        "refund_failed",
        admin_id,
        _ctx(p, client_name=client_name),
        category="alert",
        urgent=True,
    )


def waitlist_offer(p: WaitlistOfferMadeV1, *, telegram_link: str | None) -> Notice:
    """A freed slot is offered until ``expires_at`` (urgent): Accept button in Telegram; email
    carries a link that opens the offer in the bot."""
    return Notice(
        "waitlist_offer",
        p.client_id,
        _ctx(p, telegram_link=telegram_link),
        urgent=True,
        ref=offer_ref(p.offer_id),
        buttons=(Button("accept", action="accept_waitlist_offer", waitlist_offer_id=p.offer_id),),
    )


def waitlist_offer_expired(p: WaitlistOfferExpiredV1) -> Edit:
    """The offer is gone (timed out or taken): its message loses the Accept button."""
    return Edit("edit_offer_expired", _ctx(p), ref=offer_ref(p.offer_id))


def action_rejected(p: ActionRejectedV1) -> Edit:
    """booking refused a tapped action: the tapped message says why."""
    return Edit("edit_action_rejected", _ctx(p), action_id=p.action_id)


def reminder(facts: Mapping[str, Any], *, minutes_before: int) -> Notice:
    """A reminder before a confirmed appointment, with Confirm and Cancel buttons."""
    appointment_id = uuid.UUID(str(facts["appointment_id"]))
    return Notice(
        "appointment_reminder",
        uuid.UUID(str(facts["client_id"])),
        {**facts, "minutes_before": minutes_before},
        urgent=True,
        ref=appointment_ref(appointment_id),
        buttons=(
            Button("confirm", action="confirm_attendance", appointment_id=appointment_id),
            Button("cancel", action="cancel_appointment", appointment_id=appointment_id),
        ),
    )


# -- content ------------------------------------------------------------------------------


def crisis_alert(
    p: InteractiveRunCompletedV1,
    *,
    recipient_id: uuid.UUID | None,
    client_name: str | None,
    run_url: str,
) -> Notice | None:
    """A positive crisis item: the client's specialist (or whoever stands in) is alerted at
    once, on every channel.

    The alert names the client and the questionnaire and links to the run; never the answers,
    the score or the band. ``completed_at`` is said, because a claimed anonymous run can come
    late. ``recipient_id`` is ``None`` for an address that is no user (the on-duty contact).
    """
    if not p.crisis:
        return None
    return Notice(
        "crisis_alert",
        recipient_id or uuid.UUID(int=0),
        {
            "client_id": str(p.user_id),
            "client_name": client_name,
            "questionnaire_code": p.questionnaire_code,
            "run_id": str(p.run_id),
            "run_url": run_url,
            "completed_at": p.completed_at.isoformat(),
        },
        category="alert",
        urgent=True,
    )


def crisis_escalation(
    alert_context: Mapping[str, Any],
    *,
    admin_id: uuid.UUID | None,
    told_name: str | None,
    channel: str,
    reason: str,
) -> Notice:
    """A crisis alert could not be delivered (``reason``): an admin must reach the client or
    the specialist. At once, on every channel; the same facts as the alert, nothing more."""
    keep = (
        "client_id",
        "client_name",
        "questionnaire_code",
        "run_id",
        "run_url",
        "audit_url",
        "completed_at",
    )
    return Notice(
        "crisis_escalation",
        admin_id or uuid.UUID(int=0),
        {
            **{k: alert_context.get(k) for k in keep},
            "told_name": told_name,
            "channel": channel,
            "reason": reason,
        },
        category="alert",
        urgent=True,
    )


def intake_suggested(p: InteractiveRunCompletedV1, *, booking_url: str) -> Notice:
    """The score suggests an intake session: the client gets a booking link (not urgent; no
    score, no band: only that talking to a specialist may help)."""
    return Notice(
        "intake_suggested",
        p.user_id,
        {"questionnaire_code": p.questionnaire_code, "booking_url": booking_url},
        ref=f"run:{p.run_id}",
        buttons=(Button("book", url=booking_url),),
    )


def assignment_ref(assignment_id: uuid.UUID) -> str:
    """The ``ref`` of messages about one assignment."""
    return f"assignment:{assignment_id}"


def assignment_created(
    p: AssignmentCreatedV1, *, specialist_name: str | None, take_url: str
) -> Notice:
    """A specialist asked the client to take a questionnaire: what, by when, the link."""
    return Notice(
        "assignment_created",
        p.client_id,
        _ctx(p, specialist_name=specialist_name, take_url=take_url),
        ref=assignment_ref(p.assignment_id),
        buttons=(Button("take", url=take_url),),
    )


def assignment_overdue(
    p: AssignmentOverdueV1,
    *,
    specialist_name: str | None,
    client_name: str | None,
    take_url: str,
    client_url: str,
) -> tuple[Notice, Notice]:
    """An assigned questionnaire was not taken by its due date: the client is reminded (with
    the link), the specialist is told."""
    ref = assignment_ref(p.assignment_id)
    return (
        Notice(
            "assignment_overdue",
            p.client_id,
            _ctx(p, specialist_name=specialist_name, take_url=take_url),
            ref=ref,
            buttons=(Button("take", url=take_url),),
        ),
        Notice(
            "assignment_overdue_specialist",
            p.specialist_id,
            _ctx(p, client_name=client_name, client_url=client_url),
            ref=ref,
        ),
    )


def new_article(p: ItemPublishedV1, user_id: uuid.UUID) -> Notice | None:
    """A newly published article, to a user who agreed to marketing messages (non-essential)."""
    if not p.first_publication or p.kind != "article":
        return None
    return Notice("new_article", user_id, _ctx(p), category="marketing")


def moderation_decided(p: ModerationDecidedV1, *, posts_url: str) -> Notice:
    """A moderator decided on the author's post: approved, rejected (why) or changes asked
    (what), with a link to their posts."""
    return Notice(
        "moderation_decided",
        p.author_id,
        _ctx(p, posts_url=posts_url),
        ref=f"post:{p.item_id}",
    )
