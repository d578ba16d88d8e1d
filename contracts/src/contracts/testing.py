"""Example events for tests: a valid payload or envelope of any registered event.

Values are derived from the payload's JSON Schema, every optional field filled (so a round trip
exercises all of them); pass keyword overrides for the fields a test cares about::

    env = example_envelope(AppointmentConfirmedV1, client_id=client_id)
"""

from __future__ import annotations

from typing import Any, TypeVar, overload
from uuid import UUID, uuid4

from pydantic import BaseModel

from contracts.envelope import EventEnvelope, new_envelope
from contracts.registry import EventSpec

M = TypeVar("M", bound=BaseModel)

_BY_NAME: dict[str, str] = {
    "time_zone": "Europe/Moscow",
    "specialist_time_zone": "Europe/Berlin",
    "sha256": "0" * 64,
    "token_sha256": "0" * 64,
    "email": "anna@example.org",
    "phone": "+79991234567",
    "language_code": "ru",
}


def example_value(node: dict[str, Any], defs: dict[str, Any], name: str = "") -> Any:
    """Return a JSON value valid for a pydantic JSON Schema ``node`` (the first non-null
    alternative of a union, the last value of an enum)."""
    if "$ref" in node:
        return example_value(defs[str(node["$ref"]).rsplit("/", 1)[-1]], defs, name)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        return example_value(options[0], defs, name)
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][-1]
    kind = node.get("type")
    if kind == "string" and name in _BY_NAME:
        return _BY_NAME[name]
    if kind == "object":
        properties: dict[str, Any] = node.get("properties", {})
        if not properties:
            return {"records": 3}
        return {key: example_value(sub, defs, key) for key, sub in properties.items()}
    if kind == "array":
        count = max(int(node.get("minItems", 1)), 1)
        return [example_value(node.get("items", {}), defs, name) for _ in range(count)]
    if kind == "integer":
        return min(max(int(node.get("minimum", 1)), 1), int(node.get("maximum", 10**9)))
    if kind == "boolean":
        return True
    if kind == "string":
        fmt = node.get("format")
        if fmt == "uuid":
            return str(uuid4())
        if fmt == "date-time":
            return "2025-03-30T01:30:00+03:00"
        if fmt == "date":
            return "2030-12-31"
        if name.endswith("url"):
            return f"https://example.org/{name}"
        return f"{name or 'text'} example"
    raise ValueError(f"no example for schema {node!r}")


def example_payload(model: type[M], **overrides: Any) -> M:
    """Return a valid instance of a payload model, with ``overrides`` applied."""
    schema = model.model_json_schema()
    data = example_value(schema, schema.get("$defs", {}))
    data.update(overrides)
    return model.model_validate(data)


@overload
def example_envelope(
    model_or_spec: type[M],
    *,
    correlation_id: str = ...,
    causation_id: UUID | None = ...,
    **overrides: Any,
) -> EventEnvelope[M]: ...


@overload
def example_envelope(
    model_or_spec: EventSpec,
    *,
    correlation_id: str = ...,
    causation_id: UUID | None = ...,
    **overrides: Any,
) -> EventEnvelope[BaseModel]: ...


def example_envelope(
    model_or_spec: type[BaseModel] | EventSpec,
    *,
    correlation_id: str = "example-correlation-id",
    causation_id: UUID | None = None,
    **overrides: Any,
) -> EventEnvelope[Any]:
    """Return a new envelope around :func:`example_payload` of a registered payload model."""
    model = model_or_spec.model if isinstance(model_or_spec, EventSpec) else model_or_spec
    payload = example_payload(model, **overrides)
    return new_envelope(payload, correlation_id=correlation_id, causation_id=causation_id)
