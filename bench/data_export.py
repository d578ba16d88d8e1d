"""Data export (issue 17): seconds from a user's request to their download link, end to end.

The four services run in this process (as in the tests: each its own database, relay,
consumers and timers, all on one throwaway RabbitMQ vhost), behind a miniature gateway served
on a loopback port (the parts' signed links are fetched through it over HTTP, as through
nginx); the SMTP sink and the Telegram fake are the sandbox's. The user has ``--appointments``
appointments (each with a payment) in booking, ``--runs`` completed PHQ-9 runs (nine encrypted
answers and an encrypted result each) in content and ``--diary`` diary entries in cabinet,
written straight into each service's own tables (through its ORM, so encrypted as it writes
them), plus what registration leaves (notify's mail).

Measured per run: ``POST /api/cabinet/me/data-exports`` → the export ``completed`` in cabinet
(every part built, announced through RabbitMQ, fetched through the gateway, the zip assembled
and stored encrypted, ``cabinet.data_export.completed`` written) → the mail with the link in
the SMTP sink (notify consumed the event and sent it). Each run is a new export of the same
user.

Usage: ``uv run python bench/data_export.py [--appointments 1000] [--runs 100]
[--diary 1000] [--repeat 3]``. Prints the results and writes the ``## Data export (issue 17)``
section of ``bench/RESULTS.md`` (``--no-write``: print only).
"""

# The report is Markdown with one line per paragraph, as RESULTS.md keeps it.
# ruff: noqa: E501

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import platform
import re
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SERVICES = ("cabinet", "notify", "booking", "content")
SETTINGS = {
    "booking": "BookingSettings",
    "content": "ContentSettings",
    "cabinet": "CabinetSettings",
    "notify": "NotifySettings",
}
PHQ9 = uuid.UUID("6d0e6f3c-6f3e-4b8e-9a53-0c5a3e1f0901")
SECTION = "## Data export (issue 17)"


async def seed(
    services: dict[str, Any], user_id: uuid.UUID, a: argparse.Namespace
) -> dict[str, int]:
    """The user's rows in booking, content and cabinet."""
    from booking.adapters.tables import Appointment, Payment
    from cabinet.adapters.tables import DiaryEntry
    from content.adapters.tables import DefinitionVersion, Run, RunAnswer
    from sqlmodel import col, select

    now = datetime.now(UTC)
    specialist = uuid.uuid4()
    async with services["booking"].runtime.uow() as uow:
        for n in range(a.appointments):
            starts = now - timedelta(days=n + 1)
            appointment_id = uuid.uuid4()
            uow.session.add(
                Appointment(
                    id=appointment_id,
                    client_id=user_id,
                    specialist_id=specialist,
                    service_id=specialist,
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
                    status="completed",
                    prepayment_required=True,
                    policy={},
                    created_at=now,
                    updated_at=now,
                )
            )
            uow.session.add(
                Payment(
                    id=uuid.uuid4(),
                    appointment_id=appointment_id,
                    client_id=user_id,
                    amount=300000,
                    status="succeeded",
                    paid_at=starts,
                    created_at=now,
                    updated_at=now,
                )
            )
        await uow.commit()
    async with services["content"].runtime.uow() as uow:
        version_id = (
            await uow.session.exec(
                select(DefinitionVersion.id)
                .where(DefinitionVersion.questionnaire_id == PHQ9)
                .order_by(col(DefinitionVersion.version).desc())
            )
        ).first()
        result = {
            "score": 3,
            "min_score": 0,
            "max_score": 27,
            "band": "minimal",
            "subscales": {},
            "crisis": False,
            "crisis_reasons": [],
            "suggest_intake": False,
        }
        for n in range(a.runs):
            run_id = uuid.uuid4()
            at = now - timedelta(days=n)
            uow.session.add(
                Run(
                    id=run_id,
                    questionnaire_id=PHQ9,
                    version_id=version_id,
                    definition_version=1,
                    user_id=user_id,
                    status="completed",
                    started_at=at,
                    completed_at=at,
                    result=json.dumps(result),
                )
            )
            await uow.session.flush()
            for item in range(1, 10):
                uow.session.add(
                    RunAnswer(
                        run_id=run_id,
                        item_id=f"q{item}",
                        option="several_days" if item <= 3 else "not_at_all",
                        answered_at=at,
                    )
                )
        await uow.commit()
    async with services["cabinet"].runtime.uow() as uow:
        body = {
            "mood": 6,
            "emotions": ["calm", "tiredness"],
            "tags": ["работа"],
            "sleep_hours": 7.0,
            "text": "Обычный день, немного устала, вечером гуляла. " * 4,
        }
        for n in range(a.diary):
            uow.session.add(
                DiaryEntry(
                    user_id=user_id,
                    entry_date=date.today() - timedelta(days=n),
                    body=json.dumps(body, ensure_ascii=False),
                    created_at=now,
                    updated_at=now,
                )
            )
        await uow.commit()
    return {"appointments": a.appointments, "runs": a.runs, "diary": a.diary}


