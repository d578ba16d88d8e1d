"""Telegram fake, the users' side: /start, text and taps become Updates POSTed to the webhook.

Every Update the fake delivers must parse with aiogram's ``Update.model_validate`` and carry the
``X-Telegram-Bot-Api-Secret-Token`` set by setWebhook; an aiogram Dispatcher behind a real HTTP
webhook then runs the whole deep-link and button round trip the way notify will.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from fastapi import FastAPI, Request, Response
from sandbox.telegram import SECRET_HEADER, TelegramSandbox, running_telegram_fake
from sandbox.testing import serve_app

SECRET = "webhook-secret_1"
IVAN = 777001


@dataclass
class Receiver:
    """A webhook endpoint that keeps what it gets and answers ``status``."""

    url: str = ""
    status: int = 200
    received: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)

    def updates(self) -> list[Update]:
        return [Update.model_validate(body) for _, body in self.received]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        receiver.received.append((request.headers.get(SECRET_HEADER), await request.json()))
        return Response(status_code=receiver.status)

    async with serve_app(app) as url:
        receiver.url = f"{url}/hook"
        yield receiver


@pytest.fixture
async def tg() -> AsyncIterator[TelegramSandbox]:
    async with running_telegram_fake() as sandbox:
        await sandbox.create_user(IVAN, first_name="Ivan", username="ivan", language_code="ru")
        yield sandbox


@pytest.fixture
async def bot(tg: TelegramSandbox) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
    bot = Bot(tg.token, session=session)
    yield bot
    await session.close()


@pytest.fixture
async def hooked(bot: Bot, receiver: Receiver) -> Receiver:
    assert await bot.set_webhook(receiver.url, secret_token=SECRET)
    return receiver


async def test_start_with_payload_is_delivered_as_a_deep_link_update(
    tg: TelegramSandbox, hooked: Receiver
) -> None:
    result = await tg.start(IVAN, "booking_42-abc")
    assert result["delivery"]["status_code"] == 200
    assert result["delivery"]["secret_sent"] == SECRET
    assert result["queued"] is False

    ((secret, body),) = hooked.received
    assert secret == SECRET
    update = Update.model_validate(body)
    assert update.update_id == result["update"]["update_id"]
    message = update.message
    assert message is not None
    assert message.text == "/start booking_42-abc"
    assert message.chat.id == IVAN
    assert message.chat.type == "private"
    assert message.from_user is not None
    assert (message.from_user.id, message.from_user.language_code) == (IVAN, "ru")
    assert [(e.type, e.offset, e.length) for e in message.entities or []] == [("bot_command", 0, 6)]
    assert message.date.timestamp() > 1_700_000_000


async def test_text_and_tap_updates_parse_and_carry_the_secret(
    tg: TelegramSandbox, bot: Bot, hooked: Receiver
) -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Подтвердить", callback_data="c:9f2a")]]
    )
    sent = await bot.send_message(IVAN, "Завтра в 10:00", reply_markup=markup)
    await tg.send_text(IVAN, "Здравствуйте!")
    tapped = await tg.tap(IVAN, button_text="Подтвердить")

    text_update, tap_update = hooked.updates()
    assert [secret for secret, _ in hooked.received] == [SECRET, SECRET]
    assert text_update.message is not None and text_update.message.text == "Здравствуйте!"
    assert text_update.message.message_id == sent.message_id + 1
    query = tap_update.callback_query
    assert query is not None
    assert query.id == tapped["callback_query_id"]
    assert query.data == "c:9f2a"
    assert query.from_user.id == IVAN
    assert isinstance(query.message, Message)
    assert query.message.message_id == sent.message_id
    assert query.message.text == "Завтра в 10:00"
    assert tap_update.update_id == text_update.update_id + 1


async def test_wrong_and_missing_secret_reach_the_webhook_as_asked(
    tg: TelegramSandbox, hooked: Receiver
) -> None:
    hooked.status = 401
    wrong = await tg.start(IVAN, "x", webhook_secret="wrong")
    missing = await tg.send_text(IVAN, "hi", webhook_secret="missing")
    assert [secret for secret, _ in hooked.received] == [f"{SECRET}-but-wrong", None]
    assert wrong["delivery"]["status_code"] == 401
    assert missing["delivery"]["status_code"] == 401
    assert missing["delivery"]["secret_sent"] is None
    view = await tg.webhook()
    assert view["pending_update_count"] == 0  # probes are not retried


async def test_failed_delivery_stays_pending_until_redelivered(
    tg: TelegramSandbox, bot: Bot, hooked: Receiver
) -> None:
    hooked.status = 500
    result = await tg.start(IVAN, "p1")
    assert result["queued"] is True
    info = await bot.get_webhook_info()
    assert info.pending_update_count == 1
    assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"

    hooked.status = 200
    (retry,) = (await tg.http.post("/_sandbox/webhook/redeliver")).json()
    assert retry["delivery"]["status_code"] == 200
    assert (await bot.get_webhook_info()).pending_update_count == 0
    first, second = hooked.updates()
    assert first == second  # the same update, delivered twice
    deliveries = (await tg.webhook())["deliveries"]
    assert [d["status_code"] for d in deliveries] == [500, 200]


async def test_allowed_updates_filter_what_is_delivered(
    tg: TelegramSandbox, bot: Bot, receiver: Receiver
) -> None:
    await bot.set_webhook(receiver.url, secret_token=SECRET, allowed_updates=["callback_query"])
    result = await tg.send_text(IVAN, "ignored")
    assert result["filtered"] is True
    assert result["delivery"] is None
    assert receiver.received == []


async def test_tap_on_a_missing_button_is_refused(tg: TelegramSandbox, hooked: Receiver) -> None:
    response = await tg.http.post(
        f"/_sandbox/users/{IVAN}/tap", json={"callback_data": "nope", "message_id": 1}
    )
    assert response.status_code == 404
    response = await tg.http.post(f"/_sandbox/users/{IVAN}/tap", json={"callback_data": "nope"})
    assert response.status_code == 422
    assert "no inline button 'nope'" in response.json()["detail"]
    unknown_user = await tg.http.post("/_sandbox/users/4242/start", json={})
    assert unknown_user.status_code == 404
    assert hooked.received == []


async def test_raw_update_gets_an_update_id_and_is_delivered(
    tg: TelegramSandbox, hooked: Receiver
) -> None:
    chat = {"id": IVAN, "type": "private", "first_name": "Ivan"}
    member = {
        "chat": chat,
        "from": {"id": IVAN, "is_bot": False, "first_name": "Ivan"},
        "date": 1736935200,
        "old_chat_member": {
            "status": "member",
            "user": {"id": 1000, "is_bot": True, "first_name": "B"},
        },
        "new_chat_member": {
            "status": "kicked",
            "until_date": 0,
            "user": {"id": 1000, "is_bot": True, "first_name": "B"},
        },
    }
    result = (
        await tg.http.post("/_sandbox/updates", json={"update": {"my_chat_member": member}})
    ).json()
    (update,) = hooked.updates()
    assert update.update_id == result["update"]["update_id"]
    assert update.my_chat_member is not None
    assert update.my_chat_member.new_chat_member.status == "kicked"


# --------------------------------------------------------------------------- aiogram end to end


async def test_aiogram_dispatcher_behind_the_webhook_links_and_confirms(
    tg: TelegramSandbox, bot: Bot
) -> None:
    """The round trip notify will run: deep link → reply with a button → tap → answer + edit."""
    dispatcher = Dispatcher()
    handled: list[str] = []

    @dispatcher.message(CommandStart(deep_link=True))
    async def on_start(message: Message, command: CommandObject) -> None:
        handled.append(f"start:{command.args}")
        markup = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="Подтвердить", callback_data="ok:42")]]
        )
        await message.answer(f"Связали аккаунт ({command.args})", reply_markup=markup)

    @dispatcher.callback_query(F.data.startswith("ok:"))
    async def on_ok(query: CallbackQuery) -> None:
        handled.append(f"tap:{query.data}")
        await query.answer("Готово")
        assert isinstance(query.message, Message)
        await query.message.edit_text("Запись подтверждена")

    app = FastAPI()

    @app.post("/api/notify/telegram/webhook")
    async def webhook(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), SECRET.encode()):
            return Response(status_code=401)
        update = Update.model_validate(await request.json(), context={"bot": bot})
        await dispatcher.feed_update(bot, update)
        return Response(status_code=200)

    async with serve_app(app) as url:
        await bot.set_webhook(f"{url}/api/notify/telegram/webhook", secret_token=SECRET)
        refused = await tg.start(IVAN, "link_abc", webhook_secret="missing")
        started = await tg.start(IVAN, "link_abc")
        (reply,) = await tg.messages(IVAN, count=1, wait=10)
        tapped = await tg.tap(IVAN, callback_data="ok:42")
        answered = (
            await tg.http.get(
                f"/_sandbox/callback_queries/{tapped['callback_query_id']}", params={"wait": 10}
            )
        ).json()

    assert refused["delivery"]["status_code"] == 401
    assert started["delivery"]["status_code"] == 200
    assert handled == ["start:link_abc", "tap:ok:42"]
    assert reply["text"] == "Связали аккаунт (link_abc)"
    assert reply["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "ok:42"
    assert answered["answer"]["text"] == "Готово"
    (edited,) = await tg.messages(IVAN)
    assert edited["text"] == "Запись подтверждена"
    assert edited["reply_markup"] is None
    assert [v["text"] for v in edited["history"]] == ["Связали аккаунт (link_abc)"]


async def test_webhook_reply_with_a_method_is_executed(tg: TelegramSandbox, bot: Bot) -> None:
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> dict[str, Any]:
        update = await request.json()
        chat_id = update["message"]["chat"]["id"]
        return {"method": "sendMessage", "chat_id": chat_id, "text": "Ответ в теле вебхука"}

    async with serve_app(app) as url:
        await bot.set_webhook(f"{url}/hook", secret_token=SECRET)
        result = await tg.send_text(IVAN, "/help")
    assert result["delivery"]["reply_method"] == "sendMessage"
    (reply,) = await tg.messages(IVAN)
    assert reply["text"] == "Ответ в теле вебхука"
