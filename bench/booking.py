"""Booking (issue 3): slot search and booking creation at 32 connections against booking running
as deployed (a real uvicorn process), beside raw baselines measured in the same run:

* bare read: a tiny FastAPI + asyncpg app (uvicorn, its own process) running the same five
  SELECTs the slot search runs (service, specialist, overrides, time off, appointments in range);
* bare insert: one-row asyncpg INSERT transactions from 32 connections (no HTTP), and the same
  INSERT behind a bare FastAPI endpoint;
* the 50-way race: 50 concurrent POSTs for one slot (expect one 201 and 49 ``slot_taken``).

Usage: ``uv run python bench/booking.py [--duration 10] [--warmup 2] [--runs 3]``. Load comes
from ``wrk`` when it is installed (``apt-get install wrk``), else from an httpx client in this
process. Prints a table and writes the ``## Booking (issue 3)`` section of ``bench/RESULTS.md``.
Uses a throwaway database and vhost; everything on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import itertools
import json
import math
import os
import platform
import re
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import uvicorn
from fastapi import FastAPI, Query
from pydantic import AwareDatetime, BaseModel
from servicekit.db.engine import asyncpg_dsn
from servicekit.db.migrations import upgrade
from servicekit.testing import TokenMint, announce_users, temporary_database, temporary_vhost

HOST = "127.0.0.1"
SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parents[1]
ZONE = ZoneInfo("Europe/Moscow")
HOURS = range(9, 18)  # starts 09:00 … 17:00 local: 50 min + 10 min buffer, step 60
EVERY_DAY_9_TO_18 = [{"weekday": d, "start": "09:00", "end": "18:00"} for d in range(1, 8)]
SEARCH_DAYS = 30
POOL_DAYS = 360  # the service's horizon is 365 days
MAX_RATE = 2000  # requests/s a measurement may reach before its request cap stops it
CLIENTS = 1024  # distinct client tokens the booking requests cycle through

# -- the bare app (its own uvicorn process: ``--role bare``) --------------------------------

READ_SQL = (
    "SELECT id, name, durations, buffer_before_minutes, buffer_after_minutes, "
    "min_notice_minutes, horizon_days, slot_step_minutes FROM services WHERE id = $1",
    "SELECT user_id, time_zone, weekly_hours, daily_cap FROM specialists "
    "WHERE active AND service_ids @> ARRAY[$1::uuid] AND user_id = $2",
    "SELECT on_date, hours, daily_cap FROM schedule_overrides "
    "WHERE specialist_id = $1 AND on_date >= $2 AND on_date <= $3",
    "SELECT starts_at, ends_at FROM time_off "
    "WHERE specialist_id = $1 AND starts_at < $3 AND ends_at > $2",
    "SELECT starts_at, occupied_from, occupied_until FROM appointments "
    "WHERE specialist_id = $1 AND status IN ('held', 'confirmed', 'completed', 'no_show') "
    "AND occupied_until > $2 AND occupied_from < $3 "
    "AND (status <> 'held' OR hold_expires_at > now())",
)
INSERT_SQL = "INSERT INTO bench_rows (body) VALUES ($1) RETURNING id"


class Row(BaseModel):
    """The bare insert's body: a booking request's shape."""

    service_id: uuid.UUID
    specialist_id: uuid.UUID
    starts_at: AwareDatetime


def serve_bare(dsn: str, port: int) -> None:
    """A bare FastAPI + asyncpg app: the slot search's reads, and a one-row insert."""
    pools: dict[str, asyncpg.Pool] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Like booking's engine: pool_size 10 + max_overflow 10.
        pools["db"] = await asyncpg.create_pool(dsn, min_size=10, max_size=20)
        yield
        await pools["db"].close()

    # FastAPI's OpenTelemetry hooks off, as in the services (servicekit.http.app).
    app = FastAPI(lifespan=lifespan, telemetry={"tracing": False, "metrics": False, "logs": False})

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/read")
    async def read(
        service_id: uuid.UUID,
        specialist_id: uuid.UUID,
        start: Annotated[AwareDatetime, Query(alias="from")],
        end: Annotated[AwareDatetime, Query(alias="to")],
    ) -> dict[str, Any]:
        day = timedelta(days=1)
        async with pools["db"].acquire() as conn, conn.transaction():
            service = await conn.fetchrow(READ_SQL[0], service_id)
            specialist = await conn.fetchrow(READ_SQL[1], service_id, specialist_id)
            overrides = await conn.fetch(READ_SQL[2], specialist_id, start.date(), end.date())
            time_off = await conn.fetch(READ_SQL[3], specialist_id, start - day, end + day)
            booked = await conn.fetch(READ_SQL[4], specialist_id, start - day, end + day)
        assert service is not None and specialist is not None
        return {
            "service_id": service["id"],
            "weekly_hours": json.loads(specialist["weekly_hours"]),
            "overrides": [dict(r) for r in overrides],
            "time_off": [dict(r) for r in time_off],
            "booked": [dict(r) for r in booked],
        }

    @app.post("/insert", status_code=201)
    async def insert(row: Row) -> dict[str, int]:
        async with pools["db"].acquire() as conn:
            return {"id": await conn.fetchval(INSERT_SQL, row.model_dump_json())}

    uvicorn.run(app, host=HOST, port=port, access_log=False, log_level="warning")


# -- load ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    auth: str = ""
    body: str = ""


@dataclass
class Result:
    per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    capped: bool = False
    server_cpu_s: float = math.nan  # CPU the server process used during the measurement