async def main(a: argparse.Namespace) -> dict[str, Any]:
    import httpx
    from sandbox.serving import ApiGateway, serve_app
    from sandbox.telegram import running_telegram_fake
    from sandbox.testing import running_smtp_sink
    from servicekit.security.signing import save_keyset
    from servicekit.testing import TokenMint, running_service, temporary_vhost

    tokens = TokenMint()
    gateway = ApiGateway()
    timings: list[dict[str, float]] = []
    sizes: list[int] = []
    async with contextlib.AsyncExitStack() as stack:
        keys_dir = stack.enter_context(__import__("tempfile").TemporaryDirectory())
        keys = Path(keys_dir) / "signing.json"
        save_keyset(keys, [tokens.signing_key])
        amqp_url = await stack.enter_async_context(temporary_vhost())
        smtp = await stack.enter_async_context(running_smtp_sink())
        telegram = await stack.enter_async_context(running_telegram_fake())
        origin = await stack.enter_async_context(serve_app(gateway))
        services: dict[str, Any] = {}
        for name in SERVICES:
            bootstrap = importlib.import_module(f"{name}.bootstrap")
            settings = getattr(importlib.import_module(f"{name}.config"), SETTINGS[name])
            services[name] = await stack.enter_async_context(
                running_service(
                    bootstrap.definition,
                    bootstrap.build_runtime,
                    settings,
                    amqp_url=amqp_url,
                    tokens=tokens,
                    jwt_signing_keys_file=str(keys),
                    smtp_host=smtp.smtp_host,
                    smtp_port=smtp.smtp_port,
                    telegram_api_base=telegram.base_url,
                    telegram_bot_token=telegram.token,
                    public_origin=origin,
                )
            )
            gateway.apps[name] = services[name].app
        cabinet: httpx.AsyncClient = services["cabinet"].client
        email = f"bench.{uuid.uuid4().hex[:8]}@example.com"
        r = await cabinet.post(
            "/api/cabinet/registrations",
            json={"email": email, "password": "correct horse battery", "name": "Вера"},
        )
        assert r.status_code == 202, r.text
        found = await cabinet.post(
            "/api/cabinet/users/search", json={"email": email}, headers=tokens.auth("admin")
        )
        user_id = uuid.UUID(found.json()["items"][0]["id"])
        me = tokens.auth("client", sub=user_id)
        seeded = await seed(services, user_id, a)
        link = re.compile(r"/data-export/([0-9a-f-]+)#token=")
        for _ in range(a.repeat):
            started = time.perf_counter()
            r = await cabinet.post("/api/cabinet/me/data-exports", headers=me)
            assert r.status_code == 202, r.text
            export_id = r.json()["id"]
            accepted = time.perf_counter()
            completed = mailed = None
            deadline = started + a.timeout
            while time.perf_counter() < deadline and mailed is None:
                if completed is None:
                    state = (
                        await cabinet.get(f"/api/cabinet/me/data-exports/{export_id}", headers=me)
                    ).json()
                    if state["status"] != "collecting":
                        completed = time.perf_counter()
                        assert state["status"] == "completed", state
                for message in smtp.store.messages(to=email):
                    m = link.search(message.text or "")
                    if m and m.group(1) == export_id:
                        mailed = time.perf_counter()
                await asyncio.sleep(0.05)
            assert completed is not None and mailed is not None, "timed out"
            [row] = await (await _conn(services["cabinet"].database_url)).fetch(
                "SELECT length(archive) AS n FROM data_exports WHERE id = $1",
                uuid.UUID(export_id),
            )
            sizes.append(int(row["n"]))
            timings.append(
                {
                    "accepted": accepted - started,
                    "completed": completed - started,
                    "mailed": mailed - started,
                }
            )
    return {"timings": timings, "seeded": seeded, "archive_chars": sizes}


