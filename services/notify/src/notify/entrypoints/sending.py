"""The ``deliver`` timer: send one delivery, then record what happened, in one transaction.

The timer row is claimed with ``FOR UPDATE SKIP LOCKED`` and the delivery row locked, so with
several replicas a message is sent once. The send happens inside the transaction that marks the
row; a crash between the provider's acceptance and the commit sends it again (at least once at
the edge, by design). A transient failure schedules the next attempt with backoff (Telegram's
``retry_after`` when given); a permanent one fails the row and publishes
``notify.delivery.failed``; a chat that blocked the bot is marked unreachable. A Telegram message
that failed for good goes by email once, from the consumer of ``notify.delivery.failed``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from contracts.notify.v1 import DeliveryFailedV1
from jinja2 import TemplateError
from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import Timer

from notify.adapters.deliveries import (
    find_chat,
    load_context,
    marketing_allowed,
    schedule_delivery,
)
from notify.adapters.mailer import build_email
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
)

logger = logging.getLogger("notify.sending")


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


class DeliverySender:
    """The ``deliver`` timer handler of one runtime."""

    def __init__(self, ctx: NotifyContext) -> None:
        self.ctx = ctx

    async def __call__(self, uow: UnitOfWork, timer: Timer) -> None:
        delivery_id = uuid.UUID(str(timer.payload["delivery_id"]))
        delivery = await uow.session.get(Delivery, delivery_id, with_for_update=True)
        if delivery is None or delivery.status in FINAL_STATUSES:
            return
        now = self.ctx.clock()
        if delivery.category == "marketing" and not await marketing_allowed(
            uow.session, delivery.user_id
        ):
            self._finish(delivery, now, status="skipped", error="no_marketing_consent")
            uow.session.add(delivery)
            return
        if delivery.channel == "email":
            outcome = await self._send_email(uow, delivery)
        else:
            sent = await self._send_telegram(uow, delivery, now)
            if sent is None:
                return  # rescheduled for the chat's rate limit; not an attempt
            outcome = sent
        await self._record(uow, delivery, outcome, now)

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

    async def _send_email(self, uow: UnitOfWork, delivery: Delivery) -> Outcome:
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
        )
        return await self.ctx.mailer.send(message)

    async def _send_telegram(
        self, uow: UnitOfWork, delivery: Delivery, now: datetime
    ) -> Outcome | None:
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
        buttons = _buttons(context, delivery.language)
        telegram = self.ctx.telegram
        if delivery.edit_message_id is not None:
            outcome = await telegram.edit(
                chat_id, delivery.edit_message_id, rendered.telegram, buttons
            )
        else:
            outcome = await telegram.send(chat_id, rendered.telegram, buttons)
        if chat is not None:
            chat.last_sent_at = self.ctx.clock()
            uow.session.add(chat)
        if (
            isinstance(outcome, Sent)
            and delivery.edit_message_id is None
            and outcome.provider_message_id
            and chat is not None  # every chat we send to has its row (rows are never deleted)
        ):
            uow.session.add(
                TelegramMessage(
                    chat_ref=chat.id,
                    message_id=int(outcome.provider_message_id),
                    delivery_id=delivery.id,
                    template=delivery.template,
                    ref=delivery.ref,
                    has_buttons=any(b.callback_data for row in buttons for b in row),
                    created_at=now,
                )
            )
        return outcome

    # -- bookkeeping ------------------------------------------------------------------------

    def _finish(self, delivery: Delivery, now: datetime, *, status: str, error: str | None) -> None:
        delivery.status = status
        delivery.last_error = error
        delivery.updated_at = now
        delivery.next_attempt_at = None

    async def _record(
        self, uow: UnitOfWork, delivery: Delivery, outcome: Outcome, now: datetime
    ) -> None:
        delivery.attempts += 1
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
