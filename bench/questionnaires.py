"""Questionnaires (issue 15): completing runs, and the crisis path end to end.

content and notify run as deployed (each its own uvicorn process: relay, consumers, timers and
notify's sending workers included) on throwaway databases and a throwaway vhost; this process
serves the sandbox Telegram fake and SMTP sink and generates the load.

1. **Completing runs** (score + outbox row): ``POST /api/content/runs/{id}/complete`` with all
   nine PHQ-9 answers, each request a different signed-in client's run (started beforehand), at
   ``--connections`` connections; beside the bare FastAPI + asyncpg one-row insert endpoint of
   ``bench/booking.py``, measured in the same run, interleaved. notify is not running yet, so
   the events go nowhere (no queue is bound).
2. **Crisis latency**: PHQ-9 completed with item 9 above 0, paced at ``--calm-rate`` runs/s
   for ``--calm-seconds`` s (the path's own latency), then at ``--rate`` runs/s for
   ``--seconds`` s (the goal's load), each client booked (notify's copy of booking's
   appointments) with a different specialist whose Telegram chat is linked; from the run's
   ``completed_at`` (content) to notify's consumer planning it (``crisis_runs.received_at``)
   and to the alert's ``sent_at`` on each channel in notify's crisis audit
   (``crisis_alerts``).
   Telegram's own limits (30 messages/s for a bot, 1/s per chat) are lifted, as in
   ``bench/notify_delivery.py``: at 50 alerts/s the bot limit alone would queue them.

Usage: ``uv run python bench/questionnaires.py [--duration 8] [--warmup 2] [--runs 2]
[--rate 50] [--seconds 10]``. Prints the results and writes the ``## Questionnaires (issue 15)``
section of ``bench/RESULTS.md`` (``--no-write``: print only). Load comes from wrk when it is
installed, else from httpx in this process (as in ``bench/booking.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from servicekit.db.engine import asyncpg_dsn
from servicekit.db.migrations import upgrade
from servicekit.testing import TokenMint, temporary_database, temporary_vhost

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PHQ9 = "6d0e6f3c-6f3e-4b8e-9a53-0c5a3e1f0901"
FREQUENCY = ["not_at_all", "several_days", "more_than_half", "nearly_every_day"]
CALM = {f"q{n}": FREQUENCY[1 if n <= 4 else 0] for n in range(1, 10)}  # 4: minimal, no event
CRISIS = {**CALM, "q9": FREQUENCY[1]}  # item 9 above 0: a crisis whatever the total
MAX_RATE = 1000  # completions/s one measurement may reach before its requests run out


def _bench_module(name: str) -> Any:
    """A sibling bench script (not a package) as a module: booking's bare app and load tools."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


B = _bench_module("booking")


