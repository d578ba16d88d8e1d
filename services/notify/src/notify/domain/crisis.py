"""The crisis path's rules, without I/O: who is told of a crisis answer, which failed alert
escalates, when an intake is suggested.

A questionnaire run completed with a crisis flag (PHQ-9 item 9 above 0) must reach a person
who can act, at once: the specialist who assigned the questionnaire; else the specialist of the
client's next confirmed appointment; else of their most recent past one; else the practice's
on-duty contact (configured addresses); else every admin. An alert that cannot be delivered
escalates to the admins; an escalation that fails escalates no further (no loops).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Route = Literal[
    "assigned", "next_appointment", "last_appointment", "on_duty", "admins", "admin_address"
]
"""Why a recipient was told: the assigning specialist, the specialist of the client's next or
last appointment, the on-duty contact, the admins (no specialist known, or an escalation), the
configured admin address (no admin user known)."""

UPCOMING = frozenset({"confirmed"})
"""An appointment that will take place: its specialist is the client's specialist now."""
TOOK_PLACE = frozenset({"confirmed", "completed", "no_show"})
"""A past appointment that was (or stayed) confirmed: a held, expired or cancelled one made
nobody the client's specialist."""


@dataclass(frozen=True)
class SeenAppointment:
    """What notify's copy says of one of the client's appointments."""

    specialist_id: uuid.UUID
    status: str
    starts_at: datetime


@dataclass(frozen=True)
class OnDutyContact:
    """The practice's on-duty contact (configuration): an email address and/or a Telegram chat
    (a person's private chat with the bot, or a group the bot is in)."""

    email: str | None = None
    telegram_chat_id: int | None = None

    @property
    def configured(self) -> bool:
        """Whether there is any way to reach it."""
        return bool(self.email) or self.telegram_chat_id is not None


@dataclass(frozen=True)
class CrisisRecipients:
    """Who is told: users notify knows (every channel they can be reached on), or the on-duty
    contact's configured addresses; ``route`` says why."""

    route: Route
    users: tuple[uuid.UUID, ...] = ()
    on_duty: OnDutyContact | None = None
    address: str | None = None  # the configured admin address (no admin user known)

    @property
    def anyone(self) -> bool:
        """Whether anybody at all is told."""
        return bool(self.users) or self.on_duty is not None or bool(self.address)


def clients_specialist(
    appointments: Sequence[SeenAppointment], now: datetime
) -> tuple[uuid.UUID, Route] | None:
    """The client's specialist now: of their next confirmed appointment (the soonest one to
    come), else of their most recent one that took place or was to; ``None`` when neither."""
    upcoming = [a for a in appointments if a.status in UPCOMING and a.starts_at > now]
    if upcoming:
        return min(upcoming, key=lambda a: a.starts_at).specialist_id, "next_appointment"
    past = [a for a in appointments if a.status in TOOK_PLACE and a.starts_at <= now]
    if past:
        return max(past, key=lambda a: a.starts_at).specialist_id, "last_appointment"
    return None


def crisis_recipients(
    *,
    assigned_by: uuid.UUID | None,
    appointments: Sequence[SeenAppointment],
    now: datetime,
    on_duty: OnDutyContact,
    admins: Sequence[uuid.UUID],
    admin_address: str | None,
) -> CrisisRecipients:
    """Who hears of a crisis answer, in order: the specialist who assigned the questionnaire;
    the specialist of the client's next, else last, appointment; the on-duty contact; every
    admin; the configured admin address. Nobody, when none of them exists."""
    if assigned_by is not None:
        return CrisisRecipients("assigned", users=(assigned_by,))
    found = clients_specialist(appointments, now)
    if found is not None:
        specialist, route = found
        return CrisisRecipients(route, users=(specialist,))
    if on_duty.configured:
        return CrisisRecipients("on_duty", on_duty=on_duty)
    return escalation_recipients(admins=admins, admin_address=admin_address)


def needs_admins(
    *,
    assigned_by: uuid.UUID | None,
    appointments: Sequence[SeenAppointment],
    now: datetime,
    on_duty: OnDutyContact,
) -> bool:
    """Whether the admins are whom a crisis alert goes to (nobody before them exists): only
    then must they be looked up."""
    return (
        assigned_by is None
        and clients_specialist(appointments, now) is None
        and not on_duty.configured
    )


def escalation_recipients(
    *, admins: Sequence[uuid.UUID], admin_address: str | None
) -> CrisisRecipients:
    """Who hears that a crisis alert could not be delivered: every admin, and the configured
    admin address too (it is the practice's alert mailbox: a missed crisis is worth both)."""
    if admins:
        return CrisisRecipients("admins", users=tuple(admins), address=admin_address or None)
    return CrisisRecipients("admin_address", address=admin_address or None)


def escalates(kind: str, route: str, status: str, reason: str | None = None) -> bool:
    """Whether an alert row in ``status`` escalates to the admins.

    A primary alert that failed, or was not sent because the channel cannot be used (a chat
    that blocked the bot, a recipient notify does not know), escalates; so does one still unsent
    when its deadline passes (``status`` ``late``). A Telegram channel the person never linked
    does not: their email carries the alert. An escalation never escalates (no loops), nor does
    an alert that went to the admins in the first place (they are whom it would go to).
    """
    if kind != "alert" or route in ("admins", "admin_address"):
        return False
    if status in ("failed", "late"):
        return True
    return status == "skipped" and reason != TELEGRAM_NOT_LINKED


TELEGRAM_NOT_LINKED = "telegram_not_linked"
TELEGRAM_UNREACHABLE = "telegram_unreachable"


def has_upcoming_appointment(appointments: Sequence[SeenAppointment], now: datetime) -> bool:
    """Whether the client has a confirmed appointment still to come."""
    return any(a.status in UPCOMING and a.starts_at > now for a in appointments)


def suggests_intake(
    *, suggest_intake: bool, appointments: Sequence[SeenAppointment], now: datetime
) -> bool:
    """A score at or above the questionnaire's threshold suggests booking an intake session,
    unless the client has a confirmed appointment to come already (they are booked)."""
    return suggest_intake and not has_upcoming_appointment(appointments, now)
