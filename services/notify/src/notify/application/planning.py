"""Planning messages: a notice, a bot reply or an edit becomes ``deliveries`` rows plus
``deliver`` timers.

Everything here runs inside the caller's unit of work (a consumer's, a timer's, the webhook's, a
request's): nothing is sent; the ``deliver`` timer sends after the commit
(:mod:`notify.application.sending`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from contracts.envelope import EventEnvelope
from servicekit.messaging.outbox import UnitOfWork
from sqlmodel.ext.asyncio.session import AsyncSession

from notify.adapters.chats import messages_with_buttons, retire_buttons
from notify.adapters.deliveries import (
    deliver_timer,
    dump_context,
    has_email_copy,
    load_context,
    skip_unsent,
    unsent_by_telegram,
)
from notify.adapters.tables import (
    Consent,
    Delivery,
    Preference,
    Recipient,
    TelegramButton,
    TelegramChat,
    TelegramTap,
)
from notify.application.batch import reach, schedule_timer
from notify.application.ports import NotifyPorts
from notify.domain.formatting import DEFAULT_ZONE
from notify.domain.preferences import (
    MARKETING_CONSENT,
    Channel,
    channel_order,
    choose_channels,
    may_send_marketing,
    quiet_hours_between,
    send_after_quiet_hours,
)
from notify.domain.rules import Button, Edit, Notice, has_email_form
from notify.domain.tokens import new_button_token

logger = logging.getLogger("notify.planning")


def _source(source: EventEnvelope[Any] | None) -> dict[str, Any]:
    if source is None:
        return {}
    return {"source_event_id": source.event_id, "source_event_type": source.event_type}


async def marketing_allowed(session: AsyncSession, user_id: uuid.UUID | None) -> bool:
    """The user granted marketing consent and has not unsubscribed since."""
    if user_id is None:
        return False
    consent = await session.get(Consent, (user_id, MARKETING_CONSENT))
    prefs = await session.get(Preference, user_id)
    return may_send_marketing(
        consent_granted=bool(consent and consent.granted),
        unsubscribed=bool(prefs and prefs.unsubscribed_at),
    )


async def add_delivery(
    uow: UnitOfWork,
    notify: NotifyPorts,
    *,
    due_at: datetime | None,
    **fields: Any,
) -> Delivery:
    """A delivery row; with ``due_at`` pending and a ``deliver`` timer, without it skipped."""
    now = notify.clock()
    status = "pending" if due_at is not None else "skipped"
    delivery = Delivery(
        created_at=now, updated_at=now, status=status, next_attempt_at=due_at, **fields
    )
    uow.session.add(delivery)
    if due_at is not None:  # with a batch's timers when planned in one
        await schedule_timer(uow.session, deliver_timer(delivery.id, due_at))
    return delivery


async def _button_rows(
    uow: UnitOfWork,
    notify: NotifyPorts,
    delivery_id: uuid.UUID,
    user_id: uuid.UUID,
    buttons: Sequence[Button],
) -> list[list[dict[str, str]]]:
    """The keyboard of a message: links as they are, actions as opaque button tokens bound to
    the user (a token means nothing by itself)."""
    row: list[dict[str, str]] = []
    for button in buttons:
        if button.url:
            row.append({"label": button.label, "url": button.url})
        elif button.action:
            token = new_button_token()
            uow.session.add(
                TelegramButton(
                    token=token,
                    delivery_id=delivery_id,
                    user_id=user_id,
                    action=button.action,
                    appointment_id=button.appointment_id,
                    waitlist_offer_id=button.waitlist_offer_id,
                    created_at=notify.clock(),
                )
            )
            row.append({"label": button.label, "token": token})
    return [row] if row else []


async def plan_notice(
    uow: UnitOfWork,
    notify: NotifyPorts,
    notice: Notice,
    *,
    source: EventEnvelope[Any] | None = None,
) -> list[Delivery]:
    """Rows (and timers) for one notice: the channel(s) the user prefers and can be reached on,
    after their quiet hours unless urgent; a ``skipped`` row when it may not or cannot go."""
    session = uow.session
    now = notify.clock()
    common = {
        "user_id": notice.user_id,
        "template": notice.template,
        "category": notice.category,
        "ref": notice.ref,
        **_source(source),
    }
    recipient, prefs, chat = await reach(session, notice.user_id)
    if recipient is None:
        logger.warning("no recipient for a notice", extra={"template": notice.template})
        return [
            await add_delivery(
                uow,
                notify,
                due_at=None,
                channel="email",
                language="ru",
                time_zone=DEFAULT_ZONE,
                recipient="",
                context=dump_context(notice.context),
                last_error="unknown_recipient",
                **common,
            )
        ]
    base = {
        "language": recipient.language,
        "time_zone": recipient.time_zone,
        "context": dump_context(notice.context),
        **common,
    }
    if notice.category == "marketing" and not await marketing_allowed(session, notice.user_id):
        return [
            await add_delivery(
                uow,
                notify,
                due_at=None,
                channel="email",
                recipient=recipient.email,
                last_error="no_marketing_consent",
                **base,
            )
        ]
    available: list[Channel] = ["email"]
    if chat is not None and chat.unreachable_at is None:
        available.append("telegram")
    channels = choose_channels(
        category=notice.category,
        allowed=notice.channels,
        preferred=channel_order(prefs.channels if prefs else None),
        available=available,
    )
    if not channels:
        return [
            await add_delivery(
                uow,
                notify,
                due_at=None,
                channel=(notice.channels or ("email",))[0],
                recipient="",
                last_error="no_channel",
                **base,
            )
        ]
    quiet = quiet_hours_between(prefs.quiet_start, prefs.quiet_end) if prefs else None
    due = now if notice.urgent else send_after_quiet_hours(now, quiet, recipient.time_zone)
    planned = []
    for channel in channels:
        if channel == "telegram":
            assert chat is not None
            delivery_id = uuid.uuid4()
            rows = await _button_rows(uow, notify, delivery_id, notice.user_id, notice.buttons)
            context = {**notice.context, "_buttons": rows}
            fields = {**base, "context": dump_context(context)}
            planned.append(
                await add_delivery(
                    uow,
                    notify,
                    due_at=due,
                    id=delivery_id,
                    channel="telegram",
                    recipient=str(chat.chat_id),
                    **fields,
                )
            )
        else:
            planned.append(
                await add_delivery(
                    uow, notify, due_at=due, channel="email", recipient=recipient.email, **base
                )
            )
    return planned


async def plan_to_address(
    uow: UnitOfWork,
    notify: NotifyPorts,
    notice: Notice,
    *,
    email: str,
    language: str,
    source: EventEnvelope[Any],
) -> Delivery:
    """Account mail, at once, to the address the event names (a new address is not in the copy
    yet), whatever the user's channels."""
    recipient = await uow.session.get(Recipient, notice.user_id)
    return await add_delivery(
        uow,
        notify,
        due_at=notify.clock(),
        user_id=notice.user_id,
        channel="email",
        template=notice.template,
        category=notice.category,
        language=language,
        time_zone=recipient.time_zone if recipient else DEFAULT_ZONE,
        recipient=email,
        context=dump_context(notice.context),
        **_source(source),
    )