async def _conn(url: str) -> Any:
    import asyncpg
    from servicekit.db.engine import asyncpg_dsn

    return await asyncpg.connect(asyncpg_dsn(url))


def report(outcome: dict[str, Any], a: argparse.Namespace) -> str:
    timings = outcome["timings"]
    seeded = outcome["seeded"]

    def med(key: str) -> float:
        return statistics.median(t[key] for t in timings)

    def worst(key: str) -> float:
        return max(t[key] for t in timings)

    per_run = "; ".join(f"{t['completed']:.1f} / {t['mailed']:.1f}" for t in timings)
    mailed = med("mailed")
    verdict = "met" if worst("mailed") < 30 else "not met"
    command = (
        f"uv run python bench/data_export.py --appointments {a.appointments} --runs {a.runs} "
        f"--diary {a.diary} --repeat {a.repeat}"
    )
    return f"""{SECTION}

Generated by `{command}` on {datetime.now(UTC):%Y-%m-%d} ({platform.machine()}, 2 cores shared with other work, Python {platform.python_version()}; PostgreSQL, RabbitMQ, the four services (in this one process, as in the tests: each its own database, relay, consumers and timers), a miniature gateway on a loopback port, the SMTP sink and the Telegram fake on one machine).

The user: {seeded["appointments"]:,} appointments each with a payment (booking), {seeded["runs"]} completed PHQ-9 runs with nine encrypted answers and an encrypted result each (content), {seeded["diary"]:,} diary entries (cabinet), the messages registration sent (notify). Each run is a new export of the same user: request → `cabinet.data_export.requested` → each service builds its part (decrypted, as JSON), stores it encrypted and announces its signed link → cabinet fetches each part through the gateway, checks its SHA-256, assembles the zip with the summary, stores it encrypted and writes `cabinet.data_export.completed` → notify mails the link.

| from the request to | median s | worst s |
|---|---:|---:|
| the request answered (202) | {med("accepted"):.2f} | {worst("accepted"):.2f} |
| the export completed in cabinet (archive stored, link issued) | {med("completed"):.2f} | {worst("completed"):.2f} |
| **the mail with the download link sent** | **{mailed:.2f}** | **{worst("mailed"):.2f}** |

Per run (completed / mailed, s): {per_run}. Archive stored: {statistics.median(outcome["archive_chars"]) / 1e6:.1f} MB of ciphertext (base64 of the zip, in a Fernet token).

**Against the goal** (under 30 s from request to download link ready, through RabbitMQ): **{verdict}** (worst {worst("mailed"):.1f} s).
"""


def write_section(text: str, path: Path) -> None:
    """Replace the section (up to the next ``## ``) or add it."""
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    if SECTION in old:
        before, rest = old.split(SECTION, 1)
        after = rest.split("\n## ", 1)
        tail = "\n## " + after[1] if len(after) > 1 else ""
        new = before + text.rstrip("\n") + "\n" + tail
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new if new.endswith("\n") else new + "\n")


if __name__ == "__main__":
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appointments", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--diary", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--no-write", action="store_true")
    a = parser.parse_args()
    began = time.monotonic()
    outcome = asyncio.run(main(a))
    section = report(outcome, a)
    print(section)
    print(f"(took {time.monotonic() - began:.0f} s)")
    if not a.no_write:
        write_section(section, HERE / "RESULTS.md")