WRK_LUA = r"""
threads = {}
local reqs, n, cycle = {}, 0, false
s200, s201, s409, sother, capped = 0, 0, 0, 0, 0
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  local nthreads = tonumber(args[2])
  cycle = args[3] == "cycle"
  local lines = {}
  for line in io.lines(args[1]) do table.insert(lines, line) end
  -- Each thread its own share (a list shorter than the threads is played whole by each).
  local split = #lines >= nthreads
  for i, line in ipairs(lines) do
    if not split or (i - 1) % nthreads == tid then
      local method, path, auth, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      local headers = {}
      if auth ~= "" then headers["Authorization"] = auth end
      if body == "" then body = nil else headers["Content-Type"] = "application/json" end
      table.insert(reqs, wrk.format(method, path, headers, body))
    end
  end
end
function request()
  n = n + 1
  if n > #reqs then
    if cycle then n = 1 else capped = 1; wrk.thread:stop(); n = #reqs end
  end
  return reqs[n]
end
function response(status, headers, body)
  if status == 200 then s200 = s200 + 1
  elseif status == 201 then s201 = s201 + 1
  elseif status == 409 then s409 = s409 + 1
  else sother = sother + 1 end
end
function done(summary, latency, requests)
  local c = {0, 0, 0, 0, 0}
  for _, t in ipairs(threads) do
    c[1] = c[1] + t:get("s200"); c[2] = c[2] + t:get("s201"); c[3] = c[3] + t:get("s409")
    c[4] = c[4] + t:get("sother"); c[5] = math.max(c[5], t:get("capped"))
  end
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d %d %d %d\n", summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(99), c[1], c[2], c[3], c[4],
    e.connect + e.read + e.write + e.timeout, c[5]))
end
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else math.nan


async def wrk_load(
    base: str, reqs: list[Req], *, cycle: bool, connections: int, seconds: float, tmp: Path
) -> Result:
    """``wrk`` with a Lua script that plays ``reqs`` (split across its threads, or cycled)."""
    threads = min(2, os.cpu_count() or 2)
    data, script = tmp / "requests.tsv", tmp / "bench.lua"
    data.write_text("".join(f"{r.method}\t{r.path}\t{r.auth}\t{r.body}\n" for r in reqs))
    script.write_text(WRK_LUA)
    proc = await asyncio.create_subprocess_exec(
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        base,
        "--",
        str(data),
        str(threads),
        "cycle" if cycle else "once",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), seconds + 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    match = re.search(r"^RESULT (.*)$", out.decode(), re.M)
    if match is None:
        raise RuntimeError(f"wrk failed: {out.decode()} {err.decode()}")
    n, dur_us, p50, p99, s200, s201, s409, other, errors, capped = map(int, match[1].split())
    statuses = {k: v for k, v in ((200, s200), (201, s201), (409, s409), (0, other)) if v}
    return Result(n / (dur_us / 1e6), p50 / 1000, p99 / 1000, n, statuses, errors, bool(capped))


async def httpx_load(
    base: str, reqs: list[Req], *, cycle: bool, connections: int, seconds: float
) -> Result:
    """The same from this process with httpx (when wrk is not installed)."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    counter = itertools.count()
    state = {"errors": 0, "capped": False}
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                i = next(counter)
                if i >= len(reqs) and not cycle:
                    state["capped"] = True
                    return
                r = reqs[i % len(reqs)]
                headers = {"Authorization": r.auth} if r.auth else {}
                if r.body:
                    headers["Content-Type"] = "application/json"
                started = time.perf_counter()
                try:
                    response = await client.request(
                        r.method, r.path, headers=headers, content=r.body or None
                    )
                except httpx.HTTPError:
                    state["errors"] = int(state["errors"]) + 1
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[
                    response.status_code if response.status_code in (200, 201, 409) else 0
                ] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    return Result(
        len(latencies) / elapsed,
        pct(latencies, 0.5) * 1000,
        pct(latencies, 0.99) * 1000,
        len(latencies),
        dict(statuses),
        int(state["errors"]),
        bool(state["capped"]),
    )


@dataclass
class Loader:
    use_wrk: bool
    connections: int
    warmup: float
    duration: float
    tmp: Path
    warmups: list[Result] = field(default_factory=list)

    async def run(self, base: str, reqs: list[Req], *, cycle: bool, seconds: float) -> Result:
        if self.use_wrk:
            return await wrk_load(
                base,
                reqs,
                cycle=cycle,
                connections=self.connections,
                seconds=seconds,
                tmp=self.tmp,
            )
        return await httpx_load(
            base, reqs, cycle=cycle, connections=self.connections, seconds=seconds
        )

    async def measure(
        self, server: Server, reqs: list[Req] | Callable[[], list[Req]], *, cycle: bool = True
    ) -> Result:
        """A warm-up (not counted), then the measurement; a callable gives fresh requests."""
        take = reqs if callable(reqs) else (lambda: reqs)
        self.warmups.append(await self.run(server.base, take(), cycle=cycle, seconds=self.warmup))
        batch = take()
        cpu = server.cpu_seconds()
        result = await self.run(server.base, batch, cycle=cycle, seconds=self.duration)
        result.server_cpu_s = server.cpu_seconds() - cpu
        return result


@dataclass
class Clock:
    """When the writers of :func:`warm_then_measure` stop."""

    deadline: float = 0.0


async def warm_then_measure(
    writer: Callable[[Clock], Awaitable[None]],
    connections: int,
    seconds: float,
    latencies: list[float],
) -> float:
    """``connections`` writers for a second's warm-up (not counted), then for ``seconds``;
    returns the measured seconds (the writers append their latencies)."""
    clock = Clock(time.perf_counter() + 1.0)
    await asyncio.gather(*(writer(clock) for _ in range(connections)))
    latencies.clear()
    started = time.perf_counter()
    clock.deadline = started + seconds
    await asyncio.gather(*(writer(clock) for _ in range(connections)))
    return time.perf_counter() - started


