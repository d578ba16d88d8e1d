"""cabinet's errors in the user's language: Russian by default, English on request or by the
account's own setting, which travels in the access token's ``lang`` claim."""

from __future__ import annotations

import uuid

import jwt
import pytest

from .conftest import Cabinet

WRONG_CREDENTIALS = {
    "ru": ("Требуется вход", "Неверный адрес электронной почты или пароль."),
    "en": ("Authentication required", "The email or the password is not right."),
}


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [
        (None, "ru"),
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("ru-RU", "ru"),
        ("en;q=0.3, ru;q=0.7", "ru"),
        ("ru;q=0.3, en;q=0.7", "en"),
        ("de-DE", "ru"),
    ],
)
async def test_wrong_password_in_the_asked_language(
    cabinet: Cabinet, accept_language: str | None, expected: str
) -> None:
    headers = {} if accept_language is None else {"Accept-Language": accept_language}
    async with cabinet.caller() as client:  # its failed login counts for its own address
        r = await client.post(
            "/api/cabinet/sessions",
            json={"email": f"nobody.{uuid.uuid4().hex[:8]}@example.com", "password": "whatever"},
            headers=headers,
        )
    assert r.status_code == 401
    body = r.json()
    assert (body["code"], body["status"]) == ("invalid_credentials", 401)
    assert (body["title"], body["detail"]) == WRONG_CREDENTIALS[expected]
    assert r.headers["www-authenticate"] == "Bearer"


async def test_the_account_language_travels_in_the_token(cabinet: Cabinet) -> None:
    email, user_id = await cabinet.register(language="en")
    pair = (await cabinet.login(email)).json()
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["lang"]) == (str(user_id), "en")
    auth = {"Authorization": f"Bearer {pair['access_token']}"}
    wrong = {"current_password": "not it", "new_password": "a brand new password"}

    r = await cabinet.client.post("/api/cabinet/me/password", json=wrong, headers=auth)
    assert (r.status_code, r.json()["code"]) == (403, "wrong_password")
    assert (r.json()["title"], r.json()["detail"]) == (
        "Wrong password",
        "The current password is not right.",
    )
    r = await cabinet.client.post(
        "/api/cabinet/me/password", json=wrong, headers={**auth, "Accept-Language": "ru"}
    )
    assert (r.status_code, r.json()["code"]) == (403, "wrong_password")
    assert (r.json()["title"], r.json()["detail"]) == (
        "Неверный пароль",
        "Текущий пароль указан неверно.",
    )


async def test_a_russian_account_reads_russian(cabinet: Cabinet) -> None:
    email, _ = await cabinet.register()  # language "ru"
    pair = (await cabinet.login(email)).json()
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    assert claims["lang"] == "ru"
    r = await cabinet.client.post(
        "/api/cabinet/me/password",
        json={"current_password": "not it", "new_password": "a brand new password"},
        headers={"Authorization": f"Bearer {pair['access_token']}"},
    )
    assert r.json()["detail"] == "Текущий пароль указан неверно."


ACCEPTED = {
    "ru": "Если этот адрес можно зарегистрировать, на него уже отправлено письмо.",
    "en": "If the address can be registered, a message is on its way to it.",
}


@pytest.mark.parametrize(("accept_language", "expected"), [(None, "ru"), ("en-GB", "en")])
async def test_accepted_and_field_errors_in_the_asked_language(
    cabinet: Cabinet, accept_language: str | None, expected: str
) -> None:
    headers = {} if accept_language is None else {"Accept-Language": accept_language}
    email = f"lang.{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": "correct horse battery", "name": "Lang"}
    r = await cabinet.client.post("/api/cabinet/registrations", json=body, headers=headers)
    assert r.status_code == 202
    assert r.json() == {"status": "accepted", "detail": ACCEPTED[expected]}

    r = await cabinet.client.post(
        "/api/cabinet/password-resets", json={"email": email}, headers=headers
    )
    assert r.status_code == 202
    assert ("ссылка" in r.json()["detail"]) == (expected == "ru")

    r = await cabinet.client.post(
        "/api/cabinet/registrations", json={**body, "password": "short"}, headers=headers
    )
    assert r.status_code == 422
    [error] = r.json()["errors"]
    assert (error["loc"], error["type"]) == (["body", "password"], "string_too_short")
    assert (
        error["msg"]
        == {
            "ru": "Нужно не меньше символов: 10.",
            "en": "String should have at least 10 characters",
        }[expected]
    )
