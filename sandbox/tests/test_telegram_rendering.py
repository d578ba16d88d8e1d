"""The Telegram page's bubbles: text and entities as HTML, escaped, at UTF-16 offsets."""

from __future__ import annotations

from sandbox.telegram.formatting import parse_text
from sandbox.telegram.rendering import entities_html


def test_entities_become_tags_at_utf16_offsets_and_nest() -> None:
    text, entities = parse_text(
        '🙂 <b>Запись <i>подтверждена</i></b> — <a href="https://praktika.example/a">открыть</a>',
        "HTML",
    )
    assert str(entities_html(text, entities)) == (
        '🙂 <b>Запись <i>подтверждена</i></b> — <a href="https://praktika.example/a" '
        'rel="noreferrer noopener" target="_blank">открыть</a>'
    )


def test_text_is_escaped_inside_and_outside_entities() -> None:
    text = "<script>x()</script> & <b>bold</b>"
    entities = [{"type": "bold", "offset": 0, "length": 20}]
    assert str(entities_html(text, entities)) == (
        "<b>&lt;script&gt;x()&lt;/script&gt;</b> &amp; &lt;b&gt;bold&lt;/b&gt;"
    )


def test_only_safe_links_are_links_and_odd_entities_are_harmless() -> None:
    text = "click here"
    entities = [
        {"type": "text_link", "offset": 0, "length": 5, "url": "javascript:alert(1)"},
        {"type": '"><script>', "offset": 6, "length": 4},
        {"type": "bold", "offset": 99, "length": 3},  # out of range: ignored
        {"type": "italic"},  # malformed: ignored
    ]
    html = str(entities_html(text, entities))
    assert "href" not in html and "<script>" not in html
    assert html == (
        '<span class="entity" title="text_link">click</span> '
        '<span class="entity" title="&#34;&gt;&lt;script&gt;">here</span>'
    )
