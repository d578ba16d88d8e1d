"""Every event leaves with its personal and secret fields sealed, and comes back whole.

The sealer here is a stand-in for servicekit's Fernet one (contracts know no cryptography): it
reverses and base64-encodes, which is enough to see that nothing of a sealed value is left in
the clear and that readers get exactly what the producer wrote.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from contracts.compat import breaking_changes
from contracts.envelope import parse_envelope, to_wire
from contracts.errors import InvalidEvent
from contracts.registry import EventSpec
from contracts.sealing import SealError, SealKind, sealed_fields
from contracts.snapshots import SCHEMA_DIR, load_snapshots, schema_for
from contracts.testing import example_envelope

import contracts

SPECS = contracts.all_specs()


class _Sealer:
    def __init__(self, kinds: tuple[SealKind, ...] = ("personal", "capability")) -> None:
        self.kinds = kinds

    def seal(self, kind: SealKind, plaintext: bytes) -> str:
        if kind not in self.kinds:
            raise SealError(f"no {kind} key")
        return kind + ":" + base64.urlsafe_b64encode(plaintext[::-1]).decode()

    def open(self, kind: SealKind, token: str) -> bytes:
        prefix = kind + ":"
        if kind not in self.kinds or not token.startswith(prefix):
            raise SealError(f"no {kind} key")
        return base64.urlsafe_b64decode(token.removeprefix(prefix))[::-1]


def _leaves(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    text = "" if value is None else json.dumps(value, ensure_ascii=False).strip('"')
    return [text] if len(text) >= 8 else []  # short values (true, 3) occur anywhere


def _at(data: Any, path: str) -> list[Any]:
    out = [data]
    for part in path.split("."):
        name, many = part.removesuffix("[]"), part.endswith("[]")
        out = [o.get(name) for o in out if isinstance(o, dict)]
        if many:
            out = [item for o in out if isinstance(o, list) for item in o]
    return out


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.key)
def test_sealed_fields_never_travel_in_the_clear_and_come_back_whole(spec: EventSpec) -> None:
    envelope = example_envelope(spec, **_distinct_personal_values(spec))
    body = to_wire(envelope, _Sealer())
    wire = json.loads(body)
    sealed = sealed_fields(spec.model)
    plain = envelope.payload.model_dump(mode="json")
    for paths in sealed.values():
        for path in paths:
            for leaf in (leaf for value in _at(plain, path) for leaf in _leaves(value)):
                assert leaf not in body, f"{spec.key}: {path} travels in the clear"
    assert set(wire.get("sealed", {})) == set(sealed)
    assert parse_envelope(body, opener=_Sealer()) == envelope


def _distinct_personal_values(spec: EventSpec) -> dict[str, Any]:
    """Values of the sealed top-level fields that nothing else in the message could contain."""
    schema = spec.model.model_json_schema()
    out: dict[str, Any] = {}
    for path in (p for paths in sealed_fields(spec.model).values() for p in paths):
        if "." in path or "[" in path:
            continue
        node = schema["properties"][path]
        kinds = {n.get("type") for n in node.get("anyOf", [node])}
        if "enum" in node or "items" in node:
            continue
        if "integer" in kinds:
            out[path] = 987654321012
        elif "string" in kinds:
            out[path] = f"https://example.org/#token=sekret-{path}-7d1f"
    return out


def test_personal_and_secret_fields_are_the_ones_the_types_mark() -> None:
    sealed = sealed_fields(contracts.cabinet.v1.EmailVerificationRequestedV1)
    assert sealed == {"personal": ["email", "name"], "capability": ["verification_url"]}
    assert sealed_fields(contracts.notify.v1.TelegramLinkedV1) == {
        "personal": ["telegram_chat_id", "telegram_username"]
    }
    assert sealed_fields(contracts.booking.v1.AppointmentCancelledV1) == {
        "personal": ["reason", "specialist_name"]
    }
    assert sealed_fields(contracts.cabinet.v1.ConsentGrantedV1) == {}


def test_an_optional_personal_field_left_empty_is_sealed_too() -> None:
    envelope = example_envelope(contracts.cabinet.v1.UserRegisteredV1, phone=None)
    wire = json.loads(to_wire(envelope, _Sealer()))
    assert "phone" not in wire["payload"] and "email" not in wire["payload"]
    assert parse_envelope(wire, opener=_Sealer()).payload.phone is None  # type: ignore[attr-defined]


def test_no_event_with_sealed_fields_leaves_without_keys() -> None:
    link = example_envelope(contracts.cabinet.v1.PasswordResetRequestedV1)
    with pytest.raises(SealError):
        to_wire(link, None)
    with pytest.raises(SealError, match="capability"):
        to_wire(link, _Sealer(kinds=("personal",)))
    consent = example_envelope(contracts.cabinet.v1.ConsentGrantedV1)
    assert json.loads(to_wire(consent, None)) == json.loads(consent.model_dump_json())


def test_a_reader_without_the_key_refuses_the_event() -> None:
    body = to_wire(example_envelope(contracts.cabinet.v1.PasswordResetRequestedV1), _Sealer())
    with pytest.raises(InvalidEvent, match="no keys"):
        parse_envelope(body)
    with pytest.raises(InvalidEvent, match=r"sealed\.capability"):
        parse_envelope(body, opener=_Sealer(kinds=("personal",)))
    damaged = json.loads(body)
    damaged["sealed"]["personal"] = damaged["sealed"]["personal"][:-4]
    with pytest.raises(InvalidEvent, match=r"sealed\.personal"):
        parse_envelope(damaged, opener=_Sealer())


def test_a_message_written_before_sealing_is_still_read() -> None:
    envelope = example_envelope(contracts.cabinet.v1.UserRegisteredV1)
    assert parse_envelope(envelope.model_dump_json(), opener=_Sealer()) == envelope


def test_snapshots_name_the_sealed_fields() -> None:
    committed = load_snapshots(SCHEMA_DIR)
    snapshot = committed["cabinet.user.password_reset_requested.v1"]
    assert snapshot["x-sealed"] == {
        "capability": ["payload.reset_url"],
        "personal": ["payload.email", "payload.name"],
    }
    assert "sealed" in snapshot["properties"]
    assert "x-sealed" not in committed["cabinet.consent.granted.v1"]


# --- the compatibility checker knows where a field travels ---------------------------------


def _reset_schema() -> dict[str, Any]:
    return copy.deepcopy(
        schema_for(contracts.spec_of(contracts.cabinet.v1.PasswordResetRequestedV1))
    )


def test_a_field_that_stops_being_sealed_is_a_breaking_change() -> None:
    new = _reset_schema()
    del new["$defs"]["PasswordResetRequestedV1"]["properties"]["email"]["x-personal-data"]
    assert breaking_changes(_reset_schema(), new) == [
        "payload.email: no longer sealed (personal): it would travel in the clear"
    ]


def test_a_field_moved_into_the_capability_part_is_a_breaking_change() -> None:
    new = _reset_schema()
    new["$defs"]["PasswordResetRequestedV1"]["properties"]["name"]["x-secret"] = True
    (change,) = breaking_changes(_reset_schema(), new)
    assert change.startswith("payload.name: moved from personal into the capability part")


def test_sealing_a_field_that_travelled_in_the_clear_is_compatible() -> None:
    old = _reset_schema()
    del old["$defs"]["PasswordResetRequestedV1"]["properties"]["email"]["x-personal-data"]
    assert breaking_changes(old, _reset_schema()) == []
