"""Definition validation without I/O: every way a definition is refused names its reason and
where it is."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from content.domain.definitions import (
    Definition,
    InvalidDefinition,
    definition_problems,
    validated,
)
from pydantic import ValidationError

from .test_scoring import GAD7, PHQ9, custom


def problems_of(doc: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    return [(p.loc, p.reason) for p in definition_problems(Definition.model_validate(doc))]


def edited(**changes: Any) -> dict[str, Any]:
    return copy.deepcopy(custom(**changes))


def test_the_seeded_and_custom_definitions_are_valid() -> None:
    assert definition_problems(PHQ9) == []
    assert definition_problems(GAD7) == []
    assert problems_of(custom()) == []


def test_no_items() -> None:
    assert problems_of(edited(items=[])) == [(("items",), "no_items")]


def test_an_item_without_options() -> None:
    doc = edited()
    doc["items"][2]["options"] = []
    assert (("items", 2, "options"), "no_options") in problems_of(doc)


def test_a_scored_option_without_a_score() -> None:
    doc = edited()
    del doc["items"][0]["options"][1]["score"]
    assert problems_of(doc) == [(("items", 0, "options", 1, "score"), "score_missing")]


def test_an_option_score_outside_the_declared_range() -> None:
    doc = edited()
    doc["items"][3]["options"][4]["score"] = 5
    found = definition_problems(Definition.model_validate(doc))
    assert [(p.loc, p.reason) for p in found] == [
        (("items", 3, "options", 4, "score"), "score_out_of_range")
    ]
    assert found[0].params == {"score": 5, "min": 0, "max": 4}


def test_an_inverted_score_range() -> None:
    doc = edited(option_scores={"min": 4, "max": 0})
    assert (("option_scores",), "score_range_inverted") in problems_of(doc)


def test_duplicate_item_and_option_ids() -> None:
    doc = edited()
    doc["items"][1]["id"] = "a"
    doc["items"][2]["options"][1]["id"] = "o0"
    found = problems_of(doc)
    assert (("items", 0, "id"), "duplicate_id") in found
    assert (("items", 1, "id"), "duplicate_id") in found
    assert (("items", 2, "options", 1, "id"), "duplicate_id") in found


@pytest.mark.parametrize(
    ("where", "loc"),
    [
        ("subscale", ("subscales", 1, "items", 0)),
        ("crisis", ("crisis_rules", 0, "item")),
        ("condition", ("items", 4, "shown_when", "items", 1)),
    ],
)
def test_references_to_items_that_do_not_exist(where: str, loc: tuple[Any, ...]) -> None:
    doc = edited()
    if where == "subscale":
        doc["subscales"][1]["items"][0] = "z"
    elif where == "crisis":
        doc["crisis_rules"][0]["item"] = "z"
    else:
        doc["items"][4]["shown_when"]["items"][1] = "z"
    assert problems_of(doc) == [(loc, "unknown_item")]


def test_references_to_a_conditional_item_are_refused() -> None:
    doc = edited()
    doc["subscales"][0]["items"].append("note")
    doc["crisis_rules"][0]["item"] = "note"
    assert problems_of(doc) == [
        (("subscales", 0, "items", 2), "unscored_item"),
        (("crisis_rules", 0, "item"), "unscored_item"),
    ]


def test_an_empty_subscale() -> None:
    doc = edited()
    doc["subscales"][0]["items"] = []
    assert problems_of(doc) == [(("subscales", 0, "items"), "empty_subscale")]


def band(code: str, lo: int, hi: int) -> dict[str, Any]:
    return {
        "code": code,
        "min": lo,
        "max": hi,
        "label": {"ru": code, "en": code},
        "interpretation": {"ru": code, "en": code},
    }


def test_bands_with_a_gap() -> None:
    doc = edited(bands=[band("minimal", 0, 5), band("mild", 7, 10), band("severe", 11, 16)])
    found = definition_problems(Definition.model_validate(doc))
    assert [(p.loc, p.reason, dict(p.params)) for p in found] == [
        (("bands", 1, "min"), "bands_gap", {"from": 6, "to": 6})
    ]


def test_overlapping_bands() -> None:
    doc = edited(bands=[band("minimal", 0, 5), band("mild", 5, 10), band("severe", 11, 16)])
    found = definition_problems(Definition.model_validate(doc))
    assert [(p.loc, p.reason, dict(p.params)) for p in found] == [
        (("bands", 1, "min"), "bands_overlap", {"from": 5, "to": 5})
    ]


def test_bands_that_do_not_reach_either_end() -> None:
    doc = edited(bands=[band("minimal", 1, 5), band("mild", 6, 10), band("severe", 11, 15)])
    assert problems_of(doc) == [
        (("bands", 0, "min"), "bands_start"),
        (("bands", 2, "max"), "bands_end"),
    ]


def test_an_empty_band_and_no_bands() -> None:
    doc = edited(bands=[band("minimal", 0, 5), band("mild", 10, 6), band("severe", 6, 16)])
    assert (("bands", 1), "band_empty") in problems_of(doc)
    assert problems_of(edited(bands=[])) == [(("bands",), "no_bands")]


def test_duplicate_band_codes() -> None:
    doc = edited(bands=[band("mild", 0, 5), band("mild", 6, 10), band("severe", 11, 16)])
    assert problems_of(doc) == [(("bands",), "duplicate_id")]


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"intake_threshold": 17}, ("intake_threshold",)),
        ({"intake_threshold": 0}, ("intake_threshold",)),
        ({"reliable_change": 17}, ("reliable_change",)),
        (
            {"crisis_rules": [{"reason": "r", "item": "a", "above": 4}]},
            ("crisis_rules", 0, "above"),
        ),
    ],
)
def test_thresholds_outside_the_score_range(changes: dict[str, Any], loc: tuple[Any, ...]) -> None:
    assert problems_of(edited(**changes)) == [(loc, "threshold_out_of_range")]


def test_validated_raises_with_every_reason() -> None:
    doc = edited(bands=[band("minimal", 0, 5), band("mild", 7, 10)], intake_threshold=50)
    with pytest.raises(InvalidDefinition) as refused:
        validated(Definition.model_validate(doc))
    assert [p.reason for p in refused.value.problems] == [
        "bands_gap",
        "bands_end",
        "threshold_out_of_range",
    ]
    assert refused.value.code == "definition_invalid"


@pytest.mark.parametrize(
    "change",
    [
        {"code": "PHQ 9"},  # codes are lower-case identifiers
        {"bands": [band("dire", 0, 16)]},  # a band is one of the published severities
        {"title": {"ru": "Только по-русски"}},  # both languages
        {"title": {"ru": "a\x00", "en": "b"}},  # no NUL reaches the database
        {"extra": 1},  # nothing unknown is silently dropped
    ],
)
def test_shapes_pydantic_refuses(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Definition.model_validate(edited(**change))
