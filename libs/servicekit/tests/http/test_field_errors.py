"""Field-level validation messages follow the request's language, like every other text."""

from __future__ import annotations

import re
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI
from pydantic import AfterValidator, BaseModel, Field
from pydantic_core._pydantic_core import list_all_errors
from servicekit.http.field_errors import RUSSIAN, field_message
from servicekit.http.i18n import UntranslatedText
from servicekit.http.problems import Msg, install_problem_handlers, validation_failed

CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)


def _zone(value: str) -> str:
    if "/" not in value:
        raise ValueError(Msg(ru="Это не часовой пояс IANA.", en="Not an IANA time zone."))
    return value


class Signup(BaseModel):
    password: str = Field(min_length=8)
    age: int = Field(ge=18)
    zone: Annotated[str, AfterValidator(_zone)] = "Europe/Moscow"


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/signups")
    async def signup(body: Signup) -> dict[str, str]:
        return {}

    @app.post("/by-hand")
    async def by_hand() -> dict[str, str]:
        raise validation_failed(
            [{"loc": ["body", "x"], "msg": Msg(ru="Не то.", en="Not that."), "type": "value_error"}]
        )

    return app


@pytest.mark.parametrize("error", list_all_errors(), ids=lambda e: e["type"])
def test_every_pydantic_error_type_has_russian_words(error: dict[str, object]) -> None:
    template = RUSSIAN[str(error["type"])]
    context = error["example_context"] or {}
    assert isinstance(context, dict)
    text = field_message({"type": error["type"], "ctx": context, "msg": "x"}, "ru")
    assert CYRILLIC.search(text) and "{" not in text, text
    assert set(re.findall(r"{(\w+)}", template)) <= set(context), template


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {},
            {
                "password": "Нужно не меньше символов: 8.",
                "age": "Значение должно быть не меньше 18.",
                "zone": "Это не часовой пояс IANA.",
            },
        ),
        (
            {"Accept-Language": "en"},
            {
                "password": "String should have at least 8 characters",
                "age": "Input should be greater than or equal to 18",
                "zone": "Not an IANA time zone.",
            },
        ),
    ],
)
async def test_pydantic_field_errors_in_the_asked_language(
    headers: dict[str, str], expected: dict[str, str]
) -> None:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        r = await client.post(
            "/signups", json={"password": "short", "age": 12, "zone": "Moscow"}, headers=headers
        )
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "validation_failed"
    got = {e["loc"][-1]: e["msg"] for e in body["errors"]}
    assert got == expected
    assert {e["type"] for e in body["errors"]} == {
        "string_too_short",
        "greater_than_equal",
        "value_error",
    }


async def test_a_missing_field_and_a_bad_json_body_in_russian() -> None:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        missing = await client.post("/signups", json={"age": 30})
        broken = await client.post(
            "/signups", content=b"{not json", headers={"Content-Type": "application/json"}
        )
    assert [e["msg"] for e in missing.json()["errors"]] == ["Обязательное поле."]
    assert [e["msg"] for e in broken.json()["errors"]] == ["Это не корректный JSON."]


@pytest.mark.parametrize(("language", "expected"), [("ru", "Не то."), ("en", "Not that.")])
async def test_field_errors_made_by_hand_follow_the_language(language: str, expected: str) -> None:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        r = await client.post("/by-hand", headers={"Accept-Language": language})
    assert r.status_code == 422
    assert r.json()["errors"] == [{"loc": ["body", "x"], "msg": expected, "type": "value_error"}]


def test_a_bare_str_message_by_hand_is_flagged() -> None:
    """A field message written by hand is read in the caller's language: a bare str is a bug."""
    with pytest.warns(UntranslatedText):
        validation_failed([{"loc": ["body", "x"], "msg": "bad", "type": "value_error"}])