def migrations_of(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "migrations"


# -- seeding (rows as the services' own consumers write them) ---------------------------------


async def consent(dsn: str, clients: list[uuid.UUID]) -> None:
    """content's copy of cabinet's health-data consent for each client."""
    conn = await asyncpg.connect(dsn)
    try:
        now = datetime.now(UTC)
        await conn.executemany(
            "INSERT INTO consents (user_id, purpose, granted, document_id, document_version, "
            "changed_at, consent_id) VALUES ($1, 'health_data_processing', true, $2, 1, $3, $4)",
            [(c, uuid.uuid4(), now, uuid.uuid4()) for c in clients],
        )
    finally:
        await conn.close()


async def book_and_link(
    notify_url: str, pairs: list[tuple[uuid.UUID, uuid.UUID]], chat_base: int
) -> dict[int, uuid.UUID]:
    """notify's copies: clients and specialists (contacts), each specialist's linked Telegram
    chat, and a confirmed appointment in three days between each pair. Chat id → specialist."""
    from notify.adapters.tables import AppointmentCopy, Recipient, TelegramChat
    from notify.config import NotifySettings
    from servicekit.db.engine import make_engine, make_session_factory
    from servicekit.security.fields import blind_index, configure_keyring, keyring_from_settings

    # the development keys notify's process uses too (ENVIRONMENT=test), asked for explicitly
    configure_keyring(keyring_from_settings(NotifySettings(environment="test")))

    engine = make_engine(notify_url, pool_size=2)
    sessions = make_session_factory(engine)
    now = datetime.now(UTC)
    chats: dict[int, uuid.UUID] = {}
    try:
        async with sessions() as session:
            for i, (client, specialist) in enumerate(pairs):
                for user, role in ((client, "client"), (specialist, "specialist")):
                    email = f"{role}.{user.hex[:12]}@example.org"
                    session.add(
                        Recipient(
                            user_id=user,
                            email=email,
                            email_index=blind_index(email, kind="email"),
                            name=f"{role.title()} {i}",
                            time_zone="Europe/Moscow",
                            language="ru",
                            roles=[role],
                            updated_at=now,
                        )
                    )
                chat = TelegramChat.for_chat_id(chat_base + i)
                chat.user_id, chat.linked_at = specialist, now
                session.add(chat)
                chats[chat_base + i] = specialist
                session.add(
                    AppointmentCopy(
                        appointment_id=uuid.uuid4(),
                        client_id=client,
                        specialist_id=specialist,
                        status="confirmed",
                        starts_at=now + timedelta(days=3),
                        facts="{}",
                        updated_at=now,
                    )
                )
            await session.commit()
    finally:
        await engine.dispose()
    return chats


async def start_runs(dsn: str, clients: list[uuid.UUID]) -> list[str]:
    """One PHQ-9 run started by each client, as ``POST /api/content/runs`` writes it (in
    progress, fixed to the latest version); their ids. Written directly: starting runs is not
    what is measured, and tens of thousands through HTTP would take minutes."""
    conn = await asyncpg.connect(dsn)
    try:
        version = await conn.fetchrow(
            "SELECT id, version FROM definition_versions WHERE questionnaire_id = $1 "
            "ORDER BY version DESC LIMIT 1",
            uuid.UUID(PHQ9),
        )
        now = datetime.now(UTC)
        ids = [uuid.uuid4() for _ in clients]
        await conn.copy_records_to_table(
            "runs",
            records=[
                (run_id, uuid.UUID(PHQ9), version["id"], version["version"], c, "in_progress", now)
                for run_id, c in zip(ids, clients, strict=True)
            ],
            columns=[
                "id",
                "questionnaire_id",
                "version_id",
                "definition_version",
                "user_id",
                "status",
                "started_at",
            ],
        )
    finally:
        await conn.close()
    return [str(i) for i in ids]


# -- measurement 2: the crisis path ------------------------------------------------------------


@dataclass
class Crisis:
    runs: int
    rate: float
    telegram_ms: list[float] = field(default_factory=list)
    email_ms: list[float] = field(default_factory=list)
    both_ms: list[float] = field(default_factory=list)
    first_ms: list[float] = field(default_factory=list)
    planned_ms: list[float] = field(default_factory=list)  # completed → notify planned it
    not_sent: int = 0
    answer_p99_ms: float = 0.0


async def paced_crises(
    base: str,
    mint: TokenMint,
    clients: list[uuid.UUID],
    run_ids: list[str],
    rate: float,
) -> list[float]:
    """Complete each run with a crisis answer, paced at ``rate``/s; the answers' latencies."""
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:

        async def one(client: uuid.UUID, run_id: str) -> None:
            started = time.perf_counter()
            r = await http.post(
                f"/api/content/runs/{run_id}/complete",
                json={"answers": CRISIS},
                headers=mint.auth("client", sub=client),
            )
            r.raise_for_status()
            assert r.json()["result"]["crisis"] is True
            latencies.append(time.perf_counter() - started)

        tasks = []
        t0 = time.perf_counter()
        for i, (client, run_id) in enumerate(zip(clients, run_ids, strict=True)):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(client, run_id)))
        await asyncio.gather(*tasks)
    return latencies


