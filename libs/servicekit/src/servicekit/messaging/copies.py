"""A received message sent on again: to the DLQ, back from it, or into a purpose's partitions."""

from __future__ import annotations

from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage


def resent(message: AbstractIncomingMessage, headers: dict[str, Any]) -> aio_pika.Message:
    """``message`` as it arrived (body and properties, persistent) with ``headers`` instead of
    its own."""
    return aio_pika.Message(
        body=message.body,
        headers=headers,
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        type=message.type,
        app_id=message.app_id,
        timestamp=message.timestamp,
    )
