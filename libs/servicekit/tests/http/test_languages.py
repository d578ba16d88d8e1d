"""Choosing the language of a problem's texts, and the text type that holds both languages."""

from __future__ import annotations

import pytest
from servicekit.http.i18n import Msg, UntranslatedText, preferred_language
from servicekit.http.problems import Conflict, NotFound, Problem


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("en", "en"),
        ("en-US", "en"),
        ("EN-gb", "en"),
        ("ru", "ru"),
        ("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "ru"),
        ("en;q=0.4, ru;q=0.8", "ru"),
        ("ru;q=0.3, en;q=0.7", "en"),
        ("de-DE, en;q=0.5, ru;q=0.4", "en"),
        ("fr;q=1, ru;q=0.5, en;q=0.5", "ru"),  # a tie goes to the one listed first
        ("ru;q=0, en", "en"),  # q=0: not Russian
        ("en;q=0", None),
        ("de", None),
        ("*", None),
        ("en;q=abc, ru;q=0.1", "ru"),  # a malformed q does not count
        ("english, rus", None),  # not language tags of ours
    ],
)
def test_accept_language(header: str | None, expected: str | None) -> None:
    assert preferred_language(header) == expected


# -- the text type ----------------------------------------------------------------------------


def test_msg_needs_both_languages() -> None:
    with pytest.raises(TypeError):
        Msg(ru="Только по-русски.")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Msg(en="English only.")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Msg("Текст", "Text")  # type: ignore[misc]
    with pytest.raises(ValueError, match="en"):
        Msg(ru="Текст", en=" ")


def test_problem_str_is_english_for_logs() -> None:
    problem = Conflict(Msg(ru="Это время уже занято.", en="That slot is already taken."))
    assert str(problem) == "That slot is already taken."
    assert str(NotFound()) == "Not found"


def test_bare_string_shown_to_a_client_warns() -> None:
    with pytest.warns(UntranslatedText):
        Problem("Only English.", status=409).body("ru")
