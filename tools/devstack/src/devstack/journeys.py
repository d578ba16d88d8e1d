"""Journeys of real people through a running stack: one piece of code for each step, used by
tests/stack (against a stack the tests start on free ports) and by ``praktika-stack demo``
(against ``make run``'s).

Everything a person does goes through the gateway (the one origin) and the sandbox fakes, as a
front end and the outside world would. Each step checks what the person would see and raises
:class:`JourneyFailed` otherwise. A step writes a line to the :class:`Timeline`; the demo prints
it with the events the step made flow (read from each service's outbox and inbox tables, so a
producer and every consumer that handled the event are named) and the sandbox pages to look at.

Two things real time cannot do within a test, done the minimal way an operator would, and said
so on the timeline: a reminder due 24 h (and 1 h) before a session is made due now (its durable
timer's ``due_at`` in notify's database; the timer then fires as it would have), and a session is
moved into the past in booking's database so that the specialist can mark it held (as
tests/e2e/test_content_reviews.py does). An erasure's cooling-off period (7 days in the local
run) is ended the same way: cabinet's ``erasure.execute`` timer is made due now.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import re
import secrets
import subprocess
import time
import uuid
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from devstack.environment import service_env
from devstack.layout import StackLayout

PASSWORD = "correct horse battery"
#: PHQ-9 answers: all "not at all", or item 9 (thoughts of self-harm) "several days".
CALM = {f"q{i}": "not_at_all" for i in range(1, 10)} | {"difficulty": "not_difficult"}
CRISIS = CALM | {"q9": "several_days", "difficulty": "somewhat"}


class JourneyFailed(AssertionError):
    """What the person should have seen, they did not."""


def expect(condition: object, message: str) -> None:
    """A step's check: what the person would see (raises :class:`JourneyFailed`)."""
    if not condition:
        raise JourneyFailed(message)


