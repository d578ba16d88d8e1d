"""Praktika event contracts: envelope, versioned payloads, routing names, registry.

Importing this package registers the whole catalogue (every producer's payload modules).
"""

from contracts import booking, cabinet, content, notify
from contracts.envelope import EventEnvelope, new_envelope, parse_envelope
from contracts.errors import ContractError, DuplicateRegistration, InvalidEvent, UnknownEvent
from contracts.registry import (
    EventSpec,
    Registry,
    all_specs,
    default_registry,
    event,
    spec_for,
    spec_of,
    specs_by_producer,
)
from contracts.routing import PRODUCERS, Producer, exchange_for, producer_of, routing_key
from contracts.types import Money, Payload, PersonalData, UtcDateTime, personal_data_fields

__all__ = [
    "PRODUCERS",
    "ContractError",
    "DuplicateRegistration",
    "EventEnvelope",
    "EventSpec",
    "InvalidEvent",
    "Money",
    "Payload",
    "PersonalData",
    "Producer",
    "Registry",
    "UnknownEvent",
    "UtcDateTime",
    "all_specs",
    "booking",
    "cabinet",
    "content",
    "default_registry",
    "event",
    "exchange_for",
    "new_envelope",
    "notify",
    "parse_envelope",
    "personal_data_fields",
    "producer_of",
    "routing_key",
    "spec_for",
    "spec_of",
    "specs_by_producer",
]
