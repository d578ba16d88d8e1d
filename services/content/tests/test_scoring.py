"""Scoring by a definition, without I/O: the seeded PHQ-9 and GAD-7 (the very documents the
migration publishes) at every band edge, the crisis rule, the conditional difficulty question,
and reverse scoring and subscales on a custom definition."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from content.domain.definitions import Definition, validated
from content.domain.scoring import (
    AnswersMissing,
    UnknownItem,
    UnknownOption,
    kept_answers,
    score,
    shown_items,
    unanswered,
)
from content.domain.trends import change_since_first

SEEDS = Path(__file__).resolve().parents[1] / "src" / "content" / "migrations" / "seeds"
FREQUENCY = ["not_at_all", "several_days", "more_than_half", "nearly_every_day"]


def seeded(code: str) -> Definition:
    return validated(Definition.model_validate_json((SEEDS / f"{code}.v1.json").read_text()))


PHQ9 = seeded("phq9")
GAD7 = seeded("gad7")


def answers_totalling(total: int, items: list[str], **fixed: int) -> dict[str, str]:
    """Answers to ``items`` (each 0..3) that add up to ``total`` with ``fixed`` scores given."""
    left = total - sum(fixed.values())
    out = {k: FREQUENCY[v] for k, v in fixed.items()}
    for item in items:
        if item in fixed:
            continue
        step = min(3, left)
        out[item] = FREQUENCY[step]
        left -= step
    assert left == 0, "not reachable"
    return out


PHQ9_ITEMS = [f"q{n}" for n in range(1, 10)]
GAD7_ITEMS = [f"q{n}" for n in range(1, 8)]


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately_severe"),
        (19, "moderately_severe"),
        (20, "severe"),
        (24, "severe"),
    ],
)
def test_phq9_bands_at_every_edge(total: int, band: str) -> None:
    result = score(PHQ9, {**answers_totalling(total, PHQ9_ITEMS, q9=0), "difficulty": "very"})
    assert (result.total, result.band.code) == (total, band)
    assert (result.min_total, result.max_total) == (0, 27)
    assert not result.crisis
    assert result.suggest_intake is (total >= 10)


def test_phq9_highest_total_is_severe_and_a_crisis() -> None:
    result = score(PHQ9, {**answers_totalling(27, PHQ9_ITEMS), "difficulty": "extremely"})
    assert (result.total, result.band.code, result.crisis) == (27, "severe", True)


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (21, "severe"),
    ],
)
def test_gad7_bands_at_every_edge(total: int, band: str) -> None:
    answers = answers_totalling(total, GAD7_ITEMS)
    if total > 0:
        answers["difficulty"] = "somewhat"
    result = score(GAD7, answers)
    assert (result.total, result.band.code, result.max_total) == (total, band, 21)
    assert result.suggest_intake is (total >= 10)
    assert not result.crisis


def test_phq9_item9_answered_several_days_is_a_crisis_whatever_the_total() -> None:
    result = score(PHQ9, {**answers_totalling(1, PHQ9_ITEMS, q9=1), "difficulty": "somewhat"})
    assert result.total == 1
    assert result.band.code == "minimal"
    assert result.crisis is True
    assert result.crisis_reasons == ("phq9_item9",)
    assert result.suggest_intake is False


def test_the_difficulty_question_is_asked_only_above_zero_and_never_scored() -> None:
    nothing = answers_totalling(0, PHQ9_ITEMS)
    assert "difficulty" not in [i.id for i in shown_items(PHQ9, nothing)]
    assert unanswered(PHQ9, nothing) == []
    assert score(PHQ9, nothing).total == 0
    # Given anyway while the total is 0, the answer is not kept (it was never asked).
    assert "difficulty" not in kept_answers(PHQ9, {**nothing, "difficulty": "very"})

    some = answers_totalling(1, PHQ9_ITEMS)
    assert [i.id for i in shown_items(PHQ9, some)][-1] == "difficulty"
    # Asked, but it may be left out (the published form does not score or require it)...
    assert unanswered(PHQ9, some) == []
    # ...and whatever it says, the total stays.
    totals = {score(PHQ9, {**some, "difficulty": o.id}).total for o in PHQ9.items[-1].options}
    assert totals == {1}
    assert score(PHQ9, some).total == 1


def test_scoring_refuses_missing_and_unknown_answers() -> None:
    partial = {"q1": "several_days"}
    with pytest.raises(AnswersMissing) as missing:
        score(PHQ9, partial)
    assert missing.value.item_ids == PHQ9_ITEMS[1:]
    with pytest.raises(UnknownItem):
        score(PHQ9, {**answers_totalling(0, PHQ9_ITEMS), "q10": "not_at_all"})
    with pytest.raises(UnknownOption):
        score(PHQ9, {**answers_totalling(0, PHQ9_ITEMS), "q1": "sometimes"})


def custom(**changes: Any) -> dict[str, Any]:
    """A small wellbeing scale: four items 0..4, item ``b`` reverse-scored, two subscales."""

    def item(id_: str, **extra: Any) -> dict[str, Any]:
        return {
            "id": id_,
            "text": {"ru": f"Вопрос {id_}", "en": f"Question {id_}"},
            "options": [
                {"id": f"o{s}", "label": {"ru": str(s), "en": str(s)}, "score": s} for s in range(5)
            ],
            **extra,
        }

    def band(code: str, lo: int, hi: int) -> dict[str, Any]:
        return {
            "code": code,
            "min": lo,
            "max": hi,
            "label": {"ru": code, "en": code},
            "interpretation": {"ru": f"Полоса {code}", "en": f"Band {code}"},
        }

    doc: dict[str, Any] = {
        "code": "wellbeing4",
        "title": {"ru": "Самочувствие", "en": "Wellbeing"},
        "instruction": {"ru": "Отметьте", "en": "Tick"},
        "time_frame": {"ru": "за неделю", "en": "over the last week"},
        "option_scores": {"min": 0, "max": 4},
        "items": [
            item("a"),
            item("b", reverse_scored=True),
            item("c"),
            item("d"),
            {
                "id": "note",
                "text": {"ru": "Что помогло?", "en": "What helped?"},
                "options": [
                    {"id": "rest", "label": {"ru": "Отдых", "en": "Rest"}},
                    {"id": "talk", "label": {"ru": "Разговор", "en": "A talk"}},
                ],
                "shown_when": {"op": "gte", "value": 6, "items": ["a", "b"]},
            },
        ],
        "subscales": [
            {"id": "mood", "label": {"ru": "Настроение", "en": "Mood"}, "items": ["a", "b"]},
            {"id": "energy", "label": {"ru": "Энергия", "en": "Energy"}, "items": ["c", "d"]},
        ],
        "bands": [band("minimal", 0, 5), band("mild", 6, 10), band("severe", 11, 16)],
        "crisis_rules": [{"reason": "low_mood", "item": "b", "above": 3}],
        "intake_threshold": 11,
        "reliable_change": 3,
    }
    doc.update(changes)
    return doc


def test_reverse_scoring_and_subscales() -> None:
    d = validated(Definition.model_validate(custom()))
    answers = {"a": "o4", "b": "o1", "c": "o0", "d": "o2"}
    # mood reaches 7 (>= 6): the follow-up question is asked, and must be answered.
    assert unanswered(d, answers) == ["note"]
    result = score(d, {**answers, "note": "talk"})
    # b answered 1 on 0..4, reversed: 4 + 0 - 1 = 3
    assert result.subscales == {"mood": 7, "energy": 2}
    assert (result.total, result.band.code, result.suggest_intake) == (9, "mild", False)
    assert result.crisis is False  # the crisis rule reads the raw answer (1), not the reversed

    # The conditional item reads the running total of a and b only, reversed as scored.
    assert "note" not in [i.id for i in shown_items(d, {"a": "o2", "b": "o4", "c": "o4"})]
    low = score(d, {"a": "o0", "b": "o4", "c": "o4", "d": "o4"})
    assert (low.total, low.band.code, low.crisis, low.crisis_reasons) == (
        8,
        "mild",
        True,
        ("low_mood",),
    )
    high = score(d, {"a": "o4", "b": "o0", "c": "o4", "d": "o4", "note": "rest"})
    assert (high.total, high.band.code, high.suggest_intake) == (16, "severe", True)
    assert high.subscales == {"mood": 8, "energy": 8}


def test_change_since_first_run_by_the_published_threshold() -> None:
    assert change_since_first([14], 6) is None
    better = change_since_first([18, 15, 12], 6)
    assert better is not None
    assert (better.delta, better.direction, better.reliable) == (-6, "down", True)
    small = change_since_first([8, 13], 6)
    assert small is not None and (small.delta, small.direction, small.reliable) == (5, "up", False)
    gad = change_since_first([12, 8], GAD7.reliable_change)
    assert gad is not None and gad.reliable is True
    assert PHQ9.reliable_change == 6 and GAD7.reliable_change == 4
    none = change_since_first([3, 3], None)
    assert none is not None and (none.direction, none.reliable) == ("none", None)
