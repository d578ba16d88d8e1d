"""notify.domain.reminders: when each reminder before an appointment is due, and whether one
that fired still goes. Pure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from notify.domain.reminders import reminder_key, reminder_still_due, reminder_times

STARTS = datetime(2030, 3, 15, 9, 0, tzinfo=UTC)
OFFSETS = [24 * 60, 60]


def test_each_reminder_is_due_its_offset_before_the_start() -> None:
    now = STARTS - timedelta(days=3)
    assert reminder_times(STARTS, OFFSETS, now) == [
        (1440, STARTS - timedelta(hours=24)),
        (60, STARTS - timedelta(hours=1)),
    ]


def test_a_reminder_whose_moment_passed_is_dropped_not_sent_late() -> None:
    now = STARTS - timedelta(hours=3)  # booked 3 h before: only the 1 h reminder
    assert reminder_times(STARTS, OFFSETS, now) == [(1440, None), (60, STARTS - timedelta(hours=1))]
    assert reminder_times(STARTS, OFFSETS, STARTS - timedelta(hours=1)) == [
        (1440, None),
        (60, None),
    ]


def test_a_fired_reminder_goes_only_for_a_confirmed_appointment_ahead() -> None:
    def due(status: str, now: datetime, minutes: int = 60) -> bool:
        return reminder_still_due(
            status=status, starts_at=STARTS, minutes_before=minutes, offsets=OFFSETS, now=now
        )

    assert due("confirmed", STARTS - timedelta(minutes=59))
    assert not due("cancelled", STARTS - timedelta(minutes=59))
    assert not due("held", STARTS - timedelta(minutes=59))
    assert not due("confirmed", STARTS)  # it has begun
    # after an outage both are due: the 24 h one gives way to the closer 1 h one
    assert not due("confirmed", STARTS - timedelta(minutes=59), minutes=1440)
    assert due("confirmed", STARTS - timedelta(hours=23), minutes=1440)


def test_one_timer_key_per_reminder_of_an_appointment() -> None:
    appointment = uuid.uuid4()
    assert reminder_key(appointment, 60) == f"{appointment}:60"
    assert reminder_key(appointment, 60) != reminder_key(appointment, 1440)
