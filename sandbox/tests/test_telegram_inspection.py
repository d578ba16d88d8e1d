"""Telegram fake, the inspection API: users, chats, send timing and rate limits, reset, runner."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramRetryAfter
from sandbox.registry import get_fake
from sandbox.runner import start_fake
from sandbox.telegram import BotIdentity, TelegramSandbox, running_telegram_fake
from sandbox.telegram.store import TelegramStore


class FakeClock:
    """A settable clock for message dates and send timestamps."""

    def __init__(self, start: float = 1_736_935_200.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def tg(clock: FakeClock) -> AsyncIterator[TelegramSandbox]:
    async with running_telegram_fake(clock=clock) as sandbox:
        yield sandbox


async def send(tg: TelegramSandbox, chat_id: int, text: str) -> httpx.Response:
    return await tg.http.post(
        f"/bot{tg.token}/sendMessage", json={"chat_id": chat_id, "text": text}
    )


async def test_users_are_created_listed_and_updated(tg: TelegramSandbox) -> None:
    created = await tg.http.post(
        "/_sandbox/users", json={"first_name": "Anna", "language_code": "en"}
    )
    assert created.status_code == 201
    assert created.json() == {
        "id": 100000001,
        "first_name": "Anna",
        "last_name": None,
        "username": None,
        "language_code": "en",
        "is_premium": None,
    }
    second = await tg.create_user(first_name="Boris")
    assert second["id"] == 100000002
    updated = await tg.http.post(
        "/_sandbox/users", json={"id": 100000001, "first_name": "Anna", "language_code": "ru"}
    )
    assert updated.status_code == 200
    users = (await tg.http.get("/_sandbox/users")).json()
    assert [(u["id"], u["language_code"]) for u in users] == [(100000001, "ru"), (100000002, None)]
    bad = await tg.http.post("/_sandbox/users", json={"id": 0, "first_name": "X"})
    assert bad.status_code == 422


async def test_chats_list_counts_and_dates_come_from_the_clock(
    tg: TelegramSandbox, clock: FakeClock
) -> None:
    await tg.create_user(11, first_name="A")
    await tg.create_user(12, first_name="B")
    await send(tg, 11, "one")
    clock.advance(60)
    await tg.send_text(11, "ответ")
    chats = (await tg.http.get("/_sandbox/chats")).json()
    assert [(c["chat"]["id"], c["message_count"], c["bot_message_count"]) for c in chats] == [
        (11, 2, 1),
        (12, 0, 0),
    ]
    assert chats[0]["last_message_id"] == 2
    everything = (await tg.http.get("/_sandbox/messages")).json()
    assert [(m["sender"], m["date"]) for m in everything] == [
        ("bot", 1_736_935_200),
        ("user", 1_736_935_260),
    ]
    only_user = (await tg.http.get("/_sandbox/chats/11/messages", params={"sender": "user"})).json()
    assert [m["text"] for m in only_user] == ["ответ"]
    assert (await tg.http.get("/_sandbox/chats/99/messages")).status_code == 404


async def test_send_timestamps_and_rate_stats(tg: TelegramSandbox, clock: FakeClock) -> None:
    await tg.create_user(21, first_name="A")
    await tg.create_user(22, first_name="B")
    for chat_id in (21, 22, 21):
        await send(tg, chat_id, "x")
        clock.advance(0.25)
    clock.advance(2)
    await send(tg, 21, "later")

    sends = (await tg.http.get("/_sandbox/sends", params={"chat_id": 21})).json()
    assert [(s["at"], s["message_id"]) for s in sends] == [
        (1_736_935_200.0, 1),
        (1_736_935_200.5, 2),
        (1_736_935_202.75, 3),
    ]
    stats = (await tg.http.get("/_sandbox/sends/stats")).json()
    assert stats == {
        "count": 4,
        "max_per_second_overall": 3,
        "max_per_second_by_chat": {"21": 2, "22": 1},
        "min_interval_seconds_by_chat": {"21": 0.5, "22": None},
    }


async def test_opt_in_rate_limits_answer_429_per_chat_and_overall(
    tg: TelegramSandbox, clock: FakeClock
) -> None:
    for user_id in (31, 32, 33):
        await tg.create_user(user_id, first_name="U")
    limits = {"overall_per_second": 2, "per_chat_per_second": 1, "retry_after": 2}
    assert (await tg.http.put("/_sandbox/rate_limits", json=limits)).json() == limits

    session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
    bot = Bot(tg.token, session=session)
    try:
        await bot.send_message(31, "1")
        with pytest.raises(TelegramRetryAfter) as per_chat:
            await bot.send_message(31, "2")
        assert per_chat.value.retry_after == 2
        await bot.send_message(32, "3")
        with pytest.raises(TelegramRetryAfter):
            await bot.send_message(33, "4")  # 2 per second overall
        clock.advance(1.0)
        assert (await bot.send_message(31, "5")).message_id == 2
    finally:
        await session.close()
    await tg.http.delete("/_sandbox/rate_limits")
    assert (await tg.http.get("/_sandbox/rate_limits")).json() is None
    stats = (await tg.http.get("/_sandbox/sends/stats", params={"ok_only": True})).json()
    assert stats["count"] == 3


async def test_long_poll_waits_for_the_bot_message(tg: TelegramSandbox) -> None:
    await tg.create_user(41, first_name="A")

    async def later() -> None:
        await send(tg, 41, "пришло")

    task = asyncio.create_task(later())
    (message,) = await tg.messages(41, count=1, wait=5)
    await task
    assert message["text"] == "пришло"


async def test_reset_forgets_users_and_faults_but_keeps_the_webhook(
    tg: TelegramSandbox,
) -> None:
    await tg.create_user(51, first_name="A")
    await tg.http.post(
        f"/bot{tg.token}/setWebhook", data={"url": "http://127.0.0.1:9/hook", "secret_token": "s"}
    )
    await tg.fault(500, method="sendMessage")
    await tg.reset()
    assert (await tg.http.get("/_sandbox/users")).json() == []
    assert (await tg.http.get("/_sandbox/chats")).json() == []
    assert (await tg.http.get("/_sandbox/faults")).json() == []
    webhook = await tg.webhook()
    assert webhook["webhook"]["url"] == "http://127.0.0.1:9/hook"
    assert webhook["webhook"]["secret_token"] == "s"
    assert webhook["deliveries"] == []


async def test_several_bots_are_kept_apart() -> None:
    bots = (
        BotIdentity(token="2000:first", id=2000, username="first_bot"),
        BotIdentity(token="3000:second", id=3000, username="second_bot"),
    )
    async with running_telegram_fake(bots) as tg:
        await tg.create_user(61, first_name="A")
        await tg.http.post("/bot3000:second/sendMessage", json={"chat_id": 61, "text": "2nd"})
        first_bot = (await tg.http.get("/_sandbox/chats/61/messages")).json()
        second_bot = (
            await tg.http.get("/_sandbox/chats/61/messages", params={"bot": "3000:second"})
        ).json()
        me = (await tg.http.get("/bot2000:first/getMe")).json()["result"]
        listed = (await tg.http.get("/_sandbox/bots")).json()
        unknown = await tg.http.get("/_sandbox/chats", params={"bot": "nope"})
    assert first_bot == []
    assert [m["text"] for m in second_bot] == ["2nd"]
    assert (me["id"], me["username"]) == (2000, "first_bot")
    assert [b["username"] for b in listed] == ["first_bot", "second_bot"]
    assert unknown.status_code == 404


async def test_fault_validation_and_listing(tg: TelegramSandbox) -> None:
    bad = await tg.http.post("/_sandbox/faults", json={"error_code": 200})
    assert bad.status_code == 422
    await tg.fault(429)
    (pending,) = (await tg.http.get("/_sandbox/faults")).json()
    assert pending["kind"] == "telegram"
    assert (pending["retry_after"], pending["description"]) == (
        5,
        "Too Many Requests: retry after 5",
    )


async def test_the_runner_starts_the_registered_fake() -> None:
    spec = get_fake("telegram")
    assert spec.implemented
    assert spec.ports == {"telegram": 9002}
    async with (
        start_fake(spec, {"telegram": 0}) as (url,),
        httpx.AsyncClient(base_url=url, trust_env=False) as http,
    ):
        health = (await http.get("/_sandbox/health")).json()
        me = (await http.get("/botsandbox-token/getMe")).json()
    assert health["fake"] == "telegram"
    assert me["result"]["username"] == "praktika_sandbox_bot"


def test_a_restarted_fake_does_not_repeat_the_update_ids_of_its_last_run() -> None:
    """A bot's consumer remembers the update ids it handled (notify's inbox keeps them across
    restarts of `make run`), so a fresh fake must not count from the same number again: ids
    start from a random point, as Telegram's do after a quiet week, and then increase."""
    first, second = TelegramStore().bots[0], TelegramStore().bots[0]
    ids = [first.next_update_id() for _ in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert second.next_update_id() not in ids
