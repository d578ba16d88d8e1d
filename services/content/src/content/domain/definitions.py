"""Questionnaire definitions: what a questionnaire asks, how its answers score and what a score
means, as one JSON document validated on save.

A definition is a value: items with their answer options and scores, reverse-scored items,
subscales, severity bands covering the whole score range, crisis rules (an item above a threshold
whatever the total), conditional items (shown only when the running total meets a condition;
never scored), texts in Russian and English, an instruction and a time frame, the total from
which an intake session is suggested and the change that counts as reliable.

Pydantic checks each field's shape; :func:`definition_problems` checks what only the whole
document can say (bands without gaps or overlaps, references that exist, option scores in the
declared range) and names every problem with a stable reason, so a 422 can say exactly what to
fix. A definition that is published is never changed: a change is a new version.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Annotated, Any, Literal

from contracts.content.v1 import SeverityBand
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from servicekit.errors import DomainError

#: A short identifier inside a definition (an item, an option, a subscale, a crisis reason).
Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
_NO_NUL = r"^[^\x00]*$"
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=300, pattern=_NO_NUL)]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=_NO_NUL)]
Score = Annotated[int, Field(ge=-1000, le=1000)]

MAX_ITEMS = 100
MAX_OPTIONS = 20


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Label(_Value):
    """A short text in both languages (an option, a band, a title)."""

    ru: ShortText
    en: ShortText


class Passage(_Value):
    """A longer text in both languages (an item, an instruction, an interpretation)."""

    ru: LongText
    en: LongText


class Option(_Value):
    """One answer to an item and what it scores (an unscored item's options have no score)."""

    id: Code
    label: Label
    score: Score | None = None


Comparison = Literal["gt", "gte", "lt", "lte", "eq"]


class ShownWhen(_Value):
    """When a conditional item is shown: the running total of ``items`` (every scored item when
    omitted) compared with ``value`` (PHQ-9's difficulty question: total ``gt`` 0)."""

    op: Comparison
    value: Score
    items: list[Code] | None = Field(default=None, max_length=MAX_ITEMS)

    def holds(self, total: int) -> bool:
        """Whether ``total`` meets the condition."""
        return {
            "gt": total > self.value,
            "gte": total >= self.value,
            "lt": total < self.value,
            "lte": total <= self.value,
            "eq": total == self.value,
        }[self.op]


class Item(_Value):
    """One question. A conditional item (``shown_when``) is never scored; ``required`` says
    whether a shown conditional item must be answered before the run completes (every scored
    item must)."""

    id: Code
    text: Passage
    options: list[Option] = Field(max_length=MAX_OPTIONS)
    reverse_scored: bool = False
    shown_when: ShownWhen | None = None
    required: bool = True

    @property
    def scored(self) -> bool:
        """Whether the item counts towards the total."""
        return self.shown_when is None

    def option(self, option_id: str) -> Option | None:
        """The option ``option_id``, or ``None``."""
        return next((o for o in self.options if o.id == option_id), None)

    def score_of(self, option_id: str) -> int:
        """What answering ``option_id`` scores (reversed for a reverse-scored item)."""
        option = self.option(option_id)
        if option is None or option.score is None:
            raise ValueError(f"{self.id}: {option_id!r} scores nothing")
        if not self.reverse_scored:
            return option.score
        scores = [o.score for o in self.options if o.score is not None]
        return min(scores) + max(scores) - option.score

    def score_bounds(self) -> tuple[int, int]:
        """The lowest and highest score the item can give (the same reversed or not)."""
        scores = [o.score for o in self.options if o.score is not None]
        return (min(scores), max(scores)) if scores else (0, 0)


class Subscale(_Value):
    """A named sum over some scored items."""

    id: Code
    label: Label
    items: list[Code] = Field(max_length=MAX_ITEMS)


class Band(_Value):
    """A severity band: totals ``min``..``max`` inclusive, with what they mean."""

    code: SeverityBand
    min: Score
    max: Score
    label: Label
    interpretation: Passage


class CrisisRule(_Value):
    """A crisis whatever the total: the item's answer scores more than ``above`` (its raw
    option score). ``reason`` names it in the result and the event (``phq9_item9``)."""

    reason: Code
    item: Code
    above: Score


class ScoreRange(_Value):
    """The range every option score of a scored item lies in (PHQ-9: 0..3)."""

    min: Score = 0
    max: Score = 3


class Definition(_Value):
    """A questionnaire as it is asked, scored and read."""

    code: Code
    title: Label
    instruction: Passage
    time_frame: Label
    option_scores: ScoreRange = ScoreRange()
    items: list[Item] = Field(max_length=MAX_ITEMS)
    subscales: list[Subscale] = Field(default_factory=list, max_length=20)
    bands: list[Band] = Field(max_length=20)
    crisis_rules: list[CrisisRule] = Field(default_factory=list, max_length=MAX_ITEMS)
    intake_threshold: Score | None = Field(
        default=None, description="A total at or above it suggests booking an intake session"
    )
    reliable_change: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="A change of at least this many points between two runs is reliable",
    )
    source: ShortText | None = Field(default=None, description="Where the wording comes from")

    def item(self, item_id: str) -> Item | None:
        """The item ``item_id``, or ``None``."""
        return next((i for i in self.items if i.id == item_id), None)

    @property
    def scored_items(self) -> list[Item]:
        """The items that count towards the total, in order."""
        return [i for i in self.items if i.scored]

    def total_bounds(self) -> tuple[int, int]:
        """The lowest and highest total."""
        bounds = [i.score_bounds() for i in self.scored_items]
        return sum(b[0] for b in bounds), sum(b[1] for b in bounds)

    def band_for(self, total: int) -> Band:
        """The band ``total`` falls in (a valid definition has exactly one)."""
        for band in self.bands:
            if band.min <= total <= band.max:
                return band
        raise ValueError(f"{self.code}: no band holds {total}")


