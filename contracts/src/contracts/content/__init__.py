"""Events published by the content service on the ``content.events`` exchange."""

from contracts.content import v1

__all__ = ["v1"]
