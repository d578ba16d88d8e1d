"""RFC 9457 ``application/problem+json`` errors with stable ``code`` values.

Every service raises :class:`Problem` (or a subclass) for an error a client should see; the
handlers installed by :func:`install_problem_handlers` turn it, FastAPI's validation errors,
Starlette's HTTP errors and any unexpected exception into one JSON shape::

    {"type": "about:blank", "title": "...", "status": 404, "detail": "...",
     "code": "not_found", "correlation_id": "..."}

Validation errors (422) also carry ``errors``: ``[{"loc": [...], "msg": "...", "type": "..."}]``.
A stack trace never reaches the client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from servicekit.correlation import current_correlation_id

PROBLEM_JSON = "application/problem+json"
T = TypeVar("T")
logger = logging.getLogger("servicekit.http")

_STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class Problem(Exception):
    """An error answered as problem+json. ``code`` is stable snake_case clients may branch on."""

    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or title or self.title)
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        if title is not None:
            self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.errors = list(errors) if errors is not None else None
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        """The problem document, with the current correlation id."""
        doc: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "code": self.code,
        }
        if self.detail:
            doc["detail"] = self.detail
        if self.errors is not None:
            doc["errors"] = self.errors
        doc.update(self.extra)
        doc["correlation_id"] = current_correlation_id()
        return doc

    def response(self) -> JSONResponse:
        """Render as a ``JSONResponse`` with the problem media type."""
        return JSONResponse(
            self.body(), status_code=self.status, headers=self.headers, media_type=PROBLEM_JSON
        )


class Unauthorized(Problem):
    """401: missing, malformed or invalid credentials."""

    status = 401
    code = "unauthorized"
    title = "Authentication required"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        headers = {"WWW-Authenticate": "Bearer", **dict(kwargs.pop("headers", None) or {})}
        super().__init__(detail, headers=headers, **kwargs)


class Forbidden(Problem):
    """403: authenticated, but the role does not allow this."""

    status = 403
    code = "forbidden"
    title = "Not allowed"


class NotFound(Problem):
    """404: absent, or owned by someone else (existence never leaks)."""

    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(Problem):
    """409: the request conflicts with the current state."""

    status = 409
    code = "conflict"
    title = "Conflict"


def internal_error() -> Problem:
    """The 500 answer: no detail of what went wrong reaches the client (the log has it)."""
    return Problem(
        "An unexpected error occurred; it has been logged.",
        status=500,
        code="internal_error",
        title="Internal error",
    )


_UNAVAILABLE_SQLSTATES = {"53300", "57P03", "08000", "08001", "08003", "08006"}
# too_many_connections, cannot_connect_now, connection_exception family


def is_unavailable(exc: BaseException) -> bool:
    """Whether an error means a dependency (the database) is out of reach for now, not a bug."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionError | TimeoutError):
            return True
        if getattr(seen, "sqlstate", None) in _UNAVAILABLE_SQLSTATES:
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def service_unavailable() -> Problem:
    """The 503 answer when the database is out of reach: try again shortly."""
    return Problem(
        "The service is briefly unavailable; try again in a few seconds.",
        status=503,
        code="unavailable",
        title="Temporarily unavailable",
        headers={"Retry-After": "5"},
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for err in exc.errors():
        out.append(
            {
                "loc": [str(p) for p in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    return out


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` as problem+json."""

    async def on_problem(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return exc.response()

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return Problem(
            "The request does not match the expected shape.",
            status=422,
            code="validation_failed",
            title="Invalid request",
            errors=_validation_errors(exc),
        ).response()

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else None
        return Problem(
            detail,
            status=exc.status_code,
            code=code,
            title=code.replace("_", " ").capitalize(),
            headers=exc.headers,
        ).response()

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        return internal_error().response()

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


async def get_or_404(session: Any, model: type[T], key: Any, detail: str = "Not found.") -> T:
    """``session.get(model, key)``, or :class:`NotFound` with ``detail`` when there is no row."""
    row = await session.get(model, key)
    if row is None:
        raise NotFound(detail)
    return cast(T, row)
