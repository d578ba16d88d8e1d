"""The OpenAPI audit finds a route that raises a problem it does not declare, however the problem
is reached (directly, through a helper, a method, a factory, a dependency), and a route that
declares one it never raises; what a handler catches does not count."""

from __future__ import annotations

import inspect
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import iter_route_contexts
from servicekit.errors import DomainError
from servicekit.http.problem_audit import audit_responses, raisable_problems
from servicekit.http.problems import (
    PROBLEM_JSON,
    Conflict,
    Msg,
    NotFound,
    Problem,
    ProblemMap,
    install_problem_handlers,
    validation_failed,
)
from servicekit.http.responses import install_problem_openapi, problem_responses, raises

_GONE = Problem(Msg(ru="Больше нет.", en="Gone."), status=410, code="gone")


class Shelf:
    """A repository a route reaches through a parameter, as routes reach ``uow``."""

    def take(self, item_id: uuid.UUID) -> str:
        if item_id.int == 0:
            raise NotFound(Msg(ru="Нет такого.", en="No such item."))
        return str(item_id)


def refused(code: str) -> Conflict:
    """A factory: the problem is raised by its caller."""
    return Conflict(Msg(ru="Нельзя.", en="Refused."), code=code)


async def get_shelf() -> Shelf:
    return Shelf()


async def unmarked_gate(item_id: uuid.UUID) -> uuid.UUID:
    """A dependency that raises and does not say so."""
    if item_id.int == 1:
        raise _GONE
    return item_id


@raises(410)
async def marked_gate(item_id: uuid.UUID) -> uuid.UUID:
    if item_id.int == 1:
        raise _GONE
    return item_id


ShelfDep = Annotated[Shelf, Depends(get_shelf)]


def app_with(router: APIRouter) -> FastAPI:
    app = FastAPI()
    app.include_router(router, prefix="/api/test")
    install_problem_handlers(app)
    install_problem_openapi(app)
    return app


def line_of(func: object, text: str) -> int:
    lines, start = inspect.getsourcelines(func)  # type: ignore[arg-type]
    return start + next(i for i, line in enumerate(lines) if text in line)


def honest_router() -> APIRouter:
    router = APIRouter()

    @router.get("/items/{item_id}", responses=problem_responses(NotFound))
    async def read_item(item_id: uuid.UUID, shelf: ShelfDep) -> dict[str, str]:
        return {"id": shelf.take(item_id)}

    @router.post("/items/{item_id}/hold", responses=problem_responses(NotFound, Conflict))
    async def hold(item_id: uuid.UUID, shelf: ShelfDep) -> dict[str, str]:
        if item_id.int == 2:
            raise refused("held")
        return {"id": shelf.take(item_id)}

    @router.get("/gated/{item_id}")
    async def gated(item_id: Annotated[uuid.UUID, Depends(marked_gate)]) -> dict[str, str]:
        return {"id": str(item_id)}

    @router.get("/forgiving/{item_id}")
    async def forgiving(item_id: uuid.UUID, shelf: ShelfDep) -> dict[str, str]:
        try:
            return {"id": shelf.take(item_id)}
        except NotFound:
            return {"id": ""}

    @router.get("/plain")
    async def plain() -> dict[str, str]:
        return {}

    return router


