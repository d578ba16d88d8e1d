"""Planning deliveries: a notice or an edit becomes ``deliveries`` rows plus ``deliver`` timers.

Everything here runs inside the caller's transaction (a consumer's, a timer's, the webhook's):
nothing is sent; the ``deliver`` timer handler sends after the commit (see
``notify.entrypoints.sending``).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from contracts.envelope import EventEnvelope
from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import schedule
from sqlalchemy import Text, and_, cast, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from notify.adapters.tables import (
    Consent,
    Delivery,
    Preference,
    Recipient,
    TelegramButton,
    TelegramChat,
    TelegramMessage,
    TelegramTap,
    chat_index,
)
from notify.context import NotifyContext
from notify.domain.formatting import DEFAULT_ZONE
from notify.domain.preferences import (
    CHANNELS,
    DEFAULT_CHANNELS,
    Channel,
    QuietHours,
    choose_channels,
    may_send_marketing,
    send_after_quiet_hours,
)
from notify.domain.rules import Button, Edit, Notice
from notify.domain.tokens import new_button_token

logger = logging.getLogger("notify.deliveries")

DELIVER = "deliver"
MARKETING_CONSENT = "marketing_messages"
TELEGRAM_ONLY_PREFIXES = ("bot_", "edit_")  # templates with only a Telegram part


def dump_context(context: Mapping[str, Any]) -> str:
    """The JSON stored (encrypted) in ``deliveries.context``."""
    return json.dumps(dict(context), ensure_ascii=False, default=str, sort_keys=True)


def load_context(delivery: Delivery) -> dict[str, Any]:
    """The context a delivery renders."""
    value: dict[str, Any] = json.loads(delivery.context)
    return value


async def schedule_delivery(
    session: AsyncSession, delivery_id: uuid.UUID, due_at: datetime
) -> None:
    """A ``deliver`` timer for the delivery (a fresh key each time: the firing one is marked)."""
    await schedule(
        session,
        kind=DELIVER,
        key=f"{delivery_id}:{uuid.uuid4().hex[:12]}",
        due_at=due_at,
        payload={"delivery_id": str(delivery_id)},
    )


async def find_chat(
    session: AsyncSession, chat_id: int, *, for_update: bool = False
) -> TelegramChat | None:
    """The chat with Telegram id ``chat_id`` (found by its blind index), if notify knows it."""
    query = select(TelegramChat).where(TelegramChat.chat_index == chat_index(chat_id))
    if for_update:
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def linked_chat(session: AsyncSession, user_id: uuid.UUID) -> TelegramChat | None:
    """The Telegram chat linked to a user, if any."""
    result = await session.exec(select(TelegramChat).where(TelegramChat.user_id == user_id))
    return result.first()


async def reach_of(
    session: AsyncSession, user_id: uuid.UUID
) -> tuple[Recipient | None, Preference | None, TelegramChat | None]:
    """A user's contacts, preferences and linked chat, in one round trip."""
    row = (
        await session.exec(
            select(Recipient, Preference, TelegramChat)
            .outerjoin(Preference, col(Preference.user_id) == col(Recipient.user_id))
            .outerjoin(TelegramChat, col(TelegramChat.user_id) == col(Recipient.user_id))
            .where(Recipient.user_id == user_id)
        )
    ).first()
    if row is None:
        return None, None, None
    recipient, prefs, chat = row
    return recipient, prefs, chat


async def admin_ids(session: AsyncSession) -> list[uuid.UUID]:
    """The users cabinet says are admins (notify's copy of their roles)."""
    found = await session.exec(
        select(Recipient.user_id)
        .where(cast(Recipient.roles, Text).like('%"admin"%'))
        .order_by(col(Recipient.user_id))
    )
    return list(found.all())


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


def channels_of(prefs: Preference | None) -> list[Channel]:
    """A preference row's channel order (the default when the user set none)."""
    if prefs is None:
        return list(DEFAULT_CHANNELS)
    return [c for c in prefs.channels if c in CHANNELS]


