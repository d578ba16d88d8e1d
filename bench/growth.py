"""Cost grows gently with data (issue 21, point 5): slot search and booking against a booking
whose database holds 200 specialists and 500,000 past appointments, beside the same against an
empty one, measured in the same run.

Two booking processes run side by side (each its own uvicorn process, as deployed, on its own
throwaway database; one vhost): *empty* and *grown*. Both get the same practice through the API
(one service, 200 specialists, 1,024 clients, as ``bench/booking.py`` seeds it); the grown one
then gets 2,500 past appointments per specialist written straight into its ``appointments``
table by one ``generate_series`` INSERT (eight a day back over ~10 months, 09:00–16:00 UTC:
75 % completed, 15 % cancelled, 5 % no-show, 5 % expired holds), then ANALYZE. The
measurements (``bench/booking.py``'s loader: wrk when installed) alternate between the two,
``--runs`` times: the same slot search (one specialist, 30 days) and bookings of distinct free
slots. The plans of the slot search, the booking's context read (occupancy and the intake
rule) and the booking's INSERT (the exclusion constraint's overlap check) on the grown
database are kept in ``bench/plans/*.txt`` (EXPLAIN (ANALYZE, BUFFERS); the INSERT rolled back).

Usage: ``uv run python bench/growth.py [--duration 8] [--runs 3] [--past 500000]``. Writes the
``## Growth with data (issue 21)`` section of ``bench/RESULTS.md`` (``--no-write``: print only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from servicekit.db.engine import asyncpg_dsn
from servicekit.db.migrations import upgrade
from servicekit.testing import TokenMint, temporary_database, temporary_vhost

HERE = Path(__file__).resolve().parent
if __name__ == "__main__":
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
    sys.path.append(str(HERE))  # benchkit, after the packages

import benchkit  # noqa: E402

B = benchkit.bench_module("booking")
B.CLIENTS = 256  # clients booking.py's seed introduces (its 1,024 take minutes here)

HEAD = "## Growth with data (issue 21)"
SPECIALISTS = 200
PLANS = HERE / "plans"
GOAL = 1.5

# Past appointments, n per specialist: the k-th one (k from 0) k // 8 + 1 days back at
# 09:00 + (k % 8) hours UTC, 50 minutes + 10 minutes' buffer, never overlapping.
PAST_SQL = """
WITH cl AS (SELECT array_agg(user_id ORDER BY user_id) AS ids FROM clients)
INSERT INTO appointments (
  id, client_id, specialist_id, service_id, service_name, specialist_name,
  specialist_time_zone, format, duration_minutes, price_amount, buffer_before_minutes,
  buffer_after_minutes, starts_at, ends_at, occupied_from, occupied_until, status,
  hold_expires_at, prepayment_required, policy, reschedule_count, confirmed_at, cancelled_at,
  cancelled_by, created_at, updated_at, version)
SELECT gen_random_uuid(), c.id, sp.user_id, $1, 'Консультация', 'Специалист',
  'Europe/Moscow', 'online', 50, 300000, 0, 10, t.at, t.at + interval '50 minutes', t.at,
  t.at + interval '60 minutes', st.status,
  CASE WHEN st.status = 'expired' THEN t.at - interval '6 days' END, false,
  '{"cancellation_tiers": [], "reschedule_min_notice_minutes": 0}'::jsonb, 0,
  CASE WHEN st.status IN ('completed', 'no_show', 'cancelled') THEN t.at - interval '7 days' END,
  CASE WHEN st.status = 'cancelled' THEN t.at - interval '2 days' END,
  CASE WHEN st.status = 'cancelled' THEN 'client' END,
  t.at - interval '7 days', t.at, 1
FROM (SELECT user_id, row_number() OVER (ORDER BY user_id) AS i FROM specialists) sp
CROSS JOIN generate_series(0, $2 - 1) AS k
CROSS JOIN LATERAL (SELECT date_trunc('day', now()) - ((k / 8 + 1) * interval '1 day')
                           + ((9 + k % 8) * interval '1 hour') AS at) t