async def eventually(
    check: Callable[[], Awaitable[Any]], what: str, *, timeout: float = 30.0
) -> Any:
    """Await ``check()`` until it returns something truthy; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise JourneyFailed(f"not within {timeout:.0f} s: {what}")
        await _sleep(0.2)


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@dataclass
class FlowedEvent:
    """An event one service published, and the consumers that have handled it."""

    event_type: str
    version: int
    producer: str
    correlation_id: str
    created_at: datetime
    consumers: list[str] = field(default_factory=list)


@dataclass
class Timeline:
    """What happened, step by step. ``out`` prints as it goes (the demo); tests keep it."""

    out: Callable[[str], None] | None = None
    lines: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def say(self, text: str) -> None:
        stamp = f"{time.monotonic() - self.started:6.1f}s"
        line = f"{stamp}  {text}"
        self.lines.append(line)
        if self.out is not None:
            self.out(line)

    def detail(self, text: str) -> None:
        line = f"         {text}"
        self.lines.append(line)
        if self.out is not None:
            self.out(line)


@dataclass
class Praktika:
    """A running stack as a person and the outside world reach it."""

    layout: StackLayout
    gateway: httpx.AsyncClient
    timeline: Timeline = field(default_factory=Timeline)
    run: str = field(default_factory=lambda: secrets.token_hex(3))
    catalogue: dict[str, list[str]] | None = None
    """Each event's consumer queues (devstack.catalogue): given, the timeline names the events
    each step made flow, who handled them and who has yet to."""
    _step: int = 0
    _step_started: datetime | None = None
    events: list[FlowedEvent] = field(default_factory=list)
    _tokens: dict[tuple[str, str | None], tuple[str, float]] = field(default_factory=dict)

    # -- the outside world ----------------------------------------------------------------------

    def from_home(self, address: str) -> httpx.AsyncClient:
        """A client of the gateway from a person's own address (a loopback address of their
        own), as people come from their own homes: cabinet counts registrations and failed
        logins per source address, and a journey's people are not one script."""
        return httpx.AsyncClient(
            base_url=self.layout.origin,
            timeout=30,
            transport=httpx.AsyncHTTPTransport(local_address=address),
            headers={"x-correlation-id": self.gateway.headers.get("x-correlation-id", "")},
        )

    def sandbox(self, port_name: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.layout.sandbox_url(port_name), timeout=30)

    def token(self, role: str, sub: str | None = None) -> str:
        """What ``make token`` prints, for this stack (kept 10 of its 15 minutes: each is a
        ``cabinet-admin`` process, seconds on a busy machine)."""
        kept = self._tokens.get((role, sub))
        if kept is not None and time.monotonic() - kept[1] < 600:
            return kept[0]
        argv = ["cabinet-admin", "issue-token", "--role", role]
        if sub is not None:
            argv += ["--sub", sub]
        done = subprocess.run(
            argv,
            env=service_env(self.layout, "cabinet"),
            capture_output=True,
            text=True,
            check=True,
        )
        self._tokens[role, sub] = (done.stdout.strip(), time.monotonic())
        return self._tokens[role, sub][0]

    async def warm_tokens(self, *roles: str) -> None:
        """Make the roles' tokens at once, side by side (each is a ``cabinet-admin`` process)."""
        await asyncio.gather(*(asyncio.to_thread(self.token, role) for role in roles))

    def auth(self, role: str, sub: str | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token(role, sub)}"}

    async def mail_to(self, address: str, subject_contains: str) -> dict[str, Any]:
        """The newest message to ``address`` whose subject contains the text (waits for it)."""

        async def arrived() -> dict[str, Any] | None:
            async with self.sandbox("smtp-inspection") as smtp:
                messages = (await smtp.get("/_sandbox/messages")).json()
            for message in reversed(messages):
                if address in message["to_addresses"] and subject_contains in message["subject"]:
                    return dict(message)
            return None

        found: dict[str, Any] = await eventually(arrived, f"a mail «{subject_contains}…»")
        return found

    @staticmethod
    def link_in(message: dict[str, Any]) -> str:
        match = re.search(r"https?://\S+", message["text"])
        expect(match is not None, f"no link in the mail: {message['text'][:200]}")
        assert match is not None
        return match.group(0)

    async def telegram_user(self, name: str) -> int:
        chat_id = random.randint(200_000_000, 2_000_000_000)
        async with self.sandbox("telegram") as telegram:
            r = await telegram.post(
                "/_sandbox/users", json={"id": chat_id, "first_name": name, "language_code": "ru"}
            )
        expect(r.status_code == 201, f"sandbox Telegram user: {r.text}")
        return chat_id

    async def opens_in_telegram(self, chat_id: int, payload: str) -> None:
        async with self.sandbox("telegram") as telegram:
            r = await telegram.post(f"/_sandbox/users/{chat_id}/start", json={"payload": payload})
        expect(r.status_code == 200, f"/start in the sandbox: {r.text}")

    async def bot_says(self, chat_id: int, contains: str, *, timeout: float = 30) -> dict[str, Any]:
        """The newest bot message in the chat containing the text (waits for it)."""

        async def said() -> dict[str, Any] | None:
            async with self.sandbox("telegram") as telegram:
                r = await telegram.get(
                    f"/_sandbox/chats/{chat_id}/messages", params={"sender": "bot"}
                )
            for message in reversed(r.json()):
                if contains in message["text"]:
                    return dict(message)
            return None

        found: dict[str, Any] = await eventually(
            said, f"the bot's message «{contains}…»", timeout=timeout
        )
        return found

    async def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        async with self.sandbox("telegram") as telegram:
            r = await telegram.get(f"/_sandbox/chats/{chat_id}/messages", params={"sender": "bot"})
        return list(r.json())

    async def taps(self, chat_id: int, message_id: int, button_text: str) -> None:
        async with self.sandbox("telegram") as telegram:
            r = await telegram.post(
                f"/_sandbox/users/{chat_id}/tap",
                json={"message_id": message_id, "button_text": button_text},
            )
        expect(r.status_code == 200, f"tapping «{button_text}»: {r.text}")

    def telegram_page(self, chat_id: int) -> str:
        return f"{self.layout.sandbox_url('telegram')}/_sandbox/chats/{chat_id}/messages"

    def mailbox_page(self) -> str:
        return f"{self.layout.sandbox_url('smtp-inspection')}/_sandbox/messages"

    # -- an operator's edits (what real time cannot do within a test) -------------------------

    async def sql(self, service: str, query: str, *args: Any) -> list[asyncpg.Record]:
        """One statement in a service's database (a connection of its own; on a machine whose
        PostgreSQL is full of other stacks' pools, it waits for a free slot, up to 30 s)."""
        dsn = self.layout.database_url(service).replace("+asyncpg", "")
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = await asyncpg.connect(dsn)
                break
            except asyncpg.TooManyConnectionsError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    async def timers_due_now(self, service: str, kind: str, key_like: str) -> int:
        rows = await self.sql(
            service,
            "UPDATE timers SET due_at = now() WHERE kind = $1 AND key LIKE $2 "
            "AND fired_at IS NULL RETURNING id",
            kind,
            key_like,
        )
        return len(rows)

    # -- the timeline ---------------------------------------------------------------------------

    async def step(self, who: str, text: str) -> None:
        """A new step: its line, and (in the demo) the events the previous one made flow."""
        await self.flush_events()
        self._step += 1
        self.gateway.headers["x-correlation-id"] = f"journey-{self.run}-{self._step:02d}"
        self._step_started = await self.db_now()
        self.timeline.say(f"[{who}] {text}")

    def see(self, text: str) -> None:
        self.timeline.detail(f"→ {text}")

    async def db_now(self) -> datetime:
        (row,) = await self.sql("cabinet", "SELECT now() AS now")
        moment: datetime = row["now"]
        return moment

    async def flush_events(self) -> None:
        """The events published since the step began, and who has handled each so far."""
        if self._step_started is None:
            return
        since, self._step_started = self._step_started, None
        ours = f"journey-{self.run}-"
        found = [
            e
            for e in await self.events_since(since)
            # another journey's (a test or a demo beside this one) are not this one's
            if e.correlation_id.startswith(ours) or not e.correlation_id.startswith("journey-")
        ]
        self.events += found
        if self.catalogue is not None:
            for e in found:
                key = f"{e.event_type}.v{e.version}"
                handled = ", ".join(sorted(e.consumers))
                waiting = sorted(set(self.catalogue.get(key, [])) - set(e.consumers))
                told = f"handled by {handled}" if handled else "no consumer (for later use)"
                if waiting:
                    told += f"; still on its way to {', '.join(waiting)}"
                self.timeline.detail(f"⇢ event {key} from {e.producer}: {told}")

    async def events_since(self, since: datetime) -> list[FlowedEvent]:
        flowed: dict[uuid.UUID, FlowedEvent] = {}
        for service in self.layout.services:
            for row in await self.sql(
                service,
                "SELECT event_id, event_type, version, correlation_id, created_at FROM outbox "
                "WHERE created_at >= $1 ORDER BY seq",
                since,
            ):
                flowed[row["event_id"]] = FlowedEvent(
                    row["event_type"],
                    row["version"],
                    service,
                    row["correlation_id"],
                    row["created_at"],
                )
        if not flowed:
            return []
        for service in self.layout.services:
            for row in await self.sql(
                service,
                "SELECT event_id, consumer FROM inbox WHERE event_id = ANY($1::uuid[])",
                list(flowed),
            ):
                flowed[row["event_id"]].consumers.append(row["consumer"])
        return sorted(flowed.values(), key=lambda e: e.created_at)


