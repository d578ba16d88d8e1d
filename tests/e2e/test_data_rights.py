"""Data-subject requests across the four services, through RabbitMQ and a gateway for real.

A user with data in every service (account, consents history, diary in cabinet; appointments,
payments, an intake form and a specialist's outcome note in booking; a questionnaire run in
content; the messages notify sent) asks for an export: every part arrives (booking, content and
notify serve theirs through the gateway by a signed link), the archive holds all of it decrypted
and nothing of another user, and its mailed link works once. With content stopped the export
waits and completes when content is back, or completes marked incomplete at the final deadline.
Then the user asks to be erased: after the cooling-off period nobody can log in, no endpoint
returns their data, no row holds it (in clear or in ciphertext the keys open), no message is
sent, and events about them arriving later recreate nothing.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import re
import uuid
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import asyncpg
import pytest
from contracts.booking.v1 import AppointmentConfirmedV1
from contracts.cabinet.v1 import UserRegisteredV1
from contracts.registry import spec_of
from contracts.testing import example_envelope
from contracts.types import Money
from pydantic import BaseModel
from sandbox.serving import ApiGateway, serve_app
from sandbox.smtp import MessageStore
from sandbox.telegram import running_telegram_fake
from sandbox.testing import running_smtp_sink
from servicekit.db.engine import asyncpg_dsn
from servicekit.security.fields import Keyring
from servicekit.security.signing import save_keyset
from servicekit.settings import DEV_BLIND_INDEX_KEY, DEV_FIELD_KEY
from servicekit.testing import (
    FakeClock,
    RunningService,
    TokenMint,
    migrated_database,
    running_service,
    temporary_vhost,
    wait_until,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

SERVICES = ("cabinet", "notify", "booking", "content")
SETTINGS = {
    "booking": "BookingSettings",
    "content": "ContentSettings",
    "cabinet": "CabinetSettings",
    "notify": "NotifySettings",
}
PHQ9 = "6d0e6f3c-6f3e-4b8e-9a53-0c5a3e1f0901"
LINK = re.compile(r"/data-export/([0-9a-f-]+)#token=([A-Za-z0-9_\-]+)")


@dataclass
class World:
    """Four services on one vhost behind one gateway; content can be stopped and restarted."""

    services: dict[str, RunningService]
    tokens: TokenMint
    amqp_url: str
    mail: MessageStore
    gateway: ApiGateway
    clock: FakeClock
    start_content: Any
    stop_content: Any
    users: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> RunningService:
        return self.services[name]

    def auth(self, *roles: str, sub: uuid.UUID | None = None) -> dict[str, str]:
        return self.tokens.auth(*roles, sub=sub)

    async def sql(self, service: str, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(asyncpg_dsn(self.services[service].database_url))
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    async def publish(self, payload: BaseModel) -> uuid.UUID:
        spec = spec_of(type(payload))
        envelope = example_envelope(type(payload), **payload.model_dump())
        connection = await aio_pika.connect(self.amqp_url)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(
                spec.exchange, aio_pika.ExchangeType.TOPIC, durable=True
            )
            await exchange.publish(
                aio_pika.Message(
                    envelope.model_dump_json().encode(),
                    message_id=str(envelope.event_id),
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=spec.routing_key,
            )
        return envelope.event_id


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    tokens = TokenMint()
    keys_file = tmp_path_factory.mktemp("keys") / "signing.json"
    save_keyset(keys_file, [tokens.signing_key])
    clock = FakeClock()
    gateway = ApiGateway()
    async with contextlib.AsyncExitStack() as stack:
        amqp_url = await stack.enter_async_context(temporary_vhost())
        smtp = await stack.enter_async_context(running_smtp_sink())
        telegram = await stack.enter_async_context(running_telegram_fake())
        origin = await stack.enter_async_context(serve_app(gateway))
        common: dict[str, Any] = {
            "amqp_url": amqp_url,
            "tokens": tokens,
            "jwt_signing_keys_file": str(keys_file),
            "smtp_host": smtp.smtp_host,
            "smtp_port": smtp.smtp_port,
            "telegram_api_base": telegram.base_url,
            "telegram_bot_token": telegram.token,
            "registrations_per_address_per_hour": 100_000,
            "public_origin": origin,
            "data_export_reask_minutes": 1,
            "data_export_final_hours": 1,
        }

        def service_args(name: str) -> tuple[Any, Any, Any]:
            bootstrap = importlib.import_module(f"{name}.bootstrap")
            settings = getattr(importlib.import_module(f"{name}.config"), SETTINGS[name])
            return bootstrap.definition, bootstrap.build_runtime, settings

        services: dict[str, RunningService] = {}
        for name in SERVICES:
            if name == "content":
                continue
            extra = {"clock": clock} if name == "cabinet" else {}
            services[name] = await stack.enter_async_context(
                running_service(*service_args(name), **common, **extra)
            )
            gateway.apps[name] = services[name].app

        # content runs in a stack of its own on a database of the session, so a test can stop
        # it and start it again where it was (its queues wait on the vhost meanwhile).
        content_url = await stack.enter_async_context(
            migrated_database("content", service_args("content")[0].migrations_dir)
        )
        content_stack: list[contextlib.AsyncExitStack] = []

        async def stop_content() -> None:
            gateway.apps.pop("content", None)
            await content_stack.pop().aclose()

        async def start_content() -> None:
            inner = contextlib.AsyncExitStack()
            running = await inner.enter_async_context(
                running_service(*service_args("content"), database_url=content_url, **common)
            )
            content_stack.append(inner)
            services["content"] = running
            gateway.apps["content"] = running.app

        await start_content()
        try:
            yield World(
                services, tokens, amqp_url, smtp.store, gateway, clock, start_content, stop_content
            )
        finally:
            while content_stack:
                await content_stack.pop().aclose()


# -- the data a user has everywhere ------------------------------------------------------


async def _register(world: World, name: str) -> tuple[uuid.UUID, str]:
    email = f"rights.{uuid.uuid4().hex[:10]}@example.com"
    r = await world["cabinet"].client.post(
        "/api/cabinet/registrations",
        json={"email": email, "password": "correct horse battery", "name": name},
    )
    assert r.status_code == 202, r.text
    found = await world["cabinet"].client.post(
        "/api/cabinet/users/search", json={"email": email}, headers=world.auth("admin")
    )
    return uuid.UUID(found.json()["items"][0]["id"]), email


async def _documents(world: World) -> dict[str, str]:
    cabinet = world["cabinet"].client
    docs = (await cabinet.get("/api/cabinet/consent-documents")).json()["items"]
    found = {d["purpose"]: d["id"] for d in docs}
    for purpose in ("health_data_processing", "transfer_to_specialist"):
        if purpose not in found:
            r = await cabinet.post(
                "/api/cabinet/consent-documents",
                headers=world.auth("admin"),
                json={"purpose": purpose, "title": "Согласие", "text": "Текст согласия"},
            )
            found[purpose] = r.json()["id"]
    return found


async def _seed_booking(world: World, user_id: uuid.UUID, secret: str) -> dict[str, uuid.UUID]:
    """booking's rows of a client (written through booking's own tables, encrypted as booking
    writes them): two appointments, a payment, an intake form, a specialist's outcome note."""
    from booking.adapters.tables import Appointment, IntakeForm, OutcomeRecord, Payment

    specialist = uuid.uuid4()
    now = datetime.now(UTC)
    ids = {"appointment": uuid.uuid4(), "payment": uuid.uuid4(), "intake": uuid.uuid4()}
    async with world["booking"].runtime.uow() as uow:
        for n, appointment_id in enumerate((ids["appointment"], uuid.uuid4())):
            starts = now - timedelta(days=10 - n)
            uow.session.add(
                Appointment(
                    id=appointment_id,
                    client_id=user_id,
                    specialist_id=specialist,
                    service_id=uuid.uuid4(),
                    service_name="Консультация",
                    specialist_name="Анна Петрова",
                    specialist_time_zone="Europe/Moscow",
                    format="online",
                    duration_minutes=50,
                    price_amount=300000,
                    buffer_before_minutes=0,
                    buffer_after_minutes=10,
                    starts_at=starts,
                    ends_at=starts + timedelta(minutes=50),
                    occupied_from=starts,
                    occupied_until=starts + timedelta(minutes=60),
                    status="completed" if n == 0 else "cancelled",
                    prepayment_required=True,
                    policy={},
                    cancel_reason=None if n == 0 else f"причина {secret}",
                    created_at=now,
                    updated_at=now,
                )
            )
        await uow.session.flush()
        uow.session.add(
            Payment(
                id=ids["payment"],
                appointment_id=ids["appointment"],
                client_id=user_id,
                amount=300000,
                status="succeeded",
                provider_status="succeeded",
                paid_at=now,
                created_at=now,
                updated_at=now,
            )
        )
        uow.session.add(
            IntakeForm(
                id=ids["intake"],
                client_id=user_id,
                specialist_id=specialist,
                appointment_id=ids["appointment"],
                answers=json.dumps({"complaint": f"анкета {secret}"}, ensure_ascii=False),
                submitted_at=now,
            )
        )
        uow.session.add(
            OutcomeRecord(
                id=uuid.uuid4(),
                appointment_id=ids["appointment"],
                client_id=user_id,
                specialist_id=specialist,
                notes=f"заметки специалиста {secret}",
                created_at=now,
                updated_at=now,
            )
        )
        await uow.commit()
    ids["specialist"] = specialist
    return ids


async def _person(world: World, name: str) -> dict[str, Any]:
    """A client with data in all four services."""
    user_id, email = await _register(world, name)
    secret = f"секрет-{uuid.uuid4().hex[:8]}"
    me = world.auth("client", sub=user_id)
    cabinet, content = world["cabinet"].client, world["content"].client
    for document_id in (await _documents(world)).values():
        r = await cabinet.post(
            "/api/cabinet/me/consents", headers=me, json={"document_id": document_id}
        )
        assert r.status_code == 201, r.text
    diary = await cabinet.post(
        "/api/cabinet/me/diary-entries",
        headers=me,
        json={
            "date": "2026-12-01",
            "mood": 3,
            "emotions": ["sadness"],
            "text": f"дневник {secret}",
        },
    )
    assert diary.status_code == 201, diary.text

    async def content_has_consent() -> bool:
        rows = await world.sql(
            "content", "SELECT 1 FROM consents WHERE user_id = $1 AND granted", user_id
        )
        return len(rows) == 2

    await wait_until(content_has_consent, timeout=30)
    run = await content.post("/api/content/runs", headers=me, json={"questionnaire_id": PHQ9})
    assert run.status_code == 201, run.text
    answers = {f"q{n}": "not_at_all" for n in range(1, 10)}
    done = await content.post(
        f"/api/content/runs/{run.json()['id']}/complete", headers=me, json={"answers": answers}
    )
    assert done.status_code == 200, done.text
    booking = await _seed_booking(world, user_id, secret)
    feed = await world["booking"].client.post("/api/booking/me/calendar-feed", headers=me, json={})
    assert feed.status_code == 201, feed.text
    # content's copy of the completed session (as booking's events would make it), and a
    # review of it: a post, with its moderation record, is the user's data in content too.
    await world.sql(
        "content",
        "INSERT INTO appointments (appointment_id, client_id, specialist_id, starts_at, ends_at,"
        " status, confirmed, changed_at) VALUES ($1, $2, $3, now() - interval '10 days',"
        " now() - interval '10 days' + interval '50 minutes', 'completed', true, now())",
        booking["appointment"],
        user_id,
        booking["specialist"],
    )
    review = await content.post(
        "/api/content/reviews",
        headers=me,
        json={
            "appointment_id": str(booking["appointment"]),
            "rating": 5,
            "body": f"Очень помогло, спасибо за внимательность. отзыв {secret}",
        },
    )
    assert review.status_code == 201, review.text
    approved = await content.post(
        f"/api/content/moderation/posts/{review.json()['id']}/decision",
        headers=world.auth("admin"),
        json={"decision": "approve"},
    )
    assert approved.status_code == 200, approved.text

    async def mailed() -> bool:  # notify sent them the verification mail
        rows = await world.sql(
            "notify", "SELECT 1 FROM deliveries WHERE user_id = $1 AND status = 'sent'", user_id
        )
        return bool(rows)

    await wait_until(mailed, timeout=30)
    return {
        "id": user_id,
        "email": email,
        "name": name,
        "secret": secret,
        "auth": me,
        "run": run.json()["id"],
        "booking": booking,
    }


