"""The error answers each operation documents: problem+json, derived once for every route.

An operation's error responses in ``/openapi.json`` come from three places, so a route gets
most of them without saying anything:

- its **dependencies**: a dependency marked with :func:`raises` (servicekit's
  ``CurrentPrincipal`` and ``require_roles`` are: 401, 403, 503 ``auth_unavailable``;
  ``query_model``: 422) adds its statuses to every route that depends on it, directly or
  through another dependency;
- **request validation**: a route FastAPI validates (any parameter or body) can answer 422;
- its **own declaration**, for what its handler raises itself (a 404 of its resource, a 409
  of its rules): ``responses=problem_responses(NotFound, Conflict)`` in the route decorator
  (FastAPI's own ``responses={409: {"description": "..."}}`` works the same).

:func:`install_problem_openapi` (called by ``create_app``) writes each of those statuses as
``application/problem+json`` with the ``Problem`` schema (``detail`` a string, field errors in
``errors``) and removes FastAPI's ``HTTPValidationError``, which the wire never carries.
``tests/contract/test_openapi.py`` compares what is declared with what the code can raise
(:mod:`servicekit.http.problem_audit`): a problem raised and not declared fails it, and so does
one declared and never raised.
"""

from __future__ import annotations

import http
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import BaseRoute

from servicekit.http.i18n import Msg
from servicekit.http.problems import PROBLEM_JSON, Problem

__all__ = [
    "FieldError",
    "ProblemDocument",
    "declared_problems",
    "install_problem_openapi",
    "problem_responses",
    "raises",
    "validates_request",
]

F = TypeVar("F", bound=Callable[..., Any])
Cause = type[Problem] | int

#: Where :func:`raises` keeps a dependency's statuses.
MARKER = "__problem_statuses__"

_DESCRIPTIONS: dict[int, str] = {
    400: "Bad request (`bad_request` or a more specific code)",
    401: "Missing or invalid access token (`unauthorized`, `invalid_token`); "
    "`WWW-Authenticate: Bearer`",
    403: "The caller may not do this (`forbidden` or a more specific code)",
    404: "Not found, or not the caller's (`not_found`): existence never leaks",
    409: "Conflicts with the current state; `code` says which rule",
    412: "`If-Match` names another version (`precondition_failed`)",
    422: "Invalid request (`validation_failed` with field errors in `errors`, or a more "
    "specific code)",
    429: "Too many requests (`rate_limited`); `Retry-After` says when to try again",
    503: "Temporarily unavailable (a dependency is out of reach); `Retry-After` when known",
}

