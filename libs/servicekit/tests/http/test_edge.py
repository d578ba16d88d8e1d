"""The services' own edge (servicekit.http.edge, servicekit.http.inputs): security headers, the
request-size limit, an access log without personal data, and the input types that keep
PostgreSQL's and datetime's refusals from becoming 500s."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from servicekit.db.engine import make_engine
from servicekit.http.app import CorrelationAndMetricsMiddleware
from servicekit.http.inputs import Instant, Kopecks, SafeText, json_document
from servicekit.http.problems import install_problem_handlers
from servicekit.metrics import ServiceMetrics
from servicekit.testing import temporary_database
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

LIMIT = 4096


class Note(BaseModel):
    text: SafeText = Field(max_length=100)
    at: Instant | None = None
    amount: Kopecks = 0


def make_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(
        CorrelationAndMetricsMiddleware,
        metrics=ServiceMetrics(),
        max_body_bytes=LIMIT,
        access_log=True,
    )
    install_problem_handlers(app)

    @app.post("/api/svc/notes")
    async def create(note: Note) -> dict[str, str]:
        return {"text": note.text}

    @app.get("/api/svc/public")
    async def public() -> JSONResponse:
        return JSONResponse({"ok": True}, headers={"Cache-Control": "public, max-age=60"})

    @app.get("/api/svc/unsubscribe/{token}")
    async def page(token: str) -> HTMLResponse:
        return HTMLResponse("<p>ok</p>")

    @app.get("/api/svc/things/{thing_id}/{purpose}")
    async def thing(thing_id: str, purpose: str) -> dict[str, str]:
        return {}

    @app.post("/api/svc/raw")
    async def raw(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app()), base_url="http://svc"
    ) as c:
        yield c


async def test_api_answers_are_not_stored_or_sniffed_unless_a_route_says_public(
    client: httpx.AsyncClient,
) -> None:
    for r in [
        await client.post("/api/svc/notes", json={"text": "hi"}),
        await client.post("/api/svc/notes", json={}),  # a 422 problem
        await client.get("/api/svc/nothing"),  # a 404 problem
    ]:
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["x-content-type-options"] == "nosniff"
    public = await client.get("/api/svc/public")
    assert public.headers["cache-control"] == "public, max-age=60"
    docs = await client.get("/docs")
    assert docs.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert docs.headers["x-frame-options"] == "DENY"
    assert "cache-control" not in docs.headers  # not an /api/ answer


async def test_a_body_beyond_the_limit_is_a_413_problem(client: httpx.AsyncClient) -> None:
    declared = await client.post("/api/svc/raw", content=b"x" * (LIMIT + 1))
    assert declared.status_code == 413
    assert declared.headers["content-type"] == "application/problem+json"
    assert declared.json()["code"] == "payload_too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(LIMIT // 512 + 2):
            yield b"y" * 512

    streamed = await client.post("/api/svc/raw", content=chunks())
    assert streamed.status_code == 413
    assert streamed.json()["code"] == "payload_too_large"
    parsed = await client.post(
        "/api/svc/notes",
        content=b'{"text": "' + b"z" * LIMIT + b'"}',
        headers={"content-type": "application/json"},
    )
    assert parsed.status_code == 413
    assert (await client.post("/api/svc/raw", content=b"x" * LIMIT)).json() == {"bytes": LIMIT}


async def test_the_access_log_has_no_query_and_no_capability(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = "eyJ1IjoiMTIzIn0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
    thing = "0b6f5a8e-3c1d-4e2f-9a7b-1c2d3e4f5a6b"
    with caplog.at_level(logging.INFO, logger="servicekit.access"):
        await client.get(f"/api/svc/unsubscribe/{token}?email=anna@example.com")
        await client.get(f"/api/svc/things/{thing}/marketing_messages")
        await client.get(f"/api/svc/things/{thing}/Anna%20Petrova")
        await client.get(f"/nowhere/{token}")
    lines = [(r.method, r.path, r.status) for r in caplog.records]  # type: ignore[attr-defined]
    assert lines == [
        ("GET", "/api/svc/unsubscribe/{token}", 200),
        ("GET", f"/api/svc/things/{thing}/marketing_messages", 200),
        ("GET", f"/api/svc/things/{thing}/{{purpose}}", 200),
        ("GET", "unmatched", 404),
    ]
    everything = " ".join(r.getMessage() for r in caplog.records)
    assert token not in everything and "anna@" not in everything and "Anna" not in everything


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"text": "a\u0000b"}, "text"),
        ({"text": "x" * 101}, "text"),
        ({"text": "ok", "at": "0001-01-01T00:00:00+05:00"}, "at"),
        ({"text": "ok", "at": "9999-12-31T23:59:59-05:00"}, "at"),
        ({"text": "ok", "at": "2026-01-01T10:00:00"}, "at"),  # naive
        ({"text": "ok", "amount": 2**63}, "amount"),
        ({"text": "ok", "amount": -1}, "amount"),
    ],
)
async def test_inputs_postgresql_or_datetime_would_refuse_are_a_422(
    client: httpx.AsyncClient, body: dict[str, object], loc: str
) -> None:
    for language in ("ru", "en"):
        r = await client.post("/api/svc/notes", json=body, headers={"Accept-Language": language})
        assert r.status_code == 422, r.text
        (error,) = r.json()["errors"]
        assert error["loc"] == ["body", loc]
        assert "\\x00" not in error["msg"]  # words, not the pattern


async def test_a_lone_surrogate_is_a_422(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/svc/notes",
        content=b'{"text": "a\\ud800"}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422, r.text


async def test_a_body_that_is_not_utf8_is_a_422(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/svc/notes",
        content=b'{"text": "\xff\xfe"}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["type"] == "json_invalid"


def test_instants_are_utc_within_bounds() -> None:
    note = Note.model_validate({"text": "ok", "at": "2026-03-29T02:30:00+03:00"})
    assert note.at == datetime.fromisoformat("2026-03-28T23:30:00+00:00")


def test_json_documents_nest_only_so_deep() -> None:
    assert json_document(b'{"a": [{"b": 1}]}') == {"a": [{"b": 1}]}
    assert json_document(b"[" * 32 + b"]" * 32) is not None
    for raw in (b"[" * 33 + b"]" * 33, b"[" * 100_000 + b"]" * 100_000, b"\xff", b"{"):
        with pytest.raises(ValueError, match=r"JSON|Expecting|decode"):
            json_document(raw)


async def test_a_failed_statement_does_not_show_its_parameters() -> None:
    async with temporary_database("edge") as url:
        engine = make_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("CREATE TABLE people (email text CHECK (email = ''))"))
                with pytest.raises(DBAPIError) as failed:
                    await conn.execute(
                        text("INSERT INTO people (email) VALUES (:email)"),
                        {"email": "anna@example.com"},
                    )
        finally:
            await engine.dispose()
    assert "anna@example.com" not in str(failed.value)