# -- the people and the practice ----------------------------------------------------------------


@dataclass
class Person:
    """A registered, verified, signed-in user."""

    id: str
    name: str
    email: str
    headers: dict[str, str]
    address: str
    chat_id: int | None = None

    async def login(self, p: Praktika) -> httpx.Response:
        async with p.from_home(self.address) as home:
            return await home.post(
                "/api/cabinet/sessions", json={"email": self.email, "password": PASSWORD}
            )


@dataclass
class Practice:
    """A prepaid service and its specialist."""

    service_id: str
    specialist: Person
    consent_document_id: str


def unique_email(who: str, run: str) -> str:
    return f"{who}-{run}-{uuid.uuid4().hex[:6]}@example.com"


async def register(
    p: Praktika, name: str, who: str, *, utm: dict[str, str] | None = None
) -> Person:
    """Register through the gateway (with the UTM the page had), verify from the mail, log in."""
    email = unique_email(who, p.run)
    address = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
    async with p.from_home(address) as home:
        r = await home.post(
            "/api/cabinet/registrations",
            json={"email": email, "password": PASSWORD, "name": name, **(utm or {})},
        )
    expect(r.status_code == 202, f"registration: {r.status_code} {r.text}")
    mail = await p.mail_to(email, "Подтвердите адрес")
    link = p.link_in(mail)
    expect(link.startswith(p.layout.origin + "/"), f"the link is not the gateway's: {link}")
    p.see(f"{name} gets the mail «{mail['subject']}» with a link to {link.split('#')[0]}")
    r = await p.gateway.post(
        "/api/cabinet/email-verifications", json={"token": link.split("#token=", 1)[1]}
    )
    expect(r.status_code == 204, f"verification: {r.text}")
    person = Person("", name, email, {}, address)
    r = await person.login(p)
    expect(r.status_code == 200, f"login: {r.text}")
    person.headers = {"authorization": f"Bearer {r.json()['access_token']}"}
    me = (await p.gateway.get("/api/cabinet/me", headers=person.headers)).json()
    expect(me["email_verified"] is True, f"not verified: {me}")
    person.id = me["id"]
    p.see(f"{name} is signed in (account {me['id']}, email verified)")
    return person


async def open_practice(p: Praktika) -> Practice:
    """The practice: the health-data consent text in effect, a prepaid service, a specialist."""
    await p.warm_tokens("admin", "moderator")
    admin = p.auth("admin")
    docs = (await p.gateway.get("/api/cabinet/consent-documents")).json()["items"]
    health = [d for d in docs if d["purpose"] == "health_data_processing"]
    if health:
        document_id = health[0]["id"]
    else:
        r = await p.gateway.post(
            "/api/cabinet/consent-documents",
            json={
                "purpose": "health_data_processing",
                "title": "Обработка данных о здоровье",
                "text": "Я согласен(на) на обработку данных о моём здоровье.",
            },
            headers=admin,
        )
        expect(r.status_code == 201, f"consent document: {r.text}")
        document_id = r.json()["id"]
    r = await p.gateway.post(
        "/api/booking/services",
        json={
            "name": f"Консультация {p.run}",
            "durations_minutes": [50],
            "price": {"amount": 300000, "currency": "RUB"},
            "format": "online",
            "prepayment_required": True,
            "min_notice_minutes": 0,
        },
        headers=admin,
    )
    expect(r.status_code == 201, f"service: {r.text}")
    service_id = r.json()["id"]
    specialist = await register(p, "Анна Петрова", "anna")
    r = await p.gateway.post(
        f"/api/cabinet/users/{specialist.id}/roles", json={"role": "specialist"}, headers=admin
    )
    expect(r.status_code in (200, 204), f"role: {r.text}")
    body = {
        "user_id": specialist.id,
        "time_zone": "Europe/Moscow",
        "weekly_hours": [{"weekday": day, "start": "00:00", "end": "23:59"} for day in range(1, 8)],
        "service_ids": [service_id],
    }

    async def created() -> bool:  # once booking has heard of the role from cabinet
        r = await p.gateway.post("/api/booking/specialists", json=body, headers=admin)
        expect(r.status_code in (201, 422), f"specialist: {r.text}")
        return r.status_code == 201

    await eventually(created, "booking knows the specialist")
    # Her own token carries the new role (a fresh login).
    r = await specialist.login(p)
    specialist.headers = {"authorization": f"Bearer {r.json()['access_token']}"}
    p.see(f"a prepaid 50-minute service (3 000 ₽) with {specialist.name}, bookable every day")
    return Practice(service_id, specialist, document_id)


