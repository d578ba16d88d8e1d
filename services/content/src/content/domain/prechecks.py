"""Automatic checks a user's post goes through before a moderator sees it.

Each check either refuses the post outright (it is rejected at once, with the reason, and the
author may send a better one) or flags it for the moderator (it waits in the queue like any
other, with the flag shown and filterable):

* ``too_short``: fewer than :data:`MIN_LENGTH` letters (reject);
* ``too_many_links``: more links than the settings allow (reject); ``links``: any link (flag);
* ``stop_word_reject`` / ``stop_word``: a word of the reject or the flag list of the settings,
  in any of its forms (each list entry is a stem: "дурак" matches "дураки", "дураком");
* ``personal_data``: a phone number or an email address in text that would be public (flag);
* ``duplicate``: the same text from the same author or address recently (reject).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Flag = Literal["links", "stop_word", "personal_data"]
Rejection = Literal["too_short", "too_many_links", "stop_word_reject", "duplicate"]

MIN_LENGTH = {"question": 10, "comment": 2, "review": 10}

_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w-]+\.(?:ru|com|net|org|рф|io|me|info)\b", re.I)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# A phone number: 10 to 15 digits, maybe with +, spaces, dashes, dots or brackets between.
_PHONE = re.compile(r"(?<!\w)\+?\d(?:[\s().-]*\d){9,14}(?!\w)")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Verdict:
    """What the checks found: a reason to reject outright, or flags for the moderator."""

    rejection: Rejection | None = None
    flags: tuple[Flag, ...] = field(default_factory=tuple)


def _norm(word: str) -> str:
    return word.casefold().replace("ё", "е")


def stop_word_hit(text: str, stems: Iterable[str]) -> bool:
    """Whether a word of ``text`` starts with one of ``stems`` (a stem covers its forms)."""
    prefixes = tuple(_norm(s) for s in stems if s.strip())
    if not prefixes:
        return False
    return any(_norm(w).startswith(prefixes) for w in _WORD.findall(text))


def has_personal_data(text: str) -> bool:
    """A phone number or an email address in the text."""
    return bool(_EMAIL.search(text) or _PHONE.search(text))


def link_count(text: str) -> int:
    """Links (a URL or a bare domain) in the text."""
    return len(_URL.findall(_EMAIL.sub(" ", text)))


def check(
    kind: str,
    text: str,
    *,
    reject_stems: Iterable[str],
    flag_stems: Iterable[str],
    max_links: int,
    duplicate: bool,
) -> Verdict:
    """The automatic verdict on a post's text (``duplicate``: the same text was sent by the
    same author or from the same address recently)."""
    letters = sum(len(w) for w in _WORD.findall(text))
    if letters < MIN_LENGTH.get(kind, 1):
        return Verdict("too_short")
    if duplicate:
        return Verdict("duplicate")
    links = link_count(text)
    if links > max_links:
        return Verdict("too_many_links")
    if stop_word_hit(text, reject_stems):
        return Verdict("stop_word_reject")
    flags: list[Flag] = []
    if links:
        flags.append("links")
    if stop_word_hit(text, flag_stems):
        flags.append("stop_word")
    if has_personal_data(text):
        flags.append("personal_data")
    return Verdict(None, tuple(flags))


def text_index(text: str, key: bytes) -> str:
    """A keyed hash of the text with case and spacing ignored (repeated submissions)."""
    normalized = " ".join(_norm(w) for w in _WORD.findall(text))
    return hmac.new(key, b"text:" + normalized.encode(), hashlib.sha256).hexdigest()


def source_index(address: str, key: bytes) -> str:
    """A keyed hash of the sender's address (rate limits; the address is never stored)."""
    return hmac.new(key, b"addr:" + address.encode(), hashlib.sha256).hexdigest()
