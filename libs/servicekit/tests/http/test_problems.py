"""Bad input gets problem+json with a stable code, never a 500 page or a stack trace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from servicekit.http.app import CorrelationAndMetricsMiddleware
from servicekit.http.problems import Conflict, install_problem_handlers
from servicekit.metrics import ServiceMetrics


class Booking(BaseModel):
    format: Literal["online", "in_person"]
    duration_minutes: int


def make_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(CorrelationAndMetricsMiddleware, metrics=ServiceMetrics())
    install_problem_handlers(app)

    @app.post("/bookings")
    async def create(body: Booking) -> dict[str, str]:
        if body.duration_minutes == 13:
            raise Conflict("That slot is already taken.", code="slot_taken")
        if body.duration_minutes == 666:
            raise RuntimeError("secret internal detail")
        if body.duration_minutes == 503:
            raise ConnectionRefusedError("database down")
        return {"ok": "yes"}

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (b"{not json", ["body", "1"]),
        (b'{"format": "online", "duration_minutes": "fifty"}', ["body", "duration_minutes"]),
        (b'{"format": "telepathy", "duration_minutes": 50}', ["body", "format"]),
        (b'{"format": "online"}', ["body", "duration_minutes"]),
    ],
    ids=["bad-json", "wrong-type", "unknown-enum", "missing-field"],
)
async def test_bad_input_is_422_problem_json(
    client: httpx.AsyncClient, body: bytes, loc: list[str]
) -> None:
    r = await client.post("/bookings", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    doc = r.json()
    assert doc["code"] == "validation_failed"
    assert doc["status"] == 422
    assert doc["errors"][0]["loc"][: len(loc)] == loc
    assert doc["correlation_id"] == r.headers["x-correlation-id"]


async def test_domain_conflict_keeps_its_code(client: httpx.AsyncClient) -> None:
    r = await client.post("/bookings", json={"format": "online", "duration_minutes": 13})
    assert r.status_code == 409
    assert r.json()["code"] == "slot_taken"
    assert r.json()["detail"] == "That slot is already taken."


async def test_unexpected_error_is_500_problem_without_details(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/bookings",
        json={"format": "online", "duration_minutes": 666},
        headers={"x-correlation-id": "trace-me"},
    )
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "internal_error"
    assert r.json()["correlation_id"] == "trace-me"
    assert "secret" not in r.text and "Traceback" not in r.text


async def test_database_out_of_reach_is_503_with_retry_after(client: httpx.AsyncClient) -> None:
    r = await client.post("/bookings", json={"format": "online", "duration_minutes": 503})
    assert (r.status_code, r.json()["code"]) == (503, "unavailable")
    assert r.headers["retry-after"] == "5"
    assert "database down" not in r.text


async def test_unknown_route_and_method_are_problems(client: httpx.AsyncClient) -> None:
    r = await client.get("/nowhere")
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    r = await client.get("/bookings")
    assert (r.status_code, r.json()["code"]) == (405, "method_not_allowed")


async def test_correlation_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/bookings",
        json={"format": "online", "duration_minutes": 50},
        headers={"x-correlation-id": "abc-123"},
    )
    assert r.headers["x-correlation-id"] == "abc-123"
    r = await client.post(
        "/bookings",
        json={"format": "online", "duration_minutes": 50},
        headers={"x-correlation-id": "bad\x7fvalue"},
    )
    assert r.headers["x-correlation-id"] not in ("", "bad\x7fvalue")
