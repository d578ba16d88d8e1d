"""Telegram's ``parse_mode`` markups (HTML, MarkdownV2, legacy Markdown) → plain text + entities.

The Bot API stores a message as plain text plus ``MessageEntity`` objects whose ``offset`` and
``length`` count UTF-16 code units; the markup a bot sent is gone. The fake does the same, and
rejects markup Telegram rejects ("can't parse entities: …"), so a client that forgets to escape a
user's name fails here as it would in production.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

MARKDOWN_V2_RESERVED = "_*[]()~`>#+-=|{}.!"
"""Characters MarkdownV2 reserves: outside entities they must be escaped with a backslash."""


class EntityParseError(ValueError):
    """The markup is not valid for its ``parse_mode``; the message is the Bot API's wording."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of entity offsets."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _Builder:
    """Accumulates plain text and the entities opened and closed over it."""

    parts: list[str] = field(default_factory=list)
    length: int = 0
    entities: list[dict[str, Any]] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.length += utf16_len(text)

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        if self.length > start:
            self.entities.append(
                {"type": kind, "offset": start, "length": self.length - start, **extra}
            )

    def result(self) -> tuple[str, list[dict[str, Any]]]:
        entities = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), entities


def parse_text(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities of ``text`` in ``parse_mode`` (``None``: the text as it is).

    Raises :class:`EntityParseError` (``Bad Request: can't parse entities: …``) on bad markup and
    ``ValueError`` on an unknown parse mode.
    """
    if not parse_mode:
        return text, []
    mode = parse_mode.lower()
    if mode == "html":
        return _parse_html(text)
    if mode == "markdownv2":
        return _MarkdownV2(text).parse()
    if mode == "markdown":
        return _parse_legacy_markdown(text)
    raise ValueError(f"Bad Request: unsupported parse_mode {parse_mode!r}")


def _bad(detail: str) -> EntityParseError:
    return EntityParseError(f"Bad Request: can't parse entities: {detail}")


# --------------------------------------------------------------------------- HTML

_HTML_KINDS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "a": "text_link",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
    "span": "spoiler",
}


class _HtmlParser(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.line_starts = [0]
        for index, char in enumerate(source):
            if char == "\n":
                self.line_starts.append(index + 1)
        self.out = _Builder()
        self.stack: list[tuple[str, int, dict[str, Any]]] = []

    def _byte_offset(self) -> int:
        line, column = self.getpos()
        return len(self.source[: self.line_starts[line - 1] + column].encode())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        kind = _HTML_KINDS.get(tag)
        values = dict(attrs)
        if kind is None or (tag == "span" and values.get("class") != "tg-spoiler"):
            raise _bad(f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}')
        extra: dict[str, Any] = {}
        if tag == "a":
            href = values.get("href") or ""
            if href.startswith("tg://user?id="):
                kind = "text_mention"
                extra["user"] = {
                    "id": int(href.split("=", 1)[1]),
                    "is_bot": False,
                    "first_name": "",
                }
            else:
                extra["url"] = href
        elif tag == "blockquote" and "expandable" in values:
            kind = "expandable_blockquote"
        elif tag == "tg-emoji":
            extra["custom_emoji_id"] = values.get("emoji-id") or ""
        elif tag == "code" and (values.get("class") or "").startswith("language-"):
            extra["language"] = (values.get("class") or "").removeprefix("language-")
        self.stack.append((tag, self.out.length, {"kind": kind, **extra}))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise _bad(f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}')

    def handle_endtag(self, tag: str) -> None:
        if not self.stack:
            raise _bad(f"Unexpected end tag at byte offset {self._byte_offset()}")
        open_tag, start, extra = self.stack.pop()
        if open_tag != tag:
            raise _bad(
                f'Unmatched end tag at byte offset {self._byte_offset()}, expected "</{open_tag}>",'
                f' found "</{tag}>"'
            )
        kind = extra.pop("kind")
        if kind == "code" and self.stack and self.stack[-1][0] == "pre":
            # <pre><code class="language-x"> is one pre entity with a language
            if "language" in extra:
                self.stack[-1][2]["language"] = extra["language"]
            return
        if kind == "code":
            extra.pop("language", None)  # a language only counts on a code inside pre
        self.out.entity(kind, start, **extra)

    def handle_data(self, data: str) -> None:
        self.out.add(data)


def _parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    parser = _HtmlParser(text)
    parser.feed(text)
    parser.close()
    if parser.stack:
        raise _bad(f'Can\'t find end tag corresponding to start tag "{parser.stack[-1][0]}"')
    return parser.out.result()


# --------------------------------------------------------------------------- MarkdownV2

_MD_TOGGLES = (
    ("||", "spoiler"),
    ("__", "underline"),
    ("*", "bold"),
    ("_", "italic"),
    ("~", "strikethrough"),
)


class _MarkdownV2:
    def __init__(self, source: str) -> None:
        self.source = source
        self.i = 0
        self.out = _Builder()
        self.stack: list[tuple[str, int, int]] = []  # kind, text offset, source index

    def _byte(self, index: int) -> int:
        return len(self.source[:index].encode())

    def parse(self) -> tuple[str, list[dict[str, Any]]]:
        src = self.source
        quote_start: int | None = None
        while self.i < len(src):
            at_line_start = self.i == 0 or src[self.i - 1] == "\n"
            char = src[self.i]
            if at_line_start and char == ">":
                if quote_start is None:
                    quote_start = self.out.length
                self.i += 1
                continue
            if char == "\n" and quote_start is not None and not src.startswith(">", self.i + 1):
                self.out.entity("blockquote", quote_start)
                quote_start = None
            if char == "\r":
                self.i += 1  # Telegram ignores \r; aiogram uses it to split "_" from "__"
            elif char == "\\":
                self._escape()
            elif src.startswith("```", self.i):
                self._pre()
            elif char == "`":
                self._code()
            elif char == "[":
                self.stack.append(("text_link", self.out.length, self.i))
                self.i += 1
            elif char == "]":
                self._link_end()
            elif toggle := next((t for t in _MD_TOGGLES if src.startswith(t[0], self.i)), None):
                self._toggle(toggle[1], len(toggle[0]))
            elif char in MARKDOWN_V2_RESERVED:
                raise _bad(
                    f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
                )
            else:
                self.out.add(char)
                self.i += 1
        if quote_start is not None:
            self.out.entity("blockquote", quote_start)
        if self.stack:
            kind, _, index = self.stack[-1]
            name = "TextUrl" if kind == "text_link" else kind.capitalize()
            raise _bad(f"Can't find end of {name} entity at byte offset {self._byte(index)}")
        return self.out.result()

    def _escape(self) -> None:
        nxt = self.source[self.i + 1 : self.i + 2]
        if not nxt or not 0 < ord(nxt) < 127:
            raise _bad("Character '\\' is reserved and must be escaped with the preceding '\\'")
        self.out.add(nxt)
        self.i += 2

    def _toggle(self, kind: str, width: int) -> None:
        if self.stack and self.stack[-1][0] == kind:
            _, start, _ = self.stack.pop()
            self.out.entity(kind, start)
        elif any(open_kind == kind for open_kind, _, _ in self.stack):
            raise _bad(
                f"Can't find end of {kind.capitalize()} entity at byte offset {self._byte(self.i)}"
            )
        else:
            self.stack.append((kind, self.out.length, self.i))
        self.i += width

    def _raw_until(self, closing: str, start: int, name: str) -> str:
        """Text up to an unescaped ``closing``; only ``\\`` and the closer may be escaped."""
        chars: list[str] = []
        j = start
        while j < len(self.source):
            if self.source[j] == "\\" and j + 1 < len(self.source):
                chars.append(self.source[j + 1])
                j += 2
                continue
            if self.source.startswith(closing, j):
                self.i = j + len(closing)
                return "".join(chars)
            chars.append(self.source[j])
            j += 1
        raise _bad(f"Can't find end of {name} entity at byte offset {self._byte(start - 1)}")

    def _code(self) -> None:
        start = self.out.length
        self.out.add(self._raw_until("`", self.i + 1, "Code"))
        self.out.entity("code", start)

    def _pre(self) -> None:
        body = self._raw_until("```", self.i + 3, "Pre")
        language = None
        first, newline, rest = body.partition("\n")
        if newline and first and " " not in first:
            language, body = first, rest
        start = self.out.length
        self.out.add(body)
        if language:
            self.out.entity("pre", start, language=language)
        else:
            self.out.entity("pre", start)

    def _link_end(self) -> None:
        if not self.stack or self.stack[-1][0] != "text_link":
            raise _bad("Character ']' is reserved and must be escaped with the preceding '\\'")
        if not self.source.startswith("(", self.i + 1):
            raise _bad("Character ']' is reserved and must be escaped with the preceding '\\'")
        _, start, _ = self.stack.pop()
        url = self._raw_until(")", self.i + 2, "TextUrl")
        if url.startswith("tg://user?id="):
            user = {"id": int(url.split("=", 1)[1]), "is_bot": False, "first_name": ""}
            self.out.entity("text_mention", start, user=user)
        else:
            self.out.entity("text_link", start, url=url)


# --------------------------------------------------------------------------- legacy Markdown

_LEGACY = {"*": "bold", "_": "italic"}


def _parse_legacy_markdown(source: str) -> tuple[str, list[dict[str, Any]]]:
    out = _Builder()
    i = 0
    while i < len(source):
        char = source[i]
        if char == "\\" and source[i + 1 : i + 2] in ("_", "*", "`", "["):
            out.add(source[i + 1])
            i += 2
            continue
        closer = {"*": "*", "_": "_", "`": "`", "[": "]"}.get(char)
        if source.startswith("```", i):
            closer, char = "```", "```"
        if closer is None:
            out.add(char)
            i += 1
            continue
        end = source.find(closer, i + len(char))
        if end < 0:
            offset = len(source[:i].encode())
            raise _bad(f"Can't find end of the entity starting at byte offset {offset}")
        inner = source[i + len(char) : end]
        start = out.length
        out.add(inner)
        i = end + len(closer)
        if char in _LEGACY:
            out.entity(_LEGACY[char], start)
        elif char == "`":
            out.entity("code", start)
        elif char == "```":
            out.entity("pre", start)
        elif source.startswith("(", i) and (close := source.find(")", i)) > 0:
            out.entity("text_link", start, url=source[i + 1 : close])
            i = close + 1
    return out.result()