CROSS JOIN LATERAL (SELECT CASE WHEN (k * 7 + sp.i) % 20 < 15 THEN 'completed'
                                WHEN (k * 7 + sp.i) % 20 < 18 THEN 'cancelled'
                                WHEN (k * 7 + sp.i) % 20 < 19 THEN 'no_show'
                                ELSE 'expired' END AS status) st
CROSS JOIN LATERAL (SELECT cl.ids[(1 + (k * 31 + sp.i * 17) % $3)::int] AS id FROM cl) c
"""


async def grow(dsn: str, service_id: str, per_specialist: int) -> dict[str, Any]:
    """The past appointments, then ANALYZE; what it took and what the table holds."""
    conn = await asyncpg.connect(dsn)
    try:
        clients = int(await conn.fetchval("SELECT count(*) FROM clients"))
        started = time.perf_counter()
        await conn.execute("SET synchronous_commit = off")
        # slot_versions' per-row triggers would bump 200 rows 500,000 times in one transaction
        # (each bump walking a longer chain of row versions): off for the bulk load (replica
        # mode; the exclusion constraint still holds), then every version bumped once.
        await conn.execute("SET session_replication_role = replica")
        await conn.execute(PAST_SQL, uuid.UUID(service_id), per_specialist, clients)
        await conn.execute("SET session_replication_role = DEFAULT")
        await conn.execute("UPDATE slot_versions SET version = version + 1")
        await conn.execute("ANALYZE")
        took = time.perf_counter() - started
        statuses = dict(
            await conn.fetch("SELECT status, count(*) FROM appointments GROUP BY status")
        )
        size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('appointments'))")
    finally:
        await conn.close()
    return {"seconds": took, "statuses": statuses, "size": size}


async def plans(dsn: str, practice: Any) -> dict[str, str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the slot search, the booking's context read and the
    booking's INSERT (rolled back) as booking runs them, on the grown database."""
    from booking.adapters.schedules import BOOKING_CONTEXT_SQL, SLOT_SEARCH_SQL, occupancy_params

    service_id, specialist = uuid.UUID(practice.service_id), uuid.UUID(practice.searched)
    now = datetime.now(UTC)
    start = B.local_start(practice.first_day, 0)
    window = occupancy_params(start, start + timedelta(days=B.SEARCH_DAYS), now)
    slot_at = B.local_start(practice.first_day + timedelta(days=B.POOL_DAYS - 1), 9)
    pool_specialist = uuid.UUID(practice.pool[-1])
    conn = await asyncpg.connect(dsn)
    out: dict[str, str] = {}
    try:
        client = await conn.fetchval("SELECT user_id FROM clients LIMIT 1")
        explain = "EXPLAIN (ANALYZE, BUFFERS, VERBOSE OFF) "
        rows = await conn.fetch(explain + SLOT_SEARCH_SQL, service_id, specialist, *window)
        out["slot_search"] = "\n".join(r[0] for r in rows)
        ctx = occupancy_params(slot_at - timedelta(hours=12), slot_at + timedelta(hours=12), now)
        rows = await conn.fetch(
            explain + BOOKING_CONTEXT_SQL, service_id, pool_specialist, client, slot_at, *ctx
        )
        out["booking_context"] = "\n".join(r[0] for r in rows)
        insert = (
            "INSERT INTO appointments (id, client_id, specialist_id, service_id, service_name, "
            "specialist_name, specialist_time_zone, format, duration_minutes, price_amount, "
            "buffer_before_minutes, buffer_after_minutes, starts_at, ends_at, occupied_from, "
            "occupied_until, status, prepayment_required, policy, reschedule_count, "
            "confirmed_at, created_at, updated_at, version) VALUES ($1, $2, $3, $4, 'x', 'x', "
            "'Europe/Moscow', 'online', 50, 300000, 0, 10, $5::timestamptz, "
            "$5::timestamptz + interval '50 minutes', $5::timestamptz, "
            "$5::timestamptz + interval '60 minutes', 'confirmed', false, '{}'::jsonb, 0, "
            "now(), now(), now(), 1)"
        )
        tr = conn.transaction()
        await tr.start()
        try:
            rows = await conn.fetch(
                explain + insert, uuid.uuid4(), client, pool_specialist, service_id, slot_at
            )
        finally:
            await tr.rollback()
        out["booking_insert"] = "\n".join(r[0] for r in rows)
        indexes = await conn.fetch(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'appointments' ORDER BY 1"
        )
        out["appointments_indexes"] = "\n".join(r[0] for r in indexes)
    finally:
        await conn.close()
    return out


