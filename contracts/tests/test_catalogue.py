"""The catalogue itself: coverage of DESIGN.md, module layout, docs, personal-data marks."""

from __future__ import annotations

from typing import Any

import pytest
from contracts.cabinet.v1 import UserRegisteredV1
from contracts.registry import EventSpec
from pydantic import BaseModel

import contracts
from contracts import personal_data_fields

SPECS = contracts.all_specs()

# Every event DESIGN.md's v1 catalogue lists, as producer-prefixed types.
DESIGN_CATALOGUE = {
    "booking": [
        "appointment.held",
        "appointment.confirmed",
        "appointment.rescheduled",
        "appointment.cancelled",
        "appointment.expired",
        "appointment.completed",
        "appointment.no_show",
        "payment.succeeded",
        "payment.failed",
        "refund.succeeded",
        "waitlist.offer_made",
        "waitlist.offer_expired",
        "intake.submitted",
        "data_export.part_ready",
        "user_data.erased",
    ],
    "content": [
        "item.published",
        "interactive_run.completed",
        "moderation.decided",
        "data_export.part_ready",
        "user_data.erased",
    ],
    "cabinet": [
        "user.registered",
        "user.contact_changed",
        "consent.granted",
        "consent.withdrawn",
        "data_export.requested",
        "data_export.completed",
        "user.erasure_requested",
        "lead.created",
        "lead.converted",
    ],
    "notify": [
        "telegram.linked",
        "deeplink.activated",
        "telegram.action_requested",
        "delivery.failed",
    ],
}

# Field names that hold contact or identifying data wherever they appear.
CONTACT_FIELDS = {
    "email",
    "phone",
    "name",
    "first_name",
    "last_name",
    "display_name",
    "specialist_name",
    "telegram_username",
    "telegram_chat_id",
    "telegram_user_id",
    "recipient",
    # capability links: whoever holds one can use it
    "verification_url",
    "reset_url",
    "download_url",
}


@pytest.mark.parametrize(
    "event_type",
    [f"{p}.{name}" for p, names in DESIGN_CATALOGUE.items() for name in names],
)
def test_design_catalogue_is_registered_as_v1(event_type: str) -> None:
    assert contracts.spec_for(event_type, 1).event_type == event_type


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.key)
def test_model_lives_in_its_producer_version_module(spec: EventSpec) -> None:
    assert spec.model.__module__ == f"contracts.{spec.producer}.v{spec.version}"
    assert spec.model.__name__.endswith(f"V{spec.version}")


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.key)
def test_model_is_documented_frozen_and_tolerant(spec: EventSpec) -> None:
    doc = spec.model.__doc__ or ""
    assert len(doc.strip()) > 20, f"{spec.model.__name__} needs a docstring"
    assert "Consumers" in doc, f"{spec.model.__name__}: say who consumes it"
    assert spec.model.model_config.get("frozen") is True
    assert spec.model.model_config.get("extra") in (None, "ignore")


def _walk_properties(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for definition in [schema, *schema.get("$defs", {}).values()]:
        for name, prop in definition.get("properties", {}).items():
            out.append((name, prop))
    return out


def _is_marked(prop: dict[str, Any]) -> bool:
    if prop.get("x-personal-data") is True:
        return True
    return any(_is_marked(v) for v in prop.get("anyOf", []))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.key)
def test_contact_fields_are_marked_personal(spec: EventSpec) -> None:
    schema = spec.model.model_json_schema()
    unmarked = [
        name
        for name, prop in _walk_properties(schema)
        if name in CONTACT_FIELDS and not _is_marked(prop)
    ]
    assert unmarked == []


def test_user_registered_contract() -> None:
    fields = UserRegisteredV1.model_fields
    for name in ("user_id", "email", "name", "time_zone", "language", "roles", "registered_at"):
        assert fields[name].is_required(), name
    assert not fields["phone"].is_required()
    assert personal_data_fields(UserRegisteredV1) == {"email", "name", "phone"}
    schema = UserRegisteredV1.model_json_schema()
    assert schema["properties"]["language"]["enum"] == ["ru", "en"]
    assert schema["properties"]["user_id"]["format"] == "uuid"
    assert schema["properties"]["registered_at"]["format"] == "date-time"


def test_health_data_is_marked_special_category() -> None:
    schema = contracts.content.v1.InteractiveRunCompletedV1.model_json_schema()
    for name in ("score", "band", "crisis"):
        assert schema["properties"][name]["x-special-category"] == "health"


def test_personal_data_fields_follow_nesting() -> None:
    class Inner(BaseModel):
        email: contracts.PersonalData
        city: str

    class Outer(BaseModel):
        people: list[Inner]
        owner: Inner | None = None
        phone: contracts.PersonalData | None = None

    assert personal_data_fields(Outer) == {"people[].email", "owner.email", "phone"}


def test_every_spec_carries_routing_from_its_type() -> None:
    for spec in SPECS:
        assert spec.routing_key == f"{spec.event_type}.v{spec.version}"
        assert spec.exchange == f"{spec.event_type.split('.')[0]}.events"
