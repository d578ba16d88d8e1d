"""Registration of event payload models by ``(event_type, version)``.

A payload model registers itself with the :func:`event` class decorator::

    @event("booking.appointment.confirmed", version=1)
    class AppointmentConfirmedV1(Payload): ...

Importing :mod:`contracts` imports every producer module, so the default registry then holds the
whole catalogue. :class:`Registry` instances other than the default one exist for tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel

from contracts.errors import ContractError, DuplicateRegistration, UnknownEvent
from contracts.routing import check_event_type, exchange_for, producer_of, routing_key

M = TypeVar("M", bound=type[BaseModel])


@dataclass(frozen=True, slots=True)
class EventSpec:
    """Everything known about one ``(event_type, version)``: its model and where it is routed."""

    event_type: str
    version: int
    producer: str
    model: type[BaseModel]
    routing_key: str
    exchange: str
    aggregate: str | None = None
    """Payload field naming the aggregate: consumers keep events of one aggregate in order."""

    @property
    def key(self) -> str:
        """The spec's name, ``<event_type>.v<version>`` (also its routing key and snapshot name)."""
        return f"{self.event_type}.v{self.version}"

    @classmethod
    def build(
        cls, event_type: str, version: int, model: type[BaseModel], aggregate: str | None = None
    ) -> EventSpec:
        """Build a spec, deriving producer, routing key and exchange from the event type."""
        check_event_type(event_type)
        producer = producer_of(event_type)
        if aggregate is not None and aggregate not in model.model_fields:
            raise ContractError(
                f"{event_type} v{version}: aggregate field {aggregate!r} is not a field of "
                f"{model.__name__}"
            )
        return cls(
            aggregate=aggregate,
            event_type=event_type,
            version=version,
            producer=producer,
            model=model,
            routing_key=routing_key(event_type, version),
            exchange=exchange_for(producer),
        )


class Registry:
    """A set of event specs, indexed by ``(event_type, version)`` and by model class."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, int], EventSpec] = {}
        self._by_model: dict[type[BaseModel], EventSpec] = {}

    def register(
        self,
        event_type: str,
        version: int,
        model: type[BaseModel],
        aggregate: str | None = None,
    ) -> EventSpec:
        """Register ``model`` as the payload of ``(event_type, version)`` and return its spec.

        Raises :class:`~contracts.errors.DuplicateRegistration` if the pair or the model is
        already registered, and :class:`~contracts.errors.ContractError` for a malformed name.
        """
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ContractError(f"event version must be an int >= 1, got {version!r}")
        spec = EventSpec.build(event_type, version, model, aggregate)
        existing = self._by_key.get((event_type, version))
        if existing is not None:
            raise DuplicateRegistration(
                f"{spec.key} is already registered to {_qualname(existing.model)}; "
                f"cannot register {_qualname(model)} as well"
            )
        if model in self._by_model:
            raise DuplicateRegistration(
                f"{_qualname(model)} is already registered as {self._by_model[model].key}"
            )
        self._by_key[(event_type, version)] = spec
        self._by_model[model] = spec
        return spec

    def event(
        self, event_type: str, *, version: int, aggregate: str | None = None
    ) -> Callable[[M], M]:
        """Class decorator: register the decorated payload model and return it unchanged."""

        def decorate(model: M) -> M:
            self.register(event_type, version, model, aggregate)
            return model

        return decorate

    def spec_for(self, event_type: str, version: int) -> EventSpec:
        """Return the spec of ``(event_type, version)``; raise UnknownEvent if there is none."""
        spec = self._by_key.get((event_type, version))
        if spec is None:
            known = [v for (t, v) in self._by_key if t == event_type]
            raise UnknownEvent(event_type, version, known)
        return spec

    def spec_of(self, model: type[BaseModel]) -> EventSpec:
        """Return the spec a model class was registered with; raise ContractError if none."""
        spec = self._by_model.get(model)
        if spec is None:
            raise ContractError(f"{_qualname(model)} is not a registered event payload")
        return spec

    def all_specs(self) -> list[EventSpec]:
        """Return every spec, sorted by event type and version."""
        return sorted(self._by_key.values(), key=lambda s: (s.event_type, s.version))

    def specs_by_producer(self, producer: str) -> list[EventSpec]:
        """Return the specs of one producer, sorted by event type and version."""
        exchange_for(producer)  # rejects an unknown producer
        return [s for s in self.all_specs() if s.producer == producer]

    def __iter__(self) -> Iterator[EventSpec]:
        return iter(self.all_specs())

    def __len__(self) -> int:
        return len(self._by_key)


def _qualname(model: type) -> str:
    return f"{model.__module__}.{model.__qualname__}"


default_registry = Registry()


def event(event_type: str, *, version: int, aggregate: str | None = None) -> Callable[[M], M]:
    """Class decorator registering a payload model in the default registry.

    ``aggregate`` names the payload field identifying the aggregate the event is about; it is
    copied into the envelope's ``aggregate_id`` and consumers handle events of one aggregate in
    the order they were published.

    >>> @event(  # doctest: +SKIP
    ...     "booking.appointment.confirmed", version=1, aggregate="appointment_id"
    ... )
    ... class AppointmentConfirmedV1(Payload): ...
    """
    return default_registry.event(event_type, version=version, aggregate=aggregate)


def spec_for(event_type: str, version: int) -> EventSpec:
    """Return the registered spec of ``(event_type, version)``; raise UnknownEvent if none."""
    return default_registry.spec_for(event_type, version)


def spec_of(model: type[BaseModel]) -> EventSpec:
    """Return the spec a payload model class was registered with."""
    return default_registry.spec_of(model)


def all_specs() -> list[EventSpec]:
    """Return every registered spec, sorted by event type and version."""
    return default_registry.all_specs()


def specs_by_producer(producer: str) -> list[EventSpec]:
    """Return the registered specs of one producer (``booking``, ``content``, ...)."""
    return default_registry.specs_by_producer(producer)