async def consents(p: Praktika, person: Person, practice: Practice) -> None:
    r = await p.gateway.post(
        "/api/cabinet/me/consents",
        json={"document_id": practice.consent_document_id},
        headers=person.headers,
    )
    expect(r.status_code in (200, 201), f"consent: {r.text}")
    standing = (await p.gateway.get("/api/cabinet/me/consents", headers=person.headers)).json()
    granted = [s for s in standing["items"] if s["purpose"] == "health_data_processing"]
    expect(granted and granted[0]["status"] == "granted", f"consent standing: {standing}")
    p.see(f"{person.name}'s consent to health-data processing is recorded")


async def links_telegram(p: Praktika, person: Person, chat_id: int | None = None) -> int:
    """A link from the cabinet, opened in the bot, confirmed in the cabinet."""
    if chat_id is None:
        chat_id = await p.telegram_user(person.name)
    r = await p.gateway.post(
        "/api/notify/deeplinks", json={"action": "link_account"}, headers=person.headers
    )
    expect(r.status_code == 201, f"deep link: {r.text}")
    link = r.json()
    await p.opens_in_telegram(chat_id, link["token"])

    async def confirmed() -> bool:
        r = await p.gateway.post(
            "/api/notify/me/telegram/confirm",
            json={"deeplink_id": link["id"]},
            headers=person.headers,
        )
        return r.status_code == 200

    await eventually(confirmed, "the chat is confirmed in the cabinet")
    await p.bot_says(chat_id, "Готово")
    person.chat_id = chat_id
    p.see(f"the bot answers «Готово…» in {person.name}'s chat ({p.telegram_page(chat_id)})")
    return chat_id


async def free_slot(p: Praktika, practice: Practice, *, after: timedelta) -> str:
    moment = (datetime.now(UTC) + after).isoformat()
    r = await p.gateway.get(
        "/api/booking/slots",
        params={
            "service_id": practice.service_id,
            "specialist_id": practice.specialist.id,
            "from": moment,
        },
    )
    expect(r.status_code == 200 and r.json()["items"], f"slots: {r.text}")
    starts_at: str = r.json()["items"][0]["starts_at"]
    return starts_at


async def appointment(p: Praktika, person: Person, appointment_id: str) -> dict[str, Any]:
    r = await p.gateway.get(f"/api/booking/appointments/{appointment_id}", headers=person.headers)
    expect(r.status_code == 200, f"appointment: {r.text}")
    body: dict[str, Any] = r.json()
    return body


async def books_and_pays(
    p: Praktika, person: Person, practice: Practice, starts_at: str
) -> dict[str, Any]:
    """Hold the slot, pay on the sandbox's checkout page, come back, see it confirmed."""
    r = await p.gateway.post(
        "/api/booking/appointments",
        json={
            "service_id": practice.service_id,
            "specialist_id": practice.specialist.id,
            "starts_at": starts_at,
        },
        headers=person.headers,
    )
    expect(r.status_code == 201, f"booking: {r.text}")
    held = r.json()
    expect(held["status"] == "held", f"not held: {held}")
    checkout = held["payment"]["confirmation_url"]
    p.see(f"the slot {starts_at} is held for {person.name}, who pays at {checkout}")
    async with p.sandbox("yookassa") as yookassa:
        page = await yookassa.get(checkout)
        expect(page.status_code == 200 and "3000.00" in page.text, "the checkout page")
        paid = await yookassa.post(checkout, data={"card_number": "5555555555554444"})
    expect(paid.status_code == 303, f"checkout: {paid.status_code}")
    back = paid.headers["location"]
    expect(
        back == f"{p.layout.origin}/booking/paid?appointment_id={held['id']}",
        f"the return page: {back}",
    )
    landing = await p.gateway.get(back)
    expect(landing.status_code == 200 and held["id"] in landing.text, "the return page")

    async def confirmed() -> dict[str, Any] | None:
        body = await appointment(p, person, held["id"])
        ok = body["status"] == "confirmed" and body["payment"]["status"] == "succeeded"
        return body if ok else None

    done: dict[str, Any] = await eventually(confirmed, "the booking is confirmed", timeout=60)
    p.see("YooKassa notified booking through the gateway; the money is captured: confirmed")
    return done


# -- journey 1: a new client, from an article to a review -------------------------------------


async def publishes_article(p: Praktika, practice: Practice) -> dict[str, Any]:
    slug = f"trevoga-i-son-{p.run}"
    title = f"Тревога по ночам {p.run}"
    r = await p.gateway.post(
        "/api/content/items",
        json={
            "kind": "article",
            "language": "ru",
            "slug": slug,
            "title": title,
            "body": "Что делать, если тревога мешает **сну** и нет сна.",
        },
        headers=practice.specialist.headers,
    )
    expect(r.status_code == 201, f"article: {r.text}")
    item = r.json() | {"title": title}
    r = await p.gateway.post(
        f"/api/content/items/{item['id']}/submit", headers=practice.specialist.headers
    )
    expect(r.status_code == 200, f"submit: {r.text}")
    r = await p.gateway.post(f"/api/content/items/{item['id']}/publish", headers=p.auth("admin"))
    expect(r.status_code == 200, f"publish: {r.text}")
    p.see(f"«{item['title']}» is live at /api/content/library/ru/{slug}")
    return dict(item)


