"""Telegram fake, the bot's side: a real aiogram Bot parses every answer into its own models.

aiogram is the oracle: a response of the wrong shape fails ``Response[...]`` validation inside
``bot(...)``, and its error classes prove the status codes and ``parameters`` are Telegram's.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update, User
from sandbox.telegram import TelegramSandbox, running_telegram_fake

IVAN = 555001


@pytest.fixture
async def tg() -> AsyncIterator[TelegramSandbox]:
    async with running_telegram_fake() as sandbox:
        await sandbox.create_user(IVAN, first_name="Иван", username="ivan", language_code="ru")
        yield sandbox


@pytest.fixture
async def bot(tg: TelegramSandbox) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
    bot = Bot(tg.token, session=session)
    yield bot
    await session.close()


def keyboard(*buttons: InlineKeyboardButton) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[list(buttons)])


def dumped(markup: object) -> object:
    """A markup as plain data (aiogram models carry the bot, so compare their dumps)."""
    assert isinstance(markup, InlineKeyboardMarkup)
    return markup.model_dump(exclude_none=True)


CONFIRM = InlineKeyboardButton(text="Подтвердить", callback_data="confirm:42")
CANCEL = InlineKeyboardButton(text="Отменить", callback_data="cancel:42")
PAY = InlineKeyboardButton(text="Оплатить", url="https://pay.example/p/42")


async def test_get_me_is_the_default_bot(bot: Bot) -> None:
    me = await bot.get_me()
    assert isinstance(me, User)
    assert (me.id, me.is_bot, me.username) == (1000, True, "praktika_sandbox_bot")
    assert me.first_name == "Praktika Sandbox"
    assert bot.id == 1000


async def test_send_message_with_html_and_inline_keyboard(bot: Bot, tg: TelegramSandbox) -> None:
    sent = await bot.send_message(
        IVAN,
        "<b>Запись</b> на 15 января 🗓 <i>10:00</i>",
        parse_mode="HTML",
        reply_markup=keyboard(PAY, CONFIRM),
    )
    assert isinstance(sent, Message)
    assert sent.message_id == 1
    assert sent.chat.id == IVAN
    assert sent.chat.type == "private"
    assert sent.from_user is not None and sent.from_user.id == 1000
    assert sent.text == "Запись на 15 января 🗓 10:00"
    assert [(e.type, e.offset, e.length) for e in sent.entities or []] == [
        ("bold", 0, 6),
        ("italic", 23, 5),  # 🗓 is two UTF-16 code units
    ]
    assert dumped(sent.reply_markup) == dumped(keyboard(PAY, CONFIRM))

    second = await bot.send_message(IVAN, "второе")
    assert second.message_id == 2

    (first, again) = await tg.messages(IVAN)
    assert first["source_text"] == "<b>Запись</b> на 15 января 🗓 <i>10:00</i>"
    assert first["parse_mode"] == "HTML"
    assert first["reply_markup"] == {
        "inline_keyboard": [
            [
                {"text": "Оплатить", "url": "https://pay.example/p/42"},
                {"text": "Подтвердить", "callback_data": "confirm:42"},
            ]
        ]
    }
    assert again["text"] == "второе"


async def test_markdown_v2_is_parsed_and_unescaped_reserved_characters_are_rejected(
    bot: Bot,
) -> None:
    sent = await bot.send_message(
        IVAN, r"*Итого:* 1500\.00 ₽ \(__50 %__\)", parse_mode="MarkdownV2"
    )
    assert sent.text == "Итого: 1500.00 ₽ (50 %)"
    assert [(e.type, e.offset, e.length) for e in sent.entities or []] == [
        ("bold", 0, 6),
        ("underline", 18, 4),
    ]
    with pytest.raises(TelegramBadRequest, match=r"Character '\.' is reserved"):
        await bot.send_message(IVAN, "Итого: 1500.00", parse_mode="MarkdownV2")
    with pytest.raises(TelegramBadRequest, match='Unsupported start tag "br"'):
        await bot.send_message(IVAN, "a<br>b", parse_mode="HTML")


async def test_edit_message_text_keeps_history_and_refuses_an_identical_edit(
    bot: Bot, tg: TelegramSandbox
) -> None:
    sent = await bot.send_message(IVAN, "Подтвердите запись", reply_markup=keyboard(CONFIRM))
    edited = await bot.edit_message_text(
        "Запись подтверждена ✅", chat_id=IVAN, message_id=sent.message_id
    )
    assert isinstance(edited, Message)
    assert edited.message_id == sent.message_id
    assert edited.text == "Запись подтверждена ✅"
    assert edited.edit_date is not None
    assert edited.reply_markup is None  # editMessageText without reply_markup drops the keyboard

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Запись подтверждена ✅", chat_id=IVAN, message_id=1)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=IVAN, message_id=99)

    (message,) = await tg.messages(IVAN)
    assert message["text"] == "Запись подтверждена ✅"
    assert message["method"] == "editMessageText"
    assert [(v["text"], v["method"]) for v in message["history"]] == [
        ("Подтвердите запись", "sendMessage")
    ]
    assert message["history"][0]["reply_markup"]["inline_keyboard"][0][0]["text"] == "Подтвердить"


async def test_edit_message_reply_markup(bot: Bot, tg: TelegramSandbox) -> None:
    sent = await bot.send_message(IVAN, "Слот свободен", reply_markup=keyboard(CONFIRM, CANCEL))
    edited = await bot.edit_message_reply_markup(
        chat_id=IVAN, message_id=sent.message_id, reply_markup=keyboard(CANCEL)
    )
    assert isinstance(edited, Message)
    assert dumped(edited.reply_markup) == dumped(keyboard(CANCEL))
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(
            chat_id=IVAN, message_id=sent.message_id, reply_markup=keyboard(CANCEL)
        )
    removed = await bot.edit_message_reply_markup(chat_id=IVAN, message_id=sent.message_id)
    assert isinstance(removed, Message)
    assert removed.reply_markup is None
    (message,) = await tg.messages(IVAN)
    assert len(message["history"]) == 2
    assert message["reply_markup"] is None


async def test_delete_message_hides_it_from_the_user_and_the_fake_marks_it(
    bot: Bot, tg: TelegramSandbox
) -> None:
    sent = await bot.send_message(IVAN, "Напоминание", reply_markup=keyboard(CONFIRM))
    assert await bot.delete_message(IVAN, sent.message_id) is True

    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(IVAN, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=IVAN, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(IVAN, 99)
    tapped = await tg.http.post(f"/_sandbox/users/{IVAN}/tap", json={"button_text": "Подтвердить"})
    assert tapped.status_code == 422  # the button went with the message

    (message,) = await tg.messages(IVAN)
    assert message["deleted_date"] is not None and message["text"] == "Напоминание"


async def test_callback_data_over_64_bytes_and_too_long_text_are_bad_requests(bot: Bot) -> None:
    too_long_data = InlineKeyboardButton(text="x", callback_data="я" * 33)  # 66 bytes
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(IVAN, "hi", reply_markup=keyboard(too_long_data))
    fits = InlineKeyboardButton(text="x", callback_data="я" * 32)  # 64 bytes
    assert (await bot.send_message(IVAN, "hi", reply_markup=keyboard(fits))).message_id == 1
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(IVAN, "a" * 4097)
    assert (await bot.send_message(IVAN, "a" * 4096)).message_id == 2
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(999, "hi")


async def test_answer_callback_query_once_per_tap(bot: Bot, tg: TelegramSandbox) -> None:
    await bot.send_message(IVAN, "Подтвердите", reply_markup=keyboard(CONFIRM))
    tapped = await tg.tap(IVAN, callback_data="confirm:42")  # no webhook: queued
    query_id = tapped["callback_query_id"]
    assert await bot.answer_callback_query(query_id, text="Готово", show_alert=True) is True
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_callback_query(query_id)
    record = (await tg.http.get(f"/_sandbox/callback_queries/{query_id}")).json()
    assert record["answered"] is True
    assert record["answer"]["text"] == "Готово"
    assert record["answer"]["show_alert"] is True
    assert record["data"] == "confirm:42"


async def test_webhook_set_info_delete_and_get_updates_conflict(bot: Bot) -> None:
    assert await bot.set_webhook(
        "http://127.0.0.1:8080/api/notify/telegram/webhook",
        secret_token="s3cr3t_token-1",
        allowed_updates=["message", "callback_query"],
    )
    info = await bot.get_webhook_info()
    assert info.url == "http://127.0.0.1:8080/api/notify/telegram/webhook"
    assert info.allowed_updates == ["message", "callback_query"]
    assert info.pending_update_count == 0
    assert info.has_custom_certificate is False
    with pytest.raises(TelegramConflictError, match="can't use getUpdates method"):
        await bot.get_updates()
    with pytest.raises(TelegramBadRequest, match="secret token contains unallowed characters"):
        await bot.set_webhook("http://127.0.0.1:8080/hook", secret_token="bad token!")

    assert await bot.delete_webhook() is True
    assert (await bot.get_webhook_info()).url == ""


async def test_get_updates_returns_queued_updates_that_aiogram_parses(
    bot: Bot, tg: TelegramSandbox
) -> None:
    await tg.start(IVAN, "booking_42-abc")
    (update,) = await bot.get_updates(timeout=1)
    assert isinstance(update, Update)
    assert update.message is not None
    assert update.message.text == "/start booking_42-abc"
    assert await bot.get_updates(offset=update.update_id + 1) == []


async def test_injected_429_surfaces_as_telegram_retry_after(bot: Bot, tg: TelegramSandbox) -> None:
    fault = await tg.fault(429, retry_after=7, method="sendMessage")
    assert fault["kind"] == "telegram"
    assert fault["description"] == "Too Many Requests: retry after 7"
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(IVAN, "Напоминание")
    assert caught.value.retry_after == 7
    assert (await bot.send_message(IVAN, "Напоминание")).message_id == 1  # once only

    failed, sent = (await tg.http.get("/_sandbox/sends")).json()
    assert (failed["error_code"], sent["error_code"]) == (429, None)


async def test_blocked_chat_answers_403_forbidden(bot: Bot, tg: TelegramSandbox) -> None:
    await tg.block(IVAN)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(IVAN, "Напоминание")
    await tg.start(IVAN)  # restarting the bot unblocks it
    assert (await bot.send_message(IVAN, "Снова здесь")).message_id == 2  # /start took id 1


async def test_injected_403_for_one_chat_only(bot: Bot, tg: TelegramSandbox) -> None:
    await tg.create_user(555002, first_name="Anna", language_code="en")
    await tg.fault(403, chat_id=IVAN)
    assert (await bot.send_message(555002, "hello")).chat.id == 555002
    with pytest.raises(TelegramForbiddenError, match="Forbidden: bot was blocked by the user"):
        await bot.send_message(IVAN, "привет")


async def test_user_who_never_started_the_bot_cannot_be_messaged(
    bot: Bot, tg: TelegramSandbox
) -> None:
    await tg.create_user(555003, first_name="Olga", started=False)
    with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
        await bot.send_message(555003, "hi")


async def test_unknown_token_is_401_and_unknown_method_404(tg: TelegramSandbox) -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
    stranger = Bot("42:not-our-token", session=session)
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await stranger.get_me()
    finally:
        await session.close()
    unknown = await tg.http.post(f"/bot{tg.token}/sendSticker", json={"chat_id": IVAN})
    assert unknown.status_code == 404
    assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    wrong = await tg.http.get("/botnope/getMe")
    assert wrong.status_code == 401
    assert wrong.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


# --------------------------------------------------------------------------- encodings


REPLY_MARKUP = {"inline_keyboard": [[{"text": "Отменить", "callback_data": "cancel:42"}]]}


async def test_query_string_with_the_bare_alias_token_and_any_method_case(
    tg: TelegramSandbox,
) -> None:
    response = await tg.http.get(
        "/botsandbox-token/SENDMESSAGE",
        params={"chat_id": str(IVAN), "text": "по query", "reply_markup": json.dumps(REPLY_MARKUP)},
    )
    assert response.status_code == 200
    envelope = response.json()
    assert envelope["ok"] is True
    message = Message.model_validate(envelope["result"])
    assert message.text == "по query"
    assert message.reply_markup is not None
    assert message.reply_markup.inline_keyboard[0][0].callback_data == "cancel:42"


async def test_form_urlencoded(tg: TelegramSandbox) -> None:
    response = await tg.http.post(
        f"/bot{tg.token}/sendMessage",
        data={"chat_id": str(IVAN), "text": "формой", "parse_mode": "HTML"},
    )
    assert response.headers["content-type"] == "application/json"
    assert Message.model_validate(response.json()["result"]).text == "формой"


async def test_json_body_with_native_objects(tg: TelegramSandbox) -> None:
    response = await tg.http.post(
        f"/bot{tg.token}/sendmessage",
        json={"chat_id": IVAN, "text": "JSON", "reply_markup": REPLY_MARKUP},
    )
    message = Message.model_validate(response.json()["result"])
    assert message.reply_markup is not None
    assert message.reply_markup.model_dump(exclude_none=True) == REPLY_MARKUP


async def test_multipart_form_data(tg: TelegramSandbox) -> None:
    response = await tg.http.post(
        f"/bot{tg.token}/sendMessage",
        data={
            "chat_id": str(IVAN),
            "text": "multipart ✓",
            "reply_markup": json.dumps(REPLY_MARKUP),
        },
        files={"unused": ("note.txt", b"attached", "text/plain")},
    )
    assert response.status_code == 200, response.text
    assert response.json()["result"]["text"] == "multipart ✓"
    assert response.json()["result"]["reply_markup"] == REPLY_MARKUP


async def test_error_envelope_shapes_on_the_wire(tg: TelegramSandbox) -> None:
    await tg.fault(429, retry_after=3)
    limited = await tg.http.post(f"/bot{tg.token}/sendMessage", data={"chat_id": IVAN, "text": "x"})
    assert limited.status_code == 429
    assert limited.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    bad = await tg.http.post(
        f"/bot{tg.token}/sendMessage",
        json={"chat_id": IVAN, "text": "x", "reply_markup": {"inline_keyboard": [[{"text": "y"}]]}},
    )
    assert bad.status_code == 400
    assert bad.json()["description"].startswith("Bad Request: can't parse inline keyboard button")
    empty = await tg.http.post(f"/bot{tg.token}/sendMessage", json={"chat_id": IVAN})
    assert empty.json() == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: message text is empty",
    }


async def test_kit_http_faults_also_apply_to_the_bot_api(bot: Bot, tg: TelegramSandbox) -> None:
    body = {"ok": False, "error_code": 502, "description": "Bad Gateway"}
    await tg.http.post(
        "/_sandbox/faults", json={"path": "/sendMessage$", "status": 502, "body": body}
    )
    with pytest.raises(Exception, match="Bad Gateway"):
        await bot.send_message(IVAN, "x")
    assert (await bot.send_message(IVAN, "x")).message_id == 1


async def test_state_is_per_app_instance(tg: TelegramSandbox) -> None:
    async with running_telegram_fake() as other:
        other_chats = (await other.http.get("/_sandbox/chats")).json()
    assert other_chats == []
    (chat,) = (await tg.http.get("/_sandbox/chats")).json()
    assert chat["chat"] == {"id": IVAN, "type": "private", "first_name": "Иван", "username": "ivan"}


async def test_raw_httpx_client_sees_the_same_message_ids(tg: TelegramSandbox) -> None:
    async with httpx.AsyncClient(base_url=tg.base_url, trust_env=False) as raw:
        first = await raw.post(f"/bot{tg.token}/sendMessage", json={"chat_id": IVAN, "text": "1"})
        second = await raw.get(f"/bot{tg.token}/sendMessage", params={"chat_id": IVAN, "text": "2"})
    assert [first.json()["result"]["message_id"], second.json()["result"]["message_id"]] == [1, 2]
