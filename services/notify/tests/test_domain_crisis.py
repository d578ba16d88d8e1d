"""notify.domain.crisis: who hears of a crisis answer (the assigning specialist, the specialist
of the next then of the last appointment, the on-duty contact, the admins, the admin address),
which undelivered alert escalates, when an intake is suggested. Pure: no I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from notify.domain.crisis import (
    OnDutyContact,
    SeenAppointment,
    clients_specialist,
    crisis_recipients,
    escalates,
    escalation_recipients,
    needs_admins,
    suggests_intake,
)

NOW = datetime(2030, 3, 15, 9, 0, tzinfo=UTC)
ASSIGNED, NEXT, LATER, LAST, OLDER = (uuid.uuid4() for _ in range(5))
ADMINS = (uuid.uuid4(), uuid.uuid4())
NOBODY_ON_DUTY = OnDutyContact()
ON_DUTY = OnDutyContact(email="duty@practice.example", telegram_chat_id=-100500)


def seen(specialist: uuid.UUID, status: str, days: float) -> SeenAppointment:
    return SeenAppointment(specialist, status, NOW + timedelta(days=days))


BOOKED = [
    seen(LATER, "confirmed", 30),  # the furthest future one: not "the next"
    seen(NEXT, "confirmed", 2),
    seen(LAST, "completed", -3),
    seen(OLDER, "completed", -40),
]


def recipients(
    assigned_by: uuid.UUID | None,
    appointments: list[SeenAppointment],
    on_duty: OnDutyContact = NOBODY_ON_DUTY,
    admins: tuple[uuid.UUID, ...] = ADMINS,
    address: str | None = None,
) -> tuple[str, tuple[uuid.UUID, ...], OnDutyContact | None, str | None]:
    told = crisis_recipients(
        assigned_by=assigned_by,
        appointments=appointments,
        now=NOW,
        on_duty=on_duty,
        admins=admins,
        admin_address=address,
    )
    return told.route, told.users, told.on_duty, told.address


def test_the_assigning_specialist_comes_first() -> None:
    assert recipients(ASSIGNED, BOOKED, ON_DUTY) == ("assigned", (ASSIGNED,), None, None)


def test_then_the_specialist_of_the_next_appointment_not_the_furthest() -> None:
    assert recipients(None, BOOKED, ON_DUTY) == ("next_appointment", (NEXT,), None, None)


def test_then_the_specialist_of_the_most_recent_past_appointment() -> None:
    past = [a for a in BOOKED if a.starts_at < NOW]
    assert recipients(None, past) == ("last_appointment", (LAST,), None, None)


@pytest.mark.parametrize("status", ["held", "cancelled", "expired"])
def test_an_appointment_that_never_was_makes_nobody_the_clients_specialist(status: str) -> None:
    assert clients_specialist([seen(NEXT, status, 2), seen(LAST, status, -2)], NOW) is None


def test_a_no_show_and_a_confirmed_one_now_past_still_count() -> None:
    assert clients_specialist([seen(LAST, "no_show", -1)], NOW) == (LAST, "last_appointment")
    assert clients_specialist([seen(LAST, "confirmed", -1)], NOW) == (LAST, "last_appointment")
    # a session that began a minute ago is past: its specialist is still "the last"
    assert clients_specialist([seen(LAST, "confirmed", -1 / 1440)], NOW) == (
        LAST,
        "last_appointment",
    )


def test_no_specialist_known_the_on_duty_contact() -> None:
    assert recipients(None, [], ON_DUTY) == ("on_duty", (), ON_DUTY, None)
    email_only = OnDutyContact(email="duty@practice.example")
    assert recipients(None, [], email_only)[0] == "on_duty"
    assert OnDutyContact(telegram_chat_id=42).configured
    assert not OnDutyContact(email="").configured


def test_no_on_duty_contact_the_admins_and_the_alert_address() -> None:
    assert recipients(None, [], address="alerts@practice.example") == (
        "admins",
        ADMINS,
        None,
        "alerts@practice.example",
    )
    assert recipients(None, [], admins=(), address="alerts@practice.example") == (
        "admin_address",
        (),
        None,
        "alerts@practice.example",
    )
    nobody = crisis_recipients(
        assigned_by=None,
        appointments=[],
        now=NOW,
        on_duty=NOBODY_ON_DUTY,
        admins=(),
        admin_address=None,
    )
    assert not nobody.anyone


def test_escalations_go_to_the_admins_and_the_alert_address() -> None:
    told = escalation_recipients(admins=ADMINS, admin_address="alerts@practice.example")
    assert (told.route, told.users, told.address) == ("admins", ADMINS, "alerts@practice.example")
    told = escalation_recipients(admins=(), admin_address=None)
    assert (told.route, told.anyone) == ("admin_address", False)


@pytest.mark.parametrize(
    ("kind", "route", "status", "reason", "escalated"),
    [
        ("alert", "assigned", "failed", None, True),
        ("alert", "next_appointment", "late", None, True),
        ("alert", "on_duty", "failed", None, True),
        ("alert", "assigned", "skipped", "telegram_unreachable", True),
        ("alert", "assigned", "skipped", "unknown_recipient", True),
        ("alert", "assigned", "skipped", "telegram_not_linked", False),  # email carries it
        ("alert", "assigned", "sent", None, False),
        ("alert", "assigned", "pending", None, False),
        ("alert", "admins", "failed", None, False),  # the admins were told in the first place
        ("alert", "admin_address", "failed", None, False),
        ("escalation", "admins", "failed", None, False),  # no loops
    ],
)
def test_which_alert_escalates(
    kind: str, route: str, status: str, reason: str | None, escalated: bool
) -> None:
    assert escalates(kind, route, status, reason) is escalated


def test_an_intake_is_suggested_unless_the_client_is_booked_already() -> None:
    assert suggests_intake(suggest_intake=True, appointments=[], now=NOW)
    assert suggests_intake(suggest_intake=True, appointments=[seen(LAST, "completed", -5)], now=NOW)
    assert not suggests_intake(
        suggest_intake=True, appointments=[seen(NEXT, "confirmed", 1)], now=NOW
    )
    assert suggests_intake(suggest_intake=True, appointments=[seen(NEXT, "held", 1)], now=NOW)
    assert not suggests_intake(suggest_intake=False, appointments=[], now=NOW)


def test_the_admins_are_looked_up_only_when_the_alert_goes_to_them() -> None:
    assert not needs_admins(assigned_by=ASSIGNED, appointments=[], now=NOW, on_duty=NOBODY_ON_DUTY)
    assert not needs_admins(assigned_by=None, appointments=BOOKED, now=NOW, on_duty=NOBODY_ON_DUTY)
    assert not needs_admins(assigned_by=None, appointments=[], now=NOW, on_duty=ON_DUTY)
    assert needs_admins(assigned_by=None, appointments=[], now=NOW, on_duty=NOBODY_ON_DUTY)
