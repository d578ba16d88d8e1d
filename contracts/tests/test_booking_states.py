"""The one reading of booking's appointment events that cabinet's and content's copies share."""

from __future__ import annotations

import pytest
from contracts.booking.states import APPOINTMENT_EVENTS, appointment_state
from contracts.booking.v1 import AppointmentCancelledV1, PaymentSucceededV1
from contracts.testing import example_payload


@pytest.mark.parametrize(
    ("event_type", "expected"),
    [
        ("AppointmentHeldV1", ("held", False)),
        ("AppointmentConfirmedV1", ("confirmed", True)),
        ("AppointmentRescheduledV1", ("confirmed", True)),
        ("AppointmentAttendanceConfirmedV1", ("confirmed", True)),
        ("AppointmentExpiredV1", ("expired", False)),
        ("AppointmentCompletedV1", ("completed", True)),
        ("AppointmentNoShowV1", ("no_show", True)),
    ],
)
def test_each_event_leaves_the_appointment_in_its_state(
    event_type: str, expected: tuple[str, bool]
) -> None:
    [cls] = [c for c in APPOINTMENT_EVENTS if c.__name__ == event_type]
    assert appointment_state(example_payload(cls)) == expected


@pytest.mark.parametrize(("previous", "client"), [("confirmed", True), ("held", False)])
def test_a_cancellation_keeps_a_confirmed_client_the_specialists(
    previous: str, client: bool
) -> None:
    payload = example_payload(AppointmentCancelledV1, previous_status=previous)
    assert appointment_state(payload) == ("cancelled", client)


def test_every_state_event_is_read_and_nothing_else_is() -> None:
    assert len(APPOINTMENT_EVENTS) == 8
    with pytest.raises(TypeError):
        appointment_state(example_payload(PaymentSucceededV1))  # type: ignore[arg-type]
