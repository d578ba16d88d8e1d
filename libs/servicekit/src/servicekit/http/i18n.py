"""The language of what a client reads: Russian by default, English when the request prefers it.

A text a client can see (a problem's ``title`` and ``detail``) is a :class:`Msg`: both languages,
stated together where the text is written, so one cannot be added without the other::

    raise NotFound(Msg(ru="Такой записи нет.", en="No such appointment."))
    raise Conflict(Msg(ru=f"Ключ {key} занят.", en=f"The key {key} is taken."), code="key_taken")

How a request's language is chosen (:func:`request_language`):

1. ``Accept-Language`` (RFC 9110 §12.5.4): among the ranges naming Russian or English (``ru``,
   ``ru-RU``, ``en``, ``en-US``, ...), the one with the highest ``q`` wins; on a tie, the one
   listed first; ``q=0`` means "not this one". Other languages and ``*`` are ignored.
2. When the header is absent or names neither language: the user's own setting, the optional
   ``lang`` claim cabinet puts in access tokens (from the account's ``language``). It is read from
   the principal the auth dependency already verified and left at ``request.state.principal``;
   the error path never verifies a token itself, so a token is checked once per request, and an
   error raised before the token was verified (a 401, or any error on a route without auth)
   simply has no principal to ask. Re-verifying the token on the error path would cost a second
   verification (and a JWKS fetch when keys rotate) for a preference the header usually states.
3. Otherwise Russian.

``code``, ``status`` and every other field of a problem are the same in both languages.

A text in a successful answer (a 202's "a message is on its way") is a :data:`Text` field of
the response model: the route returns a ``Msg`` and it is written in the language of the request
being answered (the HTTP layer keeps the request at hand for this, :func:`answering`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Literal, TypeGuard, get_args

from pydantic import PlainSerializer, WithJsonSchema
from starlette.requests import HTTPConnection
from starlette.types import Scope

__all__ = [
    "DEFAULT_LANGUAGE",
    "Language",
    "Msg",
    "Text",
    "UntranslatedText",
    "answering",
    "current_language",
    "preferred_language",
    "request_language",
    "text_in",
    "user_language",
]

Language = Literal["ru", "en"]
DEFAULT_LANGUAGE: Language = "ru"
_LANGUAGES: tuple[str, ...] = get_args(Language)
_MAX_RANGES = 32  # a longer header is read no further (what matters comes first in practice)


def _is_language(value: object) -> TypeGuard[Language]:
    return isinstance(value, str) and value in _LANGUAGES


@dataclass(frozen=True, slots=True, kw_only=True)
class Msg:
    """A text shown to a client, in Russian (``ru``) and English (``en``); both are required.

    Russian is what most clients read: natural Russian, the polite "вы" in lower case mid-sentence.
    For a text with values in it, build both with f-strings at the raise site.
    """

    ru: str
    en: str

    def __post_init__(self) -> None:
        for language in _LANGUAGES:
            value = getattr(self, language)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"Msg.{language} must be a non-empty string, got {value!r}")

    def text(self, language: Language) -> str:
        """The text in ``language``."""
        return self.en if language == "en" else self.ru

    def __str__(self) -> str:
        # Exceptions and logs stay in English.
        return self.en


class UntranslatedText(UserWarning):
    """A bare ``str`` was about to be shown to a client instead of a :class:`Msg`.

    It is shown as it is (in either language) and this warning is raised; the test suite turns
    it into an error (``filterwarnings`` in the workspace's pytest settings).
    """


def text_in(text: Msg | str, language: Language) -> str:
    """``text`` in ``language``; a bare ``str`` (not translated) as it is, with a warning."""
    if isinstance(text, Msg):
        return text.text(language)
    warnings.warn(
        f"untranslated text shown to a client: {text!r}; use Msg(ru=..., en=...)",
        UntranslatedText,
        stacklevel=3,
    )
    return text


def preferred_language(accept_language: str | None) -> Language | None:
    """The language ``Accept-Language`` prefers among Russian and English, if it names either.

    ``en``, ``en-US``, ... are English, ``ru``, ``ru-RU``, ... Russian; the highest ``q`` wins
    (default 1, ``q=0`` excludes), ties go to the range listed first. ``None`` when the header
    is absent, empty, malformed or names neither language.
    """
    if not accept_language:
        return None
    best: Language | None = None
    best_q = 0.0
    for item in accept_language.split(",")[:_MAX_RANGES]:
        tag, *params = item.split(";")
        primary = tag.strip().lower().split("-", 1)[0]
        if not _is_language(primary):
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        if not math.isfinite(q) or q <= 0 or q > 1:
            continue
        if q > best_q:
            best, best_q = primary, q
    return best


def user_language(connection: HTTPConnection) -> Language | None:
    """The ``lang`` claim of the principal already verified for this request, if any.

    Only reads ``request.state.principal`` (set by ``servicekit.security.deps``); never verifies
    a token itself.
    """
    principal = getattr(connection.state, "principal", None)
    claims = getattr(principal, "claims", None)
    if not isinstance(claims, Mapping):
        return None
    lang = claims.get("lang")
    return lang if _is_language(lang) else None


def request_language(connection: HTTPConnection) -> Language:
    """The language to answer ``connection`` in: ``Accept-Language``, then the user's setting
    (the token's ``lang`` claim), then Russian. See the module docstring for why in this order."""
    return (
        preferred_language(connection.headers.get("accept-language"))
        or user_language(connection)
        or DEFAULT_LANGUAGE
    )


# The request being answered, for texts rendered outside an exception handler (a response
# model's Text fields). The scope only: a connection object is made when a text is rendered.
_answering: ContextVar[Scope | None] = ContextVar("servicekit_answering", default=None)


@contextmanager
def answering(scope: Scope) -> Iterator[None]:
    """Within this block, :func:`current_language` is the language of the request ``scope``."""
    token = _answering.set(scope)
    try:
        yield
    finally:
        _answering.reset(token)


def current_language() -> Language:
    """The language of the request being answered (Russian outside a request)."""
    scope = _answering.get()
    return DEFAULT_LANGUAGE if scope is None else request_language(HTTPConnection(scope))


def _in_current_language(text: Msg | str) -> str:
    return text_in(text, current_language())


#: A client-facing text in a response model: the route gives a ``Msg``, the client reads it in
#: the request's language (a bare ``str`` is shown as it is, with :class:`UntranslatedText`).
Text = Annotated[
    Msg | str,
    PlainSerializer(_in_current_language, return_type=str),
    WithJsonSchema({"type": "string"}),
]