async def crisis_latencies(
    content_dsn: str, notify_dsn: str, run_ids: list[str], timeout: float
) -> dict[str, dict[str, float]]:
    """Per run: completed (content) → planned by notify's consumer (``planned``) and → sent
    (notify's audit), per channel; waits until every alert row of these runs is settled or
    ``timeout`` passes."""
    ids = [uuid.UUID(r) for r in run_ids]
    deadline = time.monotonic() + timeout
    notify = await asyncpg.connect(notify_dsn)
    content = await asyncpg.connect(content_dsn)
    try:
        while True:
            settled = await notify.fetchval(
                "SELECT count(*) FROM crisis_alerts WHERE kind = 'alert' AND status <> 'pending' "
                "AND run_id = ANY($1::uuid[])",
                ids,
            )
            if settled >= 2 * len(ids) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        completed = {
            str(r["id"]): r["completed_at"]
            for r in await content.fetch(
                "SELECT id, completed_at FROM runs WHERE id = ANY($1::uuid[])", ids
            )
        }
        alerts = await notify.fetch(
            "SELECT run_id, channel, status, sent_at FROM crisis_alerts "
            "WHERE kind = 'alert' AND run_id = ANY($1::uuid[])",
            ids,
        )
        planned = await notify.fetch(
            "SELECT run_id, received_at FROM crisis_runs WHERE run_id = ANY($1::uuid[])", ids
        )
    finally:
        await notify.close()
        await content.close()
    per_run: dict[str, dict[str, float]] = {}
    for a in alerts:
        if a["status"] == "sent" and a["sent_at"] is not None:
            start = completed[str(a["run_id"])]
            per_run.setdefault(str(a["run_id"]), {})[a["channel"]] = (
                a["sent_at"] - start
            ).total_seconds() * 1000
    for p in planned:
        start = completed[str(p["run_id"])]
        per_run.setdefault(str(p["run_id"]), {})["planned"] = (
            p["received_at"] - start
        ).total_seconds() * 1000
    return per_run


def pct(values: list[float], q: float) -> float:
    return float(B.pct(values, q))


def summarise(
    size: int,
    rate: float,
    answers: list[float],
    run_ids: list[str],
    per_run: dict[str, dict[str, float]],
) -> Crisis:
    crisis = Crisis(runs=size, rate=rate, answer_p99_ms=pct(answers, 0.99) * 1000)
    for run_id in run_ids:
        got = per_run.get(run_id, {})
        if "planned" in got:
            crisis.planned_ms.append(got["planned"])
        sent = {k: v for k, v in got.items() if k in ("telegram", "email")}
        if "telegram" in sent:
            crisis.telegram_ms.append(sent["telegram"])
        if "email" in sent:
            crisis.email_ms.append(sent["email"])
        if len(sent) == 2:
            crisis.both_ms.append(max(sent.values()))
            crisis.first_ms.append(min(sent.values()))
        else:
            crisis.not_sent += 1
    return crisis


# -- the whole run ---------------------------------------------------------------------------


@dataclass
class Outcome:
    complete: list[Any]
    bare: list[Any]
    crises: list[Crisis]
    use_wrk: bool
    errors: dict[str, int]
    events: int


