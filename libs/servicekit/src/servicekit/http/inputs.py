"""Field types every request model uses, so that no input reaches PostgreSQL, Python's datetime
arithmetic or a JSON parser in a shape they refuse: the client gets a 422, never a 500.

* :data:`SafeText` — a string without NUL (PostgreSQL refuses U+0000 in ``text`` and ``jsonb``)
  and without lone surrogates (they cannot be encoded as UTF-8). Give it the column's length:
  ``name: SafeText = Field(min_length=1, max_length=200)``. The rule is a documented ``pattern``
  (:data:`NO_NUL`), so generated clients and the OpenAPI show it.
* :data:`Instant` — an aware datetime between 1900 and 2200, normalised to UTC. Year 1 or 9999
  with an offset overflows on conversion, and any arithmetic near the ends overflows too.
* :data:`Kopecks` — an amount of money in kopecks, ``0 ≤ amount ≤`` :data:`MAX_KOPECKS`
  (well inside PostgreSQL's ``bigint``).
* :class:`EmailSearch` — the body of a look-up by address (``POST …/search``): an address never
  goes into a URL, where access logs and browser histories keep it.
* :func:`json_document` — a JSON body a route parses itself (webhooks), with a bounded depth: a
  deeply nested document is refused before anything recurses over it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from pydantic import AfterValidator, AwareDatetime, BaseModel, EmailStr, Field, StringConstraints

from servicekit.http.i18n import Msg

NO_NUL: Final = r"^[^\x00]*$"
"""The pattern of :data:`SafeText`: anything but U+0000."""

SafeText = Annotated[str, StringConstraints(pattern=NO_NUL)]
"""A string PostgreSQL accepts: no NUL, no lone surrogate. Add the column's ``max_length``."""

NUL_REFUSED: Final = Msg(
    ru="Текст не может содержать нулевой символ (U+0000).",
    en="Text cannot contain the NUL character (U+0000).",
)

EARLIEST: Final = datetime(1900, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2200, 1, 1, tzinfo=UTC)
_OUT_OF_RANGE = Msg(
    ru="Дата должна быть между 1900 и 2199 годом.",
    en="The date must be between the years 1900 and 2199.",
)


def _bounded_utc(value: datetime) -> datetime:
    # The year is checked before any conversion: converting year 1 or 9999 with an offset is
    # what overflows.
    if not EARLIEST.year <= value.year < LATEST.year:
        raise ValueError(_OUT_OF_RANGE)
    moment = value.astimezone(UTC)
    if not EARLIEST <= moment < LATEST:
        raise ValueError(_OUT_OF_RANGE)
    return moment


Instant = Annotated[
    AwareDatetime,
    AfterValidator(_bounded_utc),
    Field(json_schema_extra={"x-earliest": EARLIEST.isoformat(), "x-latest": LATEST.isoformat()}),
]
"""An aware datetime in [1900, 2200), normalised to UTC. Naive datetimes are refused."""

MAX_KOPECKS: Final = 100_000_000_000
"""One billion roubles: more than any sum a practice takes, far inside ``bigint``."""

Kopecks = Annotated[int, Field(ge=0, le=MAX_KOPECKS)]
"""A non-negative amount of money in kopecks, bounded by :data:`MAX_KOPECKS`."""


class EmailSearch(BaseModel):
    """Whom to look for, by address (any case)."""

    email: EmailStr = Field(description="any case")


MAX_JSON_DEPTH: Final = 32


def json_document(raw: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a JSON body a route reads itself; ``ValueError`` when it is not JSON, or when
    arrays and objects nest deeper than ``max_depth`` (Telegram's and YooKassa's bodies nest a
    handful of levels)."""
    try:
        document = json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    level: list[Any] = [document]
    for _ in range(max_depth):
        deeper: list[Any] = []
        for node in level:
            if isinstance(node, dict):
                deeper.extend(node.values())
            elif isinstance(node, list):
                deeper.extend(node)
        if not deeper:
            return document
        level = deeper
    if any(isinstance(node, dict | list) for node in level):
        raise ValueError("JSON nested too deeply")
    return document