def test_an_honest_app_passes_and_documents_problem_json() -> None:
    app = app_with(honest_router())
    assert audit_responses(app) == []
    doc = app.openapi()
    read = doc["paths"]["/api/test/items/{item_id}"]["get"]["responses"]
    assert set(read) == {"200", "404", "422"}
    assert read["422"]["content"] == {
        PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
    assert set(doc["paths"]["/api/test/items/{item_id}/hold"]["post"]["responses"]) == {
        "200",
        "404",
        "409",
        "422",
    }
    assert "410" in doc["paths"]["/api/test/gated/{item_id}"]["get"]["responses"]
    assert set(doc["paths"]["/api/test/forgiving/{item_id}"]["get"]["responses"]) == {
        "200",
        "422",
    }
    assert set(doc["paths"]["/api/test/plain"]["get"]["responses"]) == {"200"}
    assert "HTTPValidationError" not in doc["components"]["schemas"]


def test_a_route_raising_an_undeclared_problem_fails_the_audit() -> None:
    router = APIRouter()

    @router.post("/broken")
    async def broken() -> dict[str, str]:
        raise Conflict(Msg(ru="Занято.", en="Taken."), code="taken")

    faults = audit_responses(app_with(router))
    where = f"{broken.__module__}.{broken.__qualname__}:{line_of(broken, 'raise Conflict')}"
    assert faults == [
        f"POST /api/test/broken can answer 409 but does not declare it; raised at: {where}"
    ]


def test_a_problem_reached_through_a_method_of_a_dependency_is_found() -> None:
    router = APIRouter()

    @router.get("/items/{item_id}")
    async def read_item(item_id: uuid.UUID, shelf: ShelfDep) -> dict[str, str]:
        return {"id": shelf.take(item_id)}

    faults = audit_responses(app_with(router))
    assert len(faults) == 1
    assert faults[0].startswith("GET /api/test/items/{item_id} can answer 404")
    assert f"Shelf.take:{line_of(Shelf.take, 'raise NotFound')}" in faults[0]


def test_a_problem_made_by_a_factory_is_found_where_it_is_raised() -> None:
    router = APIRouter()

    @router.post("/holds")
    async def hold() -> dict[str, str]:
        raise refused("held")

    faults = audit_responses(app_with(router))
    assert faults == [
        "POST /api/test/holds can answer 409 but does not declare it; raised at: "
        f"{hold.__module__}.{hold.__qualname__}:{line_of(hold, 'raise refused')}"
    ]


def test_a_dependency_that_raises_without_saying_so_fails_the_audit() -> None:
    router = APIRouter()

    @router.get("/gated/{item_id}")
    async def gated(item_id: Annotated[uuid.UUID, Depends(unmarked_gate)]) -> dict[str, str]:
        return {"id": str(item_id)}

    faults = audit_responses(app_with(router))
    assert len(faults) == 1
    assert faults[0].startswith("GET /api/test/gated/{item_id} can answer 410")
    assert "unmarked_gate" in faults[0]


def test_a_declared_problem_nothing_raises_fails_the_audit() -> None:
    router = APIRouter()

    @router.get("/items", responses=problem_responses(Conflict))
    async def list_items() -> list[str]:
        return []

    assert audit_responses(app_with(router)) == [
        "GET /api/test/items declares 409 but nothing it runs raises it"
    ]


def test_validation_problems_raised_by_hand_count_as_422() -> None:
    router = APIRouter()

    @router.get("/checked")
    async def checked() -> list[str]:
        raise validation_failed([{"loc": ["query", "x"], "msg": "bad", "type": "value_error"}])

    app = app_with(router)
    route = next(r for r in iter_route_contexts(app.routes) if r.path == "/api/test/checked")
    assert set(raisable_problems(route)) == {422}
    assert audit_responses(app)[0].startswith("GET /api/test/checked can answer 422")


class _Taken(DomainError):
    code = "taken"


class _Unmapped(DomainError):
    code = "unmapped"


def _reserve(item_id: uuid.UUID) -> None:
    """A use case: it raises domain errors, the app's ProblemMap gives their statuses."""
    if item_id.int == 2:
        raise _Taken
    if item_id.int == 3:
        raise _Unmapped


def test_a_domain_error_counts_with_the_status_its_mapping_gives() -> None:
    problems = ProblemMap()
    problems.add(_Taken, 409, Msg(ru="Занято.", en="Taken."))
    app = FastAPI()
    app.state.problems = problems
    install_problem_handlers(app, problems)
    install_problem_openapi(app)

    @app.post("/undeclared/{item_id}")
    async def undeclared(item_id: uuid.UUID) -> None:
        _reserve(item_id)

    @app.post("/declared/{item_id}", responses=problem_responses(409))
    async def declared(item_id: uuid.UUID) -> None:
        _reserve(item_id)

    faults = audit_responses(app)
    assert len(faults) == 1, faults
    assert faults[0].startswith("POST /undeclared/{item_id} can answer 409")
    assert "_reserve" in faults[0]
