"""The inspection pages: what a person opens in a browser at ``http://127.0.0.1:<port>/_sandbox/``.

Each fake renders one small HTML page (and the SMTP sink one page per mail) from the Jinja2
templates in ``sandbox/templates/``, server-side, with autoescaping on: chat texts, mail bodies and
payment descriptions come from the services under test and are shown as text, never as markup. An
HTML mail is shown in an ``<iframe sandbox srcdoc>`` (no scripts, no same origin), and every page
carries a Content-Security-Policy that allows no script at all. Pages refresh themselves every few
seconds (``?refresh=0`` stops it); they are not part of the JSON API (hidden from its OpenAPI).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

PAGE_PATH = "/_sandbox/"
"""Where each fake's page lives (the JSON API is under the same prefix)."""

DEFAULT_REFRESH_SECONDS = 5
"""How often a page reloads itself unless ``?refresh=`` says otherwise (0: never)."""

MAX_ROWS = 200
"""A list on a page shows at most this many of the newest items (the JSON API has them all)."""

T = TypeVar("T")

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'self'"
)
"""No script runs on an inspection page, not even one a rendered mail or chat text smuggled in."""


@dataclass(frozen=True)
class Newest(Generic[T]):
    """The newest items of a list, newest first, and how many there are in all."""

    items: list[T]
    total: int

    @property
    def hidden(self) -> int:
        """How many older items the page leaves out."""
        return self.total - len(self.items)


def newest_first(items: Sequence[T], limit: int = MAX_ROWS) -> Newest[T]:
    """The last ``limit`` of ``items`` (oldest first), newest first."""
    return Newest(list(reversed(items[-limit:])) if limit else [], len(items))


def page_environment() -> Environment:
    """A Jinja2 environment over the package's templates, escaping every ``.html`` template."""
    env = Environment(
        loader=PackageLoader("sandbox", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["unix_time"] = _unix_time
    env.filters["moment"] = _moment
    return env


def _unix_time(value: float | None) -> str:
    if value is None:
        return ""
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _moment(value: datetime | str | None) -> str:
    """A datetime (or an ISO/RFC 3339 string) as ``YYYY-MM-DD HH:MM:SS`` in UTC."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return _moment(moment)
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def refresh_seconds(request: Request) -> int:
    """``?refresh=N`` (0: no auto-refresh), else :data:`DEFAULT_REFRESH_SECONDS`."""
    raw = request.query_params.get("refresh")
    if raw is None:
        return DEFAULT_REFRESH_SECONDS
    try:
        return max(int(raw), 0)
    except ValueError:
        return DEFAULT_REFRESH_SECONDS


def render_page(
    request: Request,
    template: str,
    *,
    title: str,
    refresh: bool = True,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render ``template`` for ``request``'s fake (its environment lives in the app's state)."""
    env: Environment = request.app.state.sandbox.pages
    seconds = refresh_seconds(request) if refresh else 0
    html = env.get_template(template).render(
        fake=request.app.state.sandbox.name,
        title=title,
        refresh=seconds,
        page_url=PAGE_PATH,
        **context,
    )
    return HTMLResponse(
        html,
        status_code=status_code,
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )
