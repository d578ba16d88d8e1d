"""A database that drops its connections (a restart, pg_terminate_backend) or hangs: clients get
503 + Retry-After, never 500; the next request gets a healthy connection; /readyz answers fast.

The service under test is a small one made of servicekit's parts, with a route on each way to
the database: the ORM session, the unit of work's raw asyncpg path, and ``read_connection``.
Faults are injected on the test's own database only (``terminate_connections``) and with
servicekit.testing's TCP proxy; the machine's servers are never touched.
"""

from __future__ import annotations

import asyncio
import collections
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, Request
from servicekit.db.driver import read_connection
from servicekit.db.engine import make_engine
from servicekit.db.tables import install_kit_schema
from servicekit.runtime import ServiceDefinition, ServiceRuntime
from servicekit.settings import ServiceSettings
from servicekit.testing import (
    RunningService,
    TcpProxy,
    TokenMint,
    running_service,
    temporary_database,
    temporary_vhost,
    terminate_connections,
)
from sqlalchemy import Column, Integer, MetaData, Table, Text, text
from sqlalchemy.dialects.postgresql import UUID

metadata = MetaData()
notes = Table(
    "notes",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("body", Text, nullable=False),
    Column("n", Integer, nullable=False),
)

router = APIRouter(prefix="/notes")


@router.post("/orm", status_code=201)
async def write_with_session(request: Request) -> dict[str, str]:
    runtime: ServiceRuntime = request.app.state.runtime
    async with runtime.uow() as uow:
        note = uuid.uuid4()
        await uow.session.exec(notes.insert().values(id=note, body="orm", n=1))  # type: ignore[call-overload]
        await uow.session.exec(text("SELECT count(*) FROM notes"))  # type: ignore[call-overload]
        await uow.commit()
    return {"id": str(note)}


@router.post("/raw", status_code=201)
async def write_raw(request: Request) -> dict[str, str]:
    runtime: ServiceRuntime = request.app.state.runtime
    async with runtime.uow() as uow:
        conn = await uow.connection()
        note = uuid.uuid4()
        await conn.execute("INSERT INTO notes (id, body, n) VALUES ($1, 'raw', 2)", note)
        await conn.fetchval("SELECT count(*) FROM notes")
        await uow.commit()
    return {"id": str(note)}


@router.get("/count")
async def count(request: Request) -> dict[str, int]:
    runtime: ServiceRuntime = request.app.state.runtime
    async with read_connection(runtime.engine) as conn:
        return {"count": int(await conn.fetchval("SELECT count(*) FROM notes"))}


definition = ServiceDefinition(
    name="cabinet",  # a known producer (its exchange); nothing else of cabinet
    title="faulty",
    description="a test service",
    metadata=metadata,
    migrations_dir=Path("."),
    routers=[router],
)


def build_runtime(settings: ServiceSettings, **kwargs: Any) -> ServiceRuntime:
    return ServiceRuntime(definition, settings, **kwargs)


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    async with temporary_database("faulty") as url:
        engine = make_engine(url, pool_size=1)
        async with engine.begin() as conn:
            await conn.run_sync(install_kit_schema)
            await conn.run_sync(metadata.create_all)
        await engine.dispose()
        yield url


@pytest.fixture
async def amqp_url() -> AsyncIterator[str]:
    async with temporary_vhost() as url:
        yield url


def _service(database_url: str, amqp_url: str, **settings: Any) -> Any:
    return running_service(
        definition,
        build_runtime,
        ServiceSettings,
        amqp_url=amqp_url,
        tokens=TokenMint(),
        database_url=database_url,
        db_pool_size=4,
        **settings,
    )


ROUTES = (("POST", "/api/cabinet/notes/orm"), ("POST", "/api/cabinet/notes/raw"))
ROUTES += (("GET", "/api/cabinet/notes/count"),)


async def _fill_pool(svc: RunningService) -> None:
    for method, path in ROUTES * 3:
        assert (await svc.client.request(method, path)).status_code in (200, 201)


async def test_first_request_after_the_database_dropped_every_connection_is_served(
    database_url: str, amqp_url: str
) -> None:
    async with _service(database_url, amqp_url) as svc:
        for method, path in ROUTES:
            await _fill_pool(svc)  # the pool holds connections the server is about to drop
            assert await terminate_connections(database_url) >= 1
            await asyncio.sleep(0.05)
            r = await svc.client.request(method, path)
            assert r.status_code in (200, 201), (path, r.status_code, r.text)


async def test_connections_dropped_under_load_give_503_never_500_and_service_recovers(
    database_url: str, amqp_url: str
) -> None:
    statuses: collections.Counter[tuple[str, int]] = collections.Counter()
    bad: list[str] = []
    stop = asyncio.Event()

    async def client_loop(svc: RunningService, method: str, path: str) -> None:
        while not stop.is_set():
            r = await svc.client.request(method, path)
            statuses[(path, r.status_code)] += 1
            if r.status_code == 503:
                if r.headers.get("retry-after") is None or (
                    r.headers["content-type"] != "application/problem+json"
                    or r.json()["code"] != "unavailable"
                ):
                    bad.append(f"{path}: {r.headers} {r.text}")
            elif r.status_code not in (200, 201):
                bad.append(f"{path}: {r.status_code} {r.text}")

    async with _service(database_url, amqp_url) as svc:
        loops = [asyncio.create_task(client_loop(svc, m, p)) for m, p in ROUTES * 2]
        try:
            await asyncio.sleep(0.5)
            for _ in range(4):
                assert await terminate_connections(database_url) >= 1
                await asyncio.sleep(0.5)
            served_before = sum(n for (_, code), n in statuses.items() if code in (200, 201))
            await asyncio.sleep(0.5)
        finally:
            stop.set()
            await asyncio.gather(*loops)
        assert not bad, bad[:5]
        assert sum(n for (_, code), n in statuses.items() if code in (200, 201)) > served_before
        # After the faults, every way to the database works again at once.
        for method, path in ROUTES:
            assert (await svc.client.request(method, path)).status_code in (200, 201)


async def test_readyz_answers_within_a_second_when_database_and_broker_hang(
    database_url: str, amqp_url: str
) -> None:
    pg = TcpProxy("127.0.0.1", 5432)
    mq = TcpProxy("127.0.0.1", 5672)
    await pg.start()
    await mq.start()
    proxied_db = database_url.replace(":5432/", f":{pg.port}/")
    vhost = amqp_url.rsplit("/", 1)[1]
    proxied_mq = f"amqp://guest:guest@127.0.0.1:{mq.port}/{vhost}"
    try:
        async with running_service(
            definition,
            build_runtime,
            ServiceSettings,
            amqp_url=proxied_mq,
            tokens=TokenMint(),
            database_url=proxied_db,
        ) as svc:
            r = await svc.client.get("/readyz")
            assert r.status_code == 200, r.text
            pg.stall()
            mq.stall()
            for _ in range(3):  # the second and third find the first probes still stuck
                started = time.monotonic()
                r = await svc.client.get("/readyz")
                assert time.monotonic() - started < 1.0
                assert r.status_code == 503
                checks = r.json()["checks"]
                assert checks["database"].startswith("unavailable"), checks
                assert checks["broker"].startswith("unavailable"), checks
            await pg.cut()
            await mq.cut()
            await pg.restore()
            await mq.restore()
    finally:
        await pg.close()
        await mq.close()
