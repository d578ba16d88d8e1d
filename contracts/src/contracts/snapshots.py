"""Committed JSON Schema snapshots of every event contract, and the CLI that writes and checks them.

Each registered ``(event_type, version)`` has ``contracts/schemas/<event_type>.v<version>.json``:
the JSON Schema of the *whole message*, ``EventEnvelope[<payload model>]`` (envelope fields plus
the payload under ``$defs``), so the file describes exactly what travels on the wire. The root
also carries ``x-event-type``, ``x-version``, ``x-producer``, ``x-exchange`` and
``x-routing-key``; an event with sealed fields (:mod:`contracts.sealing`) also carries
``x-sealed`` (the payload paths in each sealed part) and the envelope's ``sealed`` property. The
payload is described as readers see it once the sealed parts are merged back. Files are JSON
with sorted keys, indent 2 and a trailing newline.

Usage (from the repository root)::

    uv run python -m contracts.snapshots write   # after adding an event or an optional field
    uv run python -m contracts.snapshots check   # CI: exit 1 on any difference

``write`` refuses to overwrite a snapshot with a breaking change (make a new version instead);
``--force`` overrides that for a contract that was never released. A snapshot whose
``(event_type, version)`` is no longer registered makes ``check`` fail: retire a version by
deleting its model and its snapshot together, once no consumer reads it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

from contracts.compat import breaking_changes
from contracts.envelope import EventEnvelope
from contracts.errors import ContractError
from contracts.registry import EventSpec, all_specs
from contracts.sealing import sealed_fields

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
"""``contracts/schemas/`` in the source tree (the package is installed editable)."""

WRITE_COMMAND = "uv run python -m contracts.snapshots write"


class BreakingSnapshotChange(ContractError):
    """``write`` found breaking changes against committed snapshots and did not overwrite them."""


def snapshot_name(spec: EventSpec) -> str:
    """Return the snapshot file name of a spec: ``<event_type>.v<version>.json``."""
    return f"{spec.key}.json"


def schema_for(spec: EventSpec) -> dict[str, Any]:
    """Return the JSON Schema of a whole message of ``spec``: the envelope with its payload."""
    envelope_model = cast(Any, EventEnvelope)[spec.model]
    schema = cast(dict[str, Any], envelope_model.model_json_schema())
    schema.update(
        {
            "x-event-type": spec.event_type,
            "x-version": spec.version,
            "x-producer": spec.producer,
            "x-exchange": spec.exchange,
            "x-routing-key": spec.routing_key,
        }
    )
    sealed = sealed_fields(spec.model)
    if sealed:
        schema["x-sealed"] = {
            kind: [f"payload.{p}" for p in paths] for kind, paths in sealed.items()
        }
        schema["properties"]["sealed"] = _SEALED_PROPERTY
    return schema


_SEALED_PROPERTY: dict[str, Any] = {
    "title": "Sealed",
    "type": "object",
    "description": (
        "The payload fields listed in x-sealed, encrypted (Fernet) per part and left out of "
        "'payload'; each token opens to a JSON object in the payload's shape that readers merge "
        "back into it (docs/security.md, 'Events and outboxes')"
    ),
    "properties": {
        "personal": {"type": "string", "description": "Sealed with the shared field keyring"},
        "capability": {"type": "string", "description": "Sealed with the capability keyring"},
    },
}


def render(schema: dict[str, Any]) -> str:
    """Serialise a schema as a snapshot file: sorted keys, indent 2, trailing newline."""
    return json.dumps(schema, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def load_snapshots(directory: Path = SCHEMA_DIR) -> dict[str, dict[str, Any]]:
    """Read every ``*.json`` snapshot in ``directory``, keyed by ``<event_type>.v<version>``."""
    out: dict[str, dict[str, Any]] = {}
    if not directory.is_dir():
        return out
    for path in sorted(directory.glob("*.json")):
        out[path.name.removesuffix(".json")] = json.loads(path.read_text(encoding="utf-8"))
    return out


def check_snapshots(
    specs: Iterable[EventSpec] | None = None, directory: Path = SCHEMA_DIR
) -> list[str]:
    """Compare the current models with the committed snapshots; return the problems found.

    Reports a missing snapshot, a breaking change, a stale (compatible but different) snapshot,
    and a snapshot whose ``(event_type, version)`` is no longer registered. Empty means clean.
    """
    specs = list(all_specs() if specs is None else specs)
    committed = load_snapshots(directory)
    problems: list[str] = []
    for spec in specs:
        current = schema_for(spec)
        old = committed.get(spec.key)
        if old is None:
            problems.append(
                f"{spec.key}: no committed snapshot {directory / snapshot_name(spec)}; "
                f"run `{WRITE_COMMAND}` and commit it"
            )
            continue
        breaking = breaking_changes(old, current)
        if breaking:
            problems.extend(
                f"{spec.key}: breaking change: {message} (publish a new version instead)"
                for message in breaking
            )
        elif render(old) != render(current):
            problems.append(
                f"{spec.key}: snapshot is out of date (compatible change); run `{WRITE_COMMAND}`"
            )
    registered = {spec.key for spec in specs}
    for key in sorted(set(committed) - registered):
        problems.append(
            f"{key}: snapshot exists but the event is no longer registered: removing a "
            "(type, version) breaks its consumers; delete the snapshot only when retiring it"
        )
    return problems


def write_snapshots(
    specs: Iterable[EventSpec] | None = None,
    directory: Path = SCHEMA_DIR,
    *,
    force: bool = False,
) -> list[Path]:
    """Write the snapshot of every spec; return the files that changed.

    Raises :class:`BreakingSnapshotChange` (writing nothing) if a snapshot would change in a
    breaking way, unless ``force``.
    """
    specs = list(all_specs() if specs is None else specs)
    committed = load_snapshots(directory)
    rendered: dict[Path, str] = {}
    breaking: list[str] = []
    for spec in specs:
        current = schema_for(spec)
        old = committed.get(spec.key)
        if old is not None:
            breaking.extend(f"{spec.key}: {m}" for m in breaking_changes(old, current))
        rendered[directory / snapshot_name(spec)] = render(current)
    if breaking and not force:
        raise BreakingSnapshotChange(
            "refusing to overwrite snapshots with breaking changes (add a new version instead, "
            "or pass --force for a contract never released):\n  " + "\n  ".join(breaking)
        )
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for path, text in rendered.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: ``write`` or ``check``; returns the process exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m contracts.snapshots", description="Event contract JSON Schema snapshots"
    )
    parser.add_argument("command", choices=["write", "check"])
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help="snapshot directory")
    parser.add_argument(
        "--force", action="store_true", help="write even breaking changes (unreleased only)"
    )
    args = parser.parse_args(argv)
    directory: Path = args.dir
    if args.command == "write":
        try:
            changed = write_snapshots(directory=directory, force=args.force)
        except BreakingSnapshotChange as exc:
            print(exc, file=sys.stderr)
            return 1
        for path in changed:
            print(f"wrote {path}")
        print(f"{len(changed)} snapshot(s) changed, {len(all_specs())} event contract(s)")
        return 0
    problems = check_snapshots(directory=directory)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) in {directory}", file=sys.stderr)
        return 1
    print(f"{len(all_specs())} event contract(s) match their snapshots in {directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