async def finds_article(p: Praktika, article: dict[str, Any]) -> None:
    async def found() -> dict[str, Any] | None:
        r = await p.gateway.get("/api/content/library", params={"q": "сон", "limit": 50})
        expect(r.status_code == 200, f"search: {r.text}")
        hits = [i for i in r.json()["items"] if i["title"] == article["title"]]
        return hits[0] if hits else None

    hit = await eventually(found, "the search finds the article")
    expect("<mark>" in hit["highlight"], f"no highlight: {hit}")
    p.see(f"search «сон» finds «{hit['title']}»: {hit['highlight']}")


async def phq9_id(p: Praktika) -> str:
    r = await p.gateway.get("/api/content/questionnaires")
    found: str = next(q["id"] for q in r.json()["items"] if q["code"] == "phq9")
    return found


async def starts_phq9(p: Praktika, person: Person) -> dict[str, Any] | None:
    """A signed-in run (None until content has heard of the person's consent)."""
    r = await p.gateway.post(
        "/api/content/runs", json={"questionnaire_id": await phq9_id(p)}, headers=person.headers
    )
    expect(r.status_code in (201, 403), f"run: {r.text}")
    return dict(r.json()) if r.status_code == 201 else None


async def takes_phq9_anonymously(p: Praktika) -> dict[str, Any]:
    r = await p.gateway.post("/api/content/runs", json={"questionnaire_id": await phq9_id(p)})
    expect(r.status_code == 201, f"anonymous run: {r.text}")
    run = r.json()
    expect(run.get("run_token"), f"no run token: {run}")
    r = await p.gateway.post(
        f"/api/content/runs/{run['id']}/complete",
        json={"answers": CALM},
        headers={"x-run-token": run["run_token"]},
    )
    expect(r.status_code == 200, f"complete: {r.text}")
    result = r.json()["result"]
    expect(result["crisis"] is False, f"crisis? {result}")
    p.see(f"PHQ-9 without an account: score {result['score']}, band «{result['band']['code']}»")
    return dict(run)


async def makes_campaign(p: Praktika) -> dict[str, Any]:
    label = f"tg-{p.run}-{uuid.uuid4().hex[:4]}"
    r = await p.gateway.post(
        "/api/cabinet/campaigns",
        json={"name": "Пост в канале", "source": "telegram_channel", "campaign": label},
        headers=p.auth("admin"),
    )
    expect(r.status_code == 201, f"campaign: {r.text}")
    campaign: dict[str, Any] = r.json()
    p.see(f"campaign «{label}»: {campaign['telegram_link']}")
    return campaign


async def starts_bot_from_campaign(p: Praktika, campaign: dict[str, Any], name: str) -> int:
    chat_id = await p.telegram_user(name)
    token = campaign["telegram_link"].rsplit("?start=", 1)[1]

    async def greeted() -> bool:  # once notify has heard of the campaign from cabinet
        await p.opens_in_telegram(chat_id, token)
        messages = await p.bot_messages(chat_id)
        return any(m["text"].startswith("Здравствуйте") for m in messages)

    await eventually(greeted, "the bot greets the campaign's visitor")
    p.see(f"the bot greets {name}: «Здравствуйте…» ({p.telegram_page(chat_id)})")
    return chat_id


async def claims_run(p: Praktika, person: Person, run: dict[str, Any]) -> None:
    async def claimed() -> bool:  # once content has heard of her consent from cabinet
        r = await p.gateway.post(
            f"/api/content/runs/{run['id']}/claim",
            headers=person.headers | {"x-run-token": run["run_token"]},
        )
        expect(r.status_code in (200, 403), f"claim: {r.text}")
        return r.status_code == 200

    await eventually(claimed, "content lets her keep the run")
    mine = await p.gateway.get(f"/api/content/runs/{run['id']}", headers=person.headers)
    expect(mine.status_code == 200, f"her run: {mine.text}")
    p.see("the anonymous PHQ-9 is now in her account")


async def confirmation_arrives(p: Praktika, person: Person, appointment_id: str) -> None:
    """notify sends a notice on the person's first channel: Telegram, once it is linked (the
    mailed invitation with invite.ics is test_paid_journey's, a client without Telegram). The
    Telegram confirmation carries the same invitation as a link."""
    assert person.chat_id is not None
    message = await p.bot_says(person.chat_id, "Запись подтверждена")
    buttons = {
        b["text"]: b.get("url") for row in message["reply_markup"]["inline_keyboard"] for b in row
    }
    ics = buttons.get("В календарь (.ics)")
    expect(ics and ics.startswith(p.layout.origin + "/"), f"no .ics button: {buttons}")
    assert ics is not None
    invitation = await p.gateway.get(ics.removeprefix(p.layout.origin))
    expect(
        invitation.status_code == 200
        and invitation.headers["content-type"].startswith("text/calendar")
        and f"UID:{appointment_id}@praktika" in invitation.text,
        f"the invitation: {invitation.status_code} {invitation.text[:200]}",
    )
    p.see(
        f"Telegram: «{message['text'].splitlines()[0]}» with buttons {list(buttons)}; "
        "the .ics opens through the gateway (text/calendar, her session's UID)"
    )


