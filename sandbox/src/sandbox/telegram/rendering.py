"""A message's text with its entities as HTML, for the inspection page's bubbles.

Telegram sends plain ``text`` plus ``entities`` (offsets and lengths in UTF-16 code units); the page
shows them as a client would: bold, italic, code, links... Every piece of text is escaped and only
the fake's own tags are produced, so a message cannot inject markup; links open only for
``http(s)``, ``tg`` and ``mailto`` URLs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

_TAGS = {
    "bold": ("<b>", "</b>"),
    "italic": ("<i>", "</i>"),
    "underline": ("<u>", "</u>"),
    "strikethrough": ("<s>", "</s>"),
    "spoiler": ('<span class="spoiler">', "</span>"),
    "code": ("<code>", "</code>"),
    "pre": ("<pre>", "</pre>"),
    "blockquote": ("<blockquote>", "</blockquote>"),
    "expandable_blockquote": ("<blockquote>", "</blockquote>"),
}
_LINKABLE = ("http://", "https://", "tg://", "mailto:")


def _tags(entity: dict[str, Any], inner_text: str) -> tuple[str, str]:
    kind = str(entity.get("type", ""))
    if kind in _TAGS:
        return _TAGS[kind]
    url = entity.get("url") if kind == "text_link" else inner_text if kind == "url" else None
    if isinstance(url, str) and url.lower().startswith(_LINKABLE):
        return f'<a href="{escape(url)}" rel="noreferrer noopener" target="_blank">', "</a>"
    return f'<span class="entity" title="{escape(kind)}">', "</span>"


def entities_html(text: str, entities: Sequence[dict[str, Any]]) -> Markup:
    """``text`` escaped, with its (properly nested) entities as HTML tags."""
    units = text.encode("utf-16-le")
    total = len(units) // 2

    def piece(start: int, end: int) -> str:
        return units[2 * start : 2 * end].decode("utf-16-le", errors="replace")

    spans: list[tuple[int, int, dict[str, Any]]] = []
    for entity in entities:
        try:
            start = max(int(entity["offset"]), 0)
            end = min(start + int(entity["length"]), total)
        except (KeyError, TypeError, ValueError):
            continue
        if end > start:
            spans.append((start, end, entity))
    spans.sort(key=lambda span: (span[0], -span[1]))

    def render(start: int, end: int, inside: list[tuple[int, int, dict[str, Any]]]) -> str:
        out: list[str] = []
        position = start
        index = 0
        while index < len(inside):
            span_start, span_end, entity = inside[index]
            span_end = min(span_end, end)  # an entity crossing its parent's end is clipped
            children: list[tuple[int, int, dict[str, Any]]] = []
            index += 1
            while index < len(inside) and inside[index][0] < span_end:
                children.append(inside[index])
                index += 1
            out.append(str(escape(piece(position, span_start))))
            opening, closing = _tags(entity, piece(span_start, span_end))
            out.append(opening + render(span_start, span_end, children) + closing)
            position = span_end
        out.append(str(escape(piece(position, end))))
        return "".join(out)

    return Markup(render(0, total, spans))