def quiet_hours_of(prefs: Preference | None) -> QuietHours | None:
    """A preference row's quiet hours."""
    if prefs is None or prefs.quiet_start is None or prefs.quiet_end is None:
        return None
    return QuietHours(prefs.quiet_start, prefs.quiet_end)


def _source(source: EventEnvelope[Any] | None) -> dict[str, Any]:
    if source is None:
        return {}
    return {"source_event_id": source.event_id, "source_event_type": source.event_type}


async def add_delivery(
    uow: UnitOfWork,
    ctx: NotifyContext,
    *,
    due_at: datetime | None,
    **fields: Any,
) -> Delivery:
    """A delivery row; with ``due_at`` pending and a ``deliver`` timer, without it skipped."""
    now = ctx.clock()
    status = "pending" if due_at is not None else "skipped"
    delivery = Delivery(
        created_at=now, updated_at=now, status=status, next_attempt_at=due_at, **fields
    )
    uow.session.add(delivery)
    if due_at is not None:
        await schedule_delivery(uow.session, delivery.id, due_at)
    return delivery


async def _button_rows(
    uow: UnitOfWork,
    ctx: NotifyContext,
    delivery_id: uuid.UUID,
    user_id: uuid.UUID,
    buttons: Sequence[Button],
) -> list[list[dict[str, str]]]:
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
                    created_at=ctx.clock(),
                )
            )
            row.append({"label": button.label, "token": token})
    return [row] if row else []


