"""What every appointment event carries, built from an appointment row."""

from __future__ import annotations

from typing import Any

from contracts.types import Money

from booking.adapters.tables import Appointment


def rub(amount: int) -> Money:
    """Kopecks as contract money."""
    return Money(amount=amount, currency="RUB")


def slot_facts(appointment: Appointment) -> dict[str, Any]:
    """Service, specialist, times (UTC and the specialist's zone) and price."""
    return {
        "service_id": appointment.service_id,
        "service_name": appointment.service_name,
        "specialist_id": appointment.specialist_id,
        "specialist_name": appointment.specialist_name,
        "format": appointment.format,
        "starts_at": appointment.starts_at,
        "ends_at": appointment.ends_at,
        "specialist_time_zone": appointment.specialist_time_zone,
        "price": rub(appointment.price_amount),
    }


def appointment_facts(appointment: Appointment) -> dict[str, Any]:
    """:func:`slot_facts` plus the appointment and client ids."""
    return {
        **slot_facts(appointment),
        "appointment_id": appointment.id,
        "client_id": appointment.client_id,
    }
