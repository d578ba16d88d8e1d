"""Abuse a stranger could try on cabinet, on a cabinet of its own with the default limits:
stalling it with logins, flooding registration and reset mail, timing the reset answer to learn
who is registered, squatting someone's phone number, keeping a session alive for ever."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from servicekit.db.engine import asyncpg_dsn
from servicekit.testing import (
    RunningService,
    wait_until,
)

from .conftest import MovableClock, running_cabinet

pytestmark = pytest.mark.asyncio(loop_scope="session")
PASSWORD = "correct horse battery"


class Own:
    def __init__(self, service: RunningService, clock: MovableClock) -> None:
        self.service, self.clock = service, clock

    @property
    def client(self) -> httpx.AsyncClient:
        return self.service.client

    async def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(asyncpg_dsn(self.service.database_url))
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    async def register(self, email: str, phone: str | None = None) -> httpx.Response:
        body = {"email": email, "password": PASSWORD, "name": "Ирина", "phone": phone}
        return await self.client.post(
            "/api/cabinet/registrations", json={k: v for k, v in body.items() if v}
        )

    def fresh_window(self) -> None:
        """Every throttle window (an hour at most) over: the next test starts clean."""
        self.clock.advance(hours=2)


@pytest.fixture(scope="module")
async def own(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Own]:
    async with running_cabinet(tmp_path_factory.mktemp("abuse-keys")) as (service, _, clock, _):
        yield Own(service, clock)


def _email() -> str:
    return f"a.{uuid.uuid4().hex[:12]}@example.com"


async def test_parallel_logins_do_not_stall_other_requests(own: Own) -> None:
    """argon2 on the event loop made 8 logins stall every request (JWKS included) for seconds."""
    own.fresh_window()
    email = _email()
    assert (await own.register(email)).status_code == 202
    started = asyncio.Event()

    async def login() -> int:
        started.set()
        r = await own.client.post(
            "/api/cabinet/sessions", json={"email": email, "password": PASSWORD}
        )
        return r.status_code

    for _ in range(3):  # warm (keys read, JWKS built once)
        assert (await own.client.get("/.well-known/jwks.json")).status_code == 200
    logins = [asyncio.create_task(login()) for _ in range(8)]
    await started.wait()
    await asyncio.sleep(0.05)  # the logins are hashing now
    waits = []
    for _ in range(5):
        t0 = time.perf_counter()
        r = await own.client.get("/.well-known/jwks.json")
        waits.append(time.perf_counter() - t0)
        assert r.status_code == 200
        await asyncio.sleep(0.05)
    logins_busy = not all(t.done() for t in logins)
    assert await asyncio.gather(*logins) == [200] * 8
    # one argon2 hash is 0.1-0.3 s here: on the loop, a JWKS request waited for several of them
    # (the median, so one scheduling hiccup of a loaded machine does not decide the test)
    waited = statistics.median(waits)
    assert waited < 0.25, f"JWKS waited {waited:.3f}s (median) behind password hashing"
    assert logins_busy, "the logins were over before the JWKS was asked: nothing measured"


async def test_registration_and_reset_mail_is_limited_per_target_and_per_address(
    own: Own,
) -> None:
    own.fresh_window()
    victim = _email()
    # the same address, again and again: a mail bomb aimed at one person
    answers = [(await own.register(victim)).status_code for _ in range(6)]
    assert answers == [202] * 5 + [429]
    resets = [
        (await own.client.post("/api/cabinet/password-resets", json={"email": victim}))
        for _ in range(4)
    ]
    assert [r.status_code for r in resets] == [202, 202, 202, 429]
    assert int(resets[-1].headers["Retry-After"]) > 0
    assert resets[-1].json()["code"] == "too_many_attempts"
    # an unknown address is limited alike (nothing tells which one is registered)
    ghost = _email()
    ghosts = [
        (await own.client.post("/api/cabinet/password-resets", json={"email": ghost}))
        for _ in range(4)
    ]
    assert [r.status_code for r in ghosts] == [202, 202, 202, 429]

    own.fresh_window()
    # one caller, many addresses: 20 registrations an hour from one source address
    many = [(await own.register(_email())).status_code for _ in range(21)]
    assert many == [202] * 20 + [429]
    many_resets = [
        (await own.client.post("/api/cabinet/password-resets", json={"email": _email()}))
        for _ in range(21)
    ]
    assert [r.status_code for r in many_resets] == [202] * 20 + [429]
    own.fresh_window()


async def test_throttle_rows_are_purged(own: Own) -> None:
    old, fresh = f"register-from:old-{uuid.uuid4().hex}", f"register-from:{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    for key, at in ((old, now - timedelta(days=2)), (fresh, now)):
        await own.sql(
            "INSERT INTO login_throttle (key, failures, window_started_at) VALUES ($1, 1, $2)",
            key,
            at,
        )
    deleted = await own.service.runtime.relay.purge()
    assert deleted["login_throttle.window_started_at"] >= 1
    keys = {r["key"] for r in await own.sql("SELECT key FROM login_throttle")}
    assert old not in keys and fresh in keys


async def test_a_reset_answers_in_the_same_time_for_known_and_unknown_addresses(
    own: Own,
) -> None:
    """Paired, interleaved in random order (noise hits both alike), compared by median."""
    own.fresh_window()
    known = _email()
    assert (await own.register(known)).status_code == 202

    async def timed(email: str) -> float:
        t0 = time.perf_counter()
        r = await own.client.post("/api/cabinet/password-resets", json={"email": email})
        elapsed = time.perf_counter() - t0
        assert r.status_code == 202
        return elapsed

    for _ in range(5):  # warm up
        await timed(_email())
    k_times, u_times = [], []
    for _ in range(40):
        own.fresh_window()  # each pair within its own throttle window
        pair = [("k", known), ("u", _email())]
        random.shuffle(pair)
        for kind, email in pair:
            (k_times if kind == "k" else u_times).append(await timed(email))
    k, u = statistics.median(k_times), statistics.median(u_times)
    # the known address used to add a token row, an outbox row and their commit (~+40%)
    print(f"reset timing: known {k * 1000:.2f} ms, unknown {u * 1000:.2f} ms")
    # 35 %: well under the old gap (known took twice as long) and above this machine's noise
    assert abs(k - u) <= 0.35 * min(k, u), f"known {k * 1000:.1f} ms, unknown {u * 1000:.1f} ms"

    async def mailed() -> int:  # the work was queued, not skipped: every request is answered
        # (one link per request of the known address; events keep no address in the clear)
        (row,) = await own.sql(
            "SELECT count(*) AS n FROM one_time_tokens WHERE purpose = 'reset_password'"
        )
        return int(row["n"])

    async def all_mailed() -> bool:
        return await mailed() >= 40

    await wait_until(all_mailed, timeout=30)


async def test_a_phone_is_not_reserved_until_verified_and_a_taken_address_is_not_squatted(
    own: Own,
) -> None:
    own.fresh_window()
    phone = f"+7916{random.randint(1_000_000, 9_999_999)}"
    squatter, owner = _email(), _email()
    assert (await own.register(squatter, phone)).status_code == 202
    # the number's owner registers it too: an account is created (it used to be dropped
    # silently, the answer being the same 202)
    assert (await own.register(owner, phone)).status_code == 202
    rows = await own.sql(
        "SELECT phone_index, phone_verified FROM users WHERE phone_index IS NOT NULL"
    )
    # both accounts hold the number (the same blind index), neither has it reserved
    assert len(rows) == 2 and len({r["phone_index"] for r in rows}) == 1
    assert not any(r["phone_verified"] for r in rows)
    # an address already taken creates nothing
    users_before = (await own.sql("SELECT count(*) AS n FROM users"))[0]["n"]
    assert (await own.register(owner.upper())).status_code == 202
    assert (await own.sql("SELECT count(*) AS n FROM users"))[0]["n"] == users_before


async def test_a_session_ends_at_its_absolute_lifetime_however_often_it_is_refreshed(
    own: Own,
) -> None:
    own.fresh_window()
    email = _email()
    assert (await own.register(email)).status_code == 202
    session = (
        await own.client.post("/api/cabinet/sessions", json={"email": email, "password": PASSWORD})
    ).json()
    token = session["refresh_token"]
    for _ in range(4):  # refreshed every 10 days: never idle for 14, yet 30 days end it
        own.clock.advance(days=10)
        r = await own.client.post("/api/cabinet/sessions/refresh", json={"refresh_token": token})
        if r.status_code != 200:
            break
        assert r.json()["refresh_expires_in"] <= 30 * 86400
        token = r.json()["refresh_token"]
    assert (r.status_code, r.json()["code"]) == (401, "invalid_refresh_token")
    own.fresh_window()
