"""Compatibility check between two JSON Schemas of the same event (old snapshot, new model).

The rule (DESIGN.md): *additive optional fields keep the version; anything else is a new
version.* Readers on the old model and readers on the new one must both accept every message
the other side's producers send, so a change is breaking when it lets a producer send something
an old reader refuses, or makes a new reader refuse something an old producer sent (messages
wait in queues and DLQs across deployments). :func:`breaking_changes` therefore reports:

* a removed property;
* a changed type, anywhere: through ``$ref``/``$defs``, in array items, in nested objects, in
  ``anyOf`` unions (``X | None`` becoming ``X`` narrows; ``X`` becoming ``X | None`` widens);
* a property that became required, a new required property, or one no longer required;
* removed (or added) enum / ``Literal`` / ``const`` values: an old reader's ``Literal``
  refuses a new value as surely as a new reader refuses a removed one;
* changed constraints (``format``, ``pattern``, lengths, bounds);
* readers made intolerant (``additionalProperties: false``).

* a field that travelled sealed and no longer does (it would reach outboxes, the broker and
  DLQs in the clear), or one moved between sealed parts or into the ``capability`` part
  (:mod:`contracts.sealing`: readers without the capability key could no longer read it).

Sealing a field that travelled in the clear into the ``personal`` part is *not* breaking:
every reader merges whatever sealed parts a message has back into the payload before
validating, so which fields a producer seals is invisible to the payload model.

A new optional property is not reported. Titles, descriptions, examples, defaults and the other
``x-*`` annotations are ignored. :func:`catalogue_breaking_changes` also reports a removed
``(event_type, version)``; a new one is fine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from contracts.sealing import schema_sealing

__all__ = ["breaking_changes", "catalogue_breaking_changes"]

# Validation keywords compared by value (a change in either direction is reported).
_CONSTRAINTS = (
    "format",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "contentEncoding",
    "contentMediaType",
)

Schema = Mapping[str, Any]


def breaking_changes(old_schema: Schema, new_schema: Schema) -> list[str]:
    """Return human-readable breaking changes from ``old_schema`` to ``new_schema``.

    Both are JSON Schemas as pydantic's ``model_json_schema()`` writes them (local ``$defs``
    references). An empty list means the new schema is a compatible (additive) evolution.
    Each message starts with the dotted path of the field it is about.
    """
    ctx = _Context(old_root=old_schema, new_root=new_schema)
    for key in ("x-event-type", "x-version"):
        if key in old_schema and old_schema.get(key) != new_schema.get(key):
            ctx.report("", f"{key} changed from {old_schema[key]!r} to {new_schema.get(key)!r}")
    ctx.compare(old_schema, new_schema, "")
    _compare_sealing(ctx, old_schema, new_schema)
    return ctx.out


def _compare_sealing(ctx: _Context, old_schema: Schema, new_schema: Schema) -> None:
    old, new = schema_sealing(old_schema), schema_sealing(new_schema)
    for path, new_kind in sorted(new.items()):
        if path not in old:
            continue  # a new field: whatever part it travels in, nobody read it before
        old_kind = old[path]
        if old_kind == new_kind:
            continue
        if old_kind is not None and new_kind is None:
            ctx.report(path, f"no longer sealed ({old_kind}): it would travel in the clear")
        elif new_kind == "capability":
            ctx.report(
                path,
                f"moved from {old_kind or 'the clear'} into the capability part: readers "
                "without the capability key can no longer read the event",
            )
        elif old_kind is not None:
            ctx.report(path, f"moved from the {old_kind} part to the {new_kind} part")


def catalogue_breaking_changes(old: Mapping[str, Schema], new: Mapping[str, Schema]) -> list[str]:
    """Compare two catalogues (``"<event_type>.v<version>"`` → schema).

    Reports every removed ``(event_type, version)`` and every breaking change of the ones in
    both, each prefixed with its key. New keys are fine.
    """
    out: list[str] = []
    for key in sorted(old):
        if key not in new:
            out.append(
                f"{key}: event contract removed (keep publishing it until every consumer has "
                "moved to the new version)"
            )
            continue
        out.extend(f"{key}: {message}" for message in breaking_changes(old[key], new[key]))
    return out


@dataclass
class _Context:
    old_root: Schema
    new_root: Schema
    out: list[str] = field(default_factory=list)
    # (old $ref, new $ref) pairs already compared: each shared definition is checked once
    # (at the first path that uses it), and recursive models terminate.
    seen: set[tuple[str, str]] = field(default_factory=set)

    def report(self, path: str, message: str) -> None:
        self.out.append(f"{path or '(root)'}: {message}")

    def compare(self, old: Any, new: Any, path: str) -> None:
        old_variants = _variants(old, self.old_root)
        new_variants = _variants(new, self.new_root)
        old_kinds = {_kind(v.node) for v in old_variants}
        new_kinds = {_kind(v.node) for v in new_variants}
        if old_kinds != new_kinds:
            detail = []
            if lost := sorted(old_kinds - new_kinds):
                detail.append(f"no longer accepts {', '.join(lost)}")
            if gained := sorted(new_kinds - old_kinds):
                detail.append(f"now also accepts {', '.join(gained)}, which old readers refuse")
            self.report(
                path,
                f"type changed from {_kinds_text(old_kinds)} to {_kinds_text(new_kinds)} "
                f"({'; '.join(detail)})",
            )
        for kind in sorted(old_kinds & new_kinds):
            olds = [v for v in old_variants if _kind(v.node) == kind]
            news = [v for v in new_variants if _kind(v.node) == kind]
            if len(olds) != len(news):
                self.report(
                    path, f"number of {kind} alternatives changed from {len(olds)} to {len(news)}"
                )
            for old_v, new_v in zip(olds, news, strict=False):
                if old_v.ref is not None and new_v.ref is not None:
                    pair = (old_v.ref, new_v.ref)
                    if pair in self.seen:
                        continue
                    self.seen.add(pair)
                self.compare_same_kind(kind, old_v.node, new_v.node, path)

    def compare_same_kind(self, kind: str, old: Schema, new: Schema, path: str) -> None:
        old_values, new_values = _values(old), _values(new)
        if old_values is not None or new_values is not None:
            self.compare_values(old_values, new_values, path)
        for key in _CONSTRAINTS:
            if old.get(key) != new.get(key):
                self.report(
                    path, f"{key} changed from {_show(old.get(key))} to {_show(new.get(key))}"
                )
        if kind == "object":
            self.compare_objects(old, new, path)
        elif kind == "array":
            self.compare_arrays(old, new, path)

    def compare_values(self, old: list[str] | None, new: list[str] | None, path: str) -> None:
        if old is None:
            self.report(path, f"restricted to the values {', '.join(new or [])}")
            return
        if new is None:
            self.report(
                path, f"no longer restricted to {', '.join(old)}; old readers refuse other values"
            )
            return
        if removed := [v for v in old if v not in new]:
            self.report(path, f"enum values removed: {', '.join(removed)}")
        if added := [v for v in new if v not in old]:
            self.report(
                path,
                f"enum values added: {', '.join(added)} (old readers refuse them)",
            )

    def compare_objects(self, old: Schema, new: Schema, path: str) -> None:
        old_props: Mapping[str, Any] = old.get("properties", {})
        new_props: Mapping[str, Any] = new.get("properties", {})
        old_required = set(old.get("required", []))
        new_required = set(new.get("required", []))
        old_extra = _additional(old)
        new_extra = _additional(new)
        for name in old_props:
            sub = _join(path, name)
            if name not in new_props:
                self.report(sub, "property removed")
                continue
            if name in new_required and name not in old_required:
                self.report(sub, "became required (messages from old producers may lack it)")
            elif name in old_required and name not in new_required:
                self.report(sub, "no longer required (old readers expect it in every message)")
            self.compare(old_props[name], new_props[name], sub)
        for name in new_props:
            if name in old_props:
                continue
            sub = _join(path, name)
            if name in new_required:
                self.report(sub, "new required property (old producers do not send it)")
            elif old_extra is False:
                self.report(sub, "new property, but old readers forbid unknown properties")
        if old_extra is not new_extra and (old_extra is False or new_extra is False):
            if new_extra is False:
                self.report(path, "now forbids unknown properties (readers must be tolerant)")
            else:
                self.report(path, "no longer forbids unknown properties")
        elif isinstance(old_extra, Mapping) and isinstance(new_extra, Mapping):
            self.compare(old_extra, new_extra, _join(path, "{*}"))
        elif isinstance(old_extra, Mapping) != isinstance(new_extra, Mapping):
            self.report(path, "type of additional properties changed")

    def compare_arrays(self, old: Schema, new: Schema, path: str) -> None:
        old_prefix = old.get("prefixItems", [])
        new_prefix = new.get("prefixItems", [])
        if len(old_prefix) != len(new_prefix):
            self.report(path, f"tuple length changed from {len(old_prefix)} to {len(new_prefix)}")
        for index, (old_item, new_item) in enumerate(zip(old_prefix, new_prefix, strict=False)):
            self.compare(old_item, new_item, f"{path}[{index}]")
        if "items" in old or "items" in new:
            self.compare(old.get("items", {}), new.get("items", {}), f"{path}[]")


def _resolve(node: Any, root: Schema) -> tuple[list[str], Schema]:
    """Follow ``$ref`` (and single-element ``allOf`` wrappers) to the schema they denote."""
    refs: list[str] = []
    current: Schema = node if isinstance(node, Mapping) else {}
    for _ in range(64):
        if "$ref" in current:
            ref = str(current["$ref"])
            refs.append(ref)
            target = _lookup(ref, root)
            siblings = {k: v for k, v in current.items() if k != "$ref"}
            current = {**target, **siblings}
        elif isinstance(current.get("allOf"), list) and len(current["allOf"]) == 1:
            inner = current["allOf"][0]
            siblings = {k: v for k, v in current.items() if k != "allOf"}
            current = {**(inner if isinstance(inner, Mapping) else {}), **siblings}
        else:
            break
    return refs, current


def _lookup(ref: str, root: Schema) -> Schema:
    if not ref.startswith("#"):
        raise ValueError(f"only local $ref is supported, got {ref!r}")
    node: Any = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            raise ValueError(f"dangling $ref {ref!r}")
        node = node[part]
    if not isinstance(node, Mapping):
        raise ValueError(f"$ref {ref!r} does not point at a schema")
    return node


@dataclass(frozen=True)
class _Variant:
    """One single-kind alternative of a schema node, and the $ref it came through, if any."""

    node: Schema
    ref: str | None


def _variants(node: Any, root: Schema) -> list[_Variant]:
    """Flatten ``$ref``, ``anyOf``/``oneOf`` and multi-type ``type`` lists into variants."""
    refs, resolved = _resolve(node, root)
    ref = refs[-1] if refs else None
    for key in ("anyOf", "oneOf"):
        if isinstance(resolved.get(key), list):
            out: list[_Variant] = []
            for option in resolved[key]:
                out.extend(_variants(option, root))
            return out
    types = resolved.get("type")
    if isinstance(types, list):
        return [_Variant({**resolved, "type": t}, ref) for t in types]
    return [_Variant(resolved, ref)]


def _kind(node: Schema) -> str:
    kind = node.get("type")
    if isinstance(kind, str):
        return kind
    values = _raw_values(node)
    if values:
        kinds = {_json_kind(v) for v in values}
        return kinds.pop() if len(kinds) == 1 else "mixed-enum"
    if "properties" in node:
        return "object"
    if "items" in node or "prefixItems" in node:
        return "array"
    return "any"


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _raw_values(node: Schema) -> list[Any] | None:
    if "enum" in node and isinstance(node["enum"], list):
        return list(node["enum"])
    if "const" in node:
        return [node["const"]]
    return None


def _values(node: Schema) -> list[str] | None:
    raw = _raw_values(node)
    return None if raw is None else [json.dumps(v, sort_keys=True) for v in raw]


def _additional(node: Schema) -> Any:
    value = node.get("additionalProperties", True)
    return True if value == {} else value


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _kinds_text(kinds: set[str]) -> str:
    return " | ".join(sorted(kinds)) or "nothing"


def _show(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value)
