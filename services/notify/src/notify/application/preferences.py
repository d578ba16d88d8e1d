"""How a user wants to be reached: channel order, quiet hours, one-click unsubscribe from
non-essential mail (RFC 8058)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from servicekit.errors import DomainError
from servicekit.messaging.outbox import UnitOfWork

from notify.adapters.chats import linked_chat
from notify.adapters.tables import Consent, Preference, Recipient
from notify.application.ports import NotifyPorts
from notify.domain.preferences import (
    DEFAULT_CHANNELS,
    MARKETING_CONSENT,
    Channel,
    QuietHours,
    channel_order,
    quiet_hours_between,
)
from notify.domain.tokens import read_unsubscribe_token


class NoSuchUser(DomainError):
    """notify knows no user with this id (cabinet's registration has not arrived)."""

    code = "not_found"


class UnknownUnsubscribeLink(DomainError):
    """An unsubscribe link notify did not make (or for a user it does not know)."""

    code = "not_found"


@dataclass(frozen=True)
class PreferencesView:
    """A user's preferences and what notify knows of their reachability."""

    user_id: uuid.UUID
    channels: list[Channel]
    quiet_hours: QuietHours | None
    time_zone: str
    language: str
    telegram_linked: bool
    telegram_reachable: bool
    marketing_consent: bool
    news_unsubscribed: bool


@dataclass(frozen=True)
class PreferencesChange:
    """What to change: ``None`` keeps a field; quiet hours change only with ``set_quiet_hours``
    (to ``quiet_hours``, ``None`` removing them)."""

    channels: list[Channel] | None = None
    set_quiet_hours: bool = False
    quiet_hours: QuietHours | None = None
    news_unsubscribed: bool | None = None


async def _recipient(uow: UnitOfWork, user_id: uuid.UUID) -> Recipient:
    recipient = await uow.session.get(Recipient, user_id)
    if recipient is None:
        raise NoSuchUser
    return recipient


async def _view(uow: UnitOfWork, recipient: Recipient) -> PreferencesView:
    prefs = await uow.session.get(Preference, recipient.user_id)
    chat = await linked_chat(uow.session, recipient.user_id)
    consent = await uow.session.get(Consent, (recipient.user_id, MARKETING_CONSENT))
    return PreferencesView(
        user_id=recipient.user_id,
        channels=channel_order(prefs.channels if prefs else None),
        quiet_hours=quiet_hours_between(prefs.quiet_start, prefs.quiet_end) if prefs else None,
        time_zone=recipient.time_zone,
        language=recipient.language,
        telegram_linked=chat is not None,
        telegram_reachable=chat is not None and chat.unreachable_at is None,
        marketing_consent=bool(consent and consent.granted),
        news_unsubscribed=bool(prefs and prefs.unsubscribed_at),
    )


async def preferences(uow: UnitOfWork, user_id: uuid.UUID) -> PreferencesView:
    """A user's preferences."""
    return await _view(uow, await _recipient(uow, user_id))


async def change_preferences(
    uow: UnitOfWork, notify: NotifyPorts, user_id: uuid.UUID, change: PreferencesChange
) -> PreferencesView:
    """Apply ``change`` to a user's preferences (committed), and return them."""
    recipient = await _recipient(uow, user_id)
    now = notify.clock()
    prefs = await uow.session.get(Preference, user_id, with_for_update=True)
    if prefs is None:
        prefs = Preference(user_id=user_id, channels=list(DEFAULT_CHANNELS), updated_at=now)
    if change.channels is not None:
        prefs.channels = list(change.channels)
    if change.set_quiet_hours:
        quiet = change.quiet_hours
        prefs.quiet_start = quiet.start if quiet else None
        prefs.quiet_end = quiet.end if quiet else None
    if change.news_unsubscribed is not None:
        prefs.unsubscribed_at = now if change.news_unsubscribed else None
    prefs.updated_at = now
    uow.session.add(prefs)
    await uow.commit()
    return await _view(uow, recipient)


def unsubscribe_link_user(notify: NotifyPorts, token: str) -> uuid.UUID:
    """The user an unsubscribe link was made for (a link notify did not make is refused)."""
    user_id = read_unsubscribe_token(token, notify.settings.link_signing_key)
    if user_id is None:
        raise UnknownUnsubscribeLink
    return user_id


async def unsubscribe(uow: UnitOfWork, notify: NotifyPorts, token: str) -> None:
    """One-click unsubscribe from non-essential mail (committed; again changes nothing)."""
    user_id = unsubscribe_link_user(notify, token)
    if await uow.session.get(Recipient, user_id) is None:
        raise UnknownUnsubscribeLink
    now = notify.clock()
    prefs = await uow.session.get(Preference, user_id, with_for_update=True)
    if prefs is None:
        prefs = Preference(user_id=user_id, channels=list(DEFAULT_CHANNELS), updated_at=now)
    prefs.unsubscribed_at = prefs.unsubscribed_at or now
    prefs.updated_at = now
    uow.session.add(prefs)
    await uow.commit()
