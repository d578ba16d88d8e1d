"""The compatibility checker must catch every breaking change, and only those.

The mutations are applied to the real committed snapshots, so the test fails if the checker
stops understanding what pydantic actually writes ($defs, $ref, anyOf for nullables, ...).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Literal

import pytest
from contracts.compat import breaking_changes, catalogue_breaking_changes
from contracts.snapshots import SCHEMA_DIR, load_snapshots
from pydantic import BaseModel

COMMITTED = load_snapshots(SCHEMA_DIR)
Schema = dict[str, Any]


def _registered() -> Schema:
    return copy.deepcopy(COMMITTED["cabinet.user.registered.v1"])


def _payload(schema: Schema) -> Schema:
    defs: Schema = schema["$defs"]["UserRegisteredV1"]
    return defs


def _changed(base: Schema, mutate: Callable[[Schema], object]) -> list[str]:
    new = copy.deepcopy(base)
    mutate(new)
    return breaking_changes(base, new)


def test_identical_schemas_have_no_breaking_change() -> None:
    assert len(COMMITTED) >= 40
    for key, schema in COMMITTED.items():
        assert breaking_changes(schema, copy.deepcopy(schema)) == [], key


def test_removed_field_is_reported() -> None:
    def remove_language(s: Schema) -> None:
        del _payload(s)["properties"]["language"]
        _payload(s)["required"].remove("language")

    assert _changed(_registered(), remove_language) == ["payload.language: property removed"]


def test_removed_optional_field_is_reported() -> None:
    def remove_phone(s: Schema) -> None:
        del _payload(s)["properties"]["phone"]

    assert _changed(_registered(), remove_phone) == ["payload.phone: property removed"]


def test_retyped_field_str_to_int_is_reported() -> None:
    changes = _changed(
        _registered(), lambda s: _payload(s)["properties"]["name"].update(type="integer")
    )
    assert changes == [
        "payload.name: type changed from string to integer (no longer accepts string; "
        "now also accepts integer, which old readers refuse)"
    ]


def test_optional_field_made_required_is_reported() -> None:
    changes = _changed(_registered(), lambda s: _payload(s)["required"].append("phone"))
    assert changes == ["payload.phone: became required (messages from old producers may lack it)"]


def test_required_field_made_optional_is_reported() -> None:
    changes = _changed(_registered(), lambda s: _payload(s)["required"].remove("email"))
    assert changes == ["payload.email: no longer required (old readers expect it in every message)"]


def test_removed_enum_value_is_reported() -> None:
    changes = _changed(
        _registered(), lambda s: _payload(s)["properties"]["language"].update(enum=["ru"])
    )
    assert changes == ['payload.language: enum values removed: "en"']


def test_added_enum_value_is_reported_because_old_readers_refuse_it() -> None:
    changes = _changed(
        _registered(),
        lambda s: _payload(s)["properties"]["language"].update(enum=["ru", "en", "de"]),
    )
    assert len(changes) == 1
    assert changes[0].startswith('payload.language: enum values added: "de"')


def test_added_optional_field_is_not_reported() -> None:
    def add_optional(s: Schema) -> None:
        _payload(s)["properties"]["nickname"] = {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "default": None,
        }

    assert _changed(_registered(), add_optional) == []


def test_added_required_field_is_reported() -> None:
    def add_required(s: Schema) -> None:
        _payload(s)["properties"]["nickname"] = {"type": "string"}
        _payload(s)["required"].append("nickname")

    assert _changed(_registered(), add_required) == [
        "payload.nickname: new required property (old producers do not send it)"
    ]


def test_description_title_default_and_annotations_are_ignored() -> None:
    def reword(s: Schema) -> None:
        _payload(s)["description"] = "reworded"
        _payload(s)["properties"]["email"]["title"] = "E-mail"
        _payload(s)["properties"]["email_verified"]["default"] = True
        s["title"] = "Renamed"

    assert _changed(_registered(), reword) == []


def test_nullable_narrowed_is_reported() -> None:
    def not_null(s: Schema) -> None:
        _payload(s)["properties"]["phone"] = {"type": "string", "x-personal-data": True}

    assert _changed(_registered(), not_null) == [
        "payload.phone: type changed from null | string to string (no longer accepts null)"
    ]


def test_nullable_widened_is_reported() -> None:
    def nullable(s: Schema) -> None:
        _payload(s)["properties"]["name"] = {
            "anyOf": [{"type": "string", "x-personal-data": True}, {"type": "null"}]
        }

    changes = _changed(_registered(), nullable)
    assert len(changes) == 1
    assert changes[0].startswith("payload.name: type changed from string to null | string")


def test_array_item_type_change_is_reported() -> None:
    changes = _changed(
        _registered(), lambda s: _payload(s)["properties"]["roles"]["items"].update(type="integer")
    )
    assert len(changes) == 1
    assert changes[0].startswith("payload.roles[]: type changed from string to integer")


def test_change_inside_a_shared_def_is_reported_through_refs() -> None:
    held = copy.deepcopy(COMMITTED["booking.appointment.held.v1"])

    def money_as_string(s: Schema) -> None:
        s["$defs"]["Money"]["properties"]["amount"]["type"] = "string"

    changes = _changed(held, money_as_string)
    assert len(changes) == 1
    assert changes[0].startswith("payload.price.amount: type changed from integer to string")


def test_removed_field_of_a_nested_object_is_reported() -> None:
    cancelled = copy.deepcopy(COMMITTED["booking.appointment.cancelled.v1"])

    def drop_currency(s: Schema) -> None:
        del s["$defs"]["Money"]["properties"]["currency"]

    assert _changed(cancelled, drop_currency) == ["payload.price.currency: property removed"]


def test_nested_array_of_objects_change_is_reported() -> None:
    erased = copy.deepcopy(COMMITTED["booking.user_data.erased.v1"])

    def retype(s: Schema) -> None:
        s["$defs"]["RetainedData"]["properties"]["category"]["type"] = "integer"

    changes = _changed(erased, retype)
    assert len(changes) == 1
    assert changes[0].startswith("payload.retained[].category: type changed")


def test_constraint_change_is_reported() -> None:
    changes = _changed(
        _registered(), lambda s: _payload(s)["properties"]["time_zone"].update(maxLength=32)
    )
    assert changes == ["payload.time_zone: maxLength changed from 64 to 32"]


def test_forbidding_unknown_fields_is_reported() -> None:
    changes = _changed(_registered(), lambda s: _payload(s).update(additionalProperties=False))
    assert changes == ["payload: now forbids unknown properties (readers must be tolerant)"]


def test_envelope_field_removal_is_reported() -> None:
    def drop_correlation(s: Schema) -> None:
        del s["properties"]["correlation_id"]
        s["required"].remove("correlation_id")

    assert _changed(_registered(), drop_correlation) == ["correlation_id: property removed"]


def test_several_changes_are_all_reported() -> None:
    def many(s: Schema) -> None:
        del _payload(s)["properties"]["language"]
        _payload(s)["properties"]["name"]["type"] = "integer"
        _payload(s)["required"].append("phone")

    changes = _changed(_registered(), many)
    assert len(changes) == 3
    assert {c.split(":")[0] for c in changes} == {
        "payload.language",
        "payload.name",
        "payload.phone",
    }


def test_removed_type_version_is_reported_and_new_one_is_fine() -> None:
    old = {k: COMMITTED[k] for k in ("cabinet.user.registered.v1", "cabinet.lead.created.v1")}
    new = {
        "cabinet.user.registered.v1": COMMITTED["cabinet.user.registered.v1"],
        "cabinet.user.registered.v2": COMMITTED["cabinet.user.registered.v1"],
    }
    changes = catalogue_breaking_changes(old, new)
    assert len(changes) == 1
    assert changes[0].startswith("cabinet.lead.created.v1: event contract removed")
    assert catalogue_breaking_changes(COMMITTED, COMMITTED) == []


# --- the same rules on schemas pydantic generates from models ---------------------------------


class Address(BaseModel):
    city: str
    zip: str


class Old(BaseModel):
    note: str | None = None
    status: Literal["a", "b"]
    address: Address
    tags: list[str] = []


class AddressNarrowed(BaseModel):
    city: str
    zip: int


class NewBreaking(BaseModel):
    note: str = ""
    status: Literal["a"]
    address: AddressNarrowed
    tags: list[int] = []


class NewAdditive(BaseModel):
    note: str | None = None
    status: Literal["a", "b"]
    address: Address
    tags: list[str] = []
    extra: int | None = None


def test_model_level_breaking_changes() -> None:
    changes = breaking_changes(Old.model_json_schema(), NewBreaking.model_json_schema())
    assert [c.split(":")[0] for c in changes] == ["note", "status", "address.zip", "tags[]"]


def test_model_level_additive_change() -> None:
    assert breaking_changes(Old.model_json_schema(), NewAdditive.model_json_schema()) == []


class Node(BaseModel):
    name: str
    children: list[Node] = []
    parent: Node | None = None


def test_recursive_models_terminate() -> None:
    schema = Node.model_json_schema()
    assert breaking_changes(schema, copy.deepcopy(schema)) == []
    changed = copy.deepcopy(schema)
    changed["$defs"]["Node"]["properties"]["name"]["type"] = "integer"
    changes = breaking_changes(schema, changed)
    assert len(changes) == 1
    assert changes[0].startswith("name: type changed")


@pytest.mark.parametrize("key", sorted(COMMITTED))
def test_every_committed_schema_detects_a_removed_payload_field(key: str) -> None:
    schema = COMMITTED[key]
    payload_ref = schema["properties"]["payload"]["$ref"].rsplit("/", 1)[-1]
    payload = schema["$defs"][payload_ref]
    field = sorted(payload["properties"])[0]
    new = copy.deepcopy(schema)
    del new["$defs"][payload_ref]["properties"][field]
    if field in new["$defs"][payload_ref].get("required", []):
        new["$defs"][payload_ref]["required"].remove(field)
    assert breaking_changes(schema, new) == [f"payload.{field}: property removed"]
