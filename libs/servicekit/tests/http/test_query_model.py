"""A query string read into one model: the same answers, errors and documentation as FastAPI's
own query parameters."""

from __future__ import annotations

import uuid
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Query
from pydantic import AwareDatetime, BaseModel, Field
from servicekit.http.deps import query_model, query_parameters
from servicekit.http.problems import install_problem_handlers


class Search(BaseModel):
    service_id: uuid.UUID
    window_from: AwareDatetime | None = Field(default=None, alias="from", description="Start")
    limit: int = Field(default=10, ge=1, le=100)


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/model", openapi_extra=query_parameters(Search))
    async def by_model(q: Annotated[Search, Depends(query_model(Search))]) -> dict[str, str]:
        return {"service_id": str(q.service_id), "from": str(q.window_from), "limit": str(q.limit)}

    @app.get("/fastapi")
    async def by_fastapi(
        service_id: uuid.UUID,
        window_from: Annotated[AwareDatetime | None, Query(alias="from")] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> dict[str, str]:
        return {"service_id": str(service_id), "from": str(window_from), "limit": str(limit)}

    return app


@pytest.mark.parametrize(
    "query",
    [
        {"service_id": str(uuid.UUID(int=1)), "from": "2026-03-20T00:00:00+03:00", "limit": "5"},
        {"service_id": str(uuid.UUID(int=2))},
        {"service_id": "nope"},
        {"service_id": str(uuid.UUID(int=3)), "from": "2026-03-20T00:00:00"},
        {"service_id": str(uuid.UUID(int=4)), "limit": "0"},
        {},
    ],
)
async def test_answers_and_errors_match_fastapis_own(query: dict[str, str]) -> None:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        ours = await client.get("/model", params=query)
        theirs = await client.get("/fastapi", params=query)
    assert ours.status_code == theirs.status_code
    assert ours.headers["content-type"] == theirs.headers["content-type"]
    if ours.status_code == 200:
        assert ours.json() == theirs.json()
    else:
        assert ours.status_code == 422
        body, expected = ours.json(), theirs.json()
        assert body["code"] == expected["code"] == "validation_failed"
        assert [e["loc"] for e in body["errors"]] == [e["loc"] for e in expected["errors"]]


def test_the_parameters_are_documented() -> None:
    documented = make_app().openapi()["paths"]["/model"]["get"]["parameters"]
    assert [(p["name"], p["in"], p["required"]) for p in documented] == [
        ("service_id", "query", True),
        ("from", "query", False),
        ("limit", "query", False),
    ]
    assert documented[0]["schema"]["format"] == "uuid"
    assert documented[1]["description"] == "Start"
    assert documented[2]["schema"]["minimum"] == 1
