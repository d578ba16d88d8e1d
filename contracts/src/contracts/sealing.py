"""Which parts of an event travel sealed, and how a message is split and put back together.

Decided once, here, for every event: a payload field whose JSON Schema carries
``"x-personal-data": true`` (:data:`~contracts.types.PersonalData`, ``PersonalId``, health
data) travels in the **personal** sealed part; one that carries ``"x-secret": true``
(:data:`~contracts.types.SecretUrl`: a verification, reset or download link) travels in the
**capability** sealed part. Nothing else is sealed: ids, times, amounts and codes stay readable
for routing, ordering and operations.

On the wire (the outbox row's body, the AMQP message, a DLQ copy) such a message is::

    {... envelope fields ..., "payload": {<the fields that are not sealed>},
     "sealed": {"personal": "<token>", "capability": "<token>"}}

Each token, opened, is a JSON object holding the sealed fields in the payload's own shape
(nested objects and lists included); a reader merges it back into ``payload`` before validating,
so producers and consumers only ever handle the plaintext payload model. An optional field
that is ``None`` is sealed too (its absence says nothing). Only the parts an event has are
present; an event without personal or secret fields has no ``sealed`` member.

This module knows no cryptography (contracts depend on pydantic only): the caller passes a
:class:`Sealer`. servicekit's is Fernet with the shared field keyring for the personal part and
with the capability keyring, held only by the services that mint or deliver capabilities, for
the capability part (docs/security.md, "Events and outboxes").
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

from pydantic import BaseModel

from contracts.errors import ContractError

__all__ = [
    "SEAL_KINDS",
    "SealError",
    "SealKind",
    "Sealer",
    "has_sealed_fields",
    "merge_sealed",
    "schema_sealing",
    "sealed_fields",
    "split_sealed",
]

SealKind = Literal["personal", "capability"]
"""The sealed parts of a message: ``personal`` (every service holds its key) and ``capability``
(only the services that mint or deliver one-time links hold its key)."""

SEAL_KINDS: Final[tuple[SealKind, ...]] = ("personal", "capability")


class SealError(ContractError):
    """A sealed part could not be made or opened (no key for it, a wrong or damaged token).

    The message names the part, never its content.
    """


class Sealer(Protocol):
    """Encrypts and decrypts one sealed part (servicekit provides the implementation)."""

    def seal(self, kind: SealKind, plaintext: bytes) -> str:
        """Return the token carrying ``plaintext``; raise :class:`SealError` without a key."""
        ...

    def open(self, kind: SealKind, token: str) -> bytes:
        """Return the plaintext of ``token``; raise :class:`SealError` if it cannot."""
        ...


def _kind_of(node: Mapping[str, Any]) -> SealKind | None:
    if node.get("x-secret"):
        return "capability"
    if node.get("x-personal-data"):
        return "personal"
    return None


@dataclass(frozen=True)
class _Plan:
    """Where the sealed values are in one schema node."""

    kind: SealKind | None = None  # the whole value is sealed
    fields: Mapping[str, _Plan] = field(default_factory=dict)  # object: per property
    items: _Plan | None = None  # array: per item


def _resolve(node: Any, defs: Mapping[str, Any]) -> Mapping[str, Any]:
    current: Mapping[str, Any] = node if isinstance(node, Mapping) else {}
    for _ in range(32):
        ref = current.get("$ref")
        if not isinstance(ref, str):
            break
        siblings = {k: v for k, v in current.items() if k != "$ref"}
        current = {**defs.get(ref.rsplit("/", 1)[-1], {}), **siblings}
    return current


def _plan(node: Any, defs: Mapping[str, Any], depth: int = 0) -> _Plan | None:
    if depth > 24:
        return None
    resolved = _resolve(node, defs)
    variants = [resolved]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(resolved.get(key), list):
            variants += [_resolve(v, defs) for v in resolved[key]]
    for variant in variants:
        kind = _kind_of(variant)
        if kind is not None:
            return _Plan(kind=kind)
    fields: dict[str, _Plan] = {}
    items: _Plan | None = None
    for variant in variants:
        for name, sub in variant.get("properties", {}).items():
            sub_plan = _plan(sub, defs, depth + 1)
            if sub_plan is not None:
                fields[name] = sub_plan
        if "items" in variant:
            items = _plan(variant["items"], defs, depth + 1) or items
    if fields or items is not None:
        return _Plan(fields=fields, items=items)
    return None


def schema_sealing(schema: Mapping[str, Any]) -> dict[str, SealKind | None]:
    """Every field path of a JSON Schema (``a``, ``a.b``, ``a[].b``) with the part it travels
    in (``None``: in the clear). A sealed field's own sub-fields are not listed.

    Works on a payload model's schema and on a snapshot (the envelope, payload under
    ``$defs``); the compatibility checker compares two of these.
    """
    defs: Mapping[str, Any] = schema.get("$defs", {})
    out: dict[str, SealKind | None] = {}

    def walk(node: Any, path: str, depth: int) -> None:
        if depth > 24:
            return
        resolved = _resolve(node, defs)
        variants = [resolved]
        for key in ("anyOf", "oneOf", "allOf"):
            if isinstance(resolved.get(key), list):
                variants += [_resolve(v, defs) for v in resolved[key]]
        kind = next((k for k in map(_kind_of, variants) if k is not None), None)
        if path:
            out[path] = kind
        if kind is not None:
            return
        for variant in variants:
            for name, sub in variant.get("properties", {}).items():
                walk(sub, f"{path}.{name}" if path else name, depth + 1)
            if "items" in variant:
                walk(variant["items"], f"{path}[]", depth + 1)

    walk(schema, "", 0)
    return out


@functools.cache
def _plan_for(model: type[BaseModel]) -> _Plan | None:
    schema = model.model_json_schema()
    return _plan(schema, schema.get("$defs", {}))


def has_sealed_fields(model: type[BaseModel]) -> bool:
    """Whether any field of ``model`` travels sealed."""
    return _plan_for(model) is not None


def sealed_fields(model: type[BaseModel]) -> dict[SealKind, list[str]]:
    """The paths of ``model``'s fields that travel sealed, per part (only non-empty parts)."""
    out: dict[SealKind, list[str]] = {}
    for path, kind in sorted(schema_sealing(model.model_json_schema()).items()):
        if kind is not None:
            out.setdefault(kind, []).append(path)
    return out


