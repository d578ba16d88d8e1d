"""Sending one due delivery, as an explicit two-step (docs/notify.md, "Delivery guarantees").

1. **The attempt is committed first.** The delivery row is locked, checked and rendered, then
   committed as ``sending`` (its ``attempts`` counted) together with the firing timer marked
   fired and a *recovery* timer due after ``delivery_sending_lease_seconds``. Nothing is sent
   inside a transaction.
2. **The provider is called**, outside any transaction.
3. **The outcome is written** (``sent`` / ``retrying`` / ``failed``, the Telegram message's id,
   the recovery timer cancelled). Once the provider answered, that answer is kept in memory
   (:class:`KeptOutcomes`) and written when the database is back, however long that takes: it
   is never rolled back into a resend.

If the process dies between 1 and 3, the recovery timer finds the row still ``sending`` and
applies the rule of :func:`notify.domain.attempts.resend_after_crash`: an alert or an edit is
sent again (at least once); a confirmation, a reminder or a bot reply is not, and is left
``unconfirmed`` (at most once). Every attempt of one email carries the same ``Message-ID``
(derived from the delivery id), so a mail system can recognise a repeat.

A transient failure schedules the next attempt with backoff (Telegram's ``retry_after`` when
given); a permanent one fails the row and publishes ``notify.delivery.failed``; a chat that
blocked the bot is marked unreachable. A Telegram message that failed for good goes by email
once, from the consumer of ``notify.delivery.failed``. With several workers and replicas a timer
is claimed by one of them (``FOR UPDATE SKIP LOCKED``), and the row lock keeps a delivery's
steps apart.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from contracts.notify.v1 import DeliveryFailedV1
from jinja2 import TemplateError
from servicekit.calendar import Person
from servicekit.db.faults import is_transient
from servicekit.messaging.outbox import UnitOfWork

from notify.adapters.chats import find_chat, reserve_send_slot
from notify.adapters.deliveries import (
    cancel_recovery,
    load_context,
    mark_timer_fired,
    schedule_delivery,
    schedule_recovery,
)
from notify.adapters.mailer import build_email, message_id_for
from notify.adapters.rendering import BUTTON_LABELS, Rendered
from notify.adapters.tables import AppointmentCopy, Delivery, Recipient, TelegramMessage
from notify.adapters.telegram import InlineButton
from notify.application import crisis
from notify.application.calendar import invitation
from notify.application.planning import marketing_allowed
from notify.application.ports import NotifyPorts
from notify.domain import rules
from notify.domain.attempts import (
    FINAL_STATUSES,
    Outcome,
    Permanent,
    Sent,
    Transient,
    after_attempt,
    resend_after_crash,
)
from notify.domain.reminders import REMINDER_TEMPLATE

logger = logging.getLogger("notify.sending")

SENDING = "sending"
UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True)
class ProviderCall:
    """What step 1 decided to send: an email, or a Telegram message or edit."""

    email: EmailMessage | None = None
    chat_id: int = 0
    text: str = ""
    buttons: list[list[InlineButton]] = field(default_factory=list)
    edit_message_id: int | None = None
    chat_ref: uuid.UUID | None = None  # notify's row of the chat (its spacing)


class KeptOutcomes:
    """What providers answered that the database has not taken yet, by delivery (one per
    runtime): the recovery timer, if it fires first in this process, writes them instead of
    guessing."""

    def __init__(self) -> None:
        self._outcomes: dict[uuid.UUID, tuple[Outcome, ProviderCall]] = {}

    def keep(self, delivery_id: uuid.UUID, outcome: Outcome, call: ProviderCall) -> None:
        """Remember the answer until it is written."""
        self._outcomes[delivery_id] = (outcome, call)

    def take(self, delivery_id: uuid.UUID) -> tuple[Outcome, ProviderCall] | None:
        """The answer not written yet (and forget it), if this process has one."""
        return self._outcomes.pop(delivery_id, None)


async def send_due_delivery(
    uow: UnitOfWork,
    notify: NotifyPorts,
    kept: KeptOutcomes,
    *,
    delivery_id: uuid.UUID,
    timer_id: int,
) -> None:
    """Send the delivery a ``deliver`` timer (``timer_id``) is due for, in the three steps
    above; a recovery timer finding it ``sending`` resolves an interrupted attempt first."""
    delivery = await uow.session.get(Delivery, delivery_id, with_for_update=True)
    if delivery is None or delivery.status in FINAL_STATUSES:
        return
    now = notify.clock()
    if delivery.status == SENDING and not await _recover(uow, notify, kept, delivery, now):
        return
    if delivery.category == "marketing" and not await marketing_allowed(
        uow.session, delivery.user_id
    ):
        _finish(delivery, now, status="skipped", error="no_marketing_consent")
        uow.session.add(delivery)
        return
    if not await _reminder_still_wanted(uow, delivery):
        _finish(delivery, now, status="skipped", error="appointment_not_confirmed")
        uow.session.add(delivery)
        return
    call: ProviderCall | Permanent | None
    if delivery.channel == "email":
        call = await _prepare_email(uow, notify, delivery)
    else:
        call = await _prepare_telegram(uow, notify, delivery, now)
    if call is None:
        return  # rescheduled for the chat's rate limit; not an attempt
    if isinstance(call, Permanent):  # nothing to send (a template error): no provider call
        delivery.attempts += 1
        await _record(uow, notify, delivery, call, now)
        return
    # Step 1: the attempt is on record before the provider hears of it.
    delivery.attempts += 1
    delivery.status = SENDING
    delivery.updated_at = now
    uow.session.add(delivery)
    lease = timedelta(seconds=notify.settings.delivery_sending_lease_seconds)
    await schedule_recovery(uow.session, delivery.id, delivery.attempts, now + lease)
    await mark_timer_fired(uow.session, timer_id, now)
    send_at = now
    if call.email is None:  # Telegram: the bot's pace, shared by every sender (last: it locks)
        send_at = await reserve_send_slot(
            uow.session, call.chat_ref, now=now, interval=notify.telegram_pace
        )
    await uow.commit()
    # Step 2: the provider, outside any transaction (at the reserved moment).
    wait = (send_at - notify.clock()).total_seconds()
    if wait > 0:
        await asyncio.sleep(wait)
    outcome = await _call(notify, call)
    # Step 3: its answer is written, whenever the database lets us.
    await _write_outcome(uow, notify, kept, delivery.id, delivery.attempts, outcome, call)


async def _reminder_still_wanted(uow: UnitOfWork, delivery: Delivery) -> bool:
    """A reminder goes only while its appointment is confirmed: the copy is read again here,
    under a share lock, in the transaction that decides the send (a cancellation being written
    is waited for; one written after finds the attempt on record, made before it)."""
    if delivery.template != REMINDER_TEMPLATE or not delivery.ref:
        return True
    appointment_id = rules.appointment_of_ref(delivery.ref)
    if appointment_id is None:
        return True
    copy = await uow.session.get(
        AppointmentCopy, appointment_id, with_for_update={"read": True}, populate_existing=True
    )
    return copy is not None and copy.status == "confirmed"


async def _recover(
    uow: UnitOfWork, notify: NotifyPorts, kept: KeptOutcomes, delivery: Delivery, now: datetime
) -> bool:
    """A ``sending`` row whose outcome was never written: ``True`` to send it again."""
    answer = kept.take(delivery.id)
    if answer is not None:  # this process has the answer; the database was away when it came
        outcome, call = answer
        if delivery.channel == "telegram":
            await _after_telegram(uow, delivery, outcome, call, now)
        await _record(uow, notify, delivery, outcome, now)
        return False
    extra = {"delivery_id": str(delivery.id), "template": delivery.template}
    if resend_after_crash(delivery.category, is_edit=delivery.edit_message_id is not None):
        logger.warning("delivery interrupted while sending; sending again", extra=extra)
        return True
    logger.warning("delivery interrupted while sending; not sent again", extra=extra)
    _finish(
        delivery,
        now,
        status=UNCONFIRMED,
        error="interrupted after the provider was called; not sent again (at most once)",
    )
    uow.session.add(delivery)
    return False


async def _call(notify: NotifyPorts, call: ProviderCall) -> Outcome:
    if call.email is not None:
        return await notify.mailer.send(call.email)
    if call.edit_message_id is not None:
        return await notify.telegram.edit(
            call.chat_id, call.edit_message_id, call.text, call.buttons
        )
    return await notify.telegram.send(call.chat_id, call.text, call.buttons)


async def _write_outcome(
    uow: UnitOfWork,
    notify: NotifyPorts,
    kept: KeptOutcomes,
    delivery_id: uuid.UUID,
    attempt: int,
    outcome: Outcome,
    call: ProviderCall,
) -> None:
    """Write what the provider said; retried until the database takes it (a lost database
    never turns an accepted message into a resend)."""
    kept.keep(delivery_id, outcome, call)
    delay = 0.2
    while True:
        try:
            await _write_once(uow, notify, delivery_id, attempt, outcome, call)
            kept.take(delivery_id)
            return
        except Exception as exc:
            if not is_transient(exc):
                raise  # the recovery timer writes the kept outcome later
            logger.warning(
                "database away; the delivery's outcome is kept and written when it is back",
                extra={"delivery_id": str(delivery_id), "error": repr(exc)[:300]},
            )
            try:
                await uow.rollback()
            except Exception as cleanup:
                if not is_transient(cleanup):
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def _write_once(
    uow: UnitOfWork,
    notify: NotifyPorts,
    delivery_id: uuid.UUID,
    attempt: int,
    outcome: Outcome,
    call: ProviderCall,
) -> None:
    delivery = await uow.session.get(
        Delivery, delivery_id, with_for_update=True, populate_existing=True
    )
    # Written already (the recovery timer used the kept outcome), or resolved as
    # unconfirmed by another replica's recovery timer: the real answer is better.
    if delivery is None or delivery.status not in (SENDING, UNCONFIRMED):
        await uow.rollback()
        return
    now = notify.clock()
    if delivery.channel == "telegram":
        await _after_telegram(uow, delivery, outcome, call, now)
    await _record(uow, notify, delivery, outcome, now)
    await cancel_recovery(uow.session, delivery_id, attempt)
    await uow.commit()


# -- channels -------------------------------------------------------------------------------


def _render(notify: NotifyPorts, delivery: Delivery, context: dict[str, Any]) -> Rendered:
    """Render the delivery; a template error is a bug no retry fixes (``TemplateError``)."""
    return notify.renderer.render(
        delivery.template,
        {**context, "unsubscribe_url": _unsubscribe_url(notify, delivery)},
        language=delivery.language,
        zone=delivery.time_zone,
    )


def _unsubscribe_url(notify: NotifyPorts, delivery: Delivery) -> str | None:
    """Non-essential mail carries a one-click unsubscribe link."""
    if delivery.category == "marketing" and delivery.user_id:
        return notify.unsubscribe_url(delivery.user_id)
    return None


def _buttons(context: dict[str, Any], language: str) -> list[list[InlineButton]]:
    labels = BUTTON_LABELS.get(language, BUTTON_LABELS["ru"])
    return [
        [
            InlineButton(
                text=labels.get(b["label"], b["label"]),
                url=b.get("url"),
                callback_data=b.get("token"),
            )
            for b in row
        ]
        for row in context.get("_buttons", [])
    ]


async def _prepare_email(
    uow: UnitOfWork, notify: NotifyPorts, delivery: Delivery
) -> ProviderCall | Permanent:
    context = load_context(delivery)
    try:
        rendered = _render(notify, delivery, context)
    except TemplateError as exc:
        return Permanent(f"template {delivery.template}: {exc}")
    recipient = await uow.session.get(Recipient, delivery.user_id) if delivery.user_id else None
    settings = notify.settings
    calendar = invitation(
        notify,
        context,
        language=delivery.language,
        zone=delivery.time_zone,
        attendee=Person(delivery.recipient, recipient.name if recipient else None),
    )
    message = build_email(
        rendered,
        to_address=delivery.recipient,
        to_name=recipient.name if recipient else None,
        mail_from=settings.mail_from,
        mail_domain=settings.mail_domain,
        unsubscribe_url=_unsubscribe_url(notify, delivery),
        unsubscribe_mailto=settings.unsubscribe_mailto,
        message_id=message_id_for(delivery.id, settings.mail_domain),
        calendar=calendar,
    )
    return ProviderCall(email=message)


async def _prepare_telegram(
    uow: UnitOfWork, notify: NotifyPorts, delivery: Delivery, now: datetime
) -> ProviderCall | Permanent | None:
    chat_id = int(delivery.recipient)
    chat = await find_chat(uow.session, chat_id, for_update=True)
    if chat is not None and chat.unreachable_at is not None:
        return Permanent("telegram chat unreachable (blocked the bot)", blocked=True)
    interval = notify.chat_interval
    if chat is not None and chat.last_sent_at is not None and interval:
        allowed_at = chat.last_sent_at + interval
        if allowed_at > now:
            await schedule_delivery(uow.session, delivery.id, allowed_at)
            delivery.next_attempt_at = allowed_at
            uow.session.add(delivery)
            return None
    context = load_context(delivery)
    try:
        rendered = _render(notify, delivery, context)
    except TemplateError as exc:
        return Permanent(f"template {delivery.template}: {exc}")
    # The chat's spacing counts from the moment the attempt is paced to (reserve_send_slot).
    return ProviderCall(
        chat_id=chat_id,
        text=rendered.telegram,
        buttons=_buttons(context, delivery.language),
        edit_message_id=delivery.edit_message_id,
        chat_ref=chat.id if chat is not None else None,
    )


async def _after_telegram(
    uow: UnitOfWork, delivery: Delivery, outcome: Outcome, call: ProviderCall, now: datetime
) -> None:
    """Telegram has the message: the chat's spacing counts from now too (a call that waited on a
    busy process must not bring the next message closer than the interval), and a new
    message's id is kept, so later edits find it (every chat we send to has its row)."""
    if not isinstance(outcome, Sent):
        return
    chat = await find_chat(uow.session, call.chat_id, for_update=True)
    if chat is None:
        return
    if chat.last_sent_at is None or chat.last_sent_at < now:
        chat.last_sent_at = now
        uow.session.add(chat)
    if call.edit_message_id is None and outcome.provider_message_id:
        uow.session.add(
            TelegramMessage(
                chat_ref=chat.id,
                message_id=int(outcome.provider_message_id),
                delivery_id=delivery.id,
                template=delivery.template,
                ref=delivery.ref,
                has_buttons=any(b.callback_data for row in call.buttons for b in row),
                created_at=now,
            )
        )