async def bare_inserts(dsn: str, connections: int, seconds: float, body: str) -> Result:
    """asyncpg: one-row INSERT transactions from ``connections`` connections, no HTTP."""
    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections)
    latencies: list[float] = []
    cap = int(seconds * MAX_RATE * 10)
    try:

        async def writer(clock: Clock) -> None:
            async with pool.acquire() as conn:
                while time.perf_counter() < clock.deadline and len(latencies) < cap:
                    t = time.perf_counter()
                    await conn.fetchval(INSERT_SQL, body)
                    latencies.append(time.perf_counter() - t)

        elapsed = await warm_then_measure(writer, connections, seconds, latencies)
    finally:
        await pool.close()
    n = len(latencies)
    return Result(n / elapsed, pct(latencies, 0.5) * 1000, pct(latencies, 0.99) * 1000, n)


# A booking's statements alone take the pool's night hours (booking's measurement takes its
# working hours, so the two never collide) and are marked to be deleted after each run.
BARE_SQL_HOURS = range(0, 9)
BARE_SQL_MARK = "bench-bare-booking-sql"


async def bare_booking_sql(
    dsn: str, connections: int, seconds: float, practice: Practice, outbox_body: str
) -> Result:
    """asyncpg, no HTTP and no Python beyond the driver: the statements a booking runs, as
    booking runs them — BEGIN; the context read; the appointment INSERT (exclusion constraint,
    slot-version trigger at commit); the outbox INSERT; COMMIT — each on a different free slot.
    The outbox rows are written as already published, so the relay's work is not counted."""
    from booking.adapters.schedules import BOOKING_CONTEXT_SQL, occupancy_params
    from booking.adapters.tables import Appointment

    columns = [c.name for c in Appointment.__table__.columns]  # type: ignore[attr-defined]
    marks = ", ".join(
        f"${i}::jsonb" if name == "policy" else f"${i}" for i, name in enumerate(columns, 1)
    )
    insert = f"INSERT INTO appointments ({', '.join(columns)}) VALUES ({marks})"
    outbox = (
        "INSERT INTO outbox (event_id, event_type, version, exchange, routing_key, "
        "correlation_id, body, published_at) VALUES ($1, $2, 1, 'booking.events', $2, $3, "
        "$4::jsonb, now())"
    )
    service_id = uuid.UUID(practice.service_id)
    policy = json.dumps({"cancellation_tiers": [], "reschedule_min_notice_minutes": 0})
    counter = itertools.count()
    latencies: list[float] = []

    def values(specialist: uuid.UUID, start: datetime, now: datetime) -> dict[str, Any]:
        end = start + timedelta(minutes=50)
        return {
            "id": uuid.uuid4(),
            "client_id": uuid.uuid4(),
            "specialist_id": specialist,
            "service_id": service_id,
            "service_name": "Консультация",
            "specialist_name": BARE_SQL_MARK,
            "specialist_time_zone": "Europe/Moscow",
            "format": "online",
            "duration_minutes": 50,
            "price_amount": 300000,
            "buffer_before_minutes": 0,
            "buffer_after_minutes": 10,
            "starts_at": start,
            "ends_at": end,
            "occupied_from": start,
            "occupied_until": end + timedelta(minutes=10),
            "status": "confirmed",
            "prepayment_required": False,
            "policy": policy,
            "reschedule_count": 0,
            "confirmed_at": now,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }

    async def writer(clock: Clock) -> None:
        async with pool.acquire() as conn:
            await write(conn, clock)

    async def write(conn: asyncpg.Connection, clock: Clock) -> None:
        while time.perf_counter() < clock.deadline:
            specialist, start = practice.slot(next(counter), hours=BARE_SQL_HOURS)
            now = datetime.now(UTC)
            row = values(uuid.UUID(specialist), start, now)
            t = time.perf_counter()
            async with conn.transaction():
                await conn.fetchrow(
                    BOOKING_CONTEXT_SQL,
                    service_id,
                    row["specialist_id"],
                    row["client_id"],
                    start,
                    *occupancy_params(
                        start - timedelta(hours=12), start + timedelta(hours=12), now
                    ),
                )
                await conn.execute(insert, *(row.get(name) for name in columns))
                await conn.execute(
                    outbox,
                    uuid.uuid4(),
                    "booking.appointment.confirmed",
                    BARE_SQL_MARK,
                    outbox_body,
                )
            latencies.append(time.perf_counter() - t)

    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections)
    try:
        elapsed = await warm_then_measure(writer, connections, seconds, latencies)
        async with pool.acquire() as conn:  # the slots free again for the next run
            await conn.execute("DELETE FROM appointments WHERE specialist_name = $1", BARE_SQL_MARK)
            await conn.execute("DELETE FROM outbox WHERE correlation_id = $1", BARE_SQL_MARK)
    finally:
        await pool.close()
    n = len(latencies)
    return Result(n / elapsed, pct(latencies, 0.5) * 1000, pct(latencies, 0.99) * 1000, n)


# -- processes -------------------------------------------------------------------------------


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception)\b")


