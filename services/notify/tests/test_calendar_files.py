"""Calendar files: the invitation a confirmation mail carries (and its reschedule and
cancellation), read back with Python's ``email`` package and ``icalendar``; the add-to-calendar
links of a Telegram message, and what a forged or expired link gets."""

from __future__ import annotations

import email
import email.policy
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from contracts.booking.v1 import (
    AppointmentCancelledV1,
    AppointmentConfirmedV1,
    AppointmentRescheduledV1,
)
from icalendar import Calendar, Event
from notify.domain.calendar_links import calendar_link_token

from .conftest import Notify, wait_for
from .test_recipients import register
from .test_rules import STARTS, appointment, mail_with
from .test_telegram import LINKING_REPLIES, bot_messages, linked_user

pytestmark = pytest.mark.asyncio(loop_scope="session")

ENDS = STARTS + timedelta(minutes=50)
MOVED = STARTS + timedelta(days=2, hours=3)


def parsed(notify: Notify, message_id: int) -> EmailMessage:
    raw = notify.smtp.store.raw(message_id)
    assert raw is not None
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def invitation(message: EmailMessage) -> tuple[str, Calendar, bytes]:
    """The ``text/calendar`` alternative (its method parameter and calendar) and the bytes of the
    ``.ics`` attachment; exactly one of each."""
    assert message.get_content_type() == "multipart/mixed"
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1
    (part,) = parts
    method = str(part.get_param("method"))
    calendar = Calendar.from_ical(part.get_content())
    attached = [p for p in message.iter_attachments() if p.get_filename() == "invite.ics"]
    assert len(attached) == 1 and attached[0].get_content_type() == "application/ics"
    data = attached[0].get_content()
    assert isinstance(data, bytes)
    return method, calendar, data


def the_event(calendar: Calendar) -> Event:
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, Event)
    return event


async def test_confirmation_reschedule_and_cancellation_mails_carry_one_invitation(
    notify: Notify,
) -> None:
    client, address = await register(notify, time_zone="Europe/Moscow", name="Мария Иванова")
    appointment_id = uuid.uuid4()
    await notify.producer.publish(
        appointment(
            AppointmentConfirmedV1,
            client,
            appointment_id=appointment_id,
            intake_required=True,
            reschedule_count=0,
            amount_paid={"amount": 350000, "currency": "RUB"},
        )
    )
    mail = await mail_with(notify, address, "Запись подтверждена")
    assert mail.text is not None and "Ваша запись подтверждена" in mail.text  # text part intact
    method, calendar, attached = invitation(parsed(notify, mail.id))
    assert method == "REQUEST" and calendar["METHOD"] == "REQUEST"
    assert Calendar.from_ical(attached).to_ical() == calendar.to_ical()
    event = the_event(calendar)
    uid = f"{appointment_id}@praktika"
    assert event["UID"] == uid and event["SEQUENCE"] == 0
    assert event.decoded("DTSTART") == STARTS and event.decoded("DTEND") == ENDS
    assert event["DTSTART"].to_ical() == b"20300315T090000Z"  # UTC, no floating time
    assert event["STATUS"] == "CONFIRMED"
    assert str(event["SUMMARY"]) == "Консультация психолога: Ольга Петрова"
    description = str(event["DESCRIPTION"])
    # the specialist's zone (Berlin), the client's (Moscow) and UTC, in Russian
    assert "2030-03-15 10:00–10:50 Europe/Berlin (у специалиста)" in description
    assert "2030-03-15 12:00–12:50 Europe/Moscow (у вас)" in description
    assert "2030-03-15 09:00–09:50 UTC" in description
    assert "Формат: онлайн" in description and "Ссылка на встречу придёт" in description
    assert str(event["ORGANIZER"]) == "mailto:no-reply@praktika.local"
    assert str(event["ATTENDEE"]) == f"mailto:{address}"
    # one alarm per reminder notify sends (24 h and 1 h before)
    triggers = sorted(a.decoded("TRIGGER") for a in event.walk("VALARM"))
    assert triggers == [timedelta(hours=-24), timedelta(hours=-1)]

    await notify.producer.publish(
        appointment(
            AppointmentRescheduledV1,
            client,
            appointment_id=appointment_id,
            starts_at=MOVED,
            ends_at=MOVED + timedelta(minutes=50),
            previous_starts_at=STARTS,
            previous_ends_at=ENDS,
            reschedule_count=1,
            max_reschedules=2,
            rescheduled_by="client",
        )
    )
    moved = await mail_with(notify, address, "Запись перенесена")
    method, calendar, _ = invitation(parsed(notify, moved.id))
    event = the_event(calendar)
    assert method == "REQUEST"
    assert event["UID"] == uid and event["SEQUENCE"] == 1
    assert event.decoded("DTSTART") == MOVED

    await notify.producer.publish(
        appointment(
            AppointmentCancelledV1,
            client,
            appointment_id=appointment_id,
            starts_at=MOVED,
            ends_at=MOVED + timedelta(minutes=50),
            previous_status="confirmed",
            cancelled_by="client",
            reason="тревога и бессонница",
            late_cancellation=False,
            refund_percent=100,
            refund_amount={"amount": 350000, "currency": "RUB"},
        )
    )
    cancelled = await mail_with(notify, address, "Запись отменена")
    method, calendar, attached = invitation(parsed(notify, cancelled.id))
    event = the_event(calendar)
    assert method == "CANCEL" and calendar["METHOD"] == "CANCEL"
    assert event["UID"] == uid and event["SEQUENCE"] == 2 and event["STATUS"] == "CANCELLED"
    assert not list(event.walk("VALARM"))
    # no free text about the person (a reason may be about their health) in any calendar file
    for data in (calendar.to_ical(), attached):
        assert "тревога".encode() not in data and "бессонница".encode() not in data