_OMIT: Final = object()


def _split(plan: _Plan, value: Any) -> tuple[Any, dict[SealKind, Any]]:
    if plan.kind is not None:
        return _OMIT, {plan.kind: value}
    if isinstance(value, dict) and plan.fields:
        public: dict[str, Any] = {}
        sealed: dict[SealKind, Any] = {}
        for name, sub_value in value.items():
            sub = plan.fields.get(name)
            if sub is None:
                public[name] = sub_value
                continue
            shown, parts = _split(sub, sub_value)
            if shown is not _OMIT:
                public[name] = shown
            for kind, part in parts.items():
                sealed.setdefault(kind, {})[name] = part
        return public, sealed
    if isinstance(value, list) and plan.items is not None:
        items: list[Any] = []
        by_index: dict[SealKind, Any] = {}
        for index, item in enumerate(value):
            shown, parts = _split(plan.items, item)
            items.append(None if shown is _OMIT else shown)
            for kind, part in parts.items():
                by_index.setdefault(kind, {})[str(index)] = part
        return items, by_index
    return value, {}


def split_sealed(
    model: type[BaseModel], payload: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[SealKind, Any]]:
    """Split a payload (``model``'s JSON form) into what travels in the clear and the content of
    each sealed part (only the parts it has)."""
    plan = _plan_for(model)
    if plan is None:
        return dict(payload), {}
    public, parts = _split(plan, dict(payload))
    return public, parts


def merge_sealed(public: Any, part: Any) -> Any:
    """Put one opened sealed part back into the payload it was split from (in place)."""
    if isinstance(public, dict) and isinstance(part, dict):
        for name, value in part.items():
            public[name] = merge_sealed(public[name], value) if name in public else value
        return public
    if isinstance(public, list) and isinstance(part, dict):
        for index, value in part.items():
            if not (isinstance(index, str) and index.isdigit() and int(index) < len(public)):
                raise SealError("a sealed part does not fit the payload's lists")
            i = int(index)
            public[i] = merge_sealed(public[i], value) if public[i] is not None else value
        return public
    return part