async def reminders_arrive(p: Praktika, person: Person, appointment_id: str) -> dict[str, Any]:
    """Both reminders: each timer (24 h, then 1 h before) is made due now, and fires."""
    assert person.chat_id is not None
    timers = await p.sql(
        "notify",
        "SELECT key FROM timers WHERE kind = 'reminder' AND key LIKE $1 ORDER BY due_at",
        f"{appointment_id}:%",
    )
    keys = [t["key"] for t in timers]
    expect(keys == [f"{appointment_id}:1440", f"{appointment_id}:60"], f"reminder timers: {keys}")
    reminder: dict[str, Any] = {}
    for count, minutes in enumerate((1440, 60), start=1):
        made = await p.timers_due_now("notify", "reminder", f"{appointment_id}:{minutes}")
        expect(made == 1, f"the {minutes}-minute reminder's timer")

        async def arrived(count: int = count) -> dict[str, Any] | None:
            messages = [
                m for m in await p.bot_messages(person.chat_id or 0) if "Напомина" in m["text"]
            ]
            return messages[-1] if len(messages) >= count else None

        reminder = await eventually(arrived, f"reminder {count} in Telegram")
        labels = [b["text"] for row in reminder["reply_markup"]["inline_keyboard"] for b in row]
        expect("Приду" in labels, f"no «Приду» button: {labels}")
        p.see(
            f"(operator: the {minutes // 60} h reminder's timer made due now) Telegram: "
            f"«{reminder['text'].splitlines()[0]}» with buttons {labels}"
        )
    return reminder


async def confirms_attendance(
    p: Praktika, person: Person, appointment_id: str, reminder: dict[str, Any]
) -> None:
    assert person.chat_id is not None
    await p.taps(person.chat_id, reminder["message_id"], "Приду")

    async def noted() -> dict[str, Any] | None:
        body = await appointment(p, person, appointment_id)
        return body if body["attendance_confirmed_at"] else None

    body = await eventually(noted, "booking records the attendance")
    p.see(f"booking: attendance confirmed at {body['attendance_confirmed_at']}")


async def session_held(p: Praktika, practice: Practice, appointment_id: str) -> None:
    await p.sql(
        "booking",
        "UPDATE appointments SET starts_at = starts_at - $2::interval, "
        "ends_at = ends_at - $2::interval, occupied_from = occupied_from - $2::interval, "
        "occupied_until = occupied_until - $2::interval WHERE id = $1",
        uuid.UUID(appointment_id),
        timedelta(days=3),
    )
    p.see("(operator: the session, booked two days ahead, moved three days back: it was yesterday)")
    headers = practice.specialist.headers
    r = await p.gateway.post(
        f"/api/booking/appointments/{appointment_id}/complete", headers=headers
    )
    expect(r.status_code == 200 and r.json()["status"] == "completed", f"complete: {r.text}")
    notes = {"notes": "Работали с тревогой перед сном; домашнее задание — дневник сна."}
    url = f"/api/booking/appointments/{appointment_id}/outcome-record"
    r = await p.gateway.put(url, json=notes, headers=headers)
    expect(r.status_code == 200 and r.json()["version"] == 1, f"outcome record: {r.text}")
    p.see(f"{practice.specialist.name} marks the session held and writes the outcome record")


async def reviews(p: Praktika, person: Person, practice: Practice, appointment_id: str) -> None:
    # Its own words each run: content rejects a text it has seen before (the fingerprint).
    body = f"Спокойно и по делу, спасибо! Мария, встреча {p.run}."
    review = {"appointment_id": appointment_id, "rating": 5, "body": body}

    async def posted() -> dict[str, Any] | None:  # once content heard of the completion
        r = await p.gateway.post("/api/content/reviews", json=review, headers=person.headers)
        expect(r.status_code in (201, 409), f"review: {r.text}")
        return dict(r.json()) if r.status_code == 201 else None

    post = await eventually(posted, "content accepts the review")
    expect(post["status"] == "pending", f"the review: {post}")
    p.see(f"{person.name}'s review waits for moderation ({post['status']})")
    r = await p.gateway.post(
        f"/api/content/moderation/posts/{post['id']}/decision",
        json={"decision": "approve"},
        headers=p.auth("moderator"),
    )
    expect(r.status_code == 200, f"moderation: {r.text}")
    page = (await p.gateway.get(f"/api/content/specialists/{practice.specialist.id}")).json()
    expect((page["reviews"], page["average_rating"]) == (1, 5.0), f"the page: {page}")
    assert person.chat_id is not None
    told = await p.bot_says(person.chat_id, "одобрена")
    p.see(
        f"a moderator approves; {practice.specialist.name}'s page shows 1 review, 5.0; "
        f"Telegram: «{told['text'].splitlines()[0]}»"
    )


async def lead_of(p: Praktika, campaign: dict[str, Any], person: Person) -> None:
    async def lead() -> dict[str, Any] | None:
        r = await p.gateway.get(
            "/api/cabinet/leads",
            params={"campaign": campaign["campaign"]},
            headers=p.auth("admin"),
        )
        found = [x for x in r.json()["items"] if x["user_id"] == person.id]
        return found[0] if found else None

    found = await eventually(lead, "the practice's lead for the campaign")
    p.see(
        f"the practice's CRM: lead from «{found['first_touch']['campaign']}» "
        f"({found['first_touch']['channel']}), status {found['status']}"
    )


@dataclass
class Opened:
    """What journey 1 opened for everyone to see: the demo closes it again (:func:`tidy_up`)."""

    practice: Practice
    article: dict[str, Any]
    campaign: dict[str, Any]
    client: Person