# -- validation ----------------------------------------------------------------------------

Reason = Literal[
    "no_items",
    "no_bands",
    "duplicate_id",
    "no_options",
    "score_missing",
    "score_out_of_range",
    "score_range_inverted",
    "unknown_item",
    "unscored_item",
    "empty_subscale",
    "band_empty",
    "bands_start",
    "bands_end",
    "bands_gap",
    "bands_overlap",
    "threshold_out_of_range",
    "code_changed",
]


@dataclass(frozen=True)
class DefinitionProblem:
    """One reason a definition is refused: where (a path into the document, as pydantic's
    ``loc``), why (a stable ``reason``) and the values the explanation needs."""

    loc: tuple[str | int, ...]
    reason: Reason
    params: Mapping[str, Any] = field(default_factory=dict)


class InvalidDefinition(DomainError):
    """A definition that cannot be saved, with every reason."""

    code = "definition_invalid"

    def __init__(self, problems: list[DefinitionProblem]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, p.loc))}: {p.reason}" for p in problems))
        self.problems = problems


def _duplicates(values: list[str]) -> set[str]:
    return {v for v, n in Counter(values).items() if n > 1}


def _item_problems(d: Definition) -> Iterator[DefinitionProblem]:
    low, high = d.option_scores.min, d.option_scores.max
    if low > high:
        yield DefinitionProblem(
            ("option_scores",), "score_range_inverted", {"min": low, "max": high}
        )
    repeated = _duplicates([i.id for i in d.items])
    for n, item in enumerate(d.items):
        where: tuple[str | int, ...] = ("items", n)
        if item.id in repeated:
            yield DefinitionProblem((*where, "id"), "duplicate_id", {"id": item.id})
        if not item.options:
            yield DefinitionProblem((*where, "options"), "no_options", {"item": item.id})
        same = _duplicates([o.id for o in item.options])
        for m, option in enumerate(item.options):
            at = (*where, "options", m)
            if option.id in same:
                yield DefinitionProblem((*at, "id"), "duplicate_id", {"id": option.id})
            if not item.scored:
                continue
            if option.score is None:
                yield DefinitionProblem((*at, "score"), "score_missing", {"item": item.id})
            elif not low <= option.score <= high:
                yield DefinitionProblem(
                    (*at, "score"),
                    "score_out_of_range",
                    {"score": option.score, "min": low, "max": high},
                )