async def main(args: argparse.Namespace) -> Outcome:
    from sandbox.telegram import running_telegram_fake
    from sandbox.telegram.models import UserCreate
    from sandbox.testing import running_smtp_sink

    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk") is not None)
    mint = TokenMint()
    cap = int(max(args.duration, args.warmup) * MAX_RATE)  # completions one load run may make
    env = os.environ | {
        "ENVIRONMENT": "test",  # development keys and the sandbox, asked for explicitly
        "JWT_PUBLIC_JWKS": mint.jwks_json,
        "JWKS_URL": "",
        "LOG_LEVEL": "WARNING",
        "DB_POOL_SIZE": "10",  # PostgreSQL's 100 connections are shared with other work here
    }
    serve = [sys.executable, "-m", "uvicorn", "--host", B.HOST, "--port", "{port}"]
    serve += ["--no-access-log", "--log-level", "warning"]
    with contextlib.ExitStack() as files:
        tmp = Path(files.enter_context(tempfile.TemporaryDirectory(prefix="bench-q-")))
        async with (
            temporary_vhost() as amqp_url,
            temporary_database("bench_content") as content_url,
            temporary_database("bench_notify") as notify_url,
        ):
            await asyncio.to_thread(upgrade, migrations_of("content"), content_url)
            await asyncio.to_thread(upgrade, migrations_of("notify"), notify_url)
            content_dsn, notify_dsn = asyncpg_dsn(content_url), asyncpg_dsn(notify_url)
            conn = await asyncpg.connect(content_dsn)
            await conn.execute("CREATE TABLE bench_rows (id bigserial PRIMARY KEY, body text)")
            await conn.close()
            content_env = env | {"DATABASE_URL": content_url, "AMQP_URL": amqp_url}
            bare_argv = [sys.executable, str(HERE / "booking.py"), "--role", "bare"]
            bare_argv += [content_dsn, "{port}"]
            loader = B.Loader(use_wrk, args.connections, args.warmup, args.duration, tmp)
            complete: list[Any] = []
            bare: list[Any] = []
            async with (
                B.serving([*serve, "content.entrypoints.http:app"], content_env, tmp / "c.log")
                as content,
                B.serving(bare_argv, env, tmp / "bare.log") as bare_app,
            ):  # fmt: skip
                # 1. completing runs, interleaved with the bare insert
                clients = [uuid.uuid4() for _ in range(2 * cap * args.runs)]  # warm-ups too
                await consent(content_dsn, clients)
                print(f"starting {len(clients)} runs …", flush=True)
                run_ids = await start_runs(content_dsn, clients)
                todo = list(zip(clients, run_ids, strict=True))
                body = json.dumps({"answers": CALM})

                def completions() -> list[Any]:
                    batch, todo[:] = todo[:cap], todo[cap:]
                    return [
                        B.Req(
                            "POST",
                            f"/api/content/runs/{run_id}/complete",
                            mint.auth("client", sub=client)["Authorization"],
                            body,
                        )
                        for client, run_id in batch
                    ]

                insert_body = json.dumps(
                    {
                        "service_id": str(uuid.uuid4()),
                        "specialist_id": str(uuid.uuid4()),
                        "starts_at": datetime.now(UTC).isoformat(),
                    }
                )
                for i in range(args.runs):
                    complete.append(await loader.measure(content, completions, cycle=False))
                    bare.append(
                        await loader.measure(bare_app, [B.Req("POST", "/insert", "", insert_body)])
                    )
                    print(
                        f"run {i + 1}: complete {complete[-1].per_s:,.0f}/s p99 "
                        f"{complete[-1].p99_ms:.1f} ms {complete[-1].statuses}; bare insert "
                        f"{bare[-1].per_s:,.0f}/s p99 {bare[-1].p99_ms:.1f} ms",
                        flush=True,
                    )
                conn = await asyncpg.connect(content_dsn)
                events = int(await conn.fetchval("SELECT count(*) FROM outbox"))
                await conn.close()

                # 2. the crisis path, with notify running: a calm rate, then the asked one
                phases = [(args.calm_rate, args.calm_seconds), (args.rate, args.seconds)]
                sizes = [max(1, int(rate * seconds)) for rate, seconds in phases]
                crisis_clients = [uuid.uuid4() for _ in range(sum(sizes))]
                specialists = [uuid.uuid4() for _ in crisis_clients]
                await consent(content_dsn, crisis_clients)
                chats = await book_and_link(
                    notify_url, list(zip(crisis_clients, specialists, strict=True)), 600_000_000
                )
                crisis_runs = await start_runs(content_dsn, crisis_clients)
                crises: list[Crisis] = []
                async with running_telegram_fake() as tg, running_smtp_sink() as smtp:
                    for chat_id in chats:
                        tg.store.add_user(UserCreate(id=chat_id, first_name="Bench"))
                    notify_env = env | {
                        "DATABASE_URL": notify_url,
                        "AMQP_URL": amqp_url,
                        "TELEGRAM_API_BASE": tg.base_url,
                        "TELEGRAM_BOT_TOKEN": tg.token,
                        "TELEGRAM_MESSAGES_PER_SECOND": "100000",
                        "TELEGRAM_CHAT_INTERVAL_SECONDS": "0",
                        "SMTP_HOST": smtp.smtp_host,
                        "SMTP_PORT": str(smtp.smtp_port),
                        "DELIVERY_WORKERS": str(args.workers),
                    }
                    async with B.serving(
                        [*serve, "notify.entrypoints.http:app"], notify_env, tmp / "n.log"
                    ):
                        first = 0
                        for (rate, _), size in zip(phases, sizes, strict=True):
                            who = crisis_clients[first : first + size]
                            runs = crisis_runs[first : first + size]
                            first += size
                            answers = await paced_crises(content.base, mint, who, runs, rate)
                            per_run = await crisis_latencies(content_dsn, notify_dsn, runs, 90)
                            crises.append(summarise(size, rate, answers, runs, per_run))
                            print(
                                f"crisis at {rate:g}/s: both channels p50 "
                                f"{pct(crises[-1].both_ms, 0.5):.0f} ms p99 "
                                f"{pct(crises[-1].both_ms, 0.99):.0f} ms",
                                flush=True,
                            )
            errors = B.log_errors(tmp / "c.log") + B.log_errors(tmp / "n.log")
    return Outcome(complete, bare, crises, use_wrk, dict(errors), events)


