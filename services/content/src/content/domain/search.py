"""How a search query becomes a PostgreSQL ``tsquery``, and how its highlights are made safe.

PostgreSQL's ``russian`` configuration (Snowball) reduces word forms to one stem
("тревожность", "тревожности" → "тревожн"), but not the words whose stem itself changes: the
fleeting vowel of "сон" / "сна", "день" / "дня", "любовь" / "любви", and "человек" / "люди".
For those the query names every form (:data:`WORD_FAMILIES`), so "сон" finds "сна" and "сна"
finds "сон". Each query word is one group of alternatives; the groups are all required.
"""

from __future__ import annotations

import html
import re

#: Russian words whose forms the stemmer cannot join (fleeting vowels, suppletive plurals),
#: the vocabulary a practice's articles use most. Each tuple is one word's forms.
WORD_FAMILIES: tuple[tuple[str, ...], ...] = (
    ("сон", "сна", "сну", "сном", "сне", "сны", "снов", "снам", "снами", "снах"),
    ("день", "дня", "дню", "днем", "дне", "дни", "дней", "дням", "днями", "днях"),
    ("любовь", "любви", "любовью"),
    ("ложь", "лжи", "ложью"),
    ("отец", "отца", "отцу", "отцом", "отце", "отцы", "отцов", "отцам", "отцами", "отцах"),
    (
        "ребенок",
        "ребенка",
        "ребенку",
        "ребенком",
        "ребенке",
        "дети",
        "детей",
        "детям",
        "детьми",
        "детях",
    ),
    (
        "человек",
        "человека",
        "человеку",
        "человеком",
        "человеке",
        "люди",
        "людей",
        "людям",
        "людьми",
        "людях",
    ),
    ("угол", "угла", "углу", "углом", "углы", "углов"),
    ("рот", "рта", "рту", "ртом"),
    ("сердце", "сердца", "сердец"),
    ("сестра", "сестры", "сестер"),
    ("мать", "матери", "матерью", "матерей"),
    ("дочь", "дочери", "дочерью", "дочерей"),
)
_FAMILY_OF: dict[str, tuple[str, ...]] = {form: f for f in WORD_FAMILIES for form in f}

#: At most this many words of a query are searched for.
MAX_WORDS = 8
_WORD = re.compile(r"[^\W_]+", re.UNICODE)

#: Markers ``ts_headline`` puts around a match; the fragment is HTML-escaped and the markers
#: become ``<mark>``: an article's own text never reaches the page unescaped.
START, STOP = "\x02", "\x03"


def words(query: str) -> list[str]:
    """The words of a query (letters and digits), lower-cased, ё as е, each once."""
    found: dict[str, None] = {}
    for w in _WORD.findall(query.casefold().replace("ё", "е")):
        found.setdefault(w, None)
    return list(found)[:MAX_WORDS]


def tsquery_text(query: str) -> str | None:
    """The ``to_tsquery`` text of a query: every word (or any of its forms) required; ``None``
    when the query has no word. Only letters and digits reach the text, so it always parses."""
    groups = []
    for w in words(query):
        forms = _FAMILY_OF.get(w, (w,))
        groups.append("(" + " | ".join(forms) + ")")
    return " & ".join(groups) or None


def safe_headline(fragment: str) -> str:
    """A ``ts_headline`` fragment as HTML: the text escaped, the matches in ``<mark>``."""
    escaped = html.escape(fragment, quote=False)
    return escaped.replace(START, "<mark>").replace(STOP, "</mark>")
