"""kit: every fake records what it receives, answers injected faults, and keeps state per app."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request
from sandbox.kit import create_sandbox_app, sandbox_state
from sandbox.testing import serve_app


def make_demo_app(name: str = "demo", resets: list[str] | None = None) -> FastAPI:
    app = create_sandbox_app(
        name, reset_hooks=[lambda: resets.append(name)] if resets is not None else ()
    )

    @app.post("/v3/echo")
    async def echo(request: Request) -> dict[str, object]:
        return {"echo": (await request.body()).decode(errors="replace")}

    @app.get("/v3/things")
    async def things() -> list[int]:
        return [1, 2, 3]

    return app


@pytest.fixture
async def demo() -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serve_app(make_demo_app()) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        yield client


async def test_health_names_the_fake(demo: httpx.AsyncClient) -> None:
    response = await demo.get("/_sandbox/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "fake": "demo", "requests": 0}


async def test_records_method_path_query_headers_and_body(demo: httpx.AsyncClient) -> None:
    await demo.get("/v3/things", params={"a": "1", "b": "два"})
    posted = await demo.post(
        "/v3/echo?x=1", json={"amount": "1500.00"}, headers={"Idempotence-Key": "k-1"}
    )
    assert posted.json() == {"echo": '{"amount":"1500.00"}'}

    recorded = (await demo.get("/_sandbox/requests")).json()
    assert [(r["method"], r["path"]) for r in recorded] == [
        ("GET", "/v3/things"),
        ("POST", "/v3/echo"),
    ]
    first, second = recorded
    assert first["query"] == {"a": "1", "b": "два"}
    assert first["response_status"] == 200
    assert second["query_string"] == "x=1"
    assert second["headers"]["idempotence-key"] == "k-1"
    assert second["headers"]["content-type"] == "application/json"
    assert second["body"] == '{"amount":"1500.00"}'
    assert second["body_encoding"] == "utf-8"
    assert second["id"] > first["id"]


async def test_filters_by_path_prefix_method_since_and_limit(demo: httpx.AsyncClient) -> None:
    await demo.get("/v3/things")
    await demo.post("/v3/echo", content=b"one")
    await demo.post("/v3/echo", content=b"two")
    everything = (await demo.get("/_sandbox/requests")).json()

    echoes = (await demo.get("/_sandbox/requests", params={"path_prefix": "/v3/e"})).json()
    assert [r["body"] for r in echoes] == ["one", "two"]
    gets = (await demo.get("/_sandbox/requests", params={"method": "get"})).json()
    assert [r["path"] for r in gets] == ["/v3/things"]
    newer = (await demo.get("/_sandbox/requests", params={"since_id": everything[0]["id"]})).json()
    assert [r["body"] for r in newer] == ["one", "two"]
    last = (await demo.get("/_sandbox/requests", params={"limit": 1})).json()
    assert [r["body"] for r in last] == ["two"]


async def test_inspection_calls_are_not_recorded(demo: httpx.AsyncClient) -> None:
    await demo.get("/_sandbox/health")
    await demo.get("/_sandbox/requests")
    assert (await demo.get("/_sandbox/requests")).json() == []


async def test_binary_body_is_kept_as_base64() -> None:
    app = make_demo_app()
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        await client.post("/v3/echo", content=b"\xff\x00\xfe")
        (record,) = sandbox_state(app).requests.select()
    assert record.body_encoding == "base64"
    assert record.body_bytes() == b"\xff\x00\xfe"


async def test_reset_forgets_requests_and_faults_and_runs_hooks() -> None:
    resets: list[str] = []
    async with (
        serve_app(make_demo_app(resets=resets)) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        await client.get("/v3/things")
        await client.post("/_sandbox/faults", json={"status": 500, "times": 3})
        response = await client.post("/_sandbox/reset")
        assert response.status_code == 204
        assert (await client.get("/_sandbox/requests")).json() == []
        assert (await client.get("/_sandbox/faults")).json() == []
        assert (await client.get("/v3/things")).status_code == 200
    assert resets == ["demo"]


async def test_fault_answers_matching_requests_n_times_then_passes(
    demo: httpx.AsyncClient,
) -> None:
    created = await demo.post(
        "/_sandbox/faults",
        json={
            "method": "POST",
            "path": "^/v3/echo$",
            "status": 429,
            "headers": {"Retry-After": "7"},
            "body": {"type": "error", "code": "too_many_requests"},
            "times": 2,
        },
    )
    assert created.status_code == 201
    fault = created.json()
    assert fault["remaining"] == 2

    other_method = await demo.get("/v3/things")
    assert other_method.status_code == 200
    answers = [await demo.post("/v3/echo", content=b"x") for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["retry-after"] == "7"
    assert answers[0].json() == {"type": "error", "code": "too_many_requests"}
    assert (await demo.get("/_sandbox/faults")).json() == []

    recorded = (await demo.get("/_sandbox/requests", params={"path_prefix": "/v3/echo"})).json()
    assert [(r["response_status"], r["fault_id"]) for r in recorded] == [
        (429, fault["id"]),
        (429, fault["id"]),
        (200, None),
    ]


async def test_faults_are_tried_in_order_and_text_bodies_sent_as_is(
    demo: httpx.AsyncClient,
) -> None:
    await demo.post("/_sandbox/faults", json={"path": "/v3/", "status": 500, "body": "boom"})
    await demo.post("/_sandbox/faults", json={"path": "/v3/", "status": 202})
    first, second, third = [await demo.get("/v3/things") for _ in range(3)]
    assert (first.status_code, first.text, first.headers["content-type"]) == (
        500,
        "boom",
        "text/plain; charset=utf-8",
    )
    assert (second.status_code, second.content) == (202, b"")
    assert third.json() == [1, 2, 3]


async def test_fault_without_limit_stays_until_cleared(demo: httpx.AsyncClient) -> None:
    await demo.post("/_sandbox/faults", json={"status": 503, "times": None})
    assert {(await demo.get("/v3/things")).status_code for _ in range(4)} == {503}
    (pending,) = (await demo.get("/_sandbox/faults")).json()
    assert pending["hits"] == 4
    assert (await demo.delete("/_sandbox/faults")).status_code == 204
    assert (await demo.get("/v3/things")).status_code == 200


async def test_delay_fault_holds_the_request_then_lets_it_through(
    demo: httpx.AsyncClient,
) -> None:
    await demo.post("/_sandbox/faults", json={"path": "things", "delay_seconds": 0.3})
    started = time.monotonic()
    delayed = await demo.get("/v3/things")
    assert time.monotonic() - started >= 0.3
    assert delayed.json() == [1, 2, 3]
    started = time.monotonic()
    await demo.get("/v3/things")
    assert time.monotonic() - started < 0.3


@pytest.mark.parametrize(
    "payload",
    [{"path": "/x"}, {"status": 500, "path": "(unclosed"}, {"status": 99}, {"statuss": 500}],
)
async def test_invalid_fault_is_refused(
    demo: httpx.AsyncClient, payload: dict[str, object]
) -> None:
    response = await demo.post("/_sandbox/faults", json=payload)
    assert response.status_code == 422
    assert (await demo.get("/_sandbox/faults")).json() == []


async def test_requests_wait_long_polls_until_one_arrives(demo: httpx.AsyncClient) -> None:
    waiting = asyncio.create_task(demo.get("/_sandbox/requests", params={"wait": 5}))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await demo.post("/v3/echo", content=b"late")
    recorded = (await waiting).json()
    assert [r["body"] for r in recorded] == ["late"]


async def test_two_instances_in_one_process_share_nothing() -> None:
    first_app, second_app = make_demo_app("first"), make_demo_app("second")
    async with (
        serve_app(first_app) as first_url,
        serve_app(second_app) as second_url,
        httpx.AsyncClient() as client,
    ):
        await client.post(f"{first_url}/_sandbox/faults", json={"status": 500, "times": None})
        assert (await client.get(f"{first_url}/v3/things")).status_code == 500
        assert (await client.get(f"{second_url}/v3/things")).status_code == 200
        assert len((await client.get(f"{first_url}/_sandbox/requests")).json()) == 1
        assert len((await client.get(f"{second_url}/_sandbox/requests")).json()) == 1
        assert (await client.get(f"{second_url}/_sandbox/faults")).json() == []
    assert sandbox_state(first_app) is not sandbox_state(second_app)


async def test_serve_app_frees_its_port_at_exit() -> None:
    async with serve_app(make_demo_app()) as url, httpx.AsyncClient() as client:
        assert (await client.get(f"{url}/_sandbox/health")).status_code == 200
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{url}/_sandbox/health")
