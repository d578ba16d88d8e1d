"""Envelope construction, serialisation and parsing, including every way a message can be bad."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest
from contracts.booking.v1 import AppointmentConfirmedV1
from contracts.cabinet.v1 import UserRegisteredV1
from contracts.notify.v1 import TelegramActionRequestedV1
from contracts.registry import EventSpec
from contracts.testing import example_envelope, example_payload
from contracts.types import Payload

import contracts
from contracts import (
    ContractError,
    EventEnvelope,
    InvalidEvent,
    UnknownEvent,
    new_envelope,
    parse_envelope,
)

USER_ID = UUID("6f1c1b1e-8a4f-4c5e-9d5e-2b1b0d7f0a11")
REGISTERED_AT = datetime(2025, 3, 30, 1, 30, tzinfo=timezone(timedelta(hours=3)))


def _user_registered() -> UserRegisteredV1:
    return UserRegisteredV1(
        user_id=USER_ID,
        email="anna@example.org",
        name="Анна Петрова",
        time_zone="Europe/Moscow",
        language="ru",
        roles=["client"],
        registered_at=REGISTERED_AT,
    )


def _wire(**changes: Any) -> dict[str, Any]:
    env = new_envelope(_user_registered(), correlation_id="req-1")
    data: dict[str, Any] = env.model_dump(mode="json")
    for key, value in changes.items():
        data[key] = value
    return data


def test_new_envelope_infers_type_version_producer_and_defaults() -> None:
    before = datetime.now(UTC)
    env = new_envelope(_user_registered(), correlation_id="req-1")
    assert env.event_type == "cabinet.user.registered"
    assert env.version == 1
    assert env.producer == "cabinet"
    assert env.correlation_id == "req-1"
    assert env.causation_id is None
    assert isinstance(env.event_id, UUID)
    assert env.event_id.version == 4
    assert before <= env.occurred_at <= datetime.now(UTC)
    assert env.occurred_at.tzinfo is UTC
    assert env.routing_key == "cabinet.user.registered.v1"
    assert env.exchange == "cabinet.events"
    assert type(env) is EventEnvelope[UserRegisteredV1]


def test_new_envelope_keeps_given_ids_and_normalises_time_to_utc() -> None:
    event_id, cause = uuid4(), uuid4()
    env = new_envelope(
        _user_registered(),
        correlation_id="req-2",
        causation_id=cause,
        event_id=event_id,
        occurred_at=REGISTERED_AT,
    )
    assert env.event_id == event_id
    assert env.causation_id == cause
    assert env.occurred_at == datetime(2025, 3, 29, 22, 30, tzinfo=UTC)
    assert env.occurred_at.tzinfo is UTC
    assert env.payload.registered_at.tzinfo is UTC


def test_new_envelope_refuses_naive_time_and_unregistered_payload() -> None:
    with pytest.raises(InvalidEvent, match="occurred_at"):
        new_envelope(_user_registered(), correlation_id="c", occurred_at=datetime(2025, 1, 1))

    class NotRegistered(Payload):
        x: int

    with pytest.raises(ContractError, match="not a registered event payload"):
        new_envelope(NotRegistered(x=1), correlation_id="c")


def test_envelope_is_frozen() -> None:
    env = new_envelope(_user_registered(), correlation_id="req-1")
    with pytest.raises(ValueError, match="frozen"):
        env.correlation_id = "other"  # type: ignore[misc]
    with pytest.raises(ValueError, match="frozen"):
        env.payload.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize("form", ["json-bytes", "json-str", "dict"])
def test_round_trip(form: str) -> None:
    env = new_envelope(_user_registered(), correlation_id="req-1", causation_id=uuid4())
    forms: dict[str, bytes | str | dict[str, Any]] = {
        "json-bytes": env.model_dump_json().encode(),
        "json-str": env.model_dump_json(),
        "dict": env.model_dump(mode="json"),
    }
    raw = forms[form]
    parsed = parse_envelope(raw)
    assert parsed == env
    assert isinstance(parsed.payload, UserRegisteredV1)
    assert parsed.payload.name == "Анна Петрова"
    assert parsed.payload.phone is None


@pytest.mark.parametrize("spec", contracts.all_specs(), ids=lambda s: s.key)
def test_every_registered_event_round_trips(spec: EventSpec) -> None:
    env = example_envelope(spec, causation_id=uuid4())
    body = env.model_dump_json()
    parsed = parse_envelope(body)
    assert parsed == env
    assert type(parsed.payload) is spec.model
    assert parsed.model_dump_json() == body


def test_wire_form_of_an_envelope() -> None:
    env = new_envelope(_user_registered(), correlation_id="req-1", event_id=USER_ID)
    data = json.loads(env.model_dump_json())
    assert set(data) == {
        "event_id",
        "event_type",
        "version",
        "occurred_at",
        "producer",
        "correlation_id",
        "causation_id",
        "aggregate_id",
        "payload",
    }
    assert data["event_id"] == str(USER_ID)
    assert data["aggregate_id"] == str(USER_ID)  # cabinet.user.* events are about a user
    assert data["payload"]["registered_at"] == "2025-03-29T22:30:00Z"
    assert data["payload"]["user_id"] == str(USER_ID)


def test_money_is_kopecks_in_rubles() -> None:
    confirmed = example_payload(AppointmentConfirmedV1, price={"amount": 150000})
    assert confirmed.price.amount == 150000
    assert confirmed.price.currency == "RUB"
    with pytest.raises(ValueError, match="currency"):
        example_payload(AppointmentConfirmedV1, price={"amount": 100, "currency": "USD"})
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        example_payload(AppointmentConfirmedV1, price={"amount": -1})


def test_unknown_fields_are_ignored_in_envelope_and_payload() -> None:
    data = _wire(trace_state="abc")
    data["payload"] = {**data["payload"], "favourite_colour": "green"}
    parsed = parse_envelope(json.dumps(data))
    assert isinstance(parsed.payload, UserRegisteredV1)
    assert "favourite_colour" not in parsed.payload.model_dump()
    assert "trace_state" not in parsed.model_dump()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "body is not valid JSON"),
        ("", "body is not valid JSON"),
        (b"\xff\xfe", "body is not UTF-8"),
        ("[1, 2]", "body must be a JSON object, got list"),
    ],
)
def test_bad_json_is_invalid(raw: bytes | str, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason) as info:
        parse_envelope(raw)
    assert isinstance(info.value, ContractError)
    assert isinstance(info.value, ValueError)


def test_unknown_type_is_reported() -> None:
    with pytest.raises(UnknownEvent) as info:
        parse_envelope(_wire(event_type="cabinet.user.teleported"))
    assert str(info.value) == "unknown event type 'cabinet.user.teleported' (version 1)"
    assert info.value.event_type == "cabinet.user.teleported"
    assert not isinstance(info.value, InvalidEvent)


def test_unknown_version_is_reported_with_known_versions() -> None:
    with pytest.raises(UnknownEvent) as info:
        parse_envelope(_wire(version=7))
    assert str(info.value) == "unknown version v7 of event 'cabinet.user.registered' (known: v1)"
    assert info.value.known_versions == (1,)


def test_missing_payload_field_is_invalid() -> None:
    data = _wire()
    del data["payload"]["email"]
    with pytest.raises(InvalidEvent) as info:
        parse_envelope(data)
    assert str(info.value) == (
        "invalid event: cabinet.user.registered v1: payload.email: Field required"
    )
    assert info.value.errors[0]["loc"] == ("payload", "email")
    assert info.value.errors[0]["type"] == "missing"


def test_wrong_payload_type_is_invalid() -> None:
    data = _wire()
    data["payload"]["user_id"] = "not-a-uuid"
    data["payload"]["roles"] = "client"
    with pytest.raises(InvalidEvent) as info:
        parse_envelope(data)
    message = str(info.value)
    assert "payload.user_id: Input should be a valid UUID" in message
    assert "payload.roles: Input should be a valid list" in message
    assert len(info.value.errors) == 2


def test_wrong_literal_and_naive_datetime_are_invalid() -> None:
    data = _wire()
    data["payload"]["language"] = "de"
    data["payload"]["registered_at"] = "2025-03-30T01:30:00"
    with pytest.raises(InvalidEvent) as info:
        parse_envelope(data)
    locations = {e["loc"] for e in info.value.errors}
    assert locations == {("payload", "language"), ("payload", "registered_at")}
    assert "timezone" in str(info.value)


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"event_type": None}, "event_type: Input should be a valid string"),
        ({"version": "one"}, "version: Input should be a valid integer"),
        ({"event_id": "42"}, "event_id: Input should be a valid UUID"),
        ({"correlation_id": ""}, "correlation_id: String should have at least 1 character"),
        ({"occurred_at": "2025-01-01T00:00:00"}, "occurred_at: Input should have timezone info"),
        ({"producer": "booking"}, "producer 'booking' does not match event type"),
        ({"payload": "hello"}, "payload: Input should be a valid dictionary"),
    ],
)
def test_bad_envelope_fields_are_invalid(changes: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidEvent, match="invalid event") as info:
        parse_envelope(_wire(**changes))
    assert needle in str(info.value)


def test_missing_envelope_fields_are_invalid() -> None:
    data = _wire()
    del data["correlation_id"]
    with pytest.raises(InvalidEvent, match="correlation_id: Field required"):
        parse_envelope(data)
    with pytest.raises(InvalidEvent, match="event_type: Field required"):
        parse_envelope({"version": 1})


def test_payload_invariant_is_enforced_when_parsing() -> None:
    env = example_envelope(TelegramActionRequestedV1, action="cancel_appointment")
    data = env.model_dump(mode="json")
    data["payload"]["appointment_id"] = None
    with pytest.raises(InvalidEvent, match="cancel_appointment needs appointment_id"):
        parse_envelope(data)


def test_parsed_envelope_of_unregistered_payload_class_is_refused_by_new_envelope() -> None:
    registry = contracts.Registry()
    with pytest.raises(ContractError, match="not a registered event payload"):
        new_envelope(_user_registered(), correlation_id="c", registry=registry)
    with pytest.raises(UnknownEvent):
        parse_envelope(_wire(), registry=registry)
