"""The foundation end to end: cabinet registers a user, notify and booking keep their copies.

HTTP request → cabinet's transaction (user row + outbox row) → relay → RabbitMQ →
notify's and booking's quorum queues → inbox + effect. Real PostgreSQL and RabbitMQ throughout.
"""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from servicekit.db.engine import asyncpg_dsn
from servicekit.testing import wait_until

from ..conftest import Stack

pytestmark = pytest.mark.asyncio(loop_scope="session")


def registration(email: str, **extra: object) -> dict[str, object]:
    return {
        "email": email,
        "password": "correct horse battery",
        "name": "Мария Иванова",
        "phone": "8 (916) 123-45-67",
        "time_zone": "Europe/Berlin",
        "language": "ru",
        **extra,
    }


async def find_user_id(stack: Stack, email: str) -> uuid.UUID:
    r = await stack["cabinet"].client.post(
        "/api/cabinet/users/search", json={"email": email}, headers=stack.auth("admin")
    )
    assert r.status_code == 200, r.text
    (item,) = r.json()["items"]
    return uuid.UUID(item["id"])


async def raw_rows(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def test_registration_reaches_notify_and_booking_with_contacts_encrypted(
    stack: Stack,
) -> None:
    email = f"Maria.{uuid.uuid4().hex[:8]}@Example.COM"
    r = await stack["cabinet"].client.post(
        "/api/cabinet/registrations",
        json=registration(email),
        headers={"X-Correlation-ID": "reg-flow-1"},
    )
    assert r.status_code == 202, r.text
    assert r.headers["x-correlation-id"] == "reg-flow-1"
    user_id = await find_user_id(stack, email.lower())
    me = stack.auth("client", sub=user_id)

    async def notify_has_it() -> bool:
        got = await stack["notify"].client.get(f"/api/notify/recipients/{user_id}", headers=me)
        return got.status_code == 200

    await wait_until(notify_has_it, timeout=15)
    recipient = (
        await stack["notify"].client.get(f"/api/notify/recipients/{user_id}", headers=me)
    ).json()
    assert recipient["email"] == email.split("@")[0] + "@example.com"  # domains are case-free
    assert recipient["name"] == "Мария Иванова"
    assert recipient["phone"] == "+79161234567"
    assert (recipient["time_zone"], recipient["language"]) == ("Europe/Berlin", "ru")

    async def booking_has_it() -> bool:
        got = await stack["booking"].client.get(f"/api/booking/clients/{user_id}", headers=me)
        return got.status_code == 200

    await wait_until(booking_has_it, timeout=15)

    # At rest, every copy is ciphertext.
    for service, table, key in (
        ("cabinet", "users", "id"),
        ("notify", "recipients", "user_id"),
        ("booking", "clients", "user_id"),
    ):
        (row,) = await raw_rows(
            stack[service].database_url, f"SELECT * FROM {table} WHERE {key} = '{user_id}'"
        )
        flat = " ".join(str(v) for v in row.values())
        assert "Example" not in flat and "example" not in flat, service
        assert "Мария" not in flat and "9161234567" not in flat, service
        assert str(row["name"]).startswith("gAAAAA"), service  # a Fernet token

    # The request's correlation id is on the outbox row and the message that carried it.
    (outbox_row,) = await raw_rows(
        stack["cabinet"].database_url,
        "SELECT event_id, correlation_id, published_at, body FROM outbox "
        "WHERE event_type = 'cabinet.user.registered' AND correlation_id = 'reg-flow-1'",
    )
    assert outbox_row["published_at"] is not None
    assert outbox_row["body"] is None  # published: the row keeps no message
    for service in ("notify", "booking"):
        inbox_rows = await raw_rows(
            stack[service].database_url,
            f"SELECT consumer FROM inbox WHERE event_id = '{outbox_row['event_id']}'",
        )
        assert [r["consumer"] for r in inbox_rows] == [f"{service}.user-events"]


async def test_someone_else_gets_404_and_admin_finds_by_email_in_any_case(stack: Stack) -> None:
    email = f"owner.{uuid.uuid4().hex[:8]}@example.com"
    r = await stack["cabinet"].client.post(
        "/api/cabinet/registrations", json=registration(email, phone=None)
    )
    assert r.status_code == 202
    user_id = await find_user_id(stack, email)
    notify = stack["notify"].client

    async def visible() -> bool:
        got = await notify.get(f"/api/notify/recipients/{user_id}", headers=stack.auth("admin"))
        return got.status_code == 200

    await wait_until(visible, timeout=15)
    stranger = stack.auth("client")
    r = await notify.get(f"/api/notify/recipients/{user_id}", headers=stranger)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
    r = await stack["booking"].client.get(f"/api/booking/clients/{user_id}", headers=stranger)
    assert r.status_code == 404
    r = await notify.post(
        "/api/notify/recipients/search", json={"email": email.upper()}, headers=stack.auth("admin")
    )
    assert [i["user_id"] for i in r.json()["items"]] == [str(user_id)]
    r = await notify.post("/api/notify/recipients/search", json={"email": email}, headers=stranger)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = await notify.get(f"/api/notify/recipients/{user_id}")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = await stack["cabinet"].client.get("/api/cabinet/me", headers=stack.auth(sub=user_id))
    assert r.json()["email"] == email


async def test_registering_an_address_twice_answers_the_same_and_creates_nothing(
    stack: Stack,
) -> None:
    email = f"twice.{uuid.uuid4().hex[:8]}@example.com"
    # The outbox keeps no body once a row is published: this test's rows are the ones after.
    (mark,) = await raw_rows(
        stack["cabinet"].database_url, "SELECT coalesce(max(seq), 0) AS seq FROM outbox"
    )
    first = await stack["cabinet"].client.post(
        "/api/cabinet/registrations", json=registration(email, phone=None)
    )
    again = await stack["cabinet"].client.post(
        "/api/cabinet/registrations",
        json=registration(email.upper(), phone=None, name="Someone Else"),
    )
    assert (first.status_code, first.json()) == (again.status_code, again.json())
    await find_user_id(stack, email)
    rows = await raw_rows(
        stack["cabinet"].database_url, f"SELECT event_type FROM outbox WHERE seq > {mark['seq']}"
    )
    # One registration: its event, its verification link and one lead (a registration
    # without a booking, docs/leads.md); the second attempt creates nothing and only tells the
    # address's owner.
    assert sorted(r["event_type"] for r in rows) == [
        "cabinet.lead.created",
        "cabinet.user.email_verification_requested",
        "cabinet.user.registered",
        "cabinet.user.registration_attempted",
    ]

    async def owner_told() -> list[object]:
        return [
            m
            for m in stack.mail.messages(to=email)
            if "Кто-то пытался зарегистрироваться" in (m.subject or "")
        ]

    await wait_until(owner_told, timeout=30)
    (told,) = await owner_told()
    assert "http://127.0.0.1:8080/reset-password" in (told.text or "")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{broken", None),
        (b'{"email": "x@example.com", "password": 12, "name": "A"}', "password"),
        (
            b'{"email": "x@example.com", "password": "long enough pw", "name": "A", '
            b'"language": "de"}',
            "language",
        ),
        (
            b'{"email": "x@example.com", "password": "long enough pw", "name": "A", '
            b'"time_zone": "Mars/Olympus"}',
            "time_zone",
        ),
        (b'{"email": "not-an-email", "password": "long enough pw", "name": "A"}', "email"),
    ],
    ids=["bad-json", "wrong-type", "unknown-enum", "bad-zone", "bad-email"],
)
async def test_bad_registration_is_422_problem(
    stack: Stack, body: bytes, field: str | None
) -> None:
    r = await stack["cabinet"].client.post(
        "/api/cabinet/registrations", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["code"] == "validation_failed"
    if field is not None:
        assert field in [e["loc"][-1] for e in problem["errors"]]


@pytest.mark.parametrize("name", ["booking", "content", "cabinet", "notify"])
async def test_every_service_serves_health_readiness_metrics_and_its_openapi(
    stack: Stack, name: str
) -> None:
    client = stack[name].client
    assert (await client.get("/healthz")).json() == {"status": "ok", "service": name}
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    metrics = (await client.get("/metrics")).text
    assert "outbox_pending_events" in metrics and "outbox_oldest_pending_age_seconds" in metrics
    if name in ("booking", "notify"):  # they consume: their DLQ depth is exported
        assert f'dlq_messages{{queue="{name}.user-events.dlq"}} 0.0' in metrics
    spec = (await client.get("/openapi.json")).json()
    resource_paths = [p for p in spec["paths"] if p not in ("/healthz", "/readyz")]
    assert all(
        p.startswith(f"/api/{name}/") or p == "/.well-known/jwks.json" for p in resource_paths
    ), resource_paths
    assert (await client.get("/docs")).status_code == 200


async def test_admin_command_lists_every_dlq_of_a_service(stack: Stack) -> None:
    import asyncio
    import os
    import subprocess
    import sys

    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "notify.entrypoints.cli", "dlq", "list"],
        env={**os.environ, "AMQP_URL": stack.amqp_url, "ENVIRONMENT": "test"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "notify.user-events.dlq: 0 message(s)" in done.stdout
