"""Events published by the cabinet service on the ``cabinet.events`` exchange."""

from contracts.cabinet import v1

__all__ = ["v1"]