async def new_client_journey(p: Praktika) -> Opened:
    """From an article to a review: journey 1 of issue 20."""
    await p.step("practice", "opens: a consent text, a prepaid service, a specialist")
    practice = await open_practice(p)
    await p.step("specialist+admin", "an article is written, reviewed and published")
    article = await publishes_article(p, practice)
    await p.step("client", "searches the library for «сон»")
    await finds_article(p, article)
    await p.step("client", "takes PHQ-9 anonymously")
    run = await takes_phq9_anonymously(p)
    await p.step("practice", "creates a campaign in the cabinet")
    campaign = await makes_campaign(p)
    await p.step("client", "opens the campaign's link in Telegram")
    chat_id = await starts_bot_from_campaign(p, campaign, "Мария")
    await p.step("client", "registers (with the campaign's UTM) and verifies her address")
    utm = {"utm_source": "telegram_channel", "utm_campaign": campaign["campaign"]}
    maria = await register(p, "Мария", "maria", utm=utm)
    await p.step("client", "links Telegram to her account")
    await links_telegram(p, maria, chat_id)
    await p.step("client", "consents to health-data processing and keeps her PHQ-9")
    await consents(p, maria, practice)
    await claims_run(p, maria, run)
    await p.step("client", "books a prepaid session two days ahead and pays in the sandbox")
    starts_at = await free_slot(p, practice, after=timedelta(days=2))
    booked = await books_and_pays(p, maria, practice, starts_at)
    await p.step("notify", "the confirmation in Telegram, with the calendar invitation")
    await confirmation_arrives(p, maria, booked["id"])
    await p.step("notify", "both reminders in Telegram (24 h and 1 h before)")
    reminder = await reminders_arrive(p, maria, booked["id"])
    await p.step("client", "taps «Приду» on the reminder")
    await confirms_attendance(p, maria, booked["id"], reminder)
    await p.step("specialist", "holds the session and writes the outcome record")
    await session_held(p, practice, booked["id"])
    await p.step("client", "reviews the specialist; a moderator approves")
    await reviews(p, maria, practice, booked["id"])
    await p.step("practice", "sees the lead the campaign brought")
    await lead_of(p, campaign, maria)
    await p.flush_events()
    return Opened(practice, article, campaign, maria)


async def tidy_up(p: Praktika, opened: Opened) -> list[str]:
    """Close what the journey opened to everyone (the demo on ``make run``'s stack): the article
    archived, the campaign revoked, the service and the specialist inactive. The demo's own
    people, their session and review stay (unique addresses; nobody else sees them)."""
    admin = p.auth("admin")
    done: list[str] = []
    r = await p.gateway.post(f"/api/content/items/{opened.article['id']}/archive", headers=admin)
    done.append(f"article archived ({r.status_code})")
    r = await p.gateway.post(
        f"/api/cabinet/campaigns/{opened.campaign['id']}/revoke", headers=admin
    )
    done.append(f"campaign revoked ({r.status_code})")
    for what, path in (
        ("service", f"/api/booking/services/{opened.practice.service_id}"),
        ("specialist", f"/api/booking/specialists/{opened.practice.specialist.id}"),
    ):
        read = await p.gateway.get(path, headers=admin)
        r = await p.gateway.patch(
            path,
            json={"active": False},
            headers=admin | {"if-match": read.headers.get("etag", "*")},
        )
        done.append(f"{what} inactive ({r.status_code})")
    return done


# -- journey 2: the waitlist and the crisis path ------------------------------------------------


async def waitlist_journey(p: Praktika, practice: Practice) -> None:
    await p.step("client 1", "books and pays a session")
    first = await register(p, "Ольга", "olga")
    await consents(p, first, practice)
    starts_at = await free_slot(p, practice, after=timedelta(days=3))
    booked = await books_and_pays(p, first, practice, starts_at)
    await p.step("client 2", "wants exactly that time: joins the waitlist")
    second = await register(p, "Ирина", "irina")
    await consents(p, second, practice)
    ends_at = booked["ends_at"]
    r = await p.gateway.post(
        "/api/booking/waitlist",
        json={
            "service_id": practice.service_id,
            "specialist_id": practice.specialist.id,
            "windows": [{"from": starts_at, "to": ends_at}],
        },
        headers=second.headers,
    )
    expect(r.status_code == 201, f"waitlist: {r.text}")
    expect(r.json()["free_slots"] == [], f"the time is free? {r.json()}")
    p.see("nothing free in her window: she waits")
    await p.step("client 1", "reschedules to a day later")
    later = await free_slot(p, practice, after=timedelta(days=4))
    r = await p.gateway.post(
        f"/api/booking/appointments/{booked['id']}/reschedule",
        json={"starts_at": later},
        headers=first.headers,
    )
    expect(r.status_code == 200, f"reschedule: {r.text}")
    p.see(f"moved to {r.json()['starts_at']}")
    await p.step("client 2", "is offered the freed slot and takes it")
    mail = await p.mail_to(second.email, "Освободилось время")
    p.see(f"mail «{mail['subject']}»")

    async def offered() -> dict[str, Any] | None:
        r = await p.gateway.get("/api/booking/waitlist/offers", headers=second.headers)
        items = [o for o in r.json()["items"] if o["status"] == "open"]
        return items[0] if items else None

    offer = await eventually(offered, "the offer")
    expect(offer["starts_at"].replace("Z", "+00:00") == starts_at.replace("Z", "+00:00"), offer)
    r = await p.gateway.post(
        f"/api/booking/waitlist/offers/{offer['id']}/accept", headers=second.headers
    )
    expect(r.status_code in (200, 201), f"accept: {r.text}")
    taken = r.json()
    expect(taken["client_id"] == second.id and taken["status"] == "held", f"taken: {taken}")
    p.see(f"{second.name} holds the freed time ({taken['starts_at']}) and is sent to pay")
    await p.flush_events()