# -- bookkeeping ----------------------------------------------------------------------------


def _finish(delivery: Delivery, now: datetime, *, status: str, error: str | None) -> None:
    delivery.status = status
    delivery.last_error = error
    delivery.updated_at = now
    delivery.next_attempt_at = None


async def _record(
    uow: UnitOfWork, notify: NotifyPorts, delivery: Delivery, outcome: Outcome, now: datetime
) -> None:
    decision = after_attempt(outcome, delivery.attempts, notify.retry)
    delivery.updated_at = now
    if isinstance(outcome, Sent):
        delivery.status = "sent"
        delivery.sent_at = now
        delivery.provider_message_id = outcome.provider_message_id
        delivery.next_attempt_at = None
    elif decision.status == "retrying":
        assert isinstance(outcome, Transient) and decision.retry_in is not None
        delivery.status = "retrying"
        delivery.last_error = outcome.error[:2000]
        delivery.next_attempt_at = now + decision.retry_in
        await schedule_delivery(uow.session, delivery.id, delivery.next_attempt_at)
    else:
        error = outcome.error if isinstance(outcome, Permanent | Transient) else "failed"
        _finish(delivery, now, status="failed", error=error[:2000])
        blocked = isinstance(outcome, Permanent) and outcome.blocked
        uow.emit(
            DeliveryFailedV1(
                delivery_id=delivery.id,
                user_id=delivery.user_id,
                channel="telegram" if delivery.channel == "telegram" else "email",
                template=delivery.template,
                recipient=delivery.recipient,
                error=error[:500],
                attempts=delivery.attempts,
                permanent=not decision.give_up,
                source_event_id=delivery.source_event_id,
                source_event_type=delivery.source_event_type,
            )
        )
        logger.warning(
            "delivery failed",
            extra={
                "delivery_id": str(delivery.id),
                "channel": delivery.channel,
                "template": delivery.template,
                "attempts": delivery.attempts,
            },
        )
        if blocked and delivery.channel == "telegram":
            await _mark_unreachable(uow, delivery, now)
    uow.session.add(delivery)
    if delivery.template in crisis.AUDITED_TEMPLATES:  # the crisis audit follows its messages
        blocked = isinstance(outcome, Permanent) and outcome.blocked
        await crisis.delivery_settled(uow, notify, delivery, blocked=blocked)


async def _mark_unreachable(uow: UnitOfWork, delivery: Delivery, now: datetime) -> None:
    """The user blocked the bot: later messages go by email at once (the failed one follows
    by email through ``notify.delivery.failed``: ``notify.application.deliveries``)."""
    chat = await find_chat(uow.session, int(delivery.recipient))
    if chat is not None and chat.unreachable_at is None:
        chat.unreachable_at = now
        uow.session.add(chat)
