"""The automatic checks on a post's text and the search query's words (pure functions)."""

from __future__ import annotations

import pytest
from content.domain import prechecks
from content.domain.search import safe_headline, tsquery_text


def _check(kind: str, text: str, *, duplicate: bool = False) -> prechecks.Verdict:
    return prechecks.check(
        kind,
        text,
        reject_stems=["казино"],
        flag_stems=["дурак", "idiot"],
        max_links=2,
        duplicate=duplicate,
    )


@pytest.mark.parametrize(
    "text",
    ["Ты дурак", "Одни дураки вокруг", "с этим ДУРАКОМ", "what an IDIOT", "idiots"],
)
def test_a_flag_stem_covers_the_forms_of_its_word(text: str) -> None:
    verdict = _check("comment", text)
    assert verdict == prechecks.Verdict(None, ("stop_word",))


def test_a_word_merely_starting_alike_in_the_middle_is_not_a_hit() -> None:
    assert not prechecks.stop_word_hit("водурак", ["дурак"])


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("звоните +7 (912) 345-67-89", True),
        ("мой номер 89123456789", True),
        ("пишите на ivan.petrov@example.org", True),
        ("занималась 3 раза по 45 минут в 2024 году", False),
    ],
)
def test_phone_numbers_and_emails_are_personal_data(text: str, found: bool) -> None:
    assert prechecks.has_personal_data(text) is found


def test_rejections_come_before_flags() -> None:
    assert _check("question", "Ну?").rejection == "too_short"
    assert _check("comment", "Лучшее казино тут").rejection == "stop_word_reject"
    assert _check("comment", "a.ru b.com https://c.example").rejection == "too_many_links"
    assert _check("comment", "Спасибо!", duplicate=True).rejection == "duplicate"


def test_the_text_fingerprint_ignores_case_and_spacing() -> None:
    key = b"k" * 32
    assert prechecks.text_index("Привет,  МИР!", key) == prechecks.text_index("привет мир", key)
    assert prechecks.text_index("привет мир", key) != prechecks.text_index("привет", key)


def test_the_query_names_every_form_of_a_word_the_stemmer_cannot_join() -> None:
    assert (
        tsquery_text("Сон") == "(сон | сна | сну | сном | сне | сны | снов | снам | снами | снах)"
    )
    assert tsquery_text("тревожность ночью") == "(тревожность) & (ночью)"
    assert tsquery_text("ребёнок") is not None and "дети" in str(tsquery_text("ребёнок"))
    assert tsquery_text("!!! ''' &|") is None  # nothing but punctuation: no query at all


def test_a_highlight_is_escaped_but_its_marks() -> None:
    assert (
        safe_headline("<b>\x02сна\x03</b> & more")
        == "&lt;b&gt;<mark>сна</mark>&lt;/b&gt; &amp; more"
    )
