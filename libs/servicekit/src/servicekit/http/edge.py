"""The services' own edge, whatever stands in front of them: security headers, a request-size
limit and an access log that carries no personal data. Applied by
:class:`servicekit.http.app.CorrelationAndMetricsMiddleware` to every request.

* Headers: ``X-Content-Type-Options: nosniff`` on every answer; ``Cache-Control: no-store`` on
  every ``/api/`` answer unless its route set a ``Cache-Control`` of its own (the explicit,
  public, cacheable ones); ``Content-Security-Policy: frame-ancestors 'none'`` and
  ``X-Frame-Options: DENY`` on HTML (``/docs``, notify's unsubscribe page). No ``server``
  banner: uvicorn runs with ``--no-server-header``.
* Size: a body beyond ``MAX_REQUEST_BYTES`` is 413 problem+json (``payload_too_large``),
  refused from its ``Content-Length`` or while it streams in.
* Access log: one line per request on ``servicekit.access`` with the method, the status, the
  time taken and the route's path template, where a path parameter shows its value only when
  it is an id, a date or a plain word; anything else (a capability token such as notify's
  unsubscribe token) stays ``{name}``. Never the query string.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope

from servicekit.http.i18n import Msg
from servicekit.http.problems import Problem

access_logger = logging.getLogger("servicekit.access")

_NOSNIFF: Final = (b"x-content-type-options", b"nosniff")
_NO_STORE: Final = (b"cache-control", b"no-store")
_NO_FRAMING: Final = (
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
)


def secure_headers(scope: Scope, headers: list[tuple[bytes, bytes]]) -> None:
    """Add the security headers an answer lacks (``headers`` is the raw ASGI list)."""
    present = {name.lower() for name, _ in headers}
    if b"x-content-type-options" not in present:
        headers.append(_NOSNIFF)
    if b"cache-control" not in present and scope["path"].startswith("/api/"):
        headers.append(_NO_STORE)
    content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
    if content_type.startswith(b"text/html"):
        headers.extend(h for h in _NO_FRAMING if h[0] not in present)


class BodyTooLarge(HTTPException):
    """A request body beyond the service's limit (answered 413 problem+json)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")
        self.limit = limit


def too_large(limit: int) -> Problem:
    """The 413 answer."""
    return Problem(
        Msg(
            ru=f"Тело запроса больше {limit} байт.",
            en=f"The request body is larger than {limit} bytes.",
        ),
        status=413,
        code="payload_too_large",
        title=Msg(ru="Слишком большой запрос", en="Payload too large"),
    )


def declared_too_large(scope: Scope, limit: int) -> bool:
    """Whether the request's ``Content-Length`` already exceeds ``limit``."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value) > limit
            except ValueError:
                return False
    return False


def limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises :class:`BodyTooLarge` once more than ``limit`` bytes came in
    (a chunked body has no length to check in advance)."""
    seen = 0

    async def receive_limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return receive_limited


_PARAMETER = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_SHOWN = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"  # an id
    r"|\d{4}-\d{2}-\d{2}"  # a date
    r"|[a-z_]{1,40}"  # a word: a role, a purpose
)


def loggable_path(scope: Scope) -> str:
    """The request's path with only harmless parameter values in it (see the module)."""
    template = getattr(scope.get("route"), "path", None)
    if not isinstance(template, str):
        return "unmatched"
    params: dict[str, Any] = scope.get("path_params") or {}
    # The route's template may lack the prefix it was mounted under: its segments are the
    # path's last ones, and what comes before them is the (literal) prefix.
    kept = template.strip("/").split("/")
    path = scope["path"].strip("/").split("/")
    if len(path) < len(kept):
        return "unmatched"
    prefix = path[: len(path) - len(kept)]
    shown = []
    for segment in kept:
        match = _PARAMETER.fullmatch(segment)
        if match is None:
            shown.append(segment)
            continue
        value = params.get(match.group(1))
        text = str(value) if value is not None else ""
        shown.append(text if _SHOWN.fullmatch(text) else match.group(0))
    return "/" + "/".join(prefix + shown)


def route_template(scope: Scope) -> str | None:
    """The matched route's template with the literal prefix it was mounted under
    (``/api/booking/appointments/{appointment_id}``), or ``None`` when nothing matched."""
    template = getattr(scope.get("route"), "path", None)
    if not isinstance(template, str):
        return None
    kept = template.strip("/").split("/")
    path = scope["path"].strip("/").split("/")
    if len(path) < len(kept):
        return None
    return "/" + "/".join(path[: len(path) - len(kept)] + kept)


def log_access(scope: Scope, status: int, seconds: float) -> None:
    """One access-log line for a finished request."""
    if not access_logger.isEnabledFor(logging.INFO):
        return
    method = scope.get("method", "?")
    path = loggable_path(scope)
    access_logger.info(
        "%s %s %d",
        method,
        path,
        status,
        extra={
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
        },
    )