async def plan_chat_message(
    uow: UnitOfWork,
    notify: NotifyPorts,
    *,
    chat_id: int,
    template: str,
    context: Mapping[str, Any],
    language: str,
    user_id: uuid.UUID | None = None,
    buttons: Sequence[Button] = (),
    ref: str | None = None,
) -> Delivery:
    """A bot message to a chat (a reply to ``/start``), whether or not it is linked."""
    delivery_id = uuid.uuid4()
    rows: list[list[dict[str, str]]] = []
    if buttons:
        if user_id is None:
            rows = [[{"label": b.label, "url": b.url} for b in buttons if b.url]]
        else:
            rows = await _button_rows(uow, notify, delivery_id, user_id, buttons)
    recipient = await uow.session.get(Recipient, user_id) if user_id is not None else None
    return await add_delivery(
        uow,
        notify,
        due_at=notify.clock(),
        id=delivery_id,
        user_id=user_id,
        channel="telegram",
        template=template,
        category="transactional",
        language=language,
        time_zone=recipient.time_zone if recipient else DEFAULT_ZONE,
        recipient=str(chat_id),
        context=dump_context({**context, "_buttons": rows}),
        ref=ref,
    )


async def plan_edits(
    uow: UnitOfWork,
    notify: NotifyPorts,
    edit: Edit,
    *,
    source: EventEnvelope[Any] | None = None,
) -> list[Delivery]:
    """Edit the Telegram messages an outcome is about: those with ``edit.ref`` that still carry
    buttons, or the one whose button was tapped (``edit.action_id``). Their buttons are retired."""
    session = uow.session
    targets: list[tuple[TelegramChat, int, uuid.UUID | None]] = []
    if edit.action_id is not None:
        tap = await session.get(TelegramTap, edit.action_id)
        if tap is not None:
            chat = await session.get(TelegramChat, tap.chat_ref)
            if chat is not None:
                targets.append((chat, tap.message_id, tap.user_id))
            tap.outcome = edit.template
            session.add(tap)
    if edit.ref is not None:
        for message in await messages_with_buttons(session, edit.ref):
            chat = await session.get(TelegramChat, message.chat_ref)
            if chat is not None:
                targets.append((chat, message.message_id, chat.user_id))
    planned = []
    unique = {(chat.id, message_id, user_id): chat for chat, message_id, user_id in targets}
    for (chat_ref, message_id, user_id), chat in unique.items():
        await retire_buttons(session, chat_ref, message_id)
        recipient = await session.get(Recipient, user_id) if user_id else None
        planned.append(
            await add_delivery(
                uow,
                notify,
                due_at=notify.clock(),
                user_id=user_id,
                channel="telegram",
                template=edit.template,
                category="transactional",
                language=recipient.language if recipient else "ru",
                time_zone=recipient.time_zone if recipient else DEFAULT_ZONE,
                recipient=str(chat.chat_id),
                context=dump_context({**edit.context, "_buttons": []}),
                ref=edit.ref,
                edit_message_id=message_id,
                **_source(source),
            )
        )
    return planned