async def test_the_invitation_is_in_the_recipients_language(notify: Notify) -> None:
    client, address = await register(notify, language="en", time_zone="America/New_York")
    appointment_id = uuid.uuid4()
    await notify.producer.publish(
        appointment(
            AppointmentConfirmedV1,
            client,
            appointment_id=appointment_id,
            format="in_person",
            intake_required=False,
            reschedule_count=0,
            amount_paid=None,
        )
    )
    mail = await mail_with(notify, address, "Booking confirmed")
    _, calendar, _ = invitation(parsed(notify, mail.id))
    event = the_event(calendar)
    description = str(event["DESCRIPTION"])
    assert "Specialist: Ольга Петрова" in description and "Format: in person" in description
    assert "2030-03-15 05:00–05:50 America/New_York (yours)" in description
    assert "(the specialist's)" in description and "Формат" not in description
    assert event["UID"] == f"{appointment_id}@praktika"


async def test_a_hold_cancelled_before_payment_sends_no_calendar_cancel(notify: Notify) -> None:
    client, address = await register(notify, language="en")
    await notify.producer.publish(
        appointment(
            AppointmentCancelledV1,
            client,
            previous_status="held",
            cancelled_by="client",
            late_cancellation=False,
            refund_percent=0,
            refund_amount={"amount": 0, "currency": "RUB"},
        )
    )
    mail = await mail_with(notify, address, "Booking cancelled")
    message = parsed(notify, mail.id)
    assert not [p for p in message.walk() if p.get_content_type() == "text/calendar"]


def url_buttons(message: dict[str, Any]) -> dict[str, str]:
    keyboard = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return {b["text"]: b["url"] for row in keyboard for b in row if b.get("url")}


async def test_telegram_links_serve_the_ics_and_a_google_template(notify: Notify) -> None:
    user_id, _, chat_id = await linked_user(notify, language="en", time_zone="Asia/Dubai")
    appointment_id = uuid.uuid4()
    await notify.producer.publish(
        appointment(
            AppointmentConfirmedV1,
            user_id,
            appointment_id=appointment_id,
            intake_required=False,
            reschedule_count=0,
            amount_paid=None,
        )
    )
    *_, confirmed = await bot_messages(notify, chat_id, LINKING_REPLIES + 1)
    buttons = url_buttons(confirmed)
    assert set(buttons) == {"Add to calendar (.ics)", "Google Calendar"}

    ics = urlsplit(buttons["Add to calendar (.ics)"])
    assert ics.path.startswith("/api/notify/calendar-files/") and ics.path.endswith(".ics")
    token = ics.path.rsplit("/", 1)[1].removesuffix(".ics")
    assert len(token) <= 40 and str(appointment_id) not in token  # short and opaque
    r = await notify.client.get(ics.path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(r.content)
    event = the_event(calendar)
    assert calendar["METHOD"] == "PUBLISH"
    assert event["UID"] == f"{appointment_id}@praktika"
    assert event.decoded("DTSTART") == STARTS
    assert "Asia/Dubai (yours)" in str(event["DESCRIPTION"])

    google = urlsplit(buttons["Google Calendar"])
    assert (google.scheme, google.netloc, google.path) == (
        "https",
        "calendar.google.com",
        "/calendar/render",
    )
    query = parse_qs(google.query)
    assert query["action"] == ["TEMPLATE"]
    assert query["dates"] == ["20300315T090000Z/20300315T095000Z"]
    assert query["text"] == ["Консультация психолога: Ольга Петрова"]
    assert "Asia/Dubai" in query["details"][0]

    # the link follows the appointment: after a cancellation it says so, same UID
    await notify.producer.publish(
        appointment(
            AppointmentCancelledV1,
            user_id,
            appointment_id=appointment_id,
            previous_status="confirmed",
            cancelled_by="specialist",
            late_cancellation=False,
            refund_percent=100,
            refund_amount={"amount": 0, "currency": "RUB"},
        )
    )

    async def cancelled() -> Event | None:
        got = the_event(Calendar.from_ical((await notify.client.get(ics.path)).content))
        return got if got["STATUS"] == "CANCELLED" else None

    event = await wait_for(cancelled)
    assert event["SEQUENCE"] == 1


async def test_forged_unknown_and_expired_links_get_404_and_410(notify: Notify) -> None:
    key = notify.svc.runtime.settings.link_signing_key  # type: ignore[attr-defined]
    good = calendar_link_token(uuid.uuid4(), datetime(2031, 1, 1, tzinfo=UTC), key)
    forged = calendar_link_token(uuid.uuid4(), datetime(2031, 1, 1, tzinfo=UTC), "x" * 32)
    flipped = ("A" if good[5] != "A" else "B").join((good[:5], good[6:]))
    for token in (forged, flipped, "nonsense", "%00", "a" * 300, good):
        r = await notify.client.get(f"/api/notify/calendar-files/{token}.ics")
        assert r.status_code == 404, (token, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "calendar_link_not_found"

    expired = calendar_link_token(uuid.uuid4(), datetime(2020, 1, 1, tzinfo=UTC), key)
    r = await notify.client.get(
        f"/api/notify/calendar-files/{expired}.ics", headers={"Accept-Language": "en"}
    )
    assert r.status_code == 410 and r.json()["code"] == "calendar_link_expired"
    assert "expired" in r.json()["detail"]
