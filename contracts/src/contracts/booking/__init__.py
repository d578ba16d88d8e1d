"""Events published by the booking service on the ``booking.events`` exchange."""

from contracts.booking import v1

__all__ = ["v1"]
