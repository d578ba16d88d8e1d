"""What each of booking's appointment events says about the appointment, for the services that
keep a copy of it (cabinet's and content's appointments: who is whose client, the sessions beside
a trend). One reading, so the copies cannot drift apart."""

from __future__ import annotations

from contracts.booking.v1 import (
    AppointmentAttendanceConfirmedV1,
    AppointmentCancelledV1,
    AppointmentCompletedV1,
    AppointmentConfirmedV1,
    AppointmentExpiredV1,
    AppointmentFacts,
    AppointmentHeldV1,
    AppointmentNoShowV1,
    AppointmentRescheduledV1,
)

#: Every event that changes an appointment's state, in its lifecycle's order.
APPOINTMENT_EVENTS: tuple[type[AppointmentFacts], ...] = (
    AppointmentHeldV1,
    AppointmentConfirmedV1,
    AppointmentRescheduledV1,
    AppointmentAttendanceConfirmedV1,
    AppointmentCancelledV1,
    AppointmentExpiredV1,
    AppointmentCompletedV1,
    AppointmentNoShowV1,
)


def appointment_state(facts: AppointmentFacts) -> tuple[str, bool]:
    """``(status, confirmed)`` after the event: the appointment's status, and whether it was
    confirmed at some point (a held slot makes nobody a client; a cancelled one that had been
    confirmed keeps the client the specialist's)."""
    match facts:
        case AppointmentHeldV1():
            return "held", False
        case AppointmentCancelledV1():
            return "cancelled", facts.previous_status == "confirmed"
        case AppointmentExpiredV1():
            return "expired", False
        case AppointmentCompletedV1():
            return "completed", True
        case AppointmentNoShowV1():
            return "no_show", True
        case (
            AppointmentConfirmedV1()
            | AppointmentRescheduledV1()
            | AppointmentAttendanceConfirmedV1()
        ):
            return "confirmed", True
    raise TypeError(f"not an appointment state change: {type(facts).__name__}")
