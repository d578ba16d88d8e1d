"""Events published by the notify service on the ``notify.events`` exchange."""

from contracts.notify import v1

__all__ = ["v1"]