async def plan_notice(
    uow: UnitOfWork,
    ctx: NotifyContext,
    notice: Notice,
    *,
    source: EventEnvelope[Any] | None = None,
) -> list[Delivery]:
    """Rows (and timers) for one notice: the channel(s) the user prefers and can be reached on,
    after their quiet hours unless urgent; a ``skipped`` row when it may not or cannot go."""
    session = uow.session
    now = ctx.clock()
    common = {
        "user_id": notice.user_id,
        "template": notice.template,
        "category": notice.category,
        "ref": notice.ref,
        **_source(source),
    }
    recipient, prefs, chat = await reach_of(session, notice.user_id)
    if recipient is None:
        logger.warning("no recipient for a notice", extra={"template": notice.template})
        return [
            await add_delivery(
                uow,
                ctx,
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
                ctx,
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
    preferred = channels_of(prefs)
    channels = choose_channels(
        category=notice.category, allowed=notice.channels, preferred=preferred, available=available
    )
    if not channels:
        return [
            await add_delivery(
                uow,
                ctx,
                due_at=None,
                channel=(notice.channels or ("email",))[0],
                recipient="",
                last_error="no_channel",
                **base,
            )
        ]
    due = (
        now
        if notice.urgent
        else send_after_quiet_hours(now, quiet_hours_of(prefs), recipient.time_zone)
    )
    planned = []
    for channel in channels:
        if channel == "telegram":
            assert chat is not None
            delivery_id = uuid.uuid4()
            rows = await _button_rows(uow, ctx, delivery_id, notice.user_id, notice.buttons)
            context = {**notice.context, "_buttons": rows}
            fields = {**base, "context": dump_context(context)}
            planned.append(
                await add_delivery(
                    uow,
                    ctx,
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
                    uow, ctx, due_at=due, channel="email", recipient=recipient.email, **base
                )
            )
    return planned


async def plan_chat_message(
    uow: UnitOfWork,
    ctx: NotifyContext,
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
            rows = await _button_rows(uow, ctx, delivery_id, user_id, buttons)
    return await add_delivery(
        uow,
        ctx,
        due_at=ctx.clock(),
        id=delivery_id,
        user_id=user_id,
        channel="telegram",
        template=template,
        category="transactional",
        language=language,
        time_zone=(await _zone_of(uow.session, user_id)),
        recipient=str(chat_id),
        context=dump_context({**context, "_buttons": rows}),
        ref=ref,
    )


async def _zone_of(session: AsyncSession, user_id: uuid.UUID | None) -> str:
    if user_id is None:
        return DEFAULT_ZONE
    recipient = await session.get(Recipient, user_id)
    return recipient.time_zone if recipient else DEFAULT_ZONE


async def plan_edits(
    uow: UnitOfWork,
    ctx: NotifyContext,
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
        messages = (
            await session.exec(
                select(TelegramMessage).where(
                    TelegramMessage.ref == edit.ref, col(TelegramMessage.has_buttons).is_(True)
                )
            )
        ).all()
        for message in messages:
            chat = await session.get(TelegramChat, message.chat_ref)
            if chat is not None:
                targets.append((chat, message.message_id, chat.user_id))
    planned = []
    unique = {(chat.id, message_id, user_id): chat for chat, message_id, user_id in targets}
    for (chat_ref, message_id, user_id), chat in unique.items():
        await session.exec(
            update(TelegramMessage)
            .where(
                col(TelegramMessage.chat_ref) == chat_ref,
                col(TelegramMessage.message_id) == message_id,
            )
            .values(has_buttons=False)
        )
        recipient = await session.get(Recipient, user_id) if user_id else None
        planned.append(
            await add_delivery(
                uow,
                ctx,
                due_at=ctx.clock(),
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
    uow: UnitOfWork, ctx: NotifyContext, *, ref: str, templates: Sequence[str], reason: str
) -> int:
    """Mark unsent deliveries about ``ref`` skipped (e.g. reminders of a cancelled appointment)."""
    result = await uow.session.exec(
        update(Delivery)
        .where(
            col(Delivery.ref) == ref,
            col(Delivery.template).in_(list(templates)),
            col(Delivery.status).in_(["pending", "retrying"]),
        )
        .values(status="skipped", last_error=reason, updated_at=ctx.clock(), next_attempt_at=None)
        .returning(col(Delivery.id))
    )
    return len(result.all())


async def plan_email_fallback(
    uow: UnitOfWork, ctx: NotifyContext, failed: Delivery
) -> Delivery | None:
    """The same message by email, once, after a Telegram delivery failed for good.

    Only a message that has an email form (not a bot reply or an edit), to a known user who
    keeps email among their channels; never for a fallback itself, nor when the message already
    went (or goes) by email. When email is not among the user's channels, a ``skipped`` row
    says so in the log.
    """
    if failed.channel != "telegram" or failed.fallback_of is not None:
        return None
    if (
        failed.user_id is None
        or failed.edit_message_id is not None
        or failed.template.startswith(TELEGRAM_ONLY_PREFIXES)
    ):
        return None
    same_by_email = [col(Delivery.fallback_of) == failed.id]
    if failed.source_event_id is not None:
        same_by_email.append(
            and_(
                col(Delivery.source_event_id) == failed.source_event_id,
                col(Delivery.user_id) == failed.user_id,
                col(Delivery.template) == failed.template,
                col(Delivery.channel) == "email",
            )
        )
    already = await uow.session.exec(select(Delivery.id).where(or_(*same_by_email)).limit(1))
    if already.first() is not None:
        return None
    recipient, prefs, _ = await reach_of(uow.session, failed.user_id)
    if recipient is None or not recipient.email:
        return None
    context = load_context(failed)
    context.pop("_buttons", None)
    allowed = "email" in channels_of(prefs)
    return await add_delivery(
        uow,
        ctx,
        due_at=ctx.clock() if allowed else None,
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
    uow: UnitOfWork, ctx: NotifyContext, user_id: uuid.UUID, email: str | None
) -> None:
    """A user's chat was unlinked: what still waits to go to it goes by email instead (edits and
    bot replies, which have no email form, are skipped)."""
    waiting = await uow.session.exec(
        select(Delivery)
        .where(
            Delivery.user_id == user_id,
            Delivery.channel == "telegram",
            col(Delivery.status).in_(["pending", "retrying"]),
        )
        .with_for_update()
    )
    now = ctx.clock()
    for delivery in waiting.all():
        delivery.updated_at = now
        if (
            email
            and delivery.edit_message_id is None
            and not delivery.template.startswith(TELEGRAM_ONLY_PREFIXES)
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