def med(results: list[Any], attr: str) -> float:
    return float(statistics.median(getattr(r, attr) for r in results))


def report(out: Outcome, args: argparse.Namespace) -> str:
    c, b = out.complete, out.bare
    ratios = [x.per_s / y.per_s for x, y in zip(c, b, strict=True)]
    client = "wrk (2 threads)" if out.use_wrk else "httpx in the benchmark's process"
    answered = sum(r.statuses.get(200, 0) for r in c)
    other = sum(r.statuses.get(0, 0) + r.errors for r in c)
    lines = [
        "## Questionnaires (issue 15)",
        "",
        f"Generated by `uv run python bench/questionnaires.py --duration {args.duration:g} "
        f"--warmup {args.warmup:g} --runs {args.runs} --rate {args.rate:g} "
        f"--seconds {args.seconds:g}` on {datetime.now(UTC):%Y-%m-%d} ({os.cpu_count()} cores, "
        f"Python {platform.python_version()}; PostgreSQL, RabbitMQ, content and notify (each one "
        f"uvicorn process, as deployed), the bare app, the Telegram fake, the SMTP sink and the "
        f"load generator ({client}) on one machine). {args.note}",
        "",
        "| measurement | requests/s | ratio | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
        f"| bare FastAPI + asyncpg insert endpoint ({args.connections} connections) "
        f"| {med(b, 'per_s'):,.0f} | 1.00 | {med(b, 'p50_ms'):.1f} | {med(b, 'p99_ms'):.1f} |",
        f"| **completing a PHQ-9 run** (nine answers stored encrypted, scored, the run and its "
        f"result written, outbox row; {args.connections} connections) "
        f"| {med(c, 'per_s'):,.0f} | **{statistics.median(ratios):.2f}** of bare insert "
        f"| {med(c, 'p50_ms'):.1f} | {med(c, 'p99_ms'):.1f} |",
        "",
        "Per run (completions/s / bare inserts/s (ratio)): "
        + "; ".join(
            f"{x.per_s:,.0f} / {y.per_s:,.0f} ({x.per_s / y.per_s:.2f})"
            for x, y in zip(c, b, strict=True)
        )
        + f". Completions answered 200: {answered:,} (warm-ups not counted), other or failed: "
        f"{other}; `interactive_run.completed` outbox rows: {out.events:,}.",
        "",
        f"**Crisis latency** (PHQ-9 runs completed with item 9 above 0, paced at "
        f"{args.calm_rate:g}/s for {args.calm_seconds:g} s, then at {args.rate:g}/s for "
        f"{args.seconds:g} s; each client's specialist a different one with a linked Telegram "
        f"chat; Telegram's limits lifted; {args.workers} delivery workers): from the run's "
        f"`completed_at` in content to `received_at` in notify's `crisis_runs` and to `sent_at` "
        f"in its crisis audit.",
        "",
        "| paced at | from the run's completion to | p50 ms | p99 ms | max ms |",
        "|---|---|---:|---:|---:|",
    ]
    for k in out.crises:
        for name, values in (
            ("completed → notify planned it (relay, broker, consumer)", k.planned_ms),
            ("Telegram sent", k.telegram_ms),
            ("email sent", k.email_ms),
            ("first of the two sent", k.first_ms),
            ("**both sent** (the later of the two)", k.both_ms),
        ):
            if values:
                lines.append(
                    f"| {k.rate:g}/s ({k.runs} runs) | {name} | {pct(values, 0.5):.0f} "
                    f"| {pct(values, 0.99):.0f} | {max(values):.0f} |"
                )
    k = out.crises[-1]
    both_p99 = pct(k.both_ms, 0.99) if k.both_ms else float("nan")
    met = "met" if k.both_ms and both_p99 < 2000 and not k.not_sent else "not met"
    lines += [
        "",
        "Runs whose alert was not sent on both channels within 90 s: "
        + ", ".join(f"{c.not_sent} at {c.rate:g}/s" for c in out.crises)
        + ". The completion requests themselves, p99: "
        + ", ".join(f"{c.answer_p99_ms:.0f} ms at {c.rate:g}/s" for c in out.crises)
        + f". Errors logged by the services: {sum(out.errors.values())}"
        + (f" ({', '.join(f'{n}× {e}' for e, n in out.errors.items())})" if out.errors else "")
        + ".",
        "",
        f"**Against the goal** (crisis alert p99 under 2 s end to end, at {k.rate:g} runs/s): "
        f"{met} — both channels p99 {both_p99:.0f} ms.",
        "",
        limits_note(out, args.connections),
        "",
    ]
    return "\n".join(lines)