def log_errors(log: Path) -> Counter[str]:
    """The server's logged errors (JSON lines), by the last line of their traceback."""
    found: Counter[str] = Counter()
    with contextlib.suppress(OSError):
        for line in log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict) and entry.get("level") in ("error", "critical"):
                    exc = str(entry.get("exc") or entry.get("msg") or "").strip()
                    lines = [x for x in exc.splitlines() if EXCEPTION_LINE.match(x)]
                    found[lines[-1][:200] if lines else exc[-200:] or "?"] += 1
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Server:
    base: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU of the process so far (Linux /proc)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return math.nan
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.asynccontextmanager
async def serving(argv: list[str], env: dict[str, str], log: Path) -> AsyncIterator[Server]:
    """Start a server process on a free port (``{port}`` in ``argv``); wait for /readyz."""
    port = free_port()
    with log.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            *(a.replace("{port}", str(port)) for a in argv),
            env=env,
            cwd=ROOT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
        )
    base = f"http://{HOST}:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            deadline = time.monotonic() + 90
            while True:
                if proc.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{argv[:4]} did not start:\n{tail(log)}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.2)
        yield Server(base, proc.pid)
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


# -- the practice ----------------------------------------------------------------------------


def local_start(day: date, hour: int) -> datetime:
    return datetime.combine(day, wall_time(hour), ZONE).astimezone(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Practice:
    service_id: str
    searched: str  # the specialist whose 30 days the slot search reads
    pool: list[str]  # specialists whose free slots the booking measurement takes
    first_day: date
    clients: list[str]  # "Bearer …" for distinct client ids
    next_slot: int = 0

    def slot(self, k: int, *, hours: range = HOURS) -> tuple[str, datetime]:
        """The k-th slot of the pool at one of ``hours``, round-robin over the specialists."""
        specialist, j = self.pool[k % len(self.pool)], k // len(self.pool)
        day = self.first_day + timedelta(days=j // len(hours))
        if (day - self.first_day).days >= POOL_DAYS:
            raise RuntimeError("the slot pool is exhausted: raise the number of specialists")
        return specialist, local_start(day, hours[j % len(hours)])

    @property
    def capacity(self) -> int:
        return len(self.pool) * POOL_DAYS * len(HOURS)

    def book_body(self, specialist: str, start: datetime) -> str:
        return json.dumps(
            {"service_id": self.service_id, "specialist_id": specialist, "starts_at": iso(start)}
        )

    def bookings(self, n: int) -> list[Req]:
        """The next ``n`` distinct free slots as POSTs (the request cap of one measurement)."""
        if self.next_slot + n > self.capacity:
            raise RuntimeError("the slot pool is exhausted: raise the number of specialists")
        reqs = [
            Req(
                "POST",
                "/api/booking/appointments",
                self.clients[k % len(self.clients)],
                self.book_body(*self.slot(k)),
            )
            for k in range(self.next_slot, self.next_slot + n)
        ]
        self.next_slot += n
        return reqs

    def window(self) -> tuple[str, str]:
        start = local_start(self.first_day, 0)
        return iso(start), iso(start + timedelta(days=SEARCH_DAYS))

    def cold_queries(self) -> list[str]:
        """The same search over windows shifted by a minute each (the same 210 slots): none
        is asked again before booking has forgotten it, so every answer is computed."""
        start = local_start(self.first_day, 0)
        return [
            f"service_id={self.service_id}&specialist_id={self.searched}"
            f"&from={iso(start + k * timedelta(minutes=1))}"
            f"&to={iso(start + timedelta(days=SEARCH_DAYS, minutes=k))}"
            for k in range(COLD_WINDOWS)
        ]


async def introduce(amqp_url: str, base: str, mint: TokenMint, users: dict[uuid.UUID, str]) -> None:
    """Tell booking about ``users`` (id → role) as cabinet does (``user.registered``, email
    verified), and wait until booking knows every one: a specialist or a client it has not heard
    of is refused."""
    await announce_users(amqp_url, users, name="Бенчмарк")
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for user_id in users:
            for _ in range(600):
                r = await client.get(
                    f"/api/booking/clients/{user_id}", headers=mint.auth("client", sub=user_id)
                )
                if r.status_code == 200:
                    break
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError(f"booking never heard of {user_id}")


async def seed(base: str, amqp_url: str, specialists: int, mint: TokenMint) -> Practice:
    """One service, the searched specialist (two bookings a day) and the pool, via the API."""
    admin = mint.auth("admin")
    specialist_ids = [uuid.uuid4() for _ in range(specialists + 1)]
    client_ids = [uuid.uuid4() for _ in range(CLIENTS)]
    await introduce(
        amqp_url,
        base,
        mint,
        {**dict.fromkeys(specialist_ids, "specialist"), **dict.fromkeys(client_ids, "client")},
    )
    async with httpx.AsyncClient(base_url=base, timeout=30, headers=admin) as client:
        r = await client.post(
            "/api/booking/services",
            json={
                "name": "Консультация (bench)",
                "durations_minutes": [50],
                "price": {"amount": 300000, "currency": "RUB"},
                "format": "online",
                "buffer_before_minutes": 0,
                "buffer_after_minutes": 10,
                "min_notice_minutes": 0,
                "slot_step_minutes": 60,
                "horizon_days": 365,
                "prepayment_required": False,
            },
        )
        assert r.status_code == 201, r.text
        service_id = r.json()["id"]
        ids = []
        for i, specialist_id in enumerate(specialist_ids):
            r = await client.post(
                "/api/booking/specialists",
                json={
                    "user_id": str(specialist_id),
                    "display_name": f"Специалист {i}",
                    "time_zone": "Europe/Moscow",
                    "weekly_hours": EVERY_DAY_9_TO_18,
                    "service_ids": [service_id],
                },
            )
            assert r.status_code == 201, r.text
            ids.append(r.json()["user_id"])
        first_day = datetime.now(ZONE).date() + timedelta(days=1)
        clients = [mint.auth("client", sub=c)["Authorization"] for c in client_ids]
        practice = Practice(service_id, ids[0], ids[1:], first_day, clients)
        for d in range(SEARCH_DAYS):  # the searched specialist: 10:00 and 14:00 taken every day
            for hour in (10, 14):
                body = practice.book_body(ids[0], local_start(first_day + timedelta(days=d), hour))
                r = await client.post(
                    "/api/booking/appointments",
                    content=body,
                    headers={"Authorization": clients[d], "Content-Type": "application/json"},
                )
                assert r.status_code == 201, r.text
        # The pool's slots as computed here are the ones the API offers.
        start = local_start(first_day, 0)
        r = await client.get(
            "/api/booking/slots",
            params={
                "service_id": service_id,
                "specialist_id": ids[1],
                "from": iso(start),
                "to": iso(start + timedelta(days=3)),
            },
        )
        offered = [s["starts_at"] for s in r.json()["items"]]
        expected = [
            iso(local_start(first_day + timedelta(days=d), h)) for d in range(3) for h in HOURS
        ]
        assert [iso(datetime.fromisoformat(s)) for s in offered] == expected, (offered, expected)
    return practice


async def race(base: str, practice: Practice, mint: TokenMint, day: int) -> Counter[str]:
    """50 concurrent POSTs (50 clients) for one free slot of the searched specialist."""
    body = practice.book_body(
        practice.searched, local_start(practice.first_day + timedelta(days=day), 9)
    )
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        headers = [  # 50 clients booking knows (an unknown one is refused before the slot check)
            {"Authorization": c, "Content-Type": "application/json"} for c in practice.clients[-50:]
        ]
        answers = await asyncio.gather(
            *(client.post("/api/booking/appointments", content=body, headers=h) for h in headers)
        )
    outcome: Counter[str] = Counter()
    for a in answers:
        code = a.json().get("code", "") if a.status_code >= 400 else ""
        outcome[f"{a.status_code} {code}".strip()] += 1
    return outcome


async def slot_answers(base: str) -> dict[str, float]:
    """booking's ``slot_search_answers_total`` by source, from its ``/metrics``."""
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"{base}/metrics")).text
    found = re.findall(r'^slot_search_answers_total\{source="(\w+)"\} (\S+)$', text, re.M)
    return {source: float(value) for source, value in found}