def _reference_problems(d: Definition) -> Iterator[DefinitionProblem]:
    """Every item a subscale, a crisis rule or a condition names exists and is scored."""
    items = {i.id: i for i in d.items}

    def check(loc: tuple[str | int, ...], item_id: str) -> Iterator[DefinitionProblem]:
        found = items.get(item_id)
        if found is None:
            yield DefinitionProblem(loc, "unknown_item", {"item": item_id})
        elif not found.scored:
            yield DefinitionProblem(loc, "unscored_item", {"item": item_id})

    for n, item in enumerate(d.items):
        if item.shown_when is not None and item.shown_when.items is not None:
            for m, ref in enumerate(item.shown_when.items):
                yield from check(("items", n, "shown_when", "items", m), ref)
    for id_ in _duplicates([s.id for s in d.subscales]):
        yield DefinitionProblem(("subscales",), "duplicate_id", {"id": id_})
    for n, subscale in enumerate(d.subscales):
        if not subscale.items:
            yield DefinitionProblem(
                ("subscales", n, "items"), "empty_subscale", {"id": subscale.id}
            )
        for m, ref in enumerate(subscale.items):
            yield from check(("subscales", n, "items", m), ref)
    for id_ in _duplicates([r.reason for r in d.crisis_rules]):
        yield DefinitionProblem(("crisis_rules",), "duplicate_id", {"id": id_})
    for n, rule in enumerate(d.crisis_rules):
        yield from check(("crisis_rules", n, "item"), rule.item)
        target = items.get(rule.item)
        if target is not None and target.scored and target.options:
            raw = [o.score for o in target.options if o.score is not None]
            # "above" must leave some answer above it and some not: else it never or always fires.
            if raw and not min(raw) <= rule.above < max(raw):
                yield DefinitionProblem(
                    ("crisis_rules", n, "above"),
                    "threshold_out_of_range",
                    {"value": rule.above, "min": min(raw), "max": max(raw) - 1},
                )


def _band_problems(d: Definition, low: int, high: int) -> Iterator[DefinitionProblem]:
    """The bands cover ``low``..``high`` exactly once each."""
    if not d.bands:
        yield DefinitionProblem(("bands",), "no_bands")
        return
    for id_ in _duplicates([b.code for b in d.bands]):
        yield DefinitionProblem(("bands",), "duplicate_id", {"id": id_})
    for n, band in enumerate(d.bands):
        if band.min > band.max:
            yield DefinitionProblem(("bands", n), "band_empty", {"min": band.min, "max": band.max})
    ordered = sorted(enumerate(d.bands), key=lambda nb: (nb[1].min, nb[1].max))
    first_n, first = ordered[0]
    if first.min != low:
        yield DefinitionProblem(("bands", first_n, "min"), "bands_start", {"expected": low})
    for (_, before), (n, after) in pairwise(ordered):
        if after.min > before.max + 1:
            yield DefinitionProblem(
                ("bands", n, "min"), "bands_gap", {"from": before.max + 1, "to": after.min - 1}
            )
        elif after.min <= before.max:
            yield DefinitionProblem(
                ("bands", n, "min"),
                "bands_overlap",
                {"from": after.min, "to": min(before.max, after.max)},
            )
    last_n, last = max(enumerate(d.bands), key=lambda nb: nb[1].max)
    if last.max != high:
        yield DefinitionProblem(("bands", last_n, "max"), "bands_end", {"expected": high})


def _threshold_problems(d: Definition, low: int, high: int) -> Iterator[DefinitionProblem]:
    if d.intake_threshold is not None and not low < d.intake_threshold <= high:
        yield DefinitionProblem(
            ("intake_threshold",),
            "threshold_out_of_range",
            {"value": d.intake_threshold, "min": low + 1, "max": high},
        )
    if d.reliable_change is not None and d.reliable_change > high - low:
        yield DefinitionProblem(
            ("reliable_change",),
            "threshold_out_of_range",
            {"value": d.reliable_change, "min": 1, "max": high - low},
        )


def definition_problems(d: Definition) -> list[DefinitionProblem]:
    """Every reason ``d`` cannot be saved (empty: it can)."""
    if not d.items:
        return [DefinitionProblem(("items",), "no_items")]
    problems = [*_item_problems(d), *_reference_problems(d)]
    if problems:
        return problems  # bands are measured against scores that must first make sense
    low, high = d.total_bounds()
    return [*_band_problems(d, low, high), *_threshold_problems(d, low, high)]


def validated(d: Definition) -> Definition:
    """``d`` when it can be saved; :class:`InvalidDefinition` with every reason otherwise."""
    problems = definition_problems(d)
    if problems:
        raise InvalidDefinition(problems)
    return d
