"""RFC 9457 ``application/problem+json`` errors with stable ``code`` values.

Every service raises :class:`Problem` (or a subclass) for an error a client should see; the
handlers installed by :func:`install_problem_handlers` turn it, FastAPI's validation errors,
Starlette's HTTP errors and any unexpected exception into one JSON shape::

    {"type": "about:blank", "title": "...", "status": 404, "detail": "...",
     "code": "not_found", "correlation_id": "..."}

Validation errors (422) also carry ``errors``: ``[{"loc": [...], "msg": "...", "type": "..."}]``.
A stack trace never reaches the client.

``title`` and ``detail`` are :class:`~servicekit.http.i18n.Msg` texts, Russian by default and
English when the request prefers it (:func:`~servicekit.http.i18n.request_language`); ``code``,
``status`` and the other fields do not depend on the language. So does the ``msg`` of each
``errors`` entry: pydantic's messages through :mod:`servicekit.http.field_errors`, and an entry
built by hand when its ``msg`` is a ``Msg`` (a bare ``str`` there is a developer's note, shown
as it is).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from servicekit.correlation import current_correlation_id
from servicekit.db.faults import is_transient
from servicekit.errors import DomainError, ErrorTable
from servicekit.http.field_errors import field_message
from servicekit.http.i18n import (
    DEFAULT_LANGUAGE,
    Language,
    Msg,
    UntranslatedText,
    request_language,
    text_in,
)

__all__ = [
    "PROBLEM_JSON",
    "Conflict",
    "Forbidden",
    "Msg",
    "NotFound",
    "Problem",
    "ProblemMap",
    "Unauthorized",
    "get_or_404",
    "install_problem_handlers",
    "internal_error",
    "is_unavailable",
    "service_unavailable",
    "validation_failed",
]

PROBLEM_JSON = "application/problem+json"
T = TypeVar("T")
E = TypeVar("E", bound=DomainError)
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

# Titles of Starlette's HTTP errors (an unknown route, a wrong method, ...): the English is what
# these answers always said; the Russian detail stands beside Starlette's English one.
_STATUS_TEXTS: dict[int, tuple[Msg, str]] = {
    400: (Msg(ru="Неверный запрос", en="Bad request"), "Запрос составлен неверно."),
    401: (Msg(ru="Требуется вход", en="Unauthorized"), "Для этого запроса нужно войти."),
    403: (Msg(ru="Доступ запрещён", en="Forbidden"), "Этот запрос вам не разрешён."),
    404: (Msg(ru="Не найдено", en="Not found"), "По этому адресу ничего нет."),
    405: (
        Msg(ru="Метод не поддерживается", en="Method not allowed"),
        "Этот адрес не поддерживает такой метод запроса.",
    ),
    406: (
        Msg(ru="Формат ответа недоступен", en="Not acceptable"),
        "Ответ в запрошенном формате дать нельзя.",
    ),
    409: (Msg(ru="Конфликт", en="Conflict"), "Запрос противоречит текущему состоянию."),
    412: (
        Msg(ru="Условие запроса не выполнено", en="Precondition failed"),
        "Условие запроса не выполнено.",
    ),
    413: (Msg(ru="Слишком большой запрос", en="Payload too large"), "Запрос слишком большой."),
    415: (
        Msg(ru="Неподдерживаемый формат данных", en="Unsupported media type"),
        "Данные запроса в неподдерживаемом формате.",
    ),
    422: (Msg(ru="Неверный запрос", en="Validation failed"), "Запрос составлен неверно."),
    429: (
        Msg(ru="Слишком много запросов", en="Rate limited"),
        "Слишком много запросов; повторите попытку позже.",
    ),
    500: (Msg(ru="Внутренняя ошибка", en="Internal error"), "Произошла непредвиденная ошибка."),
    503: (
        Msg(ru="Сервис временно недоступен", en="Unavailable"),
        "Сервис временно недоступен; повторите попытку позже.",
    ),
}
_OTHER_HTTP_ERROR = (Msg(ru="Ошибка запроса", en="Http error"), "Запрос не выполнен.")

_INVALID_REQUEST = Msg(ru="Неверный запрос", en="Invalid request")
_DOES_NOT_MATCH = Msg(
    ru="Запрос не соответствует ожидаемому формату.",
    en="The request does not match the expected shape.",
)


_NOT_JSON = Msg(ru="Это не корректный JSON в UTF-8.", en="The body is not valid JSON in UTF-8.")


class Problem(Exception):
    """An error answered as problem+json. ``code`` is stable snake_case clients may branch on.

    ``detail`` and ``title`` are :class:`Msg` (Russian and English). A bare ``str`` is accepted
    only for a problem that never reaches a client (a consumer turning a refusal into an event);
    rendered, it would warn :class:`~servicekit.http.i18n.UntranslatedText`, and a test of
    servicekit rejects a string literal as a problem's text anywhere in the services.
    ``str(problem)`` is the English text, for logs.
    """

    status: int = 400
    code: str = "bad_request"
    title: Msg | str = Msg(ru="Неверный запрос", en="Bad request")

    def __init__(
        self,
        detail: Msg | str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
        title: Msg | str | None = None,
        headers: Mapping[str, str] | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(str(detail or title or self.title))
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

    def body(self, language: Language = DEFAULT_LANGUAGE) -> dict[str, Any]:
        """The problem document in ``language``, with the current correlation id."""
        doc: dict[str, Any] = {
            "type": "about:blank",
            "title": text_in(self.title, language),
            "status": self.status,
            "code": self.code,
        }
        if self.detail:
            doc["detail"] = text_in(self.detail, language)
        if self.errors is not None:
            doc["errors"] = [
                {**e, "msg": e["msg"].text(language)} if isinstance(e.get("msg"), Msg) else e
                for e in self.errors
            ]
        doc.update(self.extra)
        doc["correlation_id"] = current_correlation_id()
        return doc

    def response(self, language: Language = DEFAULT_LANGUAGE) -> JSONResponse:
        """Render as a ``JSONResponse`` in ``language`` with the problem media type."""
        return JSONResponse(
            self.body(language),
            status_code=self.status,
            headers=self.headers,
            media_type=PROBLEM_JSON,
        )


class Unauthorized(Problem):
    """401: missing, malformed or invalid credentials."""

    status = 401
    code = "unauthorized"
    title = Msg(ru="Требуется вход", en="Authentication required")

    def __init__(self, detail: Msg | str | None = None, **kwargs: Any) -> None:
        headers = {"WWW-Authenticate": "Bearer", **dict(kwargs.pop("headers", None) or {})}
        super().__init__(detail, headers=headers, **kwargs)


class Forbidden(Problem):
    """403: authenticated, but the role does not allow this."""

    status = 403
    code = "forbidden"
    title = Msg(ru="Недостаточно прав", en="Not allowed")


class NotFound(Problem):
    """404: absent, or owned by someone else (existence never leaks)."""

    status = 404
    code = "not_found"
    title = Msg(ru="Не найдено", en="Not found")


class Conflict(Problem):
    """409: the request conflicts with the current state."""

    status = 409
    code = "conflict"
    title = Msg(ru="Конфликт", en="Conflict")


def internal_error() -> Problem:
    """The 500 answer: no detail of what went wrong reaches the client (the log has it)."""
    return Problem(
        Msg(
            ru="Произошла непредвиденная ошибка; сведения о ней записаны в журнал.",
            en="An unexpected error occurred; it has been logged.",
        ),
        status=500,
        code="internal_error",
        title=Msg(ru="Внутренняя ошибка", en="Internal error"),
    )


def is_unavailable(exc: BaseException) -> bool:
    """Whether an error means a dependency (the database) is out of reach for now, not a bug
    (:func:`servicekit.db.faults.is_transient`: every way a connection can die)."""
    return is_transient(exc)


def service_unavailable() -> Problem:
    """The 503 answer when the database is out of reach: try again shortly."""
    return Problem(
        Msg(
            ru="Сервис ненадолго недоступен; повторите попытку через несколько секунд.",
            en="The service is briefly unavailable; try again in a few seconds.",
        ),
        status=503,
        code="unavailable",
        title=Msg(ru="Сервис временно недоступен", en="Temporarily unavailable"),
        headers={"Retry-After": "5"},
    )


def validation_failed(
    errors: Sequence[Mapping[str, Any]], detail: Msg = _DOES_NOT_MATCH, *, localized: bool = False
) -> Problem:
    """The 422 ``validation_failed`` answer, for rules pydantic cannot check.

    ``errors`` are entries like pydantic's: ``{"loc": ["body", "field"], "msg": Msg(...),
    "type": "value_error"}``. A client reads ``msg`` in their language, so it is a ``Msg``; a
    bare ``str`` warns :class:`~servicekit.http.i18n.UntranslatedText` (an error in the tests)
    unless ``localized`` says the messages are in the request's language already.
    """
    if not localized and any(isinstance(e.get("msg"), str) for e in errors):
        warnings.warn(
            "a validation_failed entry's msg is a bare str; give a Msg(ru=..., en=...)",
            UntranslatedText,
            stacklevel=2,
        )
    return Problem(
        detail, status=422, code="validation_failed", title=_INVALID_REQUEST, errors=errors
    )


def _validation_errors(exc: RequestValidationError, language: Language) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for err in exc.errors():
        out.append(
            {
                "loc": [str(p) for p in err.get("loc", ())],
                "msg": field_message(err, language),
                "type": str(err.get("type", "")),
            }
        )
    return out


class _Mapping(Generic[E]):
    def __init__(
        self,
        status: int,
        detail: Msg | Callable[[E], Msg],
        title: Msg | None,
        extra: Callable[[E], Mapping[str, Any]] | None,
        errors: Callable[[E], Sequence[Mapping[str, Any]]] | None,
        headers: Mapping[str, str] | Callable[[E], Mapping[str, str]] | None,
    ) -> None:
        self.status = status
        self.detail = detail
        self.title = title
        self.extra = extra
        self.errors = errors
        self.headers = headers

    def problem(self, exc: E) -> Problem:
        detail = self.detail(exc) if callable(self.detail) else self.detail
        title = self.title or _STATUS_TEXTS.get(self.status, _OTHER_HTTP_ERROR)[0]
        return Problem(
            detail,
            status=self.status,
            code=exc.code,
            title=title,
            headers=self.headers(exc) if callable(self.headers) else self.headers,
            errors=self.errors(exc) if self.errors is not None else None,
            extra=self.extra(exc) if self.extra is not None else None,
        )


class ProblemMap:
    """How a service's domain errors read over HTTP: one entry per error class, with the status
    and the bilingual text beside it (``api/errors.py`` of each service builds one)::

        PROBLEMS = ProblemMap()
        PROBLEMS.add(SlotTaken, 409, Msg(ru="Это время уже занято.", en="The time is taken."))
        PROBLEMS.add(BadTransition, 409, lambda e: Msg(ru=..., en=str(e)))

    The problem's ``code`` is the error's own; ``title`` defaults to the status's. A validation
    refusal maps to 422 with ``errors=`` giving the pydantic-shaped entries. ``headers`` are
    fixed, or read from the error (``lambda e: {"Retry-After": str(e.retry_after)}``).
    """

    def __init__(self) -> None:
        self._table: ErrorTable[_Mapping[Any]] = ErrorTable()

    def add(
        self,
        error: type[E],
        status: int,
        detail: Msg | Callable[[E], Msg],
        *,
        title: Msg | None = None,
        extra: Callable[[E], Mapping[str, Any]] | None = None,
        errors: Callable[[E], Sequence[Mapping[str, Any]]] | None = None,
        headers: Mapping[str, str] | Callable[[E], Mapping[str, str]] | None = None,
    ) -> None:
        self._table.add(error, _Mapping(status, detail, title, extra, errors, headers))

    def problem(self, exc: DomainError) -> Problem | None:
        """The problem ``exc`` reads as, or ``None`` when it is not mapped."""
        mapping = self._table.get(exc)
        return mapping.problem(exc) if mapping is not None else None

    def status_of(self, error: type[DomainError]) -> int | None:
        """The status ``error`` answers with (``None``: not mapped); the OpenAPI audit reads it."""
        mapping = self._table.get(error)
        return mapping.status if mapping is not None else None

    def missing(self, errors: Sequence[type[DomainError]]) -> list[type[DomainError]]:
        """The classes of ``errors`` this map does not cover."""
        return self._table.missing(errors)


def install_problem_handlers(app: FastAPI, problems: ProblemMap | None = None) -> None:
    """Answer every error of ``app`` as problem+json; ``problems`` maps the service's domain
    errors (an unmapped one is a bug: 500, logged)."""

    async def on_domain_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        problem = problems.problem(exc) if problems is not None else None
        if problem is None:
            logger.error("unmapped domain error %s", type(exc).__qualname__, exc_info=exc)
            problem = internal_error()
        return problem.response(request_language(request))

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return exc.response(request_language(request))

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        language = request_language(request)
        return validation_failed(_validation_errors(exc, language), localized=True).response(
            language
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError):
            # FastAPI could not read the body (not UTF-8, nested too deeply): the same 422 as
            # any other malformed JSON, not an undocumented 400.
            language = request_language(request)
            errors = [{"loc": ["body"], "msg": _NOT_JSON, "type": "json_invalid"}]
            return validation_failed(errors).response(language)
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        title, detail_ru = _STATUS_TEXTS.get(exc.status_code, _OTHER_HTTP_ERROR)
        detail = (
            Msg(ru=detail_ru, en=exc.detail)
            if isinstance(exc.detail, str) and exc.detail.strip()
            else None
        )
        return Problem(
            detail,
            status=exc.status_code,
            code=code,
            title=title,
            headers=exc.headers,
        ).response(request_language(request))

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_unavailable(exc):
            logger.warning("dependency unavailable: %r", exc)
            return service_unavailable().response(request_language(request))
        logger.exception("unhandled error", exc_info=exc)
        return internal_error().response(request_language(request))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


_NOT_FOUND = Msg(ru="Не найдено.", en="Not found.")


async def get_or_404(session: Any, model: type[T], key: Any, detail: Msg = _NOT_FOUND) -> T:
    """``session.get(model, key)``, or :class:`NotFound` with ``detail`` when there is no row."""
    row = await session.get(model, key)
    if row is None:
        raise NotFound(detail)
    return cast(T, row)
