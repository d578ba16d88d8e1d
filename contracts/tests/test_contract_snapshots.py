"""Committed snapshots guard every contract: CI fails when a model breaks its snapshot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from contracts.registry import EventSpec
from contracts.snapshots import (
    SCHEMA_DIR,
    WRITE_COMMAND,
    BreakingSnapshotChange,
    check_snapshots,
    load_snapshots,
    main,
    render,
    schema_for,
    snapshot_name,
    write_snapshots,
)
from contracts.types import Payload
from pydantic import Field

import contracts

SPECS = contracts.all_specs()
COMMITTED = load_snapshots(SCHEMA_DIR)


def test_catalogue_is_not_empty_and_snapshot_dir_is_the_committed_one() -> None:
    assert Path(__file__).resolve().parents[1] / "schemas" == SCHEMA_DIR
    assert len(SPECS) >= 40
    assert len(COMMITTED) >= 40


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.key)
def test_every_contract_has_a_committed_snapshot(spec: EventSpec) -> None:
    path = SCHEMA_DIR / snapshot_name(spec)
    assert path.is_file(), f"{path} is missing: run `{WRITE_COMMAND}` and commit it"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.key)
def test_current_model_does_not_break_its_snapshot(spec: EventSpec) -> None:
    old = COMMITTED.get(spec.key)
    assert old is not None, f"no snapshot for {spec.key}: run `{WRITE_COMMAND}`"
    breaking = contracts.compat.breaking_changes(old, schema_for(spec))
    assert breaking == [], (
        f"{spec.key} changed in a breaking way; publish a new version instead: {breaking}"
    )


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.key)
def test_snapshot_is_up_to_date(spec: EventSpec) -> None:
    path = SCHEMA_DIR / snapshot_name(spec)
    assert path.read_text(encoding="utf-8") == render(schema_for(spec)), (
        f"{path.name} is stale: run `{WRITE_COMMAND}`"
    )


def test_no_snapshot_without_a_registered_contract() -> None:
    orphans = set(COMMITTED) - {s.key for s in SPECS}
    assert orphans == set(), f"contracts removed while their snapshots remain: {orphans}"


def test_check_of_the_committed_tree_is_clean() -> None:
    assert check_snapshots() == []
    assert main(["check"]) == 0


def test_snapshot_file_format() -> None:
    text = (SCHEMA_DIR / "cabinet.user.registered.v1.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    assert text.endswith("}\n")
    assert text == json.dumps(schema, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert schema["x-event-type"] == "cabinet.user.registered"
    assert schema["x-version"] == 1
    assert schema["x-exchange"] == "cabinet.events"
    assert schema["x-routing-key"] == "cabinet.user.registered.v1"
    assert schema["properties"]["payload"] == {"$ref": "#/$defs/UserRegisteredV1"}


# --- a new or changed model against a snapshot directory --------------------------------------


class _BrandNewV1(Payload):
    """A test-only payload, never registered in the default registry."""

    thing_id: str


class _BrandNewRetypedV1(Payload):
    """The same event with its only field retyped."""

    thing_id: int


class _BrandNewWithOptionalV1(Payload):
    """The same event with an optional field added."""

    thing_id: str
    note: str | None = Field(default=None)


def _spec(model: type[Payload]) -> EventSpec:
    return EventSpec.build("content.test_thing.happened", 1, model)


def test_new_model_without_snapshot_fails_and_says_run_write(tmp_path: Path) -> None:
    problems = check_snapshots([_spec(_BrandNewV1)], tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith("content.test_thing.happened.v1: no committed snapshot")
    assert WRITE_COMMAND in problems[0]


def test_cli_check_fails_on_missing_snapshot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "cabinet.user.registered.v1: no committed snapshot" in err
    assert WRITE_COMMAND in err


def test_write_then_check_is_clean_and_write_is_idempotent(tmp_path: Path) -> None:
    written = write_snapshots(directory=tmp_path)
    assert len(written) == len(SPECS)
    assert check_snapshots(directory=tmp_path) == []
    assert write_snapshots(directory=tmp_path) == []


def test_breaking_change_is_reported_by_check_and_refused_by_write(tmp_path: Path) -> None:
    write_snapshots([_spec(_BrandNewV1)], tmp_path)
    problems = check_snapshots([_spec(_BrandNewRetypedV1)], tmp_path)
    assert problems == [
        "content.test_thing.happened.v1: breaking change: payload.thing_id: type changed from "
        "string to integer (no longer accepts string; now also accepts integer, which old "
        "readers refuse) (publish a new version instead)"
    ]
    before = (tmp_path / "content.test_thing.happened.v1.json").read_text()
    with pytest.raises(BreakingSnapshotChange, match=r"payload\.thing_id: type changed"):
        write_snapshots([_spec(_BrandNewRetypedV1)], tmp_path)
    assert (tmp_path / "content.test_thing.happened.v1.json").read_text() == before
    assert write_snapshots([_spec(_BrandNewRetypedV1)], tmp_path, force=True)
    assert check_snapshots([_spec(_BrandNewRetypedV1)], tmp_path) == []


def test_additive_change_only_asks_to_refresh_the_snapshot(tmp_path: Path) -> None:
    write_snapshots([_spec(_BrandNewV1)], tmp_path)
    problems = check_snapshots([_spec(_BrandNewWithOptionalV1)], tmp_path)
    assert len(problems) == 1
    assert "out of date (compatible change)" in problems[0]
    assert "breaking" not in problems[0]
    assert write_snapshots([_spec(_BrandNewWithOptionalV1)], tmp_path)
    assert check_snapshots([_spec(_BrandNewWithOptionalV1)], tmp_path) == []


def test_removed_contract_is_reported(tmp_path: Path) -> None:
    write_snapshots([_spec(_BrandNewV1)], tmp_path)
    problems = check_snapshots([], tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith("content.test_thing.happened.v1: snapshot exists but the event")