async def _people(world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    if not world.users:
        world.users["a"] = await _person(world, "Вера Экспортова")
        world.users["b"] = await _person(world, "Борис Другой")
    return world.users["a"], world.users["b"]


async def _export(world: World, person: dict[str, Any]) -> dict[str, Any]:
    r = await world["cabinet"].client.post("/api/cabinet/me/data-exports", headers=person["auth"])
    assert r.status_code == 202, r.text
    return dict(r.json())


async def _state(world: World, person: dict[str, Any], export_id: str) -> dict[str, Any]:
    r = await world["cabinet"].client.get(
        f"/api/cabinet/me/data-exports/{export_id}", headers=person["auth"]
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _finished(world: World, person: dict[str, Any], export_id: str) -> dict[str, Any]:
    async def done() -> bool:
        return (await _state(world, person, export_id))["status"] != "collecting"

    await wait_until(done, timeout=60)
    return await _state(world, person, export_id)


async def _mailed_link(world: World, person: dict[str, Any], export_id: str) -> str:
    async def token() -> str | None:
        for message in world.mail.messages(to=person["email"]):
            for found in LINK.finditer(message.text or ""):
                if found.group(1) == export_id:
                    return found.group(2)
        return None

    await wait_until(token, timeout=30)
    found = await token()
    assert found is not None
    return found


# -- export ---------------------------------------------------------------------------------


async def test_an_export_holds_everything_of_the_user_and_nothing_of_another(
    world: World,
) -> None:
    a, b = await _people(world)
    export = await _export(world, a)
    assert {p["service"]: p["status"] for p in export["parts"]} == {
        "booking": "requested",
        "content": "requested",
        "notify": "requested",
    }
    assert export["legal_deadline"] > export["requested_at"][:10]
    again = await world["cabinet"].client.post("/api/cabinet/me/data-exports", headers=a["auth"])
    assert (again.status_code, again.json()["code"]) == (409, "export_in_progress")
    # Another user cannot see it.
    other = await world["cabinet"].client.get(
        f"/api/cabinet/me/data-exports/{export['id']}", headers=b["auth"]
    )
    assert other.status_code == 404

    state = await _finished(world, a, export["id"])
    assert state["status"] == "completed", state
    assert {p["service"]: p["status"] for p in state["parts"]} == {
        "booking": "fetched",
        "content": "fetched",
        "notify": "fetched",
    }
    token = await _mailed_link(world, a, export["id"])
    url = f"/api/cabinet/me/data-exports/{export['id']}/download"
    # Someone else holding the link gets nothing.
    stolen = await world["cabinet"].client.post(url, headers=b["auth"], json={"token": token})
    assert stolen.status_code == 404
    got = await world["cabinet"].client.post(url, headers=a["auth"], json={"token": token})
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(got.content))
    names = set(archive.namelist())
    assert {"cabinet.json", "booking.json", "content.json", "notify.json"} <= names
    summary = archive.read("ПРОЧТИТЕ.txt").decode()
    everything = "\n".join(archive.read(n).decode() for n in names)

    cabinet_part = json.loads(archive.read("cabinet.json"))
    assert cabinet_part["data"]["account"]["email"] == a["email"]
    assert [d["text"] for d in cabinet_part["data"]["diary"]] == [f"дневник {a['secret']}"]
    assert {c["purpose"] for c in cabinet_part["data"]["consents"]} == {
        "health_data_processing",
        "transfer_to_specialist",
    }
    booking_part = json.loads(archive.read("booking.json"))
    assert len(booking_part["data"]["appointments"]) == 2
    assert booking_part["data"]["payments"][0]["id"] == str(a["booking"]["payment"])
    assert booking_part["data"]["intake_forms"][0]["answers"] == {
        "complaint": f"анкета {a['secret']}"
    }
    assert booking_part["data"]["client"][0]["email"] == a["email"]
    # The specialist's own notes are withheld, and the summary says so and why.
    assert f"заметки специалиста {a['secret']}" not in everything
    assert booking_part["withheld"][0]["category"] == "outcome_notes"
    [feed] = booking_part["data"]["calendar"]
    assert feed["kind"] == "feed" and "token" not in json.dumps(feed)
    assert "outcome_notes (1)" in summary and "152-ФЗ" in summary
    content_part = json.loads(archive.read("content.json"))
    [run] = content_part["data"]["questionnaire_runs"]
    assert run["id"] == a["run"] and len(run["answers"]) == 9
    assert run["result"]["score"] == 0
    [review] = content_part["data"]["posts"]
    assert review["kind"] == "review" and f"отзыв {a['secret']}" in review["body"]
    assert review["moderation"], "the moderation record of the review is in"
    notify_part = json.loads(archive.read("notify.json"))
    assert notify_part["data"]["recipient"][0]["email"] == a["email"]
    assert notify_part["data"]["messages"], "the messages notify sent are in"

    # Nothing of the other user.
    for theirs in (b["secret"], b["email"], str(b["id"]), b["run"], str(b["booking"]["payment"])):
        assert theirs not in everything

    # The link works once.
    replay = await world["cabinet"].client.post(url, headers=a["auth"], json={"token": token})
    assert (replay.status_code, replay.json()["code"]) == (410, "download_link_invalid")
    [row] = await world.sql(
        "cabinet", "SELECT archive FROM data_exports WHERE id = $1", uuid.UUID(export["id"])
    )
    assert row["archive"] is None  # nothing of it is kept once handed out
    # Each service's copy of its part is gone too (cabinet fetched it once).
    for service in ("booking", "content", "notify"):
        rows = await world.sql(
            service,
            "SELECT body FROM export_files WHERE export_id = $1",
            uuid.UUID(export["id"]),
        )
        assert [r["body"] for r in rows] == [None]


async def test_an_unused_link_expires(world: World) -> None:
    a, _ = await _people(world)
    export = await _export(world, a)
    await _finished(world, a, export["id"])
    token = await _mailed_link(world, a, export["id"])
    world.clock.offset = timedelta(hours=73)  # past data_export_link_hours
    try:
        expired = await world["cabinet"].client.post(
            f"/api/cabinet/me/data-exports/{export['id']}/download",
            headers=a["auth"],
            json={"token": token},
        )
        await world["cabinet"].runtime.timers.run_due()
    finally:
        world.clock.offset = timedelta()
    assert (expired.status_code, expired.json()["code"]) == (410, "download_link_invalid")
    # The unused archive is dropped when its link expires.
    [row] = await world.sql(
        "cabinet", "SELECT archive FROM data_exports WHERE id = $1", uuid.UUID(export["id"])
    )
    assert row["archive"] is None


async def test_an_export_waits_for_a_stopped_service_and_completes_when_it_is_back(
    world: World,
) -> None:
    a, _ = await _people(world)
    await world.stop_content()
    try:
        export = await _export(world, a)

        async def others_in() -> bool:
            parts = {
                p["service"]: p["status"] for p in (await _state(world, a, export["id"]))["parts"]
            }
            return parts["booking"] == parts["notify"] == "fetched"

        await wait_until(others_in, timeout=60)
        state = await _state(world, a, export["id"])
        assert state["status"] == "collecting"
        assert {p["service"]: p["status"] for p in state["parts"]}["content"] == "requested"
    finally:
        await world.start_content()
    state = await _finished(world, a, export["id"])
    assert state["status"] == "completed", state
    assert all(p["status"] == "fetched" for p in state["parts"])


async def test_an_export_still_missing_a_part_at_the_final_deadline_is_marked_incomplete(
    world: World,
) -> None:
    a, _ = await _people(world)
    await world.stop_content()
    try:
        export = await _export(world, a)

        async def others_in() -> bool:
            parts = {
                p["service"]: p["status"] for p in (await _state(world, a, export["id"]))["parts"]
            }
            return parts["booking"] == parts["notify"] == "fetched"

        await wait_until(others_in, timeout=60)
        cabinet = world["cabinet"].runtime
        # An admin sees it open, against its legal deadline.
        listed = await world["cabinet"].client.get(
            "/api/cabinet/data-exports", headers=world.auth("admin")
        )
        mine = [i for i in listed.json()["items"] if i["id"] == export["id"]]
        assert mine and mine[0]["overdue"] is False and mine[0]["parts_missing"] == ["content"]
        world.clock.offset = timedelta(minutes=2)  # past the re-ask time: content asked again
        await cabinet.timers.run_due()
        world.clock.offset = timedelta(hours=2)  # past the final deadline
        await cabinet.timers.run_due()
    finally:
        world.clock.offset = timedelta()
        await world.start_content()
    state = await _finished(world, a, export["id"])
    assert state["status"] == "incomplete"
    parts = {p["service"]: p for p in state["parts"]}
    assert parts["content"]["status"] == "missing" and parts["content"]["asked"] >= 2
    assert "content" in state["incomplete_reason"]
    token = await _mailed_link(world, a, export["id"])
    got = await world["cabinet"].client.post(
        f"/api/cabinet/me/data-exports/{export['id']}/download",
        headers=a["auth"],
        json={"token": token},
    )
    archive = zipfile.ZipFile(io.BytesIO(got.content))
    assert "content.json" not in archive.namelist()
    assert "архив неполный" in archive.read("ПРОЧТИТЕ.txt").decode()


# -- erasure --------------------------------------------------------------------------------


def _opens_to(keyring: Keyring, value: str, needles: list[str]) -> bool:
    try:
        plain = keyring.decrypt(value)
    except Exception:
        return False
    return any(n in plain for n in needles)


async def _every_value(world: World, service: str) -> list[str]:
    """Every text value of every table of a service's database (except the migration table)."""
    found: list[str] = []
    tables = await world.sql(
        service,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "AND table_name <> 'alembic_version'",
    )
    for t in tables:
        for row in await world.sql(service, f'SELECT * FROM "{t["table_name"]}"'):
            found += [str(v) for v in dict(row).values() if v is not None]
    return found


async def test_after_erasure_nothing_of_the_user_is_left_or_sent(world: World) -> None:
    a, b = await _people(world)
    cabinet = world["cabinet"]
    # Asked, then cancelled within the cooling-off period: nothing happens.
    asked = await cabinet.client.post("/api/cabinet/me/erasure-requests", headers=a["auth"])
    assert asked.status_code == 202, asked.text
    assert asked.json()["status"] == "cooling_off"
    cancelled = await cabinet.client.post(
        f"/api/cabinet/me/erasure-requests/{asked.json()['id']}/cancel", headers=a["auth"]
    )
    assert cancelled.json()["status"] == "cancelled"
    # Another user cannot cancel (or see) someone's request.
    asked = await cabinet.client.post("/api/cabinet/me/erasure-requests", headers=a["auth"])
    request_id = asked.json()["id"]
    peek = await cabinet.client.get(
        f"/api/cabinet/me/erasure-requests/{request_id}", headers=b["auth"]
    )
    assert peek.status_code == 404
    login = {"email": a["email"], "password": "correct horse battery"}
    assert (await cabinet.client.post("/api/cabinet/sessions", json=login)).status_code == 200
    mails_before = len(world.mail.messages(to=a["email"]))

    world.clock.offset = timedelta(days=7, minutes=1)
    try:
        await cabinet.runtime.timers.run_due()
    finally:
        world.clock.offset = timedelta()

    # Login stops at once.
    refused = await cabinet.client.post("/api/cabinet/sessions", json=login)
    assert refused.status_code == 401

    async def confirmed() -> bool:
        rows = await world.sql(
            "cabinet",
            "SELECT status FROM erasure_requests WHERE id = $1",
            uuid.UUID(request_id),
        )
        return rows[0]["status"] == "completed"

    await wait_until(confirmed, timeout=60)
    [done] = await world.sql(
        "cabinet", "SELECT confirmations FROM erasure_requests WHERE id = $1", uuid.UUID(request_id)
    )
    confirmations = json.loads(done["confirmations"])
    assert set(confirmations) == {"booking", "content", "notify"}
    assert confirmations["booking"]["retained"][0]["category"] == "appointments_and_payments"

    # No endpoint returns their data.
    me = a["auth"]
    assert (await cabinet.client.get("/api/cabinet/me", headers=me)).status_code in (401, 404)
    admin = world.auth("admin")
    assert (
        await world["booking"].client.get(f"/api/booking/clients/{a['id']}", headers=me)
    ).status_code == 404
    assert (
        await world["content"].client.get(f"/api/content/runs/{a['run']}", headers=me)
    ).status_code in (401, 404)
    reviews = await world["content"].client.get(
        f"/api/content/specialists/{a['booking']['specialist']}/reviews"
    )
    assert reviews.status_code in (200, 404) and a["secret"] not in reviews.text
    search = await cabinet.client.post(
        "/api/cabinet/users/search", json={"email": a["email"]}, headers=admin
    )
    assert search.json()["items"] == []

    # No row holds it: in clear, or in ciphertext the keys still open.
    keyring = Keyring([DEV_FIELD_KEY], DEV_BLIND_INDEX_KEY)
    needles = [a["email"], a["secret"], a["name"]]
    for service in SERVICES:
        values = await _every_value(world, service)
        plain = [v for v in values if any(n in v for n in needles)]
        assert plain == [], (service, plain[:3])
        opened = [v for v in values if v.startswith("gAAAAA") and _opens_to(keyring, v, needles)]
        assert opened == [], service
    # Payments are kept for accounting, anonymised.
    [payment] = await world.sql(
        "booking", "SELECT client_id FROM payments WHERE id = $1", a["booking"]["payment"]
    )
    assert payment["client_id"] != a["id"]
    # The other user's data is untouched.
    assert await world.sql("booking", "SELECT 1 FROM clients WHERE user_id = $1", b["id"])

    # Events about them arriving later recreate nothing and send nothing.
    starts = datetime.now(UTC) + timedelta(days=3)
    registered = await world.publish(
        UserRegisteredV1(
            user_id=a["id"],
            email=a["email"],
            name=a["name"],
            time_zone="Europe/Moscow",
            language="ru",
            roles=["client"],
            registered_at=datetime.now(UTC),
        )
    )
    late_appointment = uuid.uuid4()
    confirmed_late = await world.publish(
        AppointmentConfirmedV1(
            appointment_id=late_appointment,
            client_id=a["id"],
            service_id=uuid.uuid4(),
            service_name="Консультация",
            specialist_id=a["booking"]["specialist"],
            specialist_name="Анна Петрова",
            format="online",
            starts_at=starts,
            ends_at=starts + timedelta(minutes=50),
            specialist_time_zone="Europe/Moscow",
            price=Money(amount=300000),
            intake_required=False,
            reschedule_count=0,
        )
    )

    async def consumed_everywhere() -> bool:
        counts = []
        for service in ("booking", "content", "notify", "cabinet"):
            rows = await world.sql(
                service,
                "SELECT count(*) AS n FROM inbox WHERE event_id = ANY($1)",
                [registered, confirmed_late],
            )
            counts.append(rows[0]["n"])
        return all(n >= 1 for n in counts)

    await wait_until(consumed_everywhere, timeout=30)
    assert await world.sql("booking", "SELECT 1 FROM clients WHERE user_id = $1", a["id"]) == []
    assert (
        await world.sql("booking", "SELECT 1 FROM calendar_feeds WHERE user_id = $1", a["id"]) == []
    )
    assert await world.sql("content", "SELECT 1 FROM posts WHERE author_id = $1", a["id"]) == []
    assert await world.sql("notify", "SELECT 1 FROM recipients WHERE user_id = $1", a["id"]) == []
    assert await world.sql("notify", "SELECT 1 FROM deliveries WHERE user_id = $1", a["id"]) == []
    for service in ("cabinet", "content", "notify"):
        rows = await world.sql(
            service, "SELECT 1 FROM appointments WHERE appointment_id = $1", late_appointment
        )
        assert rows == [], service
    assert len(world.mail.messages(to=a["email"])) == mails_before
