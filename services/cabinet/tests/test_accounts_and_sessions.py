"""Accounts and sessions as a user meets them: register, verify, log in, refresh, log out,
reset a password; nothing tells a stranger whether an address is registered."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from servicekit.testing import FakeClock, wait_until

from .conftest import Cabinet


def _token_from(url: str) -> str:
    fragment = urlsplit(url).fragment
    assert fragment.startswith("token=")
    return fragment.removeprefix("token=")


async def test_register_verify_login_refresh_logout(cabinet: Cabinet) -> None:
    email, user_id = await cabinet.register(phone="+7 916 000-11-22")
    (verification,) = await cabinet.events(
        "cabinet.user.email_verification_requested", user_id=str(user_id)
    )
    assert verification["email"] == email and verification["language"] == "ru"
    token = _token_from(verification["verification_url"])

    r = await cabinet.client.post("/api/cabinet/email-verifications", json={"token": token})
    assert r.status_code == 204
    assert await cabinet.events("cabinet.user.email_verified", user_id=str(user_id))
    again = await cabinet.client.post("/api/cabinet/email-verifications", json={"token": token})
    assert (again.status_code, again.json()["code"]) == (400, "invalid_token")

    login = await cabinet.login(email)
    assert login.status_code == 200, login.text
    pair = login.json()
    assert pair["token_type"] == "Bearer" and 600 <= pair["expires_in"] <= 900
    me = await cabinet.client.get(
        "/api/cabinet/me", headers={"Authorization": f"Bearer {pair['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["email_verified"] is True
    assert me.json()["phone"] == "+79160001122"

    refreshed = await cabinet.client.post(
        "/api/cabinet/sessions/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert refreshed.status_code == 200
    new = refreshed.json()
    assert new["refresh_token"] != pair["refresh_token"]

    out = await cabinet.client.post(
        "/api/cabinet/sessions/logout", json={"refresh_token": new["refresh_token"]}
    )
    assert out.status_code == 204
    after = await cabinet.client.post(
        "/api/cabinet/sessions/refresh", json={"refresh_token": new["refresh_token"]}
    )
    assert (after.status_code, after.json()["code"]) == (401, "invalid_refresh_token")


async def test_a_refresh_token_used_twice_ends_the_whole_family(cabinet: Cabinet) -> None:
    email, _ = await cabinet.register()
    first = (await cabinet.login(email)).json()
    second = (
        await cabinet.client.post(
            "/api/cabinet/sessions/refresh", json={"refresh_token": first["refresh_token"]}
        )
    ).json()
    other_session = (await cabinet.login(email)).json()  # another device: another family

    stolen = await cabinet.client.post(
        "/api/cabinet/sessions/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert (stolen.status_code, stolen.json()["code"]) == (401, "refresh_token_reused")
    legit = await cabinet.client.post(
        "/api/cabinet/sessions/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert (legit.status_code, legit.json()["code"]) == (401, "invalid_refresh_token")
    unaffected = await cabinet.client.post(
        "/api/cabinet/sessions/refresh", json={"refresh_token": other_session["refresh_token"]}
    )
    assert unaffected.status_code == 200


async def test_login_failures_look_the_same_and_brute_force_is_slowed(
    cabinet: Cabinet, clock: FakeClock
) -> None:
    email, _ = await cabinet.register()
    async with cabinet.caller() as client:
        wrong = await cabinet.login(email, "not the password", client=client)
        unknown = await cabinet.login(
            f"nobody.{uuid.uuid4().hex[:8]}@example.com", "whatever", client=client
        )
        for r in (wrong, unknown):
            assert r.status_code == 401
            assert r.headers["www-authenticate"] == "Bearer"
            body = r.json()
            body.pop("correlation_id")
            assert body == {
                "type": "about:blank",
                "title": "Требуется вход",
                "status": 401,
                "code": "invalid_credentials",
                "detail": "Неверный адрес электронной почты или пароль.",
            }

        for _ in range(4):  # five failures are allowed in the window
            assert (await cabinet.login(email, "still wrong", client=client)).status_code == 401
        assert (await cabinet.login(email, "sixth wrong", client=client)).status_code == 401
        locked = await cabinet.login(email, client=client)  # even the right password waits now
        assert locked.status_code == 429
        body = locked.json()
        body.pop("correlation_id")
        assert body == {
            "type": "about:blank",
            "title": "Слишком много попыток",
            "status": 429,
            "code": "too_many_attempts",
            "detail": "Слишком много попыток. Попробуйте позже.",
        }
        wait = int(locked.headers["retry-after"])
        assert 1 <= wait <= 60

        clock.advance(seconds=wait + 1)
        assert (await cabinet.login(email, client=client)).status_code == 200


async def test_registration_and_reset_do_not_reveal_who_is_registered(cabinet: Cabinet) -> None:
    email, _ = await cabinet.register()
    again = await cabinet.client.post(
        "/api/cabinet/registrations",
        json={"email": email.upper(), "password": "another long one", "name": "X"},
    )
    fresh = await cabinet.client.post(
        "/api/cabinet/registrations",
        json={
            "email": f"new.{uuid.uuid4().hex[:8]}@example.com",
            "password": "another long one",
            "name": "X",
        },
    )
    assert again.status_code == fresh.status_code == 202
    assert again.json() == fresh.json()

    known = await cabinet.client.post("/api/cabinet/password-resets", json={"email": email})
    unknown = await cabinet.client.post(
        "/api/cabinet/password-resets", json={"email": f"ghost.{uuid.uuid4().hex}@example.com"}
    )
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()


async def test_password_reset_by_emailed_link_ends_old_sessions(cabinet: Cabinet) -> None:
    email, user_id = await cabinet.register()
    session = (await cabinet.login(email)).json()
    await cabinet.client.post("/api/cabinet/password-resets", json={"email": email})

    async def reset_mails() -> list[dict[str, Any]]:  # queued: a timer issues the link
        return await cabinet.events("cabinet.user.password_reset_requested", user_id=str(user_id))

    await wait_until(reset_mails, timeout=20)
    (reset,) = await reset_mails()
    token = _token_from(reset["reset_url"])

    short = await cabinet.client.post(
        "/api/cabinet/password-resets/confirm", json={"token": token, "new_password": "short"}
    )
    assert short.status_code == 422
    done = await cabinet.client.post(
        "/api/cabinet/password-resets/confirm",
        json={"token": token, "new_password": "a brand new secret"},
    )
    assert done.status_code == 204
    assert (await cabinet.login(email)).status_code == 401
    assert (await cabinet.login(email, "a brand new secret")).status_code == 200
    old = await cabinet.client.post(
        "/api/cabinet/sessions/refresh", json={"refresh_token": session["refresh_token"]}
    )
    assert old.status_code == 401
    reuse = await cabinet.client.post(
        "/api/cabinet/password-resets/confirm",
        json={"token": token, "new_password": "yet another one!"},
    )
    assert (reuse.status_code, reuse.json()["code"]) == (400, "invalid_token")


async def test_expired_verification_link_is_refused(cabinet: Cabinet, clock: FakeClock) -> None:
    _, user_id = await cabinet.register()
    (verification,) = await cabinet.events(
        "cabinet.user.email_verification_requested", user_id=str(user_id)
    )
    clock.advance(hours=25)
    r = await cabinet.client.post(
        "/api/cabinet/email-verifications",
        json={"token": _token_from(verification["verification_url"])},
    )
    assert (r.status_code, r.json()["code"]) == (400, "invalid_token")
    assert (r.json()["title"], r.json()["detail"]) == (
        "Недействительная ссылка",
        "Ссылка недействительна, уже использована или устарела. Запросите новую.",
    )


async def test_raw_users_row_has_no_plaintext_contacts(cabinet: Cabinet) -> None:
    email, user_id = await cabinet.register(phone="+7 (916) 555-44-33")
    (row,) = await cabinet.sql("SELECT * FROM users WHERE id = $1", user_id)
    flat = " ".join(str(v) for v in row.values())
    assert email.split("@")[0] not in flat
    assert "9165554433" not in flat and "555-44-33" not in flat
    assert str(row["email"]).startswith("gAAAAA") and str(row["phone"]).startswith("gAAAAA")
    assert row["password_hash"].startswith("$argon2id$")


async def test_changing_contacts_publishes_the_full_new_state(cabinet: Cabinet) -> None:
    email, user_id = await cabinet.register()
    token = (await cabinet.login(email)).json()["access_token"]
    r = await cabinet.client.patch(
        "/api/cabinet/me",
        headers={"Authorization": f"Bearer {token}"},
        json={"time_zone": "Asia/Yekaterinburg", "language": "en"},
    )
    assert r.status_code == 200
    assert (r.json()["time_zone"], r.json()["language"]) == ("Asia/Yekaterinburg", "en")
    (changed,) = await cabinet.events("cabinet.user.contact_changed", user_id=str(user_id))
    assert sorted(changed["changed_fields"]) == ["language", "time_zone"]
    assert changed["email"] == email
    bad = await cabinet.client.patch(
        "/api/cabinet/me",
        headers={"Authorization": f"Bearer {token}"},
        json={"time_zone": "Mars/Base"},
    )
    assert bad.status_code == 422


async def test_a_second_registration_tells_the_owner_and_answers_as_for_a_new_address(
    cabinet: Cabinet,
) -> None:
    email, user_id = await cabinet.register(language="en")
    registered_before = len(await cabinet.events("cabinet.user.registered"))

    async def register_again() -> dict[str, object]:
        r = await cabinet.client.post(
            "/api/cabinet/registrations",
            json={"email": email.upper(), "password": "another long one", "name": "Mallory"},
        )
        assert r.status_code == 202
        return dict(r.json())

    fresh = await cabinet.client.post(
        "/api/cabinet/registrations",
        json={"email": f"n.{uuid.uuid4().hex[:8]}@example.com", "password": "x" * 12, "name": "N"},
    )
    assert await register_again() == fresh.json()
    (attempt,) = await cabinet.events("cabinet.user.registration_attempted", user_id=str(user_id))
    assert (attempt["email"], attempt["name"], attempt["language"]) == (email, "Анна", "en")
    assert len(await cabinet.events("cabinet.user.registered")) == registered_before + 1

    # Not a way to flood the owner's mailbox: two notices an hour at most.
    for _ in range(3):
        assert await register_again() == fresh.json()
    attempts = await cabinet.events("cabinet.user.registration_attempted", user_id=str(user_id))
    assert len(attempts) == 2


async def test_resending_the_verification_link_is_limited_and_tells_nobody_anything(
    cabinet: Cabinet,
) -> None:
    email, user_id = await cabinet.register()
    (first,) = await cabinet.events(
        "cabinet.user.email_verification_requested", user_id=str(user_id)
    )
    resend = "/api/cabinet/email-verifications/resend"
    sent = await cabinet.client.post(resend, json={"email": email})
    ghost = await cabinet.client.post(resend, json={"email": f"g.{uuid.uuid4().hex}@example.com"})
    assert sent.status_code == ghost.status_code == 202
    assert sent.json() == ghost.json()
    links = await cabinet.events("cabinet.user.email_verification_requested", user_id=str(user_id))
    assert len(links) == 2
    # Links lead to the public origin (the gateway), never to cabinet's own port.
    assert links[1]["verification_url"].startswith("http://127.0.0.1:8080/verify-email#token=")

    old = await cabinet.client.post(
        "/api/cabinet/email-verifications",
        json={"token": _token_from(first["verification_url"])},
    )
    assert (old.status_code, old.json()["code"]) == (400, "invalid_token")  # replaced
    new = await cabinet.client.post(
        "/api/cabinet/email-verifications",
        json={"token": _token_from(links[1]["verification_url"])},
    )
    assert new.status_code == 204

    verified = await cabinet.client.post(resend, json={"email": email})
    assert verified.status_code == 202 and verified.json() == ghost.json()
    links = await cabinet.events("cabinet.user.email_verification_requested", user_id=str(user_id))
    assert len(links) == 2  # a verified address gets no new link

    # Three an hour per address, known or not; then 429 for both alike.
    for address in (email, f"g2.{uuid.uuid4().hex}@example.com"):
        for _ in range(3):
            await cabinet.client.post(resend, json={"email": address})
        limited = await cabinet.client.post(resend, json={"email": address})
        assert limited.status_code == 429
        assert limited.json()["code"] == "too_many_attempts"
        assert 1 <= int(limited.headers["retry-after"]) <= 3600


async def test_a_password_hashed_with_older_parameters_is_rehashed_at_login(
    cabinet: Cabinet,
) -> None:
    """argon2id parameters changed (credentials.ARGON2_*): a hash made with argon2-cffi's default
    still logs in, and is replaced by one with the current parameters."""
    from argon2 import PasswordHasher

    from .conftest import PASSWORD

    email, user_id = await cabinet.register()
    old = PasswordHasher().hash(PASSWORD)  # 64 MiB, three passes, four lanes
    await cabinet.sql("UPDATE users SET password_hash = $1 WHERE id = $2", old, user_id)

    r = await cabinet.login(email)
    assert r.status_code == 200, r.text
    (row,) = await cabinet.sql("SELECT password_hash FROM users WHERE id = $1", user_id)
    assert row["password_hash"] != old
    assert row["password_hash"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert (await cabinet.login(email)).status_code == 200
    assert (await cabinet.login(email, "not the password")).status_code == 401
