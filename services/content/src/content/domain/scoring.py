"""Scoring a run's answers by its definition: pure, the same for every caller.

The total is the sum of the scored items (a reverse-scored item counts ``min + max - score``);
subscales are sums over their items; the band is the one holding the total; a crisis rule fires
when its item's raw option score is above its threshold, whatever the total; a conditional item
is shown only while its condition holds on the running total of the answers so far, and never
counts. The intake suggestion is ``total >= intake_threshold``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from servicekit.errors import DomainError

from content.domain.definitions import Band, Definition, Item


class UnknownItem(DomainError):
    """An answer to an item the definition does not have."""

    code = "unknown_item"

    def __init__(self, item_id: str) -> None:
        super().__init__(f"no item {item_id!r}")
        self.item_id = item_id


class UnknownOption(DomainError):
    """An answer that is not one of the item's options."""

    code = "unknown_option"

    def __init__(self, item_id: str, option_id: str) -> None:
        super().__init__(f"{item_id}: no option {option_id!r}")
        self.item_id = item_id
        self.option_id = option_id


class AnswersMissing(DomainError):
    """The run cannot be scored yet: these items are unanswered."""

    code = "answers_missing"

    def __init__(self, item_ids: list[str]) -> None:
        super().__init__(f"unanswered: {', '.join(item_ids)}")
        self.item_ids = item_ids


@dataclass(frozen=True)
class Result:
    """A scored run."""

    total: int
    min_total: int
    max_total: int
    band: Band
    subscales: dict[str, int]
    crisis: bool
    crisis_reasons: tuple[str, ...]
    suggest_intake: bool


def check_answer(definition: Definition, item_id: str, option_id: str) -> Item:
    """The item answered, when ``option_id`` is one of its options."""
    item = definition.item(item_id)
    if item is None:
        raise UnknownItem(item_id)
    if item.option(option_id) is None:
        raise UnknownOption(item_id, option_id)
    return item


def _running_total(
    definition: Definition, answers: Mapping[str, str], only: list[str] | None
) -> int:
    total = 0
    for item in definition.scored_items:
        if (only is None or item.id in only) and item.id in answers:
            total += item.score_of(answers[item.id])
    return total


def is_shown(definition: Definition, item: Item, answers: Mapping[str, str]) -> bool:
    """Whether ``item`` is asked given ``answers`` so far (scored items always are)."""
    if item.shown_when is None:
        return True
    total = _running_total(definition, answers, item.shown_when.items)
    return item.shown_when.holds(total)


def shown_items(definition: Definition, answers: Mapping[str, str]) -> list[Item]:
    """The items asked given ``answers`` so far, in the definition's order."""
    return [i for i in definition.items if is_shown(definition, i, answers)]


def kept_answers(definition: Definition, answers: Mapping[str, str]) -> dict[str, str]:
    """``answers`` without those to items that are no longer shown (a conditional item whose
    condition stopped holding after other answers changed)."""
    shown = {i.id for i in shown_items(definition, answers)}
    return {k: v for k, v in answers.items() if k in shown}


def unanswered(definition: Definition, answers: Mapping[str, str]) -> list[str]:
    """The items that must still be answered before the run can be scored."""
    return [
        i.id
        for i in shown_items(definition, answers)
        if i.id not in answers and (i.scored or i.required)
    ]


def score(definition: Definition, answers: Mapping[str, str]) -> Result:
    """Score ``answers`` (item id → option id) by ``definition``."""
    for item_id, option_id in answers.items():
        check_answer(definition, item_id, option_id)
    missing = unanswered(definition, answers)
    if missing:
        raise AnswersMissing(missing)
    item_scores = {i.id: i.score_of(answers[i.id]) for i in definition.scored_items}
    total = sum(item_scores.values())
    low, high = definition.total_bounds()
    reasons = []
    for rule in definition.crisis_rules:
        item = definition.item(rule.item)
        option = item.option(answers[rule.item]) if item is not None else None
        if option is not None and option.score is not None and option.score > rule.above:
            reasons.append(rule.reason)
    return Result(
        total=total,
        min_total=low,
        max_total=high,
        band=definition.band_for(total),
        subscales={s.id: sum(item_scores[i] for i in s.items) for s in definition.subscales},
        crisis=bool(reasons),
        crisis_reasons=tuple(reasons),
        suggest_intake=(
            definition.intake_threshold is not None and total >= definition.intake_threshold
        ),
    )
