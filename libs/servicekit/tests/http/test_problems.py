"""Bad input gets problem+json with a stable code, never a 500 page or a stack trace."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import httpx
import pytest
from fastapi import Depends, FastAPI
from pydantic import BaseModel
from servicekit.http.app import CorrelationAndMetricsMiddleware
from servicekit.http.problems import Conflict, Msg, NotFound, install_problem_handlers
from servicekit.metrics import ServiceMetrics
from servicekit.security import (
    CurrentPrincipal,
    Principal,
    TokenVerifier,
    generate_signing_key,
    issue_access_token,
    public_jwks,
    require_roles,
)

ISS, AUD = "praktika-cabinet", "praktika"
KEY: dict[str, Any] = generate_signing_key("problems-test")


class Booking(BaseModel):
    format: Literal["online", "in_person"]
    duration_minutes: int


def make_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(CorrelationAndMetricsMiddleware, metrics=ServiceMetrics())
    install_problem_handlers(app)
    app.state.token_verifier = TokenVerifier(ISS, AUD, ["EdDSA"], jwks=public_jwks([KEY]))

    @app.post("/bookings")
    async def create(body: Booking) -> dict[str, str]:
        if body.duration_minutes == 13:
            raise Conflict(
                Msg(ru="Это время уже занято.", en="That slot is already taken."),
                code="slot_taken",
            )
        if body.duration_minutes == 666:
            raise RuntimeError("secret internal detail")
        if body.duration_minutes == 503:
            raise ConnectionRefusedError("database down")
        return {"ok": "yes"}

    @app.get("/things/{thing_id}")
    async def thing(thing_id: uuid.UUID, principal: CurrentPrincipal) -> dict[str, str]:
        raise NotFound(Msg(ru=f"Вещи {thing_id} нет.", en=f"There is no thing {thing_id}."))

    @app.get("/admin")
    async def admin(
        principal: Annotated[Principal, Depends(require_roles("admin"))],
    ) -> dict[str, str]:
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
    r = await client.post(
        "/bookings",
        json={"format": "online", "duration_minutes": 13},
        headers={"Accept-Language": "en"},
    )
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


# -- languages: Russian by default, English when preferred --------------------------------


def bearer(*roles: str, lang: str | None = None) -> dict[str, str]:
    token = issue_access_token(
        KEY,
        subject=uuid.uuid4(),
        roles=list(roles),
        issuer=ISS,
        audience=AUD,
        extra_claims=None if lang is None else {"lang": lang},
    )
    return {"Authorization": f"Bearer {token}"}


def lang(accept_language: str) -> dict[str, str]:
    return {"Accept-Language": accept_language}


def without_texts(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in ("title", "detail", "correlation_id")}


SLOT_TAKEN_RU = {"title": "Конфликт", "detail": "Это время уже занято."}
SLOT_TAKEN_EN = {"title": "Conflict", "detail": "That slot is already taken."}


async def slot_taken(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    r = await client.post(
        "/bookings", json={"format": "online", "duration_minutes": 13}, headers=headers
    )
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    doc: dict[str, Any] = r.json()
    return doc


async def test_russian_by_default(client: httpx.AsyncClient) -> None:
    doc = await slot_taken(client, {})
    assert {k: doc[k] for k in ("title", "detail")} == SLOT_TAKEN_RU
    assert (doc["code"], doc["status"]) == ("slot_taken", 409)


@pytest.mark.parametrize("header", ["en", "en-US", "en-GB,en;q=0.9", "ru;q=0.2, en;q=0.9"])
async def test_english_when_preferred(client: httpx.AsyncClient, header: str) -> None:
    doc = await slot_taken(client, lang(header))
    assert {k: doc[k] for k in ("title", "detail")} == SLOT_TAKEN_EN
    assert (doc["code"], doc["status"]) == ("slot_taken", 409)


@pytest.mark.parametrize("header", ["ru", "ru-RU", "en;q=0.3, ru;q=0.9", "de", "*", "ru;q=0.5"])
async def test_russian_when_preferred_or_nothing_we_speak(
    client: httpx.AsyncClient, header: str
) -> None:
    doc = await slot_taken(client, lang(header))
    assert {k: doc[k] for k in ("title", "detail")} == SLOT_TAKEN_RU


async def test_only_title_and_detail_depend_on_the_language(client: httpx.AsyncClient) -> None:
    ru = await slot_taken(client, lang("ru"))
    en = await slot_taken(client, lang("en"))
    assert without_texts(ru) == without_texts(en)
    assert set(ru) == set(en)


async def test_validation_error_in_both_languages(client: httpx.AsyncClient) -> None:
    answers = {}
    for language in ("ru", "en"):
        r = await client.post(
            "/bookings",
            json={"format": "online", "duration_minutes": "fifty"},
            headers=lang(language),
        )
        assert r.status_code == 422
        answers[language] = r.json()
    ru, en = answers["ru"], answers["en"]
    assert (ru["title"], ru["detail"]) == (
        "Неверный запрос",
        "Запрос не соответствует ожидаемому формату.",
    )
    assert (en["title"], en["detail"]) == (
        "Invalid request",
        "The request does not match the expected shape.",
    )
    assert ru["code"] == en["code"] == "validation_failed"
    assert [(e["loc"], e["type"]) for e in ru["errors"]] == [
        (e["loc"], e["type"]) for e in en["errors"]
    ]
    assert ru["errors"][0]["loc"] == ["body", "duration_minutes"]
    assert ru["errors"][0]["type"] == "int_parsing"


async def test_dynamic_detail(client: httpx.AsyncClient) -> None:
    thing = uuid.uuid4()
    r = await client.get(f"/things/{thing}", headers=bearer("client"))
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    assert (r.json()["title"], r.json()["detail"]) == ("Не найдено", f"Вещи {thing} нет.")
    r = await client.get(f"/things/{thing}", headers={**bearer("client"), **lang("en-US")})
    assert (r.json()["title"], r.json()["detail"]) == ("Not found", f"There is no thing {thing}.")


async def test_routing_errors_in_both_languages(client: httpx.AsyncClient) -> None:
    r = await client.get("/nowhere")
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    assert (r.json()["title"], r.json()["detail"]) == ("Не найдено", "По этому адресу ничего нет.")
    r = await client.get("/nowhere", headers=lang("en"))
    assert (r.json()["title"], r.json()["detail"]) == ("Not found", "Not Found")
    r = await client.get("/bookings")
    assert (r.status_code, r.json()["code"]) == (405, "method_not_allowed")
    assert r.json()["title"] == "Метод не поддерживается"
    r = await client.get("/bookings", headers=lang("en"))
    assert r.json()["title"] == "Method not allowed"


async def test_server_errors_in_both_languages(client: httpx.AsyncClient) -> None:
    r = await client.post("/bookings", json={"format": "online", "duration_minutes": 666})
    assert (r.status_code, r.json()["code"]) == (500, "internal_error")
    assert r.json()["title"] == "Внутренняя ошибка"
    assert "secret" not in r.text
    r = await client.post(
        "/bookings", json={"format": "online", "duration_minutes": 666}, headers=lang("en")
    )
    assert r.json()["title"] == "Internal error"
    assert r.json()["detail"] == "An unexpected error occurred; it has been logged."

    r = await client.post("/bookings", json={"format": "online", "duration_minutes": 503})
    assert (r.status_code, r.json()["code"]) == (503, "unavailable")
    assert r.json()["detail"] == (
        "Сервис ненадолго недоступен; повторите попытку через несколько секунд."
    )
    r = await client.post(
        "/bookings", json={"format": "online", "duration_minutes": 503}, headers=lang("en")
    )
    assert r.json()["title"] == "Temporarily unavailable"
    assert r.headers["retry-after"] == "5"


# -- the user's own setting (the token's lang claim) ----------------------------------------


async def test_token_language_when_no_accept_language(client: httpx.AsyncClient) -> None:
    r = await client.get("/admin", headers=bearer("client", lang="en"))
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    assert r.json()["title"] == "Not allowed"
    assert r.json()["detail"] == "This action needs one of the roles: admin."

    r = await client.get("/admin", headers=bearer("client", lang="ru"))
    assert r.json()["detail"] == "Для этого действия нужна одна из ролей: admin."
    r = await client.get("/admin", headers=bearer("client"))  # no claim: Russian
    assert r.json()["title"] == "Недостаточно прав"
    r = await client.get("/admin", headers=bearer("client", lang="de"))  # unknown: ignored
    assert r.json()["title"] == "Недостаточно прав"


async def test_accept_language_wins_over_the_token(client: httpx.AsyncClient) -> None:
    r = await client.get("/admin", headers={**bearer("client", lang="en"), **lang("ru")})
    assert r.json()["title"] == "Недостаточно прав"
    r = await client.get("/admin", headers={**bearer("client", lang="ru"), **lang("en")})
    assert r.json()["title"] == "Not allowed"
    # A header naming neither language leaves it to the user's setting.
    r = await client.get("/admin", headers={**bearer("client", lang="en"), **lang("de")})
    assert r.json()["title"] == "Not allowed"


async def test_unauthenticated_errors(client: httpx.AsyncClient) -> None:
    r = await client.get("/admin")
    assert (r.status_code, r.json()["code"]) == (401, "unauthorized")
    assert r.json()["title"] == "Требуется вход"
    assert r.json()["detail"] == "Нужен токен доступа (Authorization: Bearer <token>)."
    assert r.headers["www-authenticate"] == "Bearer"
    r = await client.get("/admin", headers={"Authorization": "Bearer x.y.z", **lang("en")})
    assert (r.status_code, r.json()["code"]) == (401, "invalid_token")
    assert (r.json()["title"], r.json()["detail"]) == (
        "Invalid access token",
        "The token is malformed.",
    )
    r = await client.get("/admin", headers={"Authorization": "Bearer x.y.z"})
    assert (r.json()["title"], r.json()["detail"]) == (
        "Недействительный токен доступа",
        "Токен имеет неверный формат.",
    )