async def wait_outbox_drained(conn: asyncpg.Connection, timeout: float = 60) -> None:
    """The relay publishes after booking's bursts; let it finish before the next measurement."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
            return
        await asyncio.sleep(0.2)


# -- the run ---------------------------------------------------------------------------------

NAMES = (
    "slots",
    "slots_cold",
    "bare_read",
    "booking",
    "bare_booking_sql",
    "bare_http_insert",
    "bare_insert",
)
COLD_WINDOWS = 4096  # distinct windows, well beyond what booking remembers (256 searches)


@dataclass
class Outcome:
    runs: dict[str, list[Result]]
    races: list[Counter[str]]
    use_wrk: bool
    specialists: int
    checks: dict[str, int]
    server_errors: Counter[str]
    #: Share of slot searches booking answered from memory, per measurement (warm-up included).
    remembered: dict[str, list[float]]


async def main(args: argparse.Namespace) -> Outcome:
    spec = importlib.util.find_spec("booking")
    assert spec is not None and spec.origin is not None
    assert Path(spec.origin).parent.name == "booking", spec.origin  # the package, not this file
    migrations = Path(spec.origin).parent / "migrations"
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk") is not None)
    runs: dict[str, list[Result]] = {name: [] for name in NAMES}
    remembered: dict[str, list[float]] = {"slots": [], "slots_cold": []}
    races: list[Counter[str]] = []
    cap = int(max(args.duration, args.warmup) * MAX_RATE)  # request cap of one measurement
    specialists = max(32, math.ceil(args.runs * 2 * cap / (POOL_DAYS * len(HOURS))))
    mint = TokenMint()
    env = os.environ | {
        "ENVIRONMENT": "test",  # development keys and the sandbox, asked for explicitly
        "JWT_PUBLIC_JWKS": mint.jwks_json,
        "JWKS_URL": "",
        "LOG_LEVEL": "WARNING",
        "DB_POOL_SIZE": "20",  # the production sizing (docker-compose), as measured before
        "YOOKASSA_BASE_URL": f"http://{HOST}:9/v3",  # nothing listens there: no prepayment
    }
    booking_argv = [sys.executable, "-m", "uvicorn", "booking.entrypoints.http:app"]
    booking_argv += ["--host", HOST, "--port", "{port}", "--no-access-log"]
    booking_argv += ["--log-level", "warning"]
    async with temporary_vhost() as amqp_url, temporary_database("bench_booking") as url:
        await asyncio.to_thread(upgrade, migrations, url)
        dsn = asyncpg_dsn(url)
        env |= {"DATABASE_URL": url, "AMQP_URL": amqp_url}
        bare_argv = [sys.executable, str(SCRIPT), "--role", "bare", dsn]
        bare_argv += ["{port}"]
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("CREATE TABLE bench_rows (id bigserial PRIMARY KEY, body text)")
            with tempfile.TemporaryDirectory(prefix="bench-booking-") as tmp_dir:
                tmp = Path(tmp_dir)
                async with (
                    serving(booking_argv, env, tmp / "booking.log") as booking,
                    serving(bare_argv, env, tmp / "bare.log") as bare,
                ):
                    practice = await seed(booking.base, amqp_url, specialists, mint)
                    loader = Loader(use_wrk, args.connections, args.warmup, args.duration, tmp)
                    start, end = practice.window()
                    query = (
                        f"service_id={practice.service_id}&specialist_id={practice.searched}"
                        f"&from={start}&to={end}"
                    )
                    slots_req = [Req("GET", f"/api/booking/slots?{query}")]
                    cold_req = [
                        Req("GET", f"/api/booking/slots?{q}") for q in practice.cold_queries()
                    ]
                    read_req = [Req("GET", f"/read?{query}")]
                    async with httpx.AsyncClient(timeout=10) as client:
                        found = (await client.get(booking.base + slots_req[0].path)).json()
                        found = found["items"]
                        assert len(found) == SEARCH_DAYS * (len(HOURS) - 2), len(found)
                        read = (await client.get(bare.base + read_req[0].path)).json()
                        assert len(read.get("booked", ())) == 2 * SEARCH_DAYS, read
                    insert_body = practice.book_body(practice.pool[0], local_start(date.today(), 9))
                    insert_req = [Req("POST", "/insert", "", insert_body)]
                    before = await conn.fetchval("SELECT count(*) FROM appointments")
                    outbox_body = await conn.fetchval(
                        "SELECT body::text FROM outbox WHERE event_type LIKE '%confirmed' LIMIT 1"
                    )
                    measurements: dict[str, Callable[[], Awaitable[Result]]] = {
                        "slots": lambda: loader.measure(booking, slots_req),
                        "slots_cold": lambda: loader.measure(booking, cold_req),
                        "bare_read": lambda: loader.measure(bare, read_req),
                        "booking": lambda: loader.measure(
                            booking, lambda: practice.bookings(cap), cycle=False
                        ),
                        "bare_booking_sql": lambda: bare_booking_sql(
                            dsn, args.connections, args.duration, practice, outbox_body
                        ),
                        "bare_http_insert": lambda: loader.measure(bare, insert_req),
                        "bare_insert": lambda: bare_inserts(
                            dsn, args.connections, args.duration, insert_body
                        ),
                    }
                    booking_warmups: list[Result] = []
                    for i in range(args.runs):  # interleaved: machine noise hits all alike
                        for name, measure in measurements.items():
                            if args.only and name not in args.only:
                                continue
                            answers = await slot_answers(booking.base)
                            runs[name].append(await measure())
                            if name.startswith("slots"):
                                now_answers = await slot_answers(booking.base)
                                delta = {k: v - answers.get(k, 0) for k, v in now_answers.items()}
                                remembered[name].append(
                                    delta.get("remembered", 0) / max(1, sum(delta.values()))
                                )
                            if name == "booking":
                                booking_warmups.append(loader.warmups[-1])
                            await wait_outbox_drained(conn)
                        races.append(await race(booking.base, practice, mint, SEARCH_DAYS + 5 + i))
                        await wait_outbox_drained(conn)
                        print(
                            f"run {i + 1}: "
                            + "; ".join(
                                f"{k} {v[-1].per_s:,.0f}/s p99 {v[-1].p99_ms:.1f} ms"
                                + (
                                    f" cpu {v[-1].server_cpu_s * 1000 / v[-1].requests:.2f} ms"
                                    if v[-1].requests and not math.isnan(v[-1].server_cpu_s)
                                    else ""
                                )
                                + (f" {v[-1].statuses}" if v[-1].statuses else "")
                                for k, v in runs.items()
                                if v
                            )
                            + f"; race {dict(races[-1])}",
                            flush=True,
                        )
                    rows = await conn.fetchval("SELECT count(*) FROM appointments") - before
                    server_errors = log_errors(tmp / "booking.log")
                    events = await conn.fetchval(
                        "SELECT count(*) FROM outbox WHERE event_type LIKE '%confirmed%'"
                    )
        finally:
            await conn.close()
    answered = runs["booking"] + booking_warmups
    checks = {
        "201": sum(r.statuses.get(201, 0) for r in answered),
        "409": sum(r.statuses.get(409, 0) for r in answered),
        "other": sum(r.statuses.get(0, 0) + r.errors for r in answered),
        "capped": sum(r.capped for r in answered),
        "rows": int(rows) - sum(c.get("201", 0) for c in races),
        "confirmed_events": int(events) - 2 * SEARCH_DAYS - sum(c.get("201", 0) for c in races),
    }
    return Outcome(runs, races, use_wrk, specialists, checks, server_errors, remembered)


HISTORY = (
    "Before the ORM-free read and write paths (this script, earlier on 2026-11-26): slot "
    "search 146/s (0.10 of the bare read, 6.8 ms CPU each), booking 135/s (7.4 ms CPU each). "
    "Before searches were remembered (the same day, later): slot search 711/s (0.57 of the "
    "bare read), p99 102 ms, 1.4 ms CPU each; booking 417/s, 2.3 ms CPU each (the bare read "
    "then took 0.82 ms, the bare HTTP insert 0.35 ms: compare CPU figures across runs with "
    "theirs, the machine's speed varies by a fifth and more). Before a booking ran without an "
    "ORM session (the recorded run before this one): booking 269/s, 3.6 ms CPU each against "
    "the bare HTTP insert's 0.58 ms (0.16 of its rate)."
)
PROFILE_NOTE = (
    "Where the CPU goes (py-spy, 2026-11-26, not re-measured by this script): remembered slot "
    "search — the version check (one pooled connection, one small statement) ≈ 20 %, "
    "FastAPI's dependency resolution ≈ 16 % (the query read as one model ≈ 5 %), sending the "
    "answer ≈ 14 %, the rest uvicorn, the middleware and asyncio; computed slot search — "
    "`open_starts` (one sweep over the merged forbidden intervals) ≈ 21 %, writing the 210 "
    "items ≈ 14 %, the single read statement ≈ 8 %; booking (the app driven in-process, no "
    "sockets for HTTP: 2.2 ms of CPU each, the same as through uvicorn within the noise) — "
    "the use case ≈ 30 % (the one context read ≈ 7 %, beginning the transaction ≈ 6 %, the "
    "appointment's INSERT ≈ 9 %, the slot check ≈ 2 %, building the row ≈ 2 %), committing "
    "with the outbox row and answering ≈ 12 %, FastAPI's resolution of the body, the caller "
    "and the Idempotency-Key header ≈ 13 %, routing and the middleware ≈ 10 %, the relay "
    "publishing the outbox rows ≈ 3 %, the rest the ASGI stack and asyncio."
)


def med(results: list[Result], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in results)


def report(out: Outcome, args: argparse.Namespace) -> str:
    r = out.runs
    per = {k: med(v, "per_s") for k, v in r.items()}
    slot_ratios = [a.per_s / b.per_s for a, b in zip(r["slots"], r["bare_read"], strict=True)]
    cold_ratios = [a.per_s / b.per_s for a, b in zip(r["slots_cold"], r["bare_read"], strict=True)]
    cold_ratio, cold_p99 = statistics.median(cold_ratios), med(r["slots_cold"], "p99_ms")
    book_ratios = [a.per_s / b.per_s for a, b in zip(r["booking"], r["bare_insert"], strict=True)]
    http_ratios = [
        a.per_s / b.per_s for a, b in zip(r["booking"], r["bare_http_insert"], strict=True)
    ]
    slot_ratio, book_ratio = statistics.median(slot_ratios), statistics.median(book_ratios)
    http_ratio = statistics.median(http_ratios)
    sql_ratios = [
        a.per_s / b.per_s for a, b in zip(r["bare_booking_sql"], r["bare_insert"], strict=True)
    ]
    sql_ratio = statistics.median(sql_ratios)
    slots_p99 = med(r["slots"], "p99_ms")
    c = args.connections
    load = "wrk (2 threads)" if out.use_wrk else "httpx from one process"

    def share(key: str) -> str:
        return f"{100 * statistics.median(out.remembered[key]):.0f} %"

    def cpu_ms(key: str) -> float:
        return statistics.median(x.server_cpu_s * 1000 / max(1, x.requests) for x in r[key])

    def row(label: str, key: str, ratio: str = "") -> str:
        cores = med(r[key], "server_cpu_s") / args.duration
        cpu = "" if math.isnan(cores) else f"{cpu_ms(key):.2f} | {cores:.2f}"
        return (
            f"| {label} | {per[key]:,.0f} | {ratio} | {med(r[key], 'p50_ms'):.1f} | "
            f"{med(r[key], 'p99_ms'):.1f} | {cpu or ' | '} |"
        )

    races = "; ".join(", ".join(f"{n}× {k}" for k, n in sorted(c_.items())) for c_ in out.races)
    ch = out.checks
    met = {
        "slots": slot_ratio >= 0.5 and slots_p99 < 50,
        "booking": book_ratio >= 1 / 3,
    }
    lines = [
        "## Booking (issue 3)",
        "",
        f"Generated by `uv run python bench/booking.py --duration {args.duration:g} --warmup "
        f"{args.warmup:g} --runs {args.runs} --connections {c}` on {datetime.now(UTC):%Y-%m-%d} "
        f"({os.cpu_count()} cores, Python {platform.python_version()}; PostgreSQL, RabbitMQ, "
        f"booking (one uvicorn process, as deployed: relay and timers included), the bare app "
        f"and the load generator, {load}, all on the same machine). {c} connections, "
        f"{args.duration:g} s per measurement after a {args.warmup:g} s warm-up; medians of "
        f"{args.runs} interleaved runs. Slot search: one specialist (every day 09–18 Moscow, "
        f"two bookings a day), {SEARCH_DAYS} days, {SEARCH_DAYS * (len(HOURS) - 2)} slots in "
        f"the answer. Booking: each request a different free slot, round-robin over "
        f"{out.specialists} specialists, no prepayment (confirmed at once + outbox event).",
        "",
        "| measurement | requests/s | ratio | p50 ms | p99 ms | server CPU ms/request | "
        "server cores busy |",
        "|---|---:|---:|---:|---:|---:|---:|",
        row("bare FastAPI + asyncpg read (the slot search's 5 SELECTs)", "bare_read", "1.00"),
        row(
            f"**slot search, {SEARCH_DAYS} days, one specialist** (the same search again and "
            f"again: {share('slots')} answered from memory, versions checked)",
            "slots",
            f"**{slot_ratio:.2f}** of bare read",
        ),
        row(
            f"slot search, every answer computed ({COLD_WINDOWS:,} distinct windows in turn; "
            f"{share('slots_cold')} from memory)",
            "slots_cold",
            f"{cold_ratio:.2f} of bare read",
        ),
        row(f"bare asyncpg one-row INSERT transactions ({c} connections, no HTTP)", "bare_insert"),
        row(
            f"a booking's statements alone on asyncpg ({c} connections, no HTTP: BEGIN, the "
            "context read, the appointment INSERT, the outbox INSERT, COMMIT)",
            "bare_booking_sql",
            f"{sql_ratio:.2f} of bare insert",
        ),
        row("bare FastAPI + asyncpg insert endpoint", "bare_http_insert"),
        row(
            "**booking creation (constraint check + outbox row)**",
            "booking",
            f"**{book_ratio:.2f}** of bare insert, {http_ratio:.2f} of bare HTTP insert",
        ),
        "",
        "Per run (requests/s, slot search / computed slot search / bare read / booking / a "
        "booking's statements alone / bare HTTP insert / bare insert): "
        + "; ".join(
            " / ".join(f"{r[k][i].per_s:,.0f}" for k in NAMES) for i in range(len(r["slots"]))
        )
        + ".",
        "",
        f"Bookings (warm-ups included): {ch['201']:,} × 201 counted by the load generator, "
        f"{ch['409']} × 409, {ch['other']} other or failed; {ch['rows']:,} appointment rows "
        f"(the rest answered after the generator stopped counting, ≤ {c} per load run) and "
        f"{ch['confirmed_events']:,} `AppointmentConfirmed` outbox rows."
        + ("" if ch["capped"] == 0 else f" {ch['capped']} load runs hit the request cap."),
        "",
        f"**The 50-way race** (50 clients POST the same slot at once, once per run): {races}.",
        "",
        *(
            [
                "booking logged these errors during the run (by exception): "
                + "; ".join(f"{n}× `{e}`" for e, n in out.server_errors.most_common(5))
                + ".",
                "",
            ]
            if out.server_errors
            else []
        ),
        f"**Against the goals.** Slot search at {slot_ratio:.2f} of the bare read rate (goal "
        f"≥ 0.5), p99 {slots_p99:.1f} ms (goal < 50 ms): "
        f"{'met' if met['slots'] else 'not met'} (p99 per run "
        f"{', '.join(f'{x.p99_ms:.1f}' for x in r['slots'])} ms; the bare read's "
        f"{', '.join(f'{x.p99_ms:.1f}' for x in r['bare_read'])} ms); when every answer has to "
        "be computed "
        f"(nothing remembered, or the rows changed since), {cold_ratio:.2f} of the bare read "
        f"and p99 {cold_p99:.1f} ms"
        f"{'' if cold_ratio >= 0.5 and cold_p99 < 50 else ', short of the p99 goal'}. "
        f"Booking at {book_ratio:.2f} of the bare "
        f"insert rate (goal ≥ 0.33): {'met' if met['booking'] else 'not met'}; a booking's "
        f"own statements, sent from asyncpg with no HTTP and no Python around them, reach "
        f"{sql_ratio:.2f} of it (per run {', '.join(f'{x:.2f}' for x in sql_ratios)}): a "
        f"booking is five round trips and the bare insert one. Per-run ratios: "
        f"slot search {', '.join(f'{x:.2f}' for x in slot_ratios)} (computed: "
        f"{', '.join(f'{x:.2f}' for x in cold_ratios)}); booking "
        f"{', '.join(f'{x:.2f}' for x in book_ratios)}. " + HISTORY,
        "",
        f"**What limits it.** booking is one Python process and it is CPU-bound: during the "
        f"measurements it kept {med(r['slots'], 'server_cpu_s') / args.duration:.2f} "
        f"(slot search) and {med(r['booking'], 'server_cpu_s') / args.duration:.2f} (booking) "
        f"of a core busy, at {cpu_ms('slots'):.2f} ms of CPU per remembered slot search, "
        f"{cpu_ms('slots_cold'):.2f} ms per computed one and "
        f"{cpu_ms('booking'):.1f} ms per booking, against {cpu_ms('bare_read'):.2f} ms for "
        f"the bare read and {cpu_ms('bare_http_insert'):.2f} ms for the bare HTTP insert. "
        f"PostgreSQL is not the limit (the bare asyncpg inserts run at "
        f"{per['bare_insert'] / per['booking']:.0f}× booking's rate on the same machine). "
        f"A third of the bare insert rate is beyond any HTTP endpoint on this machine: the bare "
        f"FastAPI endpoint doing nothing but that INSERT reaches "
        f"{per['bare_http_insert'] / per['bare_insert']:.2f} of it. With {c} connections "
        f"queued on one busy core, latency is ≈ {c} / rate (Little's law): p99 < 50 ms at {c} "
        f"connections needs well over 640 requests/s with almost no spread — the bare read "
        f"itself shows p99 {med(r['bare_read'], 'p99_ms'):.0f} ms here. " + PROFILE_NOTE,
        "",
    ]
    return "\n".join(lines)


def write_section(text: str, path: Path) -> None:
    """Replace the ``## Booking (issue 3)`` section (up to the next ``## ``) or append it."""
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    head = "## Booking (issue 3)"
    if head in old:
        before, rest = old.split(head, 1)
        after = rest.split("\n## ", 1)
        tail = "\n## " + after[1] if len(after) > 1 else ""
        new = before + text.rstrip("\n") + "\n" + tail
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new if new.endswith("\n") else new + "\n")


if __name__ == "__main__":
    # Run as a script, this file's folder comes first on sys.path and its name would shadow the
    # booking package (which the migrations import).
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    if len(sys.argv) > 2 and sys.argv[1] == "--role":
        serve_bare(sys.argv[3], int(sys.argv[4]))
        raise SystemExit(0)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--client", choices=("auto", "wrk", "httpx"), default="auto")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--only", type=lambda v: set(v.split(",")), help=f"measure only these of {NAMES}"
    )
    a = parser.parse_args()
    outcome = asyncio.run(main(a))
    if a.only:  # a partial run: no report to write
        for error, n in outcome.server_errors.most_common(5):
            print(f"booking logged {n}× {error}")
        for name, shares in outcome.remembered.items():
            if shares:
                print(f"{name}: answered from memory {', '.join(f'{x:.0%}' for x in shares)}")
        raise SystemExit(0)
    section = report(outcome, a)
    print(section)
    if not a.no_write:
        write_section(section, Path(__file__).with_name("RESULTS.md"))
