"""What people do in the bot's chat: ``/start`` (with or without a deep-link payload) and taps
on inline buttons; and booking's refusal of a tapped action.

These run inside the webhook's unit of work and only write rows and events: a reply is a
delivery like any other message (sent by the ``deliver`` timer), so it is logged,
rate-limited and retried. A tap's short notice is returned, and answered after the commit.

- ``/start <payload>``: the one-time deep link's action, once; an unknown, used or expired
  payload gets a friendly reply and nothing else. No payload links a chat by itself: an account
  link waits for its owner's confirmation in the app (``notify.application.linking``), and a
  waitlist offer from a mail opens only in the owner's linked chat.
- a tap: its opaque button token must belong to the tapping chat's user; then
  ``notify.telegram.action_requested`` is published.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from contracts.booking.v1 import ActionRejectedV1
from contracts.envelope import EventEnvelope
from contracts.notify.v1 import (
    CalendarDecisionRequestedV1,
    DeeplinkActivatedV1,
    TelegramActionRequestedV1,
)
from servicekit.messaging.outbox import UnitOfWork

from notify.adapters.chats import find_chat, tap_in_progress
from notify.adapters.deeplinks import deeplink_by_token
from notify.adapters.tables import DeepLink, Recipient, TelegramButton, TelegramChat, TelegramTap
from notify.application.linking import deeplink_ref
from notify.application.planning import plan_chat_message, plan_edits
from notify.application.ports import NotifyPorts
from notify.domain import rules
from notify.domain.deeplinks import (
    ATTRIBUTION,
    MULTI_USE,
    START_BOOKING,
    WAITLIST_OFFER,
    booking_path,
    closed_campaign,
    offer_path,
    still_usable,
)
from notify.domain.formatting import language_for
from notify.domain.linking import LINK_ACCOUNT, button_works_here
from notify.domain.tokens import is_button_token, is_deeplink_payload

TapOutcome = Literal["sent", "pending", "invalid"]


@dataclass(frozen=True)
class TelegramUser:
    """Who wrote or tapped, as Telegram says (in a private chat, also the chat's id)."""

    id: int
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    language_code: str | None = None


@dataclass(frozen=True)
class TapAnswer:
    """What a tap's short notice says (``outcome``), in ``language``."""

    outcome: TapOutcome
    language: str


async def _remember_chat(uow: UnitOfWork, user: TelegramUser) -> TelegramChat:
    """The chat row of a private chat (``chat.id == from.id``), created on first contact."""
    chat = await find_chat(uow.session, user.id, for_update=True)
    if chat is None:
        chat = TelegramChat.for_chat_id(user.id)
    chat.username = user.username
    chat.language_code = user.language_code
    chat.unreachable_at = None  # they write to the bot: it is not blocked (any more)
    uow.session.add(chat)
    return chat


async def _language(uow: UnitOfWork, user: TelegramUser, account: uuid.UUID | None) -> str:
    """The linked account's language, else the Telegram client's."""
    recipient = await uow.session.get(Recipient, account) if account else None
    return language_for(recipient.language if recipient else None, user.language_code)


async def _reply(
    uow: UnitOfWork,
    notify: NotifyPorts,
    chat: TelegramChat,
    user: TelegramUser,
    template: str,
    *,
    context: dict[str, Any] | None = None,
    buttons: tuple[rules.Button, ...] = (),
    ref: str | None = None,
) -> None:
    """A bot reply in the chat, in the chat's language."""
    await plan_chat_message(
        uow,
        notify,
        chat_id=chat.chat_id,
        template=template,
        context=context or {},
        language=await _language(uow, user, chat.user_id),
        user_id=chat.user_id,
        buttons=buttons,
        ref=ref,
    )


async def greet(uow: UnitOfWork, notify: NotifyPorts, user: TelegramUser, chat_id: int) -> None:
    """``/start`` without a payload: remember the chat and say hello."""
    chat = await _remember_chat(uow, user)
    await plan_chat_message(
        uow,
        notify,
        chat_id=chat_id,
        template="bot_hello",
        context={},
        language=await _language(uow, user, chat.user_id),
        user_id=chat.user_id,
    )


async def open_deeplink(
    uow: UnitOfWork, notify: NotifyPorts, user: TelegramUser, *, private: bool, payload: str
) -> None:
    """Run the action bound to ``payload`` once; otherwise only reply that the link is spent.

    No payload links the chat: a ``link_account`` link makes the chat wait for its owner's
    confirmation in the app, and a waitlist offer opens only in the owner's linked chat.
    """
    if not private:
        return
    now = notify.clock()
    chat = await _remember_chat(uow, user)
    link = await deeplink_by_token(uow.session, payload) if is_deeplink_payload(payload) else None
    if link is not None and closed_campaign(action=link.action, revoked_at=link.revoked_at):
        site = notify.app_url(booking_path(link.service_id, link.specialist_id))
        await _reply(
            uow,
            notify,
            chat,
            user,
            "bot_campaign_closed",
            buttons=(rules.Button("book", url=site),),
        )
        return
    if link is None or not still_usable(
        action=link.action,
        used_at=link.used_at,
        expires_at=link.expires_at,
        now=now,
        revoked_at=link.revoked_at,
    ):
        await _reply(uow, notify, chat, user, "bot_link_invalid")  # all an unknown link gets
        return
    if link.action == WAITLIST_OFFER:
        await _open_offer(uow, notify, chat, link, user, now)
        return
    _use(link, chat, now)
    if link.action == LINK_ACCOUNT:
        # The reply names no one: whoever holds the token learns nothing of the account.
        await _reply(
            uow,
            notify,
            chat,
            user,
            "bot_link_pending",
            context={"minutes": notify.settings.telegram_link_confirm_minutes},
            ref=deeplink_ref(link.id),
        )
        return
    _emit_activated(uow, chat, link, user)
    wants_booking = link.action == START_BOOKING or (
        link.action == ATTRIBUTION and (link.service_id or link.specialist_id)
    )
    if wants_booking:
        url = notify.app_url(booking_path(link.service_id, link.specialist_id))
        await _reply(
            uow, notify, chat, user, "bot_start_booking", buttons=(rules.Button("book", url=url),)
        )
        return
    await _reply(uow, notify, chat, user, "bot_hello")


def _use(link: DeepLink, chat: TelegramChat, now: datetime) -> None:
    link.opened_count += 1
    if link.action in MULTI_USE:
        return  # opened by many: no one chat "used" it
    link.used_at = now
    link.used_by_chat_ref = chat.id


async def _open_offer(
    uow: UnitOfWork,
    notify: NotifyPorts,
    chat: TelegramChat,
    link: DeepLink,
    user: TelegramUser,
    now: datetime,
) -> None:
    """A waitlist offer opened from its email: in the owner's linked chat, the offer with its
    Accept button (and the link is used up).

    A mail can be forwarded: in any other chat the link links nothing, acts on nothing and is
    not used up; the reply points to the offer's page on the site (which asks to log in).
    """
    assert link.user_id is not None and link.details is not None
    details: dict[str, Any] = json.loads(link.details)
    if chat.user_id != link.user_id:
        page = notify.app_url(offer_path(link.waitlist_offer_id))
        await _reply(
            uow,
            notify,
            chat,
            user,
            "bot_offer_elsewhere",
            buttons=(rules.Button("open", url=page),),
        )
        return
    _use(link, chat, now)
    _emit_activated(uow, chat, link, user)
    offer = rules.Button(
        "accept", action="accept_waitlist_offer", waitlist_offer_id=link.waitlist_offer_id
    )
    await plan_chat_message(
        uow,
        notify,
        chat_id=chat.chat_id,
        template="waitlist_offer",
        context={**details, "telegram_link": None},
        language=await _language(uow, user, link.user_id),
        user_id=link.user_id,
        buttons=(offer,),
        ref=rules.offer_ref(link.waitlist_offer_id) if link.waitlist_offer_id else None,
    )


def _emit_activated(
    uow: UnitOfWork, chat: TelegramChat, link: DeepLink, user: TelegramUser
) -> None:
    """Attribution, start-booking, an offer opened by its owner: ``deeplink.activated``."""
    uow.emit(
        DeeplinkActivatedV1(
            deeplink_id=link.id,
            action=link.action,
            source=link.source,
            campaign=link.campaign,
            user_id=chat.user_id,
            telegram_chat_id=chat.chat_id,
            telegram_user_id=user.id,
            telegram_username=user.username,
            first_name=user.first_name,
            last_name=user.last_name,
            language_code=user.language_code,
        )
    )


async def press_button(
    uow: UnitOfWork,
    notify: NotifyPorts,
    user: TelegramUser,
    *,
    data: str,
    message: tuple[int, int] | None,
) -> TapAnswer:
    """A tap on an inline button (``data``: its callback data; ``message``: the tapped message's
    chat id and message id): check the button belongs to this chat's user, then publish the
    request, once while booking decides."""
    chat = await find_chat(uow.session, user.id)
    language = await _language(uow, user, chat.user_id if chat else None)
    button = (
        await uow.session.get(TelegramButton, data, with_for_update=True)
        if is_button_token(data)
        else None
    )
    if (
        button is None
        or chat is None
        or message is None
        or not button_works_here(
            button_owner=button.user_id,
            chat_owner=chat.user_id,
            pressed_in_chat=message[0],
            chat_id=chat.chat_id,
        )
    ):
        return TapAnswer("invalid", language)
    if await tap_in_progress(uow.session, button.token) is not None:
        return TapAnswer("pending", language)
    action_id = uuid.uuid4()
    now = notify.clock()
    button.used_at = now
    uow.session.add(button)
    uow.session.add(
        TelegramTap(
            action_id=action_id,
            button_token=button.token,
            user_id=button.user_id,
            chat_ref=chat.id,
            message_id=message[1],
            action=button.action,
            appointment_id=button.appointment_id,
            waitlist_offer_id=button.waitlist_offer_id,
            created_at=now,
        )
    )
    decision = rules.CALENDAR_DECISIONS.get(button.action)
    if decision is not None:  # the specialist's answer about an event changed in Google
        assert button.appointment_id is not None
        uow.emit(
            CalendarDecisionRequestedV1(
                action_id=action_id,
                user_id=button.user_id,
                appointment_id=button.appointment_id,
                decision=decision,
            )
        )
        return TapAnswer("sent", language)
    uow.emit(
        TelegramActionRequestedV1(
            action_id=action_id,
            action=button.action,
            user_id=button.user_id,
            appointment_id=button.appointment_id,
            waitlist_offer_id=button.waitlist_offer_id,
        )
    )
    return TapAnswer("sent", language)


async def action_rejected(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[ActionRejectedV1]
) -> None:
    """booking refused a tapped action: the tapped message says why."""
    await plan_edits(uow, notify, rules.action_rejected(event.payload), source=event)
