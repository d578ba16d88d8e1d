"""Exchange and routing-key names, and the registry's rules."""

from __future__ import annotations

import pytest
from contracts.booking.v1 import AppointmentConfirmedV1
from contracts.types import Payload

import contracts
from contracts import (
    ContractError,
    DuplicateRegistration,
    Registry,
    UnknownEvent,
    exchange_for,
    producer_of,
    routing_key,
    spec_for,
    spec_of,
    specs_by_producer,
)


@pytest.mark.parametrize("producer", ["booking", "content", "cabinet", "notify"])
def test_exchange_per_producer(producer: str) -> None:
    assert exchange_for(producer) == f"{producer}.events"


def test_unknown_producer_has_no_exchange() -> None:
    with pytest.raises(ContractError, match="unknown producer 'billing'"):
        exchange_for("billing")


def test_routing_key_is_type_dot_version() -> None:
    assert routing_key("booking.appointment.confirmed", 1) == "booking.appointment.confirmed.v1"
    assert routing_key("content.interactive_run.completed", 2) == (
        "content.interactive_run.completed.v2"
    )


@pytest.mark.parametrize(
    "bad", ["booking", "booking.confirmed", "Booking.appointment.held", "booking..held", "x.y.z"]
)
def test_malformed_event_types_are_refused(bad: str) -> None:
    with pytest.raises(ContractError):
        routing_key(bad, 1)


def test_version_must_be_positive() -> None:
    with pytest.raises(ContractError, match=">= 1"):
        routing_key("booking.appointment.held", 0)


def test_producer_is_first_segment() -> None:
    assert producer_of("notify.telegram.action_requested") == "notify"
    with pytest.raises(ContractError, match="unknown producer"):
        producer_of("billing.invoice.sent")


def test_spec_for_registered_event() -> None:
    spec = spec_for("booking.appointment.confirmed", 1)
    assert spec.model is AppointmentConfirmedV1
    assert spec.producer == "booking"
    assert spec.exchange == "booking.events"
    assert spec.routing_key == "booking.appointment.confirmed.v1"
    assert spec.key == "booking.appointment.confirmed.v1"
    assert spec_of(AppointmentConfirmedV1) is spec


def test_spec_for_unknown_raises() -> None:
    with pytest.raises(UnknownEvent, match=r"unknown event type 'booking\.nothing\.happened'"):
        spec_for("booking.nothing.happened", 1)
    with pytest.raises(UnknownEvent, match=r"unknown version v9 .* \(known: v1\)"):
        spec_for("booking.appointment.confirmed", 9)


def test_specs_by_producer_partition_the_catalogue() -> None:
    every = contracts.all_specs()
    by_producer = {p: specs_by_producer(p) for p in contracts.PRODUCERS}
    assert sum(len(s) for s in by_producer.values()) == len(every)
    for producer, specs in by_producer.items():
        assert specs, f"{producer} publishes nothing"
        assert all(s.producer == producer and s.exchange == f"{producer}.events" for s in specs)
    with pytest.raises(ContractError):
        specs_by_producer("billing")


def test_all_specs_sorted_and_unique() -> None:
    keys = [s.key for s in contracts.all_specs()]
    assert keys == sorted(keys)
    assert len(keys) == len(set(keys))
    assert len({s.model for s in contracts.all_specs()}) == len(keys)


def test_decorator_registers_and_returns_the_class() -> None:
    registry = Registry()

    @registry.event("content.thing.happened", version=1)
    class ThingHappenedV1(Payload):
        """Test payload."""

    assert ThingHappenedV1.__name__ == "ThingHappenedV1"
    assert registry.spec_of(ThingHappenedV1).routing_key == "content.thing.happened.v1"
    assert len(registry) == 1
    assert registry.spec_for("content.thing.happened", 1).model is ThingHappenedV1


def test_duplicate_type_version_raises() -> None:
    registry = Registry()

    @registry.event("content.thing.happened", version=1)
    class First(Payload):
        """Test payload."""

    with pytest.raises(DuplicateRegistration, match=r"content\.thing\.happened\.v1 is already"):

        @registry.event("content.thing.happened", version=1)
        class Second(Payload):
            """Test payload."""

    assert registry.spec_for("content.thing.happened", 1).model is First


def test_same_model_twice_raises() -> None:
    registry = Registry()

    class Thing(Payload):
        """Test payload."""

    registry.register("content.thing.happened", 1, Thing)
    with pytest.raises(DuplicateRegistration, match="already registered as"):
        registry.register("content.thing.happened", 2, Thing)


def test_default_registry_refuses_reregistration_of_a_catalogue_event() -> None:
    with pytest.raises(DuplicateRegistration):

        @contracts.event("booking.appointment.confirmed", version=1)
        class Again(Payload):
            """Test payload."""

    assert spec_for("booking.appointment.confirmed", 1).model is AppointmentConfirmedV1


@pytest.mark.parametrize("version", [0, -1, True])
def test_registration_needs_a_positive_int_version(version: int) -> None:
    with pytest.raises(ContractError, match="version"):
        Registry().register("content.thing.happened", version, Payload)


def test_registration_needs_a_known_producer() -> None:
    with pytest.raises(ContractError, match="unknown producer"):
        Registry().register("billing.invoice.sent", 1, Payload)
