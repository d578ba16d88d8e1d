"""Exchange and routing-key names.

One durable topic exchange per producer (``booking.events``, ...); a message's routing key is
``<event_type>.v<version>``; the producer is the first dotted segment of the event type.
Consumers bind their own queues with these keys (wildcards such as ``booking.appointment.*.v1``
work because every segment is a plain word).
"""

from __future__ import annotations

import re
from typing import Final, Literal, get_args

from contracts.errors import ContractError

Producer = Literal["booking", "content", "cabinet", "notify"]
PRODUCERS: Final[tuple[str, ...]] = get_args(Producer)

# producer.entity.happening: lowercase words with underscores, at least three segments.
_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){2,}$")


def check_event_type(event_type: str) -> str:
    """Return ``event_type`` if it is well formed and its producer is known, else raise.

    Raises :class:`~contracts.errors.ContractError` naming what is wrong.
    """
    if not _EVENT_TYPE.match(event_type):
        raise ContractError(
            f"malformed event type {event_type!r}: expected '<producer>.<entity>.<happening>' "
            "in lowercase words with underscores"
        )
    producer_of(event_type)
    return event_type


def producer_of(event_type: str) -> str:
    """Return the producer of an event type: its first dotted segment, one of :data:`PRODUCERS`."""
    producer = event_type.split(".", 1)[0]
    if producer not in PRODUCERS:
        raise ContractError(
            f"unknown producer {producer!r} in event type {event_type!r} "
            f"(known: {', '.join(PRODUCERS)})"
        )
    return producer


def exchange_for(producer: str) -> str:
    """Return the name of the producer's durable topic exchange, ``<producer>.events``."""
    if producer not in PRODUCERS:
        raise ContractError(f"unknown producer {producer!r} (known: {', '.join(PRODUCERS)})")
    return f"{producer}.events"


def routing_key(event_type: str, version: int) -> str:
    """Return the routing key of an event: ``<event_type>.v<version>``."""
    if version < 1:
        raise ContractError(f"event version must be >= 1, got {version}")
    return f"{check_event_type(event_type)}.v{version}"
