"""parse_mode handling: the plain text and UTF-16 entities Telegram would store, or its refusal."""

from __future__ import annotations

import pytest
from aiogram.types import MessageEntity
from aiogram.utils.text_decorations import html_decoration, markdown_decoration
from sandbox.telegram import EntityParseError, parse_text


def spans(entities: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [(e["type"], e["offset"], e["length"]) for e in entities]


def test_html_tags_links_and_escapes() -> None:
    text, entities = parse_text(
        '<b>Жирный</b> &lt;tag&gt; <a href="https://t.me/x">ссылка</a> '
        '<span class="tg-spoiler">s</span> <pre><code class="language-python">x = 1</code></pre>',
        "HTML",
    )
    assert text == "Жирный <tag> ссылка s x = 1"
    assert spans(entities) == [
        ("bold", 0, 6),
        ("text_link", 13, 6),
        ("spoiler", 20, 1),
        ("pre", 22, 5),
    ]
    assert entities[1]["url"] == "https://t.me/x"
    assert entities[3]["language"] == "python"


def test_html_errors_use_telegrams_wording() -> None:
    with pytest.raises(EntityParseError, match='Unsupported start tag "div" at byte offset 2'):
        parse_text("ok<div>x</div>", "HTML")
    with pytest.raises(EntityParseError, match='expected "</b>", found "</i>"'):
        parse_text("<b>x</i>", "HTML")
    with pytest.raises(EntityParseError, match='end tag corresponding to start tag "b"'):
        parse_text("<b>x", "HTML")


def test_offsets_count_utf16_code_units() -> None:
    text, entities = parse_text("😀 <b>да</b>", "HTML")
    assert text == "😀 да"
    assert spans(entities) == [("bold", 3, 2)]


def test_markdown_v2_entities_escapes_and_links() -> None:
    text, entities = parse_text(
        r"*bold _italic_* __under__ ~del~ ||spoiler|| `co\`de` [link](https://ex.am/p?a=1\)) 1\.5",
        "MarkdownV2",
    )
    assert text == "bold italic under del spoiler co`de link 1.5"
    assert spans(entities) == [
        ("bold", 0, 11),
        ("italic", 5, 6),
        ("underline", 12, 5),
        ("strikethrough", 18, 3),
        ("spoiler", 22, 7),
        ("code", 30, 5),
        ("text_link", 36, 4),
    ]
    assert entities[-1]["url"] == "https://ex.am/p?a=1)"


def test_markdown_v2_pre_with_language_and_blockquote() -> None:
    text, entities = parse_text("```python\nprint(1)\n```\n>цитата\n>дальше\nконец", "MarkdownV2")
    assert text == "print(1)\n\nцитата\nдальше\nконец"
    assert spans(entities) == [("pre", 0, 9), ("blockquote", 10, 13)]
    assert entities[0]["language"] == "python"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("1500.00", r"Character '\.' is reserved"),
        ("a-b", "Character '-' is reserved"),
        ("*open", "Can't find end of Bold entity at byte offset 0"),
        ("[text]", r"Character '\]' is reserved"),
    ],
)
def test_markdown_v2_refusals(source: str, message: str) -> None:
    with pytest.raises(EntityParseError, match=message):
        parse_text(source, "MarkdownV2")


def test_legacy_markdown() -> None:
    text, entities = parse_text("*b* _i_ `c` [l](https://x.y) a.b-c", "Markdown")
    assert text == "b i c l a.b-c"
    assert spans(entities) == [
        ("bold", 0, 1),
        ("italic", 2, 1),
        ("code", 4, 1),
        ("text_link", 6, 1),
    ]
    with pytest.raises(EntityParseError, match="Can't find end of the entity"):
        parse_text("*open", "Markdown")


@pytest.mark.parametrize("decoration", [html_decoration, markdown_decoration])
def test_aiogram_unparse_round_trips_through_the_parser(decoration: object) -> None:
    """aiogram renders text+entities back to markup; parsing it again gives the same entities."""
    original = "Запись 15.01 в 10:00 (зал #2) — <оплачено>"
    entities = [
        MessageEntity(type="bold", offset=0, length=6),
        MessageEntity(type="italic", offset=15, length=5),
        MessageEntity(type="underline", offset=15, length=5),
        MessageEntity(type="text_link", offset=22, length=6, url="https://ex.am/r"),
    ]
    mode = "HTML" if decoration is html_decoration else "MarkdownV2"
    markup = decoration.unparse(original, entities)  # type: ignore[attr-defined]
    text, parsed = parse_text(markup, mode)
    assert text == original

    def key(e: MessageEntity) -> tuple[int, int, str]:
        return (e.offset, -e.length, e.type)

    assert sorted((MessageEntity.model_validate(e) for e in parsed), key=key) == sorted(
        entities, key=key
    )


def test_no_parse_mode_keeps_the_text() -> None:
    assert parse_text("<b>as is</b> 1.5", None) == ("<b>as is</b> 1.5", [])
    with pytest.raises(ValueError, match="unsupported parse_mode"):
        parse_text("x", "BBCode")