async def skip_pending(
    uow: UnitOfWork, notify: NotifyPorts, *, ref: str, templates: Sequence[str], reason: str
) -> int:
    """Mark unsent deliveries about ``ref`` skipped (e.g. reminders of a cancelled appointment)."""
    return await skip_unsent(
        uow.session, ref=ref, templates=templates, reason=reason, now=notify.clock()
    )


async def plan_email_fallback(
    uow: UnitOfWork, notify: NotifyPorts, failed: Delivery
) -> Delivery | None:
    """The same message by email, once, after a Telegram delivery failed for good.

    Only a message that has an email form (not a bot reply or an edit), to a known user who
    keeps email among their channels; never for a fallback itself, nor when the message already
    went (or goes) by email. When email is not among the user's channels, a ``skipped`` row
    says so in the log.
    """
    if failed.channel != "telegram" or failed.fallback_of is not None:
        return None
    if failed.user_id is None or not has_email_form(
        failed.template, is_edit=failed.edit_message_id is not None
    ):
        return None
    if await has_email_copy(uow.session, failed):
        return None
    recipient, prefs, _ = await reach(uow.session, failed.user_id)
    if recipient is None or not recipient.email:
        return None
    context = load_context(failed)
    context.pop("_buttons", None)
    allowed = "email" in channel_order(prefs.channels if prefs else None)
    return await add_delivery(
        uow,
        notify,
        due_at=notify.clock() if allowed else None,
        user_id=failed.user_id,
        channel="email",
        template=failed.template,
        category=failed.category,
        language=failed.language,
        time_zone=failed.time_zone,
        recipient=recipient.email,
        context=dump_context(context),
        ref=failed.ref,
        source_event_id=failed.source_event_id,
        source_event_type=failed.source_event_type,
        fallback_of=failed.id,
        last_error=None if allowed else "email_not_in_preferences",
    )


async def move_pending_to_email(
    uow: UnitOfWork, notify: NotifyPorts, user_id: uuid.UUID, email: str | None
) -> None:
    """A user's chat was unlinked: what still waits to go to it goes by email instead (edits and
    bot replies, which have no email form, are skipped)."""
    now = notify.clock()
    for delivery in await unsent_by_telegram(uow.session, user_id):
        delivery.updated_at = now
        if email and has_email_form(
            delivery.template, is_edit=delivery.edit_message_id is not None
        ):
            context = load_context(delivery)
            context.pop("_buttons", None)
            delivery.channel = "email"
            delivery.recipient = email
            delivery.context = dump_context(context)
        else:
            delivery.status = "skipped"
            delivery.last_error = "telegram_unlinked"
            delivery.next_attempt_at = None
        uow.session.add(delivery)