_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
    429: {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
    503: {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
}


class FieldError(BaseModel):
    """One field's error in a 422: where (``["body", "email"]``), what, and its kind."""

    loc: list[str] = Field(description='Where: ["body" | "query" | "path" | "header", ...]')
    msg: str = Field(description="What is wrong, in the request's language")
    type: str = Field(description="Stable kind of error (pydantic's error types)")


class ProblemDocument(BaseModel):
    """An RFC 9457 problem, as every service answers errors."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(default="about:blank", description="A URI for the kind, or about:blank")
    title: str = Field(description="Short summary, in the request's language")
    status: int = Field(description="The HTTP status")
    detail: str | None = Field(default=None, description="What happened, in the request's language")
    code: str = Field(description="Stable snake_case code clients branch on")
    correlation_id: str | None = Field(default=None, description="Also in X-Correlation-ID")
    errors: list[FieldError] | None = Field(default=None, description="Field errors (422)")


def _status_of(cause: Cause) -> int:
    if isinstance(cause, int):
        return cause
    if isinstance(cause, type) and issubclass(cause, Problem):
        return int(cause.status)
    raise TypeError(f"{cause!r} is neither a Problem class nor a status")


def _describe(cause: Cause) -> str:
    status = _status_of(cause)
    if isinstance(cause, type) and cause.code not in ("bad_request",):
        title = cause.title.en if isinstance(cause.title, Msg) else str(cause.title)
        generic = _DESCRIPTIONS.get(status)
        if generic is not None and f"`{cause.code}`" in generic:
            return generic
        return f"{title} (`{cause.code}`)"
    return _DESCRIPTIONS.get(status) or http.HTTPStatus(status).phrase


def raises(*causes: Cause) -> Callable[[F], F]:
    """Mark a dependency with the problems it can answer with (Problem classes or statuses).

    Every route depending on it declares them in the OpenAPI, e.g.::

        @raises(NotFound)
        async def current_account(principal: CurrentPrincipal, uow: UowDep) -> User: ...
    """
    statuses = {_status_of(c): _describe(c) for c in causes}

    def mark(func: F) -> F:
        merged = {**getattr(func, MARKER, {}), **statuses}
        setattr(func, MARKER, merged)
        return func

    return mark


def problem_responses(
    *causes: Cause, descriptions: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """A route decorator's ``responses=`` for the problems its handler raises itself::

        @router.post("/{id}/cancel", responses=problem_responses(NotFound, Conflict))

    ``descriptions`` overrides the text of a status (say, which ``code`` values a 409 has).
    """
    out: dict[int | str, dict[str, Any]] = {}
    for cause in causes:
        status = _status_of(cause)
        out[status] = {"description": _describe(cause)}
    for status, text in (descriptions or {}).items():
        out[status] = {"description": text}
    return out


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def validates_request(dependant: Dependant) -> bool:
    """Whether FastAPI validates something of the request for this route (so 422 is possible)."""
    return bool(get_flat_params(dependant)) or any(d.body_params for d in _dependants(dependant))


def _marks(call: Any) -> dict[int, str]:
    found = getattr(call, MARKER, None)
    if found is None and call is not None and not callable(getattr(call, "__code__", None)):
        found = getattr(type(call), MARKER, None)
    return dict(found or {})


def declared_problems(route: RouteContext | APIRoute) -> dict[int, str]:
    """The error statuses ``route`` documents, with their descriptions (see module docstring)."""
    declared: dict[int, str] = {}
    if validates_request(route.dependant):
        declared[422] = _DESCRIPTIONS[422]
    for dependant in _dependants(route.dependant):
        for status, text in _marks(dependant.call).items():
            declared.setdefault(status, text)
    for key, response in (route.responses or {}).items():
        if not str(key).isdigit() or int(key) < 400:
            continue
        own = response.get("description") if isinstance(response, Mapping) else None
        declared[int(key)] = str(own or declared.get(int(key)) or _describe(int(key)))
    return dict(sorted(declared.items()))


def _api_routes(routes: list[BaseRoute]) -> Iterator[RouteContext]:
    for context in iter_route_contexts(routes):
        if isinstance(context.original_route, APIRoute) and context.include_in_schema:
            yield context


def _document(doc: dict[str, Any], routes: list[BaseRoute]) -> dict[str, Any]:
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for route in _api_routes(routes):
        declared = declared_problems(route)
        for method in sorted(route.methods or ()):
            operation = doc.get("paths", {}).get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for key in [k for k in responses if k.isdigit() and int(k) >= 400]:
                if int(key) not in declared:
                    del responses[key]  # FastAPI's own 422, say, for a route that has none
            for status, description in declared.items():
                answer: dict[str, Any] = {
                    "description": description,
                    "content": {PROBLEM_JSON: {"schema": problem_ref}},
                }
                if status in _HEADERS:
                    answer["headers"] = _HEADERS[status]
                responses[str(status)] = answer
    schemas: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    problem = ProblemDocument.model_json_schema(ref_template="#/components/schemas/{model}")
    for prop in problem["properties"].values():
        # An absent member is left out of the document, never sent as null.
        options = prop.pop("anyOf", None)
        if options is not None:
            prop.update(next(o for o in options if o.get("type") != "null"))
            prop.pop("default", None)
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    return doc


def install_problem_openapi(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI document every route's error answers as problem+json."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(generate(), app.routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
