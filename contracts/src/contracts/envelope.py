"""The event envelope: what travels on the wire around every payload.

``event_id`` is also the AMQP ``message_id`` and the consumers' inbox key; ``correlation_id`` is
also the AMQP ``correlation_id``. Build envelopes with :func:`new_envelope`; :func:`to_wire`
makes the message body, with the personal and secret fields sealed (:mod:`contracts.sealing`);
:func:`parse_envelope` reads it back, opening what is sealed. ``envelope.model_dump_json()`` is
the same message in the clear: never what a service publishes.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, cast
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contracts.errors import ContractError, InvalidEvent, UnknownEvent
from contracts.registry import Registry, default_registry
from contracts.routing import exchange_for, routing_key
from contracts.sealing import (
    SEAL_KINDS,
    Sealer,
    SealError,
    has_sealed_fields,
    merge_sealed,
    split_sealed,
)
from contracts.types import UtcDateTime

__all__ = [
    "ContractError",
    "EventEnvelope",
    "InvalidEvent",
    "UnknownEvent",
    "new_envelope",
    "parse_envelope",
    "to_wire",
]

P = TypeVar("P", bound=BaseModel)


class EventEnvelope(BaseModel, Generic[P]):
    """One event on the wire: identity, type and version, time, causality, and the payload.

    Unknown envelope fields are ignored, so the envelope itself can grow optional fields.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: UUID = Field(description="Unique id; also the AMQP message_id and the inbox key")
    event_type: str = Field(
        min_length=1, description="'<producer>.<entity>.<happening>', e.g. booking.appointment.held"
    )
    version: int = Field(ge=1, description="Payload version; a breaking change is a new version")
    occurred_at: UtcDateTime = Field(description="When it happened (UTC)")
    producer: str = Field(min_length=1, description="Producing service: first segment of type")
    correlation_id: str = Field(
        min_length=1,
        max_length=255,
        description="Id of the request that caused it; also the AMQP correlation_id",
    )
    causation_id: UUID | None = Field(
        default=None, description="event_id of the event that caused this one, if any"
    )
    aggregate_id: str | None = Field(
        default=None,
        max_length=255,
        description=(
            "Id of the aggregate the event is about (from the payload field the contract names); "
            "consumers handle the events of one aggregate in publication order"
        ),
    )
    payload: P

    @model_validator(mode="after")
    def _producer_matches_type(self) -> EventEnvelope[P]:
        prefix = self.event_type.split(".", 1)[0]
        if self.producer != prefix:
            raise ValueError(
                f"producer {self.producer!r} does not match event type {self.event_type!r}"
            )
        return self

    @property
    def routing_key(self) -> str:
        """The AMQP routing key, ``<event_type>.v<version>``."""
        return routing_key(self.event_type, self.version)

    @property
    def exchange(self) -> str:
        """The producer's topic exchange, ``<producer>.events``."""
        return exchange_for(self.producer)


@functools.cache
def envelope_class(model: type[BaseModel]) -> Any:
    """``EventEnvelope[model]``, built once per model.

    pydantic's own cache of parametrised generics is not reliable under load (it re-created the
    class hundreds of times per thousand messages in profiling), and building one costs ~2 ms.
    """
    return cast(Any, EventEnvelope)[model]


def new_envelope(
    payload: P,
    *,
    correlation_id: str,
    causation_id: UUID | None = None,
    event_id: UUID | None = None,
    occurred_at: datetime | None = None,
    registry: Registry = default_registry,
) -> EventEnvelope[P]:
    """Wrap a registered payload in a new envelope.

    ``event_type``, ``version`` and ``producer`` come from the payload class's registration;
    ``event_id`` defaults to a new uuid4 and ``occurred_at`` to now (UTC). Raises
    :class:`~contracts.errors.ContractError` if the payload class is not registered and
    :class:`~contracts.errors.InvalidEvent` if a field is invalid (e.g. a naive datetime).
    """
    spec = registry.spec_of(type(payload))
    envelope_type = envelope_class(type(payload))
    try:
        envelope = envelope_type(
            event_id=event_id or uuid4(),
            event_type=spec.event_type,
            version=spec.version,
            occurred_at=occurred_at or datetime.now(UTC),
            producer=spec.producer,
            correlation_id=correlation_id,
            causation_id=causation_id,
            aggregate_id=_aggregate_id(payload, spec.aggregate),
            payload=payload,
        )
    except ValidationError as exc:
        raise InvalidEvent(
            _describe(exc), event_type=spec.event_type, version=spec.version, errors=_errors(exc)
        ) from exc
    return cast("EventEnvelope[P]", envelope)