def limits_note(out: Outcome, connections: int) -> str:
    """What the numbers say limits the crisis path."""
    calm, busy = out.crises[0], out.crises[-1]
    rate = med(out.complete, "per_s")
    return (
        f"**What limits it.** Completing a run is the slow step: content completes "
        f"{rate:,.0f} runs/s at {connections} connections here (measurement 1), "
        f"so at {busy.rate:g}/s "
        + ("the requests queue in content" if rate < busy.rate else "content is close to its limit")
        + f" (completion p99 {busy.answer_p99_ms:,.0f} ms) and its relay, notify's consumer "
        f"and notify's senders share the same two cores with it: the lag builds over the "
        f"{busy.runs} runs (completion → notify planned it, p99 "
        f"{pct(busy.planned_ms, 0.99):,.0f} ms; → both channels sent, p99 "
        f"{pct(busy.both_ms, 0.99):,.0f} ms). At a rate the machine carries "
        f"({calm.rate:g}/s) the path itself takes p50 {pct(calm.both_ms, 0.5):.0f} / p99 "
        f"{pct(calm.both_ms, 0.99):.0f} ms from completion to both channels sent, of which "
        f"p50 {pct(calm.planned_ms, 0.5):.0f} ms to reach notify's consumer (content's relay "
        f"woken by NOTIFY, RabbitMQ, the inbox) and the rest notify's planning, its sending "
        f"workers (woken by NOTIFY) and the two providers."
    )


def write_section(text: str, path: Path) -> None:
    """Replace the ``## Questionnaires (issue 15)`` section (up to the next ``## ``) or add it."""
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    head = "## Questionnaires (issue 15)"
    if head in old:
        before, rest = old.split(head, 1)
        after = rest.split("\n## ", 1)
        tail = "\n## " + after[1] if len(after) > 1 else ""
        new = before + text.rstrip("\n") + "\n" + tail
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new if new.endswith("\n") else new + "\n")


if __name__ == "__main__":
    # Run as a script, this file's folder comes first on sys.path: keep it from shadowing
    # packages (booking.py would shadow booking).
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, default=50.0, help="crisis runs completed per s")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long they are paced")
    parser.add_argument("--calm-rate", type=float, default=5.0, help="a first, calm rate")
    parser.add_argument("--calm-seconds", type=float, default=6.0)
    parser.add_argument("--workers", type=int, default=4, help="DELIVERY_WORKERS of notify")
    parser.add_argument("--client", choices=("auto", "wrk", "httpx"), default="auto")
    parser.add_argument("--note", default="", help="a sentence on the machine's state")
    parser.add_argument("--no-write", action="store_true")
    a = parser.parse_args()
    started_at = time.monotonic()
    outcome = asyncio.run(main(a))
    section = report(outcome, a)
    print(section)
    print(f"(took {time.monotonic() - started_at:.0f} s)")
    if not a.no_write:
        write_section(section, HERE / "RESULTS.md")
