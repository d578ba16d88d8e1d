"""Articles and resources: their kinds, the publishing workflow, a body's rendering and its
reading time.

Workflow: ``draft → in_review → published → archived``. An item is written as revisions; the
live text is the last revision a reviewer approved. Editing a published item starts a new
revision (a draft, then in review) while the live one stays public; approval replaces it.
"""

from __future__ import annotations

import math
import re
from html import unescape
from typing import Literal

import nh3
from markdown_it import MarkdownIt
from servicekit.errors import DomainError

ItemKind = Literal["article", "exercise", "audio", "video"]
Language = Literal["ru", "en"]
DRAFT, IN_REVIEW, PUBLISHED, ARCHIVED = "draft", "in_review", "published", "archived"
RETURNED, SUPERSEDED = "returned", "superseded"
#: What a media resource must have: a URL to play.
MEDIA_KINDS = ("audio", "video")

#: Words a reader reads per minute (silent reading of non-fiction, Russian and English alike:
#: Brysbaert 2019 gives 238 for English; Russian's longer words read a little slower).
WORDS_PER_MINUTE = 200

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

# HTML written inside the Markdown is parsed and then sanitized; links keep http(s) and mailto
# only and get rel="nofollow noopener". nh3 (the ammonia sanitizer) drops <script>, <style>,
# every on* attribute and javascript: URLs.
_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
_URL_SCHEMES = {"http", "https", "mailto"}
_WORD = re.compile(r"\w+", re.UNICODE)


class WrongState(DomainError):
    """The item (or its revision) is not in a state that allows this step."""

    code = "wrong_state"

    def __init__(self, status: str) -> None:
        super().__init__(f"not allowed while {status}")
        self.status = status


class MediaUrlMissing(DomainError):
    """An audio or video resource needs the URL it plays from."""

    code = "media_url_missing"


def render(body: str) -> str:
    """A Markdown body as sanitized HTML (no scripts, no event handlers, no javascript:
    links; links are ``rel="nofollow noopener"``)."""
    return nh3.clean(_MARKDOWN.render(body), link_rel="nofollow noopener", url_schemes=_URL_SCHEMES)


def plain_text(html: str) -> str:
    """The text of sanitized HTML (what full-text search indexes and highlights)."""
    return re.sub(r"\s+", " ", unescape(nh3.clean(html, tags=set()))).strip()


def reading_minutes(*texts: str | None) -> int:
    """Minutes to read the texts, at least one."""
    words = sum(len(_WORD.findall(t)) for t in texts if t)
    return max(1, math.ceil(words / WORDS_PER_MINUTE))


def check_media(kind: str, media_url: str | None) -> None:
    """Audio and video need their URL."""
    if kind in MEDIA_KINDS and not media_url:
        raise MediaUrlMissing()


def normalize_topics(topics: list[str]) -> list[str]:
    """Topics lower-cased, trimmed, each once, in the order given."""
    seen: dict[str, None] = {}
    for topic in topics:
        t = " ".join(topic.split()).casefold()
        if t:
            seen.setdefault(t, None)
    return list(seen)