async def crisis_journey(p: Praktika, practice: Practice) -> None:
    await p.step("client 3", "books and pays a session with the specialist")
    third = await register(p, "Вера", "vera")
    await consents(p, third, practice)
    starts_at = await free_slot(p, practice, after=timedelta(days=5))
    await books_and_pays(p, third, practice, starts_at)
    await p.step("client 3", "answers PHQ-9 item 9 «several days»")

    run = await eventually(lambda: starts_phq9(p, third), "content lets her start")
    r = await p.gateway.post(
        f"/api/content/runs/{run['id']}/complete", json={"answers": CRISIS}, headers=third.headers
    )
    expect(r.status_code == 200, f"complete: {r.text}")
    result = r.json()["result"]
    expect(result["crisis"] is True and result["crisis_resources"]["lines"], f"{result}")
    p.see(f"she sees help at once: {result['crisis_resources']['lines'][0]['phone']}")
    await p.step("specialist", "is alerted")
    alert = await p.mail_to(practice.specialist.email, "кризисный ответ")
    expect("several_days" not in alert["text"], "the answers are not in the alert")
    p.see(f"mail to {practice.specialist.name}: «{alert['subject']}»")
    await p.flush_events()


# -- journey 3: export everything, then erase the account ---------------------------------------


async def data_rights_journey(p: Praktika, practice: Practice) -> None:
    await p.step("client 4", "has an account, a paid session and a PHQ-9")
    person = await register(p, "Глеб", "gleb")
    await consents(p, person, practice)
    starts_at = await free_slot(p, practice, after=timedelta(days=6))
    await books_and_pays(p, person, practice, starts_at)
    run = await eventually(lambda: starts_phq9(p, person), "content lets him start")
    r = await p.gateway.post(
        f"/api/content/runs/{run['id']}/complete", json={"answers": CALM}, headers=person.headers
    )
    expect(r.status_code == 200, f"complete: {r.text}")
    await p.step("client 4", "asks for a copy of all his data")
    r = await p.gateway.post("/api/cabinet/me/data-exports", headers=person.headers)
    expect(r.status_code in (201, 202), f"export: {r.text}")
    export = r.json()
    mail = await p.mail_to(person.email, "Ваши данные готовы")
    link = p.link_in(mail)
    expect(link.startswith(f"{p.layout.origin}/data-export/{export['id']}#token="), link)
    p.see(f"mail «{mail['subject']}» with a single-use link")
    body = {"token": link.split("#token=", 1)[1]}
    url = f"/api/cabinet/me/data-exports/{export['id']}/download"
    got = await p.gateway.post(url, json=body, headers=person.headers)
    expect(got.status_code == 200, f"download: {got.status_code}")
    archive = zipfile.ZipFile(io.BytesIO(got.content))
    names = archive.namelist()
    for part in ("cabinet.json", "booking.json", "content.json", "notify.json"):
        expect(part in names, f"{part} missing from {names}")
    counts = {
        name: json.loads(archive.read(name))["record_counts"]
        for name in names
        if name.endswith(".json")
    }
    expect(counts["cabinet.json"]["account"] == 1, f"cabinet: {counts}")
    expect(counts["booking.json"]["appointments"] == 1, f"booking: {counts}")
    expect(counts["content.json"]["questionnaire_runs"] == 1, f"content: {counts}")
    expect(counts["notify.json"]["messages"] >= 1, f"notify: {counts}")
    again = await p.gateway.post(url, json=body, headers=person.headers)
    expect(again.status_code == 410, f"a second download: {again.status_code}")
    p.see(f"the archive: {sorted(names)}; the link works once (then 410)")
    for name, part in counts.items():
        p.see(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in part.items() if v))
    await p.step("client 4", "asks to be erased")
    r = await p.gateway.post("/api/cabinet/me/erasure-requests", headers=person.headers)
    expect(r.status_code == 202 and r.json()["status"] == "cooling_off", f"erasure: {r.text}")
    request_id = r.json()["id"]
    p.see("cooling off: he may still cancel")
    made = await p.timers_due_now("cabinet", "erasure.execute", f"{request_id}%")
    expect(made == 1, "the erasure's timer")
    p.see("(operator: the cooling-off period ended now: its timer made due)")

    async def refused() -> bool:
        return (await person.login(p)).status_code == 401

    await eventually(refused, "login is refused")

    async def completed() -> bool:
        rows = await p.sql(
            "cabinet", "SELECT status FROM erasure_requests WHERE id = $1", uuid.UUID(request_id)
        )
        return bool(rows[0]["status"] == "completed")

    await eventually(completed, "every service confirmed the erasure", timeout=60)
    r = await p.gateway.post(
        "/api/cabinet/users/search", json={"email": person.email}, headers=p.auth("admin")
    )
    expect(r.json()["items"] == [], "the admin still finds him")
    p.see("login refused; booking, content and notify confirmed; the admin finds nobody")
    await p.flush_events()