def _aggregate_id(payload: BaseModel, field: str | None) -> str | None:
    value = None if field is None else getattr(payload, field, None)
    return None if value is None else str(value)


def to_wire(envelope: EventEnvelope[Any], sealer: Sealer | None) -> str:
    """The message body of ``envelope``: JSON with its personal and secret fields sealed.

    Raises :class:`~contracts.sealing.SealError` when the payload has such fields and no
    ``sealer`` is given or the sealer has no key for a part: an event never leaves in the clear.
    """
    model = type(envelope.payload)
    if not has_sealed_fields(model):
        return envelope.model_dump_json()
    public, parts = split_sealed(model, envelope.payload.model_dump(mode="json"))
    if not parts:
        return envelope.model_dump_json()
    if sealer is None:
        raise SealError(f"{envelope.event_type} has sealed fields and no sealer was given")
    data = envelope.model_dump(mode="json", exclude={"payload"})
    data["payload"] = public
    data["sealed"] = {
        kind: sealer.seal(
            kind, json.dumps(parts[kind], ensure_ascii=False, separators=(",", ":")).encode()
        )
        for kind in SEAL_KINDS
        if kind in parts
    }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _open_sealed(data: dict[str, Any], opener: Sealer | None) -> None:
    sealed = data.pop("sealed", None)
    if sealed is None:
        return  # written before sealing existed, or an event with nothing to seal
    if not isinstance(sealed, dict) or not isinstance(data.get("payload"), dict):
        raise InvalidEvent("sealed: must be an object beside an object payload")
    if opener is None:
        raise InvalidEvent("the event has sealed parts and this reader holds no keys")
    data["payload"] = copy.deepcopy(data["payload"])  # never change the caller's mapping
    for kind, token in sealed.items():
        if kind not in SEAL_KINDS or not isinstance(token, str):
            raise InvalidEvent(f"sealed: unknown part {kind!r}")
        try:
            part = json.loads(opener.open(kind, token))
            merge_sealed(data["payload"], part)
        except SealError as exc:
            raise InvalidEvent(f"sealed.{kind}: {exc}") from None
        except (ValueError, TypeError):
            raise InvalidEvent(f"sealed.{kind}: not a JSON object") from None


class _Header(BaseModel):
    """Just enough of the envelope to find the payload model."""

    event_type: str
    version: int


def parse_envelope(
    raw: bytes | str | Mapping[str, Any],
    *,
    registry: Registry = default_registry,
    opener: Sealer | None = None,
) -> EventEnvelope[BaseModel]:
    """Validate a message body (JSON bytes or text, or a decoded mapping) as an event.

    Sealed parts are opened with ``opener`` and merged back into the payload first (a body
    without them, written before sealing existed, is read as it is). The envelope is validated,
    then the payload against the model registered for its ``(event_type, version)``; the
    returned envelope's ``payload`` is an instance of that model. Unknown fields are ignored.
    Raises :class:`~contracts.errors.UnknownEvent` for an unregistered type or version and
    :class:`~contracts.errors.InvalidEvent` for anything else that is wrong (bad JSON, a
    missing or mistyped field, a sealed part this reader cannot open), with a readable reason.
    """
    data = _decode(raw)
    try:
        header = _Header.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(_describe(exc), errors=_errors(exc)) from exc
    spec = registry.spec_for(header.event_type, header.version)
    _open_sealed(data, opener)
    envelope_type = envelope_class(spec.model)
    try:
        envelope = envelope_type.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(
            _describe(exc), event_type=spec.event_type, version=spec.version, errors=_errors(exc)
        ) from exc
    return cast("EventEnvelope[BaseModel]", envelope)


def _decode(raw: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, bytes | bytearray | memoryview):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEvent(f"body is not UTF-8: {exc}") from exc
    elif isinstance(raw, str):
        text = raw
    else:
        raise InvalidEvent(f"cannot read an event from {type(raw).__name__}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidEvent(f"body must be a JSON object, got {type(data).__name__}")
    return data


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    return cast(
        list[dict[str, Any]],
        exc.errors(include_url=False, include_context=False, include_input=False),
    )


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(p) for p in error["loc"]) or "(body)"
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)