async def main(args: argparse.Namespace) -> dict[str, Any]:
    use_wrk = shutil.which("wrk") is not None
    mint = TokenMint()
    env = os.environ | {
        "ENVIRONMENT": "test",
        "JWT_PUBLIC_JWKS": mint.jwks_json,
        "JWKS_URL": "",
        "LOG_LEVEL": "WARNING",
        "DB_POOL_SIZE": "8",  # PostgreSQL's connections are shared with other jobs here
        "YOOKASSA_BASE_URL": f"http://{B.HOST}:9/v3",
    }
    argv = [sys.executable, "-m", "uvicorn", "booking.entrypoints.http:app", "--host", B.HOST]
    argv += ["--port", "{port}", "--no-access-log", "--log-level", "warning"]
    cap = int((args.duration + args.warmup) * 400)  # bookings one measurement may make
    results: dict[str, dict[str, list[Any]]] = {
        k: {"slots": [], "booking": []} for k in ("empty", "grown")
    }
    async with contextlib.AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-growth-")))
        servers, practices, dsns = {}, {}, {}
        for kind in ("empty", "grown"):
            amqp = await stack.enter_async_context(temporary_vhost())
            url = await stack.enter_async_context(temporary_database(f"growth_{kind}"))
            await asyncio.to_thread(upgrade, benchkit.migrations_of("booking"), url)
            dsns[kind] = asyncpg_dsn(url)
            servers[kind] = await stack.enter_async_context(
                B.serving(argv, env | {"DATABASE_URL": url, "AMQP_URL": amqp}, tmp / f"{kind}.log")
            )
            print(f"seeding {kind} …", flush=True)
            practices[kind] = await B.seed(servers[kind].base, amqp, SPECIALISTS - 1, mint)
        grown = await grow(dsns["grown"], practices["grown"].service_id, args.past // SPECIALISTS)
        print(f"grown in {grown['seconds']:.1f} s: {grown['statuses']} ({grown['size']})")
        kept = await plans(dsns["grown"], practices["grown"])
        loader = B.Loader(use_wrk, args.connections, args.warmup, args.duration, tmp)
        for i in range(args.runs):
            for kind in ("empty", "grown") if i % 2 == 0 else ("grown", "empty"):
                p = practices[kind]
                start, end = p.window()
                q = f"service_id={p.service_id}&specialist_id={p.searched}&from={start}&to={end}"
                slots = await loader.measure(
                    servers[kind], [B.Req("GET", f"/api/booking/slots?{q}")]
                )
                booking = await loader.measure(
                    servers[kind], lambda p=p: p.bookings(cap), cycle=False
                )
                results[kind]["slots"].append(slots)
                results[kind]["booking"].append(booking)
                print(
                    f"run {i + 1} {kind}: slots {slots.per_s:,.0f}/s p99 {slots.p99_ms:.0f} ms; "
                    f"booking {booking.per_s:,.0f}/s p99 {booking.p99_ms:.0f} ms "
                    f"{booking.statuses}",
                    flush=True,
                )
        errors = B.log_errors(tmp / "empty.log") + B.log_errors(tmp / "grown.log")
    return {"results": results, "grown": grown, "plans": kept, "wrk": use_wrk, "errors": errors}


def report(out: dict[str, Any], args: argparse.Namespace) -> str:
    r = out["results"]
    lines = [
        HEAD,
        "",
        f"Generated by `uv run python bench/growth.py --duration {args.duration:g} --runs "
        f"{args.runs} --past {args.past}` on {datetime.now(UTC):%Y-%m-%d} ({os.cpu_count()} "
        f"cores, Python {platform.python_version()}; two booking processes, PostgreSQL, "
        f"RabbitMQ and the load generator ({'wrk' if out['wrk'] else 'httpx'}, "
        f"{args.connections} connections) on one machine, **shared with other jobs running "
        f"tests**: noisy, so the two databases are measured alternately and ratios are taken "
        f"per run). {args.note}",
        "",
        f"The grown database: {SPECIALISTS} specialists, "
        + ", ".join(f"{n:,} {s}" for s, n in sorted(out["grown"]["statuses"].items()))
        + f" appointments ({out['grown']['size']} with indexes), written by one "
        f"`generate_series` INSERT in {out['grown']['seconds']:.0f} s.",
        "",
        "| measurement | empty req/s | grown req/s | grown ÷ empty (median of runs) | per run | "
        "empty p99 ms | grown p99 ms |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    verdict = []
    for key, label in (("slots", "slot search, 30 days, one specialist"), ("booking", "booking")):
        e, g = r["empty"][key], r["grown"][key]
        ratios = [b.per_s / a.per_s for a, b in zip(e, g, strict=True)]
        ratio = statistics.median(ratios)
        slowdown = 1 / ratio
        verdict.append((label, slowdown))
        lines.append(
            f"| {label} | {statistics.median(x.per_s for x in e):,.0f} | "
            f"{statistics.median(x.per_s for x in g):,.0f} | **{ratio:.2f}** | "
            f"{', '.join(f'{x:.2f}' for x in ratios)} | "
            f"{statistics.median(x.p99_ms for x in e):.1f} | "
            f"{statistics.median(x.p99_ms for x in g):.1f} |"
        )
    met = all(s <= GOAL for _, s in verdict)
    lines += [
        "",
        f"**Against the goal** (the grown database within {GOAL:g}× of the empty one's cost): "
        + ("**met**" if met else "**not met**")
        + " — "
        + "; ".join(f"{label} costs {s:.2f}× (rate ratio {1 / s:.2f})" for label, s in verdict)
        + ". Why it holds: the slot search and a booking read a specialist's appointments only "
        "through the exclusion constraint's GiST index (`appointments_no_overlap`: specialist "
        "=, occupied range &&; partial on the occupying statuses, so cancelled and expired rows "
        "are not even in it), which touches the few rows around the window however long the "
        "history; the intake rule (any earlier session of this client with this specialist) "
        + (
            "uses `appointments_client_specialist` (client_id, specialist_id; booking migration "
            "0015, added for this: before it PostgreSQL ANDed the client's and the specialist's "
            "whole histories, ≈ 1 ms per booking at 2,500 past appointments per specialist and "
            "growing with them). "
            if "appointments_client_specialist" in out["plans"]["appointments_indexes"]
            else "ANDs `appointments_client` and `appointments_specialist` (the client's and "
            "the specialist's whole histories: it grows with them). "
        )
        + "The plans on the grown database are in "
        "`bench/plans/` (`slot_search.txt`, `booking_context.txt`, `booking_insert.txt`, and "
        "the table's indexes in `appointments_indexes.txt`). Retention: booking keeps past "
        "appointments (they are the practice's records); nothing in these paths depends on "
        "deleting them, as the ratio shows.",
        "",
    ]
    if out["errors"]:
        lines += [f"booking logged errors: {dict(out['errors'])}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--past", type=int, default=500_000, help="past appointments in all")
    parser.add_argument("--note", default="", help="a sentence on the machine's state")
    parser.add_argument("--no-write", action="store_true")
    a = parser.parse_args()
    started_at = time.monotonic()
    outcome = asyncio.run(main(a))
    section = report(outcome, a)
    print(section)
    print(f"(took {time.monotonic() - started_at:.0f} s)")
    if not a.no_write:
        PLANS.mkdir(exist_ok=True)
        for name, text in outcome["plans"].items():
            (PLANS / f"{name}.txt").write_text(text + "\n")
        benchkit.write_section(section, HEAD)
