"""The ``deliver`` timer: send one delivery, as an explicit two-step.

1. **The attempt is committed first.** The delivery row is locked, checked and rendered, then
   committed as ``sending`` (its ``attempts`` counted) together with the firing timer marked
   fired and a *recovery* timer due after ``delivery_sending_lease_seconds``. Nothing is sent
   inside a transaction.
2. **The provider is called**, outside any transaction.
3. **The outcome is written** (``sent`` / ``retrying`` / ``failed``, the Telegram message's id,
   the recovery timer cancelled). Once the provider answered, that answer is kept in memory and
   written when the database is back, however long that takes: it is never rolled back into a
   resend.

If the process dies between 1 and 3, the recovery timer finds the row still ``sending`` and
applies the rule of :func:`notify.domain.attempts.resend_after_crash` (docs/notify.md, "Delivery
guarantees"): an alert or an edit is sent again (at least once); a confirmation, a reminder or
a bot reply is not, and is left ``unconfirmed`` (at most once). Every attempt of one email
carries the same ``Message-ID`` (derived from the delivery id), so a mail system can recognise a
repeat.

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
from servicekit.db.faults import is_transient
from servicekit.db.tables import timers
from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import Timer, cancel, schedule
from sqlalchemy import update

from notify.adapters.deliveries import (
    DELIVER,
    find_chat,
    load_context,
    marketing_allowed,
    schedule_delivery,
)
from notify.adapters.mailer import build_email, message_id_for
from notify.adapters.tables import Delivery, Recipient, TelegramMessage
from notify.adapters.telegram import InlineButton
from notify.adapters.templates import BUTTON_LABELS, Rendered
from notify.context import NotifyContext
from notify.domain.attempts import (
    FINAL_STATUSES,
    Outcome,
    Permanent,
    Sent,
    Transient,
    after_attempt,
    resend_after_crash,
)

logger = logging.getLogger("notify.sending")

SENDING = "sending"
UNCONFIRMED = "unconfirmed"


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


def _recovery_key(delivery_id: uuid.UUID, attempt: int) -> str:
    return f"{delivery_id}:sending:{attempt}"


@dataclass(frozen=True)
class _Call:
    """What step 1 decided to send: an email, or a Telegram message or edit."""

    email: EmailMessage | None = None
    chat_id: int = 0
    text: str = ""
    buttons: list[list[InlineButton]] = field(default_factory=list)
    edit_message_id: int | None = None


class DeliverySender:
    """The ``deliver`` timer handler of one runtime."""

    def __init__(self, ctx: NotifyContext) -> None:
        self.ctx = ctx
        # Outcomes the provider gave that are not written yet (the database was away): the
        # recovery timer, if it fires first in this process, writes them instead of guessing.
        self._unwritten: dict[uuid.UUID, tuple[Outcome, _Call]] = {}

    async def __call__(self, uow: UnitOfWork, timer: Timer) -> None:
        delivery_id = uuid.UUID(str(timer.payload["delivery_id"]))
        delivery = await uow.session.get(Delivery, delivery_id, with_for_update=True)
        if delivery is None or delivery.status in FINAL_STATUSES:
            return
        now = self.ctx.clock()
        if delivery.status == SENDING and not await self._recover(uow, delivery, now):
            return
        if delivery.category == "marketing" and not await marketing_allowed(
            uow.session, delivery.user_id
        ):
            self._finish(delivery, now, status="skipped", error="no_marketing_consent")
            uow.session.add(delivery)
            return
        call: _Call | Permanent | None
        if delivery.channel == "email":
            call = await self._prepare_email(uow, delivery)
        else:
            call = await self._prepare_telegram(uow, delivery, now)
        if call is None:
            return  # rescheduled for the chat's rate limit; not an attempt
        if isinstance(call, Permanent):  # nothing to send (a template error): no provider call
            delivery.attempts += 1
            await self._record(uow, delivery, call, now)
            return
        # Step 1: the attempt is on record before the provider hears of it.
        delivery.attempts += 1
        delivery.status = SENDING
        delivery.updated_at = now
        uow.session.add(delivery)
        lease = timedelta(seconds=self.ctx.settings.delivery_sending_lease_seconds)
        await schedule(
            uow.session,
            kind=DELIVER,
            key=_recovery_key(delivery.id, delivery.attempts),
            due_at=now + lease,
            payload={"delivery_id": str(delivery.id)},
        )
        await uow.session.exec(update(timers).where(timers.c.id == timer.id).values(fired_at=now))
        await uow.commit()
        # Step 2: the provider, outside any transaction.
        outcome = await self._call(call)
        # Step 3: its answer is written, whenever the database lets us.
        await self._write_outcome(uow, delivery.id, delivery.attempts, outcome, call)

    async def _recover(self, uow: UnitOfWork, delivery: Delivery, now: datetime) -> bool:
        """A ``sending`` row whose outcome was never written: ``True`` to send it again."""
        kept = self._unwritten.pop(delivery.id, None)
        if kept is not None:  # this process has the answer; the database was away when it came
            outcome, call = kept
            if delivery.channel == "telegram":
                await self._after_telegram(uow, delivery, outcome, call, now)
            await self._record(uow, delivery, outcome, now)
            return False
        extra = {"delivery_id": str(delivery.id), "template": delivery.template}
        if resend_after_crash(delivery.category, is_edit=delivery.edit_message_id is not None):
            logger.warning("delivery interrupted while sending; sending again", extra=extra)
            return True
        logger.warning("delivery interrupted while sending; not sent again", extra=extra)
        self._finish(
            delivery,
            now,
            status=UNCONFIRMED,
            error="interrupted after the provider was called; not sent again (at most once)",
        )
        uow.session.add(delivery)
        return False

    async def _call(self, call: _Call) -> Outcome:
        if call.email is not None:
            return await self.ctx.mailer.send(call.email)
        telegram = self.ctx.telegram
        if call.edit_message_id is not None:
            return await telegram.edit(call.chat_id, call.edit_message_id, call.text, call.buttons)
        return await telegram.send(call.chat_id, call.text, call.buttons)

    async def _write_outcome(
        self,
        uow: UnitOfWork,
        delivery_id: uuid.UUID,
        attempt: int,
        outcome: Outcome,
        call: _Call,
    ) -> None:
        """Write what the provider said; retried until the database takes it (a lost database
        never turns an accepted message into a resend)."""
        self._unwritten[delivery_id] = (outcome, call)
        delay = 0.2
        while True:
            try:
                await self._write_once(uow, delivery_id, attempt, outcome, call)
                self._unwritten.pop(delivery_id, None)
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
        self,
        uow: UnitOfWork,
        delivery_id: uuid.UUID,
        attempt: int,
        outcome: Outcome,
        call: _Call,
    ) -> None:
        delivery = await uow.session.get(
            Delivery, delivery_id, with_for_update=True, populate_existing=True
        )
        # Written already (the recovery timer used the kept outcome), or resolved as
        # unconfirmed by another replica's recovery timer: the real answer is better.
        if delivery is None or delivery.status not in (SENDING, UNCONFIRMED):
            await uow.rollback()
            return
        now = self.ctx.clock()
        if delivery.channel == "telegram":
            await self._after_telegram(uow, delivery, outcome, call, now)
        await self._record(uow, delivery, outcome, now)
        await cancel(uow.session, kind=DELIVER, key=_recovery_key(delivery_id, attempt))
        await uow.commit()

    # -- channels ---------------------------------------------------------------------------

    def _render(self, delivery: Delivery, context: dict[str, Any]) -> Rendered:
        """Render the delivery; a template error is a bug no retry fixes (``TemplateError``)."""
        unsubscribe = (
            self.ctx.unsubscribe_url(delivery.user_id)
            if delivery.category == "marketing" and delivery.user_id
            else None
        )
        return self.ctx.renderer.render(
            delivery.template,
            {**context, "unsubscribe_url": unsubscribe},
            language=delivery.language,
            zone=delivery.time_zone,
        )

    async def _prepare_email(self, uow: UnitOfWork, delivery: Delivery) -> _Call | Permanent:
        context = load_context(delivery)
        try:
            rendered = self._render(delivery, context)
        except TemplateError as exc:
            return Permanent(f"template {delivery.template}: {exc}")
        recipient = await uow.session.get(Recipient, delivery.user_id) if delivery.user_id else None
        settings = self.ctx.settings
        message = build_email(
            rendered,
            to_address=delivery.recipient,
            to_name=recipient.name if recipient else None,
            mail_from=settings.mail_from,
            mail_domain=settings.mail_domain,
            unsubscribe_url=self.ctx.unsubscribe_url(delivery.user_id)
            if delivery.category == "marketing" and delivery.user_id
            else None,
            unsubscribe_mailto=settings.unsubscribe_mailto,
            message_id=message_id_for(delivery.id, settings.mail_domain),
        )
        return _Call(email=message)

    async def _prepare_telegram(
        self, uow: UnitOfWork, delivery: Delivery, now: datetime
    ) -> _Call | Permanent | None:
        chat_id = int(delivery.recipient)
        chat = await find_chat(uow.session, chat_id, for_update=True)
        if chat is not None and chat.unreachable_at is not None:
            return Permanent("telegram chat unreachable (blocked the bot)", blocked=True)
        interval = self.ctx.chat_interval
        if chat is not None and chat.last_sent_at is not None and interval:
            allowed_at = chat.last_sent_at + interval
            if allowed_at > now:
                await schedule_delivery(uow.session, delivery.id, allowed_at)
                delivery.next_attempt_at = allowed_at
                uow.session.add(delivery)
                return None
        context = load_context(delivery)
        try:
            rendered = self._render(delivery, context)
        except TemplateError as exc:
            return Permanent(f"template {delivery.template}: {exc}")
        if chat is not None:  # the chat's spacing counts from the attempt
            chat.last_sent_at = now
            uow.session.add(chat)
        return _Call(
            chat_id=chat_id,
            text=rendered.telegram,
            buttons=_buttons(context, delivery.language),
            edit_message_id=delivery.edit_message_id,
        )

    async def _after_telegram(
        self, uow: UnitOfWork, delivery: Delivery, outcome: Outcome, call: _Call, now: datetime
    ) -> None:
        """A new message's id, so later edits find it (every chat we send to has its row)."""
        if not isinstance(outcome, Sent) or call.edit_message_id is not None:
            return
        chat = await find_chat(uow.session, call.chat_id)
        if outcome.provider_message_id and chat is not None:
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

    # -- bookkeeping ------------------------------------------------------------------------

    def _finish(self, delivery: Delivery, now: datetime, *, status: str, error: str | None) -> None:
        delivery.status = status
        delivery.last_error = error
        delivery.updated_at = now
        delivery.next_attempt_at = None

    async def _record(
        self, uow: UnitOfWork, delivery: Delivery, outcome: Outcome, now: datetime
    ) -> None:
        decision = after_attempt(outcome, delivery.attempts, self.ctx.retry)
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
            self._finish(delivery, now, status="failed", error=error[:2000])
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
                await self._mark_unreachable(uow, delivery, now)
        uow.session.add(delivery)

    async def _mark_unreachable(self, uow: UnitOfWork, delivery: Delivery, now: datetime) -> None:
        """The user blocked the bot: later messages go by email at once (the failed one follows
        by email through ``notify.delivery.failed``, see the delivery-failures consumer)."""
        chat = await find_chat(uow.session, int(delivery.recipient))
        if chat is not None and chat.unreachable_at is None:
            chat.unreachable_at = now
            uow.session.add(chat)
