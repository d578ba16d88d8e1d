"""Calendar files for a client's appointment (docs/notify.md, "Calendar invitations").

- The confirmation, reschedule and cancellation **mails** carry an iTIP invitation
  (``text/calendar; method=REQUEST`` or ``CANCEL``, RFC 5546) and the same as ``invite.ics``.
  The notice's context gets a ``_calendar`` entry (the method and booking's reschedule count)
  when it is planned; the file itself is built when the mail is sent, in the delivery's language
  and zone, like the rest of the message.
- The confirmation and reschedule **Telegram** messages get two link buttons: the ``.ics``
  through the gateway (a signed, expiring link: :mod:`notify.domain.calendar_links`) and a
  Google Calendar template link.

The events themselves come from :mod:`servicekit.calendar`, the builder booking's feeds use too.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from email.utils import parseaddr
from typing import Any, Final

from servicekit.calendar import (
    Method,
    Person,
    Session,
    calendar_document,
    google_calendar_url,
    session_event,
)
from servicekit.messaging.outbox import UnitOfWork

from notify.adapters.mailer import CalendarPart
from notify.adapters.tables import AppointmentCopy, Recipient
from notify.application.ports import NotifyPorts
from notify.domain.calendar_links import (
    UnknownCalendarLink,
    calendar_link_token,
    link_expiry,
    read_calendar_link,
)
from notify.domain.formatting import DEFAULT_ZONE
from notify.domain.rules import Button, Notice

CALENDAR: Final = "_calendar"  # the context key of a notice that carries an invitation
ENDED: Final = frozenset({"cancelled", "expired"})


def reschedule_count_of(copy: AppointmentCopy | None) -> int:
    """The highest reschedule count notify has seen for an appointment (0 before any)."""
    if copy is None:
        return 0
    return int(json.loads(copy.facts).get("reschedule_count") or 0)


def _datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def session_of(
    notify: NotifyPorts,
    facts: Mapping[str, Any],
    *,
    zone: str | None,
    reschedule_count: int,
    cancelled: bool,
) -> Session:
    """An appointment (an event payload or notify's copy of one) as its client's calendar shows
    it: the specialist's name, the practice's address in person, the client's zone too."""
    return Session(
        appointment_id=uuid.UUID(str(facts["appointment_id"])),
        service_name=str(facts["service_name"]),
        format=str(facts["format"]),
        starts_at=_datetime(facts["starts_at"]),
        ends_at=_datetime(facts["ends_at"]),
        specialist_time_zone=str(facts["specialist_time_zone"]),
        counterpart=str(facts["specialist_name"]),
        viewer="client",
        reschedule_count=reschedule_count,
        cancelled=cancelled,
        viewer_time_zone=zone,
        address=notify.settings.practice_address or None,
    )


def _organizer(notify: NotifyPorts) -> Person:
    name, address = parseaddr(notify.settings.mail_from)
    return Person(email=address or f"no-reply@{notify.settings.mail_domain}", name=name or None)


def with_invitation(
    notify: NotifyPorts,
    notice: Notice,
    *,
    method: Method,
    reschedule_count: int,
    recipient: Recipient | None,
) -> Notice:
    """The notice with its invitation: ``_calendar`` in the context (mail), and for a
    ``REQUEST`` the add-to-calendar buttons (Telegram)."""
    cancelled = method == "CANCEL"
    context = {
        **notice.context,
        CALENDAR: {"method": method, "reschedule_count": reschedule_count},
    }
    buttons = notice.buttons
    if not cancelled:
        language = recipient.language if recipient else "ru"
        zone = recipient.time_zone if recipient else None
        session = session_of(
            notify, notice.context, zone=zone, reschedule_count=reschedule_count, cancelled=False
        )
        expires_at = link_expiry(session.ends_at, notify.settings.calendar_link_days_after_end)
        token = calendar_link_token(
            session.appointment_id, expires_at, notify.settings.link_signing_key
        )
        buttons = (
            *buttons,
            Button("calendar", url=notify.calendar_file_url(token)),
            Button("google_calendar", url=google_calendar_url(session, language=language)),
        )
    return dataclasses.replace(notice, context=context, buttons=buttons)


def invitation(
    notify: NotifyPorts,
    context: Mapping[str, Any],
    *,
    language: str,
    zone: str,
    attendee: Person | None,
) -> CalendarPart | None:
    """The mail's calendar part for a delivery's context (``None`` when it carries none)."""
    spec = context.get(CALENDAR)
    if not isinstance(spec, Mapping):
        return None
    method: Method = "CANCEL" if spec.get("method") == "CANCEL" else "REQUEST"
    session = session_of(
        notify,
        context,
        zone=zone,
        reschedule_count=int(spec.get("reschedule_count") or 0),
        cancelled=method == "CANCEL",
    )
    event = session_event(
        session,
        language=language,
        stamp=notify.clock(),
        alarm_minutes=notify.settings.reminder_offsets_minutes,
        organizer=_organizer(notify),
        attendee=attendee,
    )
    return CalendarPart(data=calendar_document([event], method=method), method=method)


async def calendar_file(uow: UnitOfWork, notify: NotifyPorts, token: str) -> bytes:
    """The ``.ics`` a Telegram link points at: the appointment as notify knows it now (a later
    reschedule shows the new time, a cancellation ``STATUS:CANCELLED``), in its client's
    language and zone. An altered or foreign link is :class:`UnknownCalendarLink`, an expired
    one :class:`CalendarLinkExpired`."""
    link = read_calendar_link(token, notify.settings.link_signing_key, now=notify.clock())
    copy = await uow.session.get(AppointmentCopy, link.appointment_id)
    if copy is None:
        raise UnknownCalendarLink()
    recipient = await uow.session.get(Recipient, copy.client_id)
    language = recipient.language if recipient else "ru"
    zone = recipient.time_zone if recipient else DEFAULT_ZONE
    session = session_of(
        notify,
        json.loads(copy.facts),
        zone=zone,
        reschedule_count=reschedule_count_of(copy),
        cancelled=copy.status in ENDED,
    )
    event = session_event(
        session,
        language=language,
        stamp=notify.clock(),
        alarm_minutes=notify.settings.reminder_offsets_minutes,
        organizer=_organizer(notify),
    )
    return calendar_document([event], method="PUBLISH")
